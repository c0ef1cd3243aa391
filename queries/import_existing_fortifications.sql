-- How many staged ids (staged_ids.id) are already stored fortifications the current viewer may see (dry-run
-- report): a row the importer may not see is not counted, so the report reveals nothing about it.
SELECT count(*) FROM fortifications x WHERE {{access:fortification:x}} AND x.fortification_id IN (SELECT id FROM staged_ids)
