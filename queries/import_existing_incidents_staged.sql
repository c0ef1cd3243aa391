-- How many incidents of a staged import (the registered `staged` rows, ids unique) are already stored.
SELECT count(*) FROM incidents WHERE incident_id IN (SELECT incident_id FROM staged)
