INSERT INTO nations
SELECT iso3, name, ST_GeomFromWKB(wkb), source FROM staged
