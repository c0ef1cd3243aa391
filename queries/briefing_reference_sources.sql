-- Reference data behind every briefing: where nations and border segments come from.
SELECT 'nations' AS layer, source, count(*) AS n FROM nations GROUP BY ALL
UNION ALL
SELECT 'border segments', source, count(*) FROM segments GROUP BY ALL
ORDER BY 1, 2
