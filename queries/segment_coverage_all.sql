-- Coverage per segment by all online sensors (the derived table), for unrestricted viewers (command
-- line, access control off); signed-in viewers get segment_coverage (their sensors only).
SELECT segment_id, length_km, covered_km,
       CASE WHEN ST_Intersects(gaps, ST_MakeEnvelope($vw, $vs, $ve, $vn))
            THEN ST_AsGeoJSON(ST_SimplifyPreserveTopology(gaps, $tolerance)) END AS gaps
FROM segment_coverage
