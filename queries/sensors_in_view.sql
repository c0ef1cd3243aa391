-- Sensors (site and coverage) intersecting the map view; coverage simplified to the zoom
-- (sensors too small to see at this zoom come back with an empty shape and are drawn as sites).
SELECT s.sensor_id, s.sensor_type, s.name, s.status, s.lon, s.lat, s.range_m, s.azimuth_deg, s.fov_deg,
       s.segment_id, s.synthetic, s.last_heard_at,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(ST_ReducePrecision(s.coverage, $grid), $tolerance)) AS geojson
FROM sensors s
WHERE {{filter:sensor:s}}
  AND ST_Intersects(s.coverage, ST_MakeEnvelope($vw, $vs, $ve, $vn))
ORDER BY (s.status = 'online') DESC, s.range_m DESC
LIMIT $max_rows
