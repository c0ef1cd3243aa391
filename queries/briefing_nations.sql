-- Nation polygons (WKB, full resolution) for the basemap of briefing snapshots, which clips and
-- simplifies them to each snapshot's extent.
SELECT ST_AsWKB(geom) AS wkb FROM nations
