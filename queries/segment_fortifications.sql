-- Fortification counts per segment and kind (segment tooltips, hotspot tables).
SELECT segment_id, kind, count(*) AS n FROM fortifications WHERE segment_id IS NOT NULL GROUP BY ALL
