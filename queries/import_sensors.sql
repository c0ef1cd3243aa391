-- Imported sensors (staged) whose identity is not in the store yet: re-imports do not duplicate. A
-- sensor's identity is its owner nation and its id: the owner is owner_nation, or the nation it
-- stands in where none is set (borderwatch/access.py). A row is only compared with stored rows of
-- its own owner, so another nation's sensor under the same id neither blocks it nor shows in any
-- count. Rows are written already owned and released (the import's owner and releasability) and
-- reported at $heard_at. Callers hold the store's write lock, so the check and the insert are atomic.
INSERT INTO sensors (sensor_id, sensor_type, name, status, lon, lat, range_m, azimuth_deg, fov_deg, segment_id, nation,
                     coverage, dataset, synthetic, reported_at,
                     owner_nation, release_public, release_nations, release_agreements, last_heard_at)
SELECT s.sensor_id, s.sensor_type, s.name, s.status, s.lon, s.lat, s.range_m, s.azimuth_deg, s.fov_deg,
       s.segment_id, s.nation, ST_GeomFromWKB(s.coverage_wkb), $dataset, FALSE, $heard_at,
       s.owner_nation, s.release_public, s.release_nations, s.release_agreements,
       $heard_at  -- last heard of: when its report reached the store
FROM staged s
WHERE NOT EXISTS (
    SELECT 1 FROM sensors x
    WHERE x.sensor_id = s.sensor_id
      AND coalesce(x.owner_nation, x.nation) IS NOT DISTINCT FROM coalesce(s.owner_nation, s.nation)
)
