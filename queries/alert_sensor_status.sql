-- Sensors the rule's nation may see (within its filter) whose status is one the rule watches. A
-- sensor is its owner nation and its id (owner_key: owner_nation, else the nation it stands in), so
-- two nations' sensors under one id are two sensors.
SELECT s.sensor_id, coalesce(s.owner_nation, s.nation) AS owner_key, s.name, s.sensor_type, s.status, s.segment_id,
       s.last_heard_at
FROM sensors s
WHERE {{filter:sensor:s}} AND list_contains($statuses, s.status)
ORDER BY s.segment_id, s.sensor_id, owner_key
