-- Filtered incidents grouped by one dimension, with the share of the total and the serious ones.
SELECT CAST(i.{{ident:dimension}} AS VARCHAR) AS value,
       count(*) AS n,
       count(*) * 100.0 / sum(count(*)) OVER () AS share_pct,
       count(*) FILTER (WHERE i.severity >= 3) AS high_or_critical,
       max(i.occurred_at) AS last_at
FROM incidents i
WHERE {{filter:incident:i}}
GROUP BY 1
ORDER BY n DESC, value NULLS LAST
