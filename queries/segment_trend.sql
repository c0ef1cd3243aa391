-- Incidents per segment in equal time buckets across the filter window (segment popup trend).
SELECT i.segment_id,
       CAST(floor(epoch(i.occurred_at - $win_start) / $bucket_seconds) AS INTEGER) AS bucket,
       count(*) AS n
FROM incidents i
WHERE {{filter:incident:i}}
  AND i.segment_id IS NOT NULL
GROUP BY ALL
