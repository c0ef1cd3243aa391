-- Coverage per segment by the online sensors the viewer may see (geodesic covered length), with the
-- gaps in (or near) the map view simplified for drawing. Computed per viewer, not read from the
-- derived segment_coverage table: a hidden sensor must not show as covered border.
WITH cov AS (
    SELECT s.segment_id, ST_Union_Agg(s.coverage) AS g
    FROM sensors s
    WHERE s.status = 'online' AND s.coverage IS NOT NULL AND s.segment_id IS NOT NULL AND {{access:sensor:s}}
    GROUP BY s.segment_id
), seg AS (
    SELECT g.segment_id, g.length_km,
           least(ST_Length_Spheroid(ST_Intersection(g.geom, cov.g)) / 1000, g.length_km) AS covered_km,
           ST_Difference(g.geom, cov.g) AS gaps
    FROM segments g JOIN cov USING (segment_id)
)
SELECT segment_id, length_km, covered_km,
       CASE WHEN ST_Intersects(gaps, ST_MakeEnvelope($vw, $vs, $ve, $vn))
            THEN ST_AsGeoJSON(ST_SimplifyPreserveTopology(gaps, $tolerance)) END AS gaps
FROM seg
