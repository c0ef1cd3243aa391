-- Fortification counts per segment and kind (segment tooltips, hotspot tables), of those the viewer may see.
SELECT f.segment_id, f.kind, count(*) AS n FROM fortifications f
WHERE f.segment_id IS NOT NULL AND {{access:fortification:f}} GROUP BY ALL
