-- Changes whenever nation polygons change (decides whether the static basemap is rewritten).
SELECT count(*) || ':' || coalesce(sum(ST_NPoints(geom)), 0) || ':' || coalesce(sum(hash(iso3)), 0) FROM nations
