-- Last known position of every patrol unit reported since $since, in the map view, filtered by
-- nation and agreement like sensors (the unit's nation, or the border segment it is nearest).
WITH ranked AS (
    SELECT p.*, row_number() OVER (PARTITION BY p.uid ORDER BY p.reported_at DESC) AS rn
    FROM patrols p
    WHERE p.reported_at >= $since AND p.reported_at <= $until AND {{filter:sensor:p}}
)
SELECT uid, callsign, nation, team, role, cot_type, platform, lon, lat, speed_mps, course_deg,
       reported_at, stale_at, segment_id
FROM ranked
WHERE rn = 1 AND lon BETWEEN $vw AND $ve AND lat BETWEEN $vs AND $vn
ORDER BY reported_at DESC
LIMIT $max_rows
