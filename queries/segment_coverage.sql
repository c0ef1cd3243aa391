-- Coverage per segment (derived table) with the gaps simplified for drawing.
SELECT segment_id, length_km, covered_km,
       ST_AsGeoJSON(ST_SimplifyPreserveTopology(gaps, $tolerance)) AS gaps
FROM segment_coverage
