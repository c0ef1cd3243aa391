-- Incidents per time bucket and threat type in the filter window (the briefing's trend chart).
-- Buckets of $bucket_width start at $origin (the window's start), so the first bucket is whole.
SELECT time_bucket($bucket_width, i.occurred_at, $origin) AS bucket,
       i.threat_type,
       count(*) AS n
FROM incidents i
WHERE {{filter:incident:i}}
GROUP BY ALL
ORDER BY bucket, i.threat_type
