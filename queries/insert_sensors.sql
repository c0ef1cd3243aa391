INSERT INTO sensors (sensor_id, sensor_type, name, status, lon, lat, range_m, azimuth_deg, fov_deg, segment_id, nation,
                     coverage, dataset, synthetic,
                     reported_at, owner_nation, release_public, release_nations, release_agreements, last_heard_at)
SELECT sensor_id, sensor_type, name, status, lon, lat, range_m, azimuth_deg, fov_deg,
       segment_id, nation, ST_GeomFromWKB(coverage_wkb), $dataset, $synthetic,
       reported_at, owner_nation, release_public, release_nations, release_agreements, last_heard_at
FROM staged
