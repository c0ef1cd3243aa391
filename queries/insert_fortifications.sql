INSERT INTO fortifications
SELECT fortification_id, kind, name, condition, year_built, segment_id, nation,
       ST_GeomFromWKB(geom_wkb), $dataset, $synthetic
FROM staged
