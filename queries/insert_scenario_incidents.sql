-- One chunk of synthetic incidents (staged) placed on segments (staged_segments, by index).
INSERT INTO incidents (incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
                       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
                       dataset, synthetic, ingested_at,
                       owner_nation, release_public, release_nations, release_agreements)
SELECT
    'SCN-' || $seed || '-' || lpad(CAST(c.seq AS VARCHAR), 9, '0'),
    c.occurred_at, 'second', c.threat_type, c.severity, c.confidence,
    CASE WHEN c.reporting_side THEN s.nation_a ELSE s.nation_b END,
    c.source,
    CASE c.threat_type
        WHEN 'illegal_crossing' THEN 'Group of ' || c.group_size || CASE WHEN c.group_size = 1 THEN ' person' ELSE ' persons' END || ' crossing detected by ' || replace(c.source, '_', ' ') || ' near ' || s.segment_id
        WHEN 'smuggling' THEN 'Vehicle with undeclared goods intercepted (' || replace(c.source, '_', ' ') || ') on ' || s.segment_id
        WHEN 'drug_trafficking' THEN 'Drug consignment, ' || c.group_size || ' kg, seized after ' || replace(c.source, '_', ' ') || ' report near ' || s.segment_id
        WHEN 'human_trafficking' THEN 'Suspected trafficking of ' || c.group_size || CASE WHEN c.group_size = 1 THEN ' person' ELSE ' persons' END || ' reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        WHEN 'weapons_trafficking' THEN 'Weapons cache (' || c.group_size || CASE WHEN c.group_size = 1 THEN ' item' ELSE ' items' END || ') found by ' || replace(c.source, '_', ' ') || ' near ' || s.segment_id
        WHEN 'document_fraud' THEN 'Forged travel documents (' || c.group_size || ') detected at crossing on ' || s.segment_id
        WHEN 'armed_incursion' THEN 'Armed group of ' || c.group_size || ' crossed the line, reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        WHEN 'drone_incursion' THEN 'Unidentified drone crossed the border, tracked by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
        ELSE 'Incident reported by ' || replace(c.source, '_', ' ') || ' on ' || s.segment_id
    END || ' [synthetic]',
    c.lon, c.lat, c.location_error_m, c.h3,
    s.segment_id, s.nation_a, s.nation_b, coalesce(s.shared_under, []),
    'scenario', TRUE, $ingested_at,
    -- releasability (borderwatch/scenario.py RELEASE_MIX): 0 the owner's agreements on this border,
    -- 1 the neighbour (when both share an agreement), 2 owner only, 3 public
    CASE WHEN c.reporting_side THEN s.nation_a ELSE s.nation_b END,
    c.release_kind = 3,
    CASE WHEN c.release_kind = 1 AND len(coalesce(s.shared_under, [])) > 0 THEN [s.nation_a, s.nation_b] END,
    CASE WHEN c.release_kind = 0 THEN CASE WHEN c.reporting_side THEN s.agreements_a ELSE s.agreements_b END END
FROM staged c
JOIN staged_segments s ON s.seg_idx = c.seg_idx
-- sorted by time, so Parquet row groups cover narrow time ranges and windows skip the rest
ORDER BY c.occurred_at
