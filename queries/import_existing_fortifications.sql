-- How many staged ids (staged_ids.id) are already stored fortifications (dry-run report).
SELECT count(*) FROM fortifications WHERE fortification_id IN (SELECT id FROM staged_ids)
