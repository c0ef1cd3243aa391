-- Length of each segment under online sensor coverage, from the derived table (every sensor), for
-- unrestricted viewers (command line, access control off).
SELECT segment_id, covered_km FROM segment_coverage
