-- The bounding box of one border segment (reference data, public), for the map's search box.
SELECT segment_id, ST_XMin(geom) AS west, ST_YMin(geom) AS south, ST_XMax(geom) AS east, ST_YMax(geom) AS north
FROM segments
WHERE segment_id = $segment_id
