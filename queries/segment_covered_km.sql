-- Length of each segment under the coverage of online sensors the viewer may see (no geometry):
-- a hidden sensor must not show as covered border. Unrestricted viewers read the derived table
-- instead (segment_covered_km_all).
WITH cov AS (
    SELECT s.segment_id, ST_Union_Agg(s.coverage) AS g
    FROM sensors s
    WHERE s.status = 'online' AND s.coverage IS NOT NULL AND s.segment_id IS NOT NULL AND {{access:sensor:s}}
    GROUP BY s.segment_id
)
SELECT g.segment_id, least(ST_Length_Spheroid(ST_Intersection(g.geom, cov.g)) / 1000, g.length_km) AS covered_km
FROM segments g JOIN cov USING (segment_id)
