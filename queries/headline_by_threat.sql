-- Incidents in the last 24 h against the previous 24 h, by threat type.
SELECT i.threat_type,
       count(*) FILTER (WHERE i.occurred_at >= $day_start) AS last_24h,
       count(*) FILTER (WHERE i.occurred_at < $day_start) AS prev_24h
FROM incidents i
WHERE {{filter_notime:incident:i}}
  AND i.occurred_at >= $prev_start AND i.occurred_at < $day_end
GROUP BY 1
ORDER BY last_24h DESC
