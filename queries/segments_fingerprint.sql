-- Changes whenever border segments are added, removed or replaced (cache key of the
-- nearest-segment index): count, total length and the sources they come from.
SELECT count(*) || ':' || coalesce(round(sum(length_km), 6), 0) || ':' || coalesce(string_agg(DISTINCT source, ',' ORDER BY source), '')
FROM segments
