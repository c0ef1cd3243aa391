-- Nation polygons for the vector basemap, simplified.
SELECT iso3, name, ST_AsGeoJSON(ST_ReducePrecision(ST_SimplifyPreserveTopology(geom, $tolerance), 0.001)) AS geojson
FROM nations
