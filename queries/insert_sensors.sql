INSERT INTO sensors
SELECT sensor_id, sensor_type, name, status, lon, lat, range_m, azimuth_deg, fov_deg,
       segment_id, nation, ST_GeomFromWKB(coverage_wkb), $dataset, $synthetic
FROM staged
