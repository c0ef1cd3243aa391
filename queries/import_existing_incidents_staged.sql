-- How many incidents of a staged import (the registered `staged` rows, ids unique) are already stored
-- and visible to the current viewer (dry-run report): a row the importer may not see is not counted,
-- so the report reveals nothing about it.
SELECT count(*) FROM incidents x WHERE {{access:incident:x}} AND x.incident_id IN (SELECT incident_id FROM staged)
