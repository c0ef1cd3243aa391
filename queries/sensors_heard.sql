-- Sensors heard from by a live feed (a detection naming its sensor): last heard at the latest time.
-- A sensor is its owner nation and its id, so a detection moves only the sensor of its own owner
-- ($owners: the record's owner nation, else its reporting nation; owner_nation, else the nation a
-- sensor stands in), never another nation's sensor under the same id.
UPDATE sensors
SET last_heard_at = h.heard_at
FROM (SELECT unnest($ids::VARCHAR[]) AS sensor_id, unnest($owners::VARCHAR[]) AS owner_key,
             unnest($ats::TIMESTAMP[]) AS heard_at) h
WHERE sensors.sensor_id = h.sensor_id
  AND coalesce(sensors.owner_nation, sensors.nation) IS NOT DISTINCT FROM h.owner_key
  AND (sensors.last_heard_at IS NULL OR sensors.last_heard_at < h.heard_at)
