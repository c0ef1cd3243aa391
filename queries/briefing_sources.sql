-- The datasets behind what a briefing shows: rows matching the filter per layer and dataset,
-- and whether they are synthetic (the scenario), for the data sources and the scenario label.
SELECT 'incidents' AS layer, i.dataset, bool_or(i.synthetic) AS synthetic, count(*) AS n
FROM incidents i
WHERE {{filter:incident:i}}
GROUP BY ALL
UNION ALL
SELECT 'sensors', s.dataset, bool_or(s.synthetic), count(*)
FROM sensors s
WHERE {{filter:sensor:s}}
GROUP BY ALL
UNION ALL
SELECT 'fortifications', f.dataset, bool_or(f.synthetic), count(*)
FROM fortifications f
WHERE {{filter:fortification:f}}
GROUP BY ALL
ORDER BY 1, 2
