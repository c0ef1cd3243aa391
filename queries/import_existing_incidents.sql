-- How many staged ids (staged_ids.id) are already stored incidents the current viewer may see (dry-run
-- report): a row the importer may not see is not counted, so the report reveals nothing about it.
SELECT count(*) FROM incidents x WHERE {{access:incident:x}} AND x.incident_id IN (SELECT id FROM staged_ids)
