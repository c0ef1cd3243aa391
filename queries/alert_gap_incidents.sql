-- Incidents ingested recently (and that occurred recently) outside the coverage of every online sensor
-- the rule's nation may see, per segment: the incidents that fell in a coverage gap. An incident is
-- its id and its owner (two nations may use one id), so one covered row never hides another.
WITH recent AS (
    SELECT i.incident_id, coalesce(i.owner_nation, i.reporting_nation) AS owner_key, i.segment_id, i.occurred_at, i.lon, i.lat
    FROM incidents i
    WHERE {{filter_notime:incident:i}} AND i.segment_id IS NOT NULL
      AND i.ingested_at >= $since AND i.occurred_at >= $occurred_since
), covered AS (
    SELECT DISTINCT r.incident_id, r.owner_key
    FROM recent r JOIN sensors s
      ON s.status = 'online' AND s.coverage IS NOT NULL
     AND r.lon BETWEEN s.lon - 6 AND s.lon + 6 AND r.lat BETWEEN s.lat - 5 AND s.lat + 5
     AND ST_Contains(s.coverage, ST_Point(r.lon, r.lat))
    WHERE {{access:sensor:s}}
)
SELECT r.segment_id, count(*) AS n, max(r.occurred_at) AS last_at,
       list(r.incident_id ORDER BY r.occurred_at DESC)[1:20] AS ids
FROM recent r
WHERE NOT EXISTS (SELECT 1 FROM covered c WHERE c.incident_id = r.incident_id
                                           AND c.owner_key IS NOT DISTINCT FROM r.owner_key)
GROUP BY r.segment_id
ORDER BY n DESC, r.segment_id
