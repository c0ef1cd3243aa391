-- How many staged ids (staged_ids.id) are already stored incidents (dry-run report).
SELECT count(*) FROM incidents WHERE incident_id IN (SELECT id FROM staged_ids)
