-- Segments with WKB geometry (scenario placement, reference checks).
SELECT segment_id, nation_a, nation_b, length_km, ST_AsWKB(geom) AS wkb
FROM segments ORDER BY segment_id
