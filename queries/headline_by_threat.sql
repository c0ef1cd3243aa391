-- Incidents in the filter window against the previous window of the same length, by threat type
-- (the headline figures and the analysis page's period comparison).
SELECT i.threat_type,
       count(*) FILTER (WHERE i.occurred_at >= $win_start) AS current,
       count(*) FILTER (WHERE i.occurred_at < $win_start) AS previous
FROM incidents i
WHERE {{filter_notime:incident:i}}
  AND i.occurred_at >= $prev_start AND i.occurred_at < $win_end
GROUP BY 1
ORDER BY current DESC, previous DESC
