-- Imported sensors (staged) whose id is not in the store yet: re-imports do not duplicate.
INSERT INTO sensors (sensor_id, sensor_type, name, status, lon, lat, range_m, azimuth_deg, fov_deg, segment_id, nation,
                     coverage, dataset, synthetic, last_heard_at)
SELECT s.sensor_id, s.sensor_type, s.name, s.status, s.lon, s.lat, s.range_m, s.azimuth_deg, s.fov_deg,
       s.segment_id, s.nation, ST_GeomFromWKB(s.coverage_wkb), $dataset, FALSE,
       $heard_at  -- last heard of: when its report reached the store
FROM staged s
WHERE s.sensor_id NOT IN (
    SELECT sensor_id FROM sensors WHERE sensor_id IN (SELECT sensor_id FROM staged)
)
