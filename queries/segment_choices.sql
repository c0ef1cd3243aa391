-- Border segments a user may pick as an area of interest (callers pass the filter without its
-- segment choice, so the list follows nations and agreements only).
SELECT s.segment_id, s.nation_a, s.nation_b, s.length_km
FROM segments s
WHERE {{filter:segment:s}}
ORDER BY s.segment_id
