-- Segment lines in (or near) the map view as GeoJSON, simplified for drawing at a tolerance (degrees).
SELECT segment_id, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, $tolerance)) AS geojson
FROM segments
WHERE ST_Intersects(geom, ST_MakeEnvelope($vw, $vs, $ve, $vn))
