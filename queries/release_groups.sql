-- The distinct releasabilities of the rows a filter selects (for the marking of an export or
-- briefing), with the earliest report time of each group (agreement membership is judged then).
SELECT 'incident' AS target, coalesce(i.owner_nation, i.reporting_nation) AS owner,
       coalesce(i.release_public, FALSE) AS public, i.release_nations, i.release_agreements,
       min(i.occurred_at) AS first_at
FROM incidents i
WHERE {{filter:incident:i}}
GROUP BY ALL
UNION ALL
SELECT 'sensor', coalesce(s.owner_nation, s.nation), coalesce(s.release_public, FALSE), s.release_nations,
       s.release_agreements, min(s.reported_at)
FROM sensors s
WHERE {{filter:sensor:s}}
GROUP BY ALL
UNION ALL
SELECT 'fortification', coalesce(f.owner_nation, f.nation), coalesce(f.release_public, FALSE), f.release_nations,
       f.release_agreements, min(f.reported_at)
FROM fortifications f
WHERE {{filter:fortification:f}}
GROUP BY ALL
