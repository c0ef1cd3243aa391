-- When each layer's data the viewer may see was last updated, and from which datasets (most recent
-- first): incidents by ingest time, sensors by when they were last heard (else reported),
-- fortifications by report time, patrols by ingest time; border segments by their source.
WITH parts AS (
    SELECT 'incidents' AS layer, i.dataset, max(i.ingested_at) AS updated_at
    FROM incidents i WHERE {{access:incident:i}} GROUP BY i.dataset
    UNION ALL
    SELECT 'sensors', s.dataset, max(coalesce(s.last_heard_at, s.reported_at))
    FROM sensors s WHERE {{access:sensor:s}} GROUP BY s.dataset
    UNION ALL
    SELECT 'fortifications', f.dataset, max(f.reported_at)
    FROM fortifications f WHERE {{access:fortification:f}} GROUP BY f.dataset
    UNION ALL
    SELECT 'patrols', p.dataset, max(p.ingested_at)
    FROM patrols p WHERE {{access:sensor:p}} GROUP BY p.dataset
    UNION ALL
    SELECT 'segments', g.source, NULL FROM segments g GROUP BY g.source
)
SELECT layer, max(updated_at) AS updated_at,
       list(dataset ORDER BY updated_at DESC NULLS LAST, dataset) AS datasets
FROM parts
GROUP BY layer
