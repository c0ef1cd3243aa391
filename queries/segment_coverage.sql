-- Coverage per segment (derived table) with the gaps in (or near) the map view simplified for drawing.
SELECT segment_id, length_km, covered_km,
       CASE WHEN ST_Intersects(gaps, ST_MakeEnvelope($vw, $vs, $ve, $vn))
            THEN ST_AsGeoJSON(ST_SimplifyPreserveTopology(gaps, $tolerance)) END AS gaps
FROM segment_coverage
