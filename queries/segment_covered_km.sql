-- Length of each segment under online sensor coverage (derived table; no geometry).
SELECT segment_id, covered_km FROM segment_coverage
