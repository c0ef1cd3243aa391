-- A nation's name and the bounding box of its largest part (its mainland: a nation whose islands
-- lie across the antimeridian would otherwise span the world), for the map's search box.
-- Reference data, public.
WITH parts AS (
    SELECT name, UNNEST(ST_Dump(geom), recursive := true) FROM nations WHERE iso3 = $iso3
)
SELECT name, ST_XMin(geom) AS west, ST_YMin(geom) AS south, ST_XMax(geom) AS east, ST_YMax(geom) AS north
FROM parts
ORDER BY ST_Area(geom) DESC  -- only to rank the parts: planar area in degrees is enough for that
LIMIT 1
