-- Per border segment: incidents in the filter window, in the previous window of the same
-- length, and in the baseline period before the window; one scan of the incidents.
WITH counts AS (
    SELECT i.segment_id,
           count(*) FILTER (WHERE i.occurred_at >= $win_start AND i.occurred_at < $win_end) AS n,
           count(*) FILTER (WHERE i.occurred_at >= $prev_start AND i.occurred_at < $win_start) AS n_prev,
           count(*) FILTER (WHERE i.occurred_at >= $base_start AND i.occurred_at < $win_start) AS n_base,
           max(i.occurred_at) FILTER (WHERE i.occurred_at < $win_end) AS last_at
    FROM incidents i
    WHERE {{filter_notime:incident:i}}
      AND i.occurred_at >= least($base_start, $prev_start) AND i.occurred_at < $win_end
      AND i.segment_id IS NOT NULL
    GROUP BY i.segment_id
)
SELECT s.segment_id, s.nation_a, s.nation_b, s.length_km,
       coalesce(c.n, 0) AS n, coalesce(c.n_prev, 0) AS n_prev, coalesce(c.n_base, 0) AS n_base, c.last_at
FROM segments s
LEFT JOIN counts c USING (segment_id)
WHERE {{filter:segment:s}}
