-- Insert staged patrol positions not stored yet: one row per unit (uid) and report time, so
-- re-sent position reports are idempotent. Callers hold the store's write lock.
INSERT INTO patrols (uid, callsign, nation, team, role, cot_type, platform, lon, lat, speed_mps, course_deg,
                     reported_at, stale_at, segment_id, dataset, ingested_at)
SELECT s.uid, s.callsign, s.nation, s.team, s.role, s.cot_type, s.platform, s.lon, s.lat, s.speed_mps,
       s.course_deg, s.reported_at, s.stale_at, s.segment_id, s.dataset, s.ingested_at
FROM (SELECT * FROM staged_patrols QUALIFY row_number() OVER (PARTITION BY uid, reported_at ORDER BY uid) = 1) s
WHERE NOT EXISTS (
    SELECT 1 FROM patrols p WHERE p.uid = s.uid AND p.reported_at = s.reported_at
)
