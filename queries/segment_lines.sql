-- Chosen border segments as GeoJSON lines, simplified at a tolerance (degrees), for small maps.
SELECT s.segment_id, s.nation_a, s.nation_b, s.length_km,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(s.geom, $tolerance)) AS geojson
FROM segments s
WHERE list_contains($segment_ids, s.segment_id)
ORDER BY s.segment_id
