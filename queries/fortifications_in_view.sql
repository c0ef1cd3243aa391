-- Fortifications intersecting the map view, simplified for drawing.
SELECT f.fortification_id, f.kind, f.name, f.condition, f.year_built, f.segment_id, f.synthetic,
       ST_GeometryType(f.geom) AS geom_type,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(f.geom, $tolerance)) AS geojson
FROM fortifications f
WHERE {{filter:fortification:f}}
  AND ST_Intersects(f.geom, ST_MakeEnvelope($vw, $vs, $ve, $vn))
LIMIT $max_rows
