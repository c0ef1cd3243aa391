-- How many staged ids (staged_ids.id) are already stored sensors (dry-run report).
SELECT count(*) FROM sensors WHERE sensor_id IN (SELECT id FROM staged_ids)
