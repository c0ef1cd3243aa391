-- Derive per-segment coverage by online sensors: covered length (geodesic) and the gaps.
INSERT INTO segment_coverage
WITH cov AS (
    SELECT segment_id, ST_Union_Agg(coverage) AS g
    FROM sensors WHERE status = 'online' AND coverage IS NOT NULL AND segment_id IS NOT NULL
    GROUP BY segment_id
)
SELECT s.segment_id, s.length_km,
       least(ST_Length_Spheroid(ST_Intersection(s.geom, cov.g)) / 1000, s.length_km),
       ST_Difference(s.geom, cov.g)
FROM segments s JOIN cov USING (segment_id)
