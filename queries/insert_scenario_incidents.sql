-- One chunk of synthetic incidents (staged) placed on segments (staged_segments, by index).
INSERT INTO incidents
SELECT
    'SCN-' || $seed || '-' || lpad(CAST(c.seq AS VARCHAR), 9, '0'),
    c.occurred_at, 'second', c.threat_type, c.severity, c.confidence,
    CASE WHEN c.reporting_side THEN s.nation_a ELSE s.nation_b END,
    c.source,
    CASE c.threat_type
        WHEN 'illegal_crossing' THEN 'Group of ' || c.group_size || ' persons crossing detected by ' || replace(c.source, '_', ' ') || ' near ' || s.segment_id
        WHEN 'smuggling' THEN 'Vehicle with undeclared goods intercepted (' || replace(c.source, '_', ' ') || ') on ' || s.segment_id
        WHEN 'drug_trafficking' THEN 'Drug consignment, ' || c.group_size || ' kg, seized after ' || replace(c.source, '_', ' ') || ' report near ' || s.segment_id
        WHEN 'human_trafficking' THEN 'Suspected trafficking of ' || c.group_size || ' persons reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        WHEN 'weapons_trafficking' THEN 'Weapons cache (' || c.group_size || ' items) found by ' || replace(c.source, '_', ' ') || ' near ' || s.segment_id
        WHEN 'document_fraud' THEN 'Forged travel documents (' || c.group_size || ') detected at crossing on ' || s.segment_id
        WHEN 'armed_incursion' THEN 'Armed group of ' || c.group_size || ' crossed the line, reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        WHEN 'drone_incursion' THEN 'Unidentified drone crossed the border, tracked by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        ELSE 'Incident reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
    END || ' [synthetic]',
    c.lon, c.lat, c.location_error_m, c.h3,
    s.segment_id, s.nation_a, s.nation_b, coalesce(s.shared_under, []),
    'scenario', TRUE, $ingested_at
FROM staged c
JOIN staged_segments s ON s.seg_idx = c.seg_idx
-- sorted by time, so Parquet row groups cover narrow time ranges and windows skip the rest
ORDER BY c.occurred_at
