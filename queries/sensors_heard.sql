-- Sensors heard from by a live feed (a detection naming its sensor): last heard at the latest time.
UPDATE sensors
SET last_heard_at = h.heard_at
FROM (SELECT unnest($ids::VARCHAR[]) AS sensor_id, unnest($ats::TIMESTAMP[]) AS heard_at) h
WHERE sensors.sensor_id = h.sensor_id AND (sensors.last_heard_at IS NULL OR sensors.last_heard_at < h.heard_at)
