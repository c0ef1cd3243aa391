-- Incidents per threat type in the filter window and in the previous window of the same length.
SELECT i.threat_type,
       count(*) FILTER (WHERE i.occurred_at >= $cur_start) AS current,
       count(*) FILTER (WHERE i.occurred_at < $cur_start) AS previous
FROM incidents i
WHERE {{filter_notime:incident:i}}
  AND i.occurred_at >= $prev_start AND i.occurred_at < $cur_end
GROUP BY 1
ORDER BY current DESC, i.threat_type
