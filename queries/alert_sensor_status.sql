-- Sensors the rule's nation may see (within its filter) whose status is one the rule watches.
SELECT s.sensor_id, s.name, s.sensor_type, s.status, s.segment_id, s.last_heard_at
FROM sensors s
WHERE {{filter:sensor:s}} AND list_contains($statuses, s.status)
ORDER BY s.segment_id, s.sensor_id
