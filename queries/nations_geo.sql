SELECT iso3, name, ST_AsWKB(geom) AS wkb FROM nations ORDER BY iso3
