-- How many staged ids (staged_ids.id) are already stored sensors the current viewer may see (dry-run
-- report): a row the importer may not see is not counted, so the report reveals nothing about it.
SELECT count(*) FROM sensors x WHERE {{access:sensor:x}} AND x.sensor_id IN (SELECT id FROM staged_ids)
