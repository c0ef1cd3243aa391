-- Segment lines as GeoJSON, simplified for drawing at a given tolerance (degrees).
SELECT segment_id, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, $tolerance)) AS geojson
FROM segments
