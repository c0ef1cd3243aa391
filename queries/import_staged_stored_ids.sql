-- Whether any stored incident, of any owner, has an id among the staged rows of an import (the
-- registered `staged` rows, ids unique): when none has, no staged row can repeat a stored one and the
-- import writes them with insert_incidents_unseen.sql. Asked in the import's transaction, under the
-- writer lock, after its "replace" removals.
SELECT EXISTS (SELECT 1 FROM incidents x WHERE x.incident_id IN (SELECT incident_id FROM staged))
