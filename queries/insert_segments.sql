INSERT INTO segments
SELECT segment_id, nation_a, nation_b, length_km, ST_GeomFromWKB(wkb), source FROM staged
