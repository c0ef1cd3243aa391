-- The last $track_points positions (oldest first) of the given patrol units since $since.
WITH ranked AS (
    SELECT p.uid, p.lon, p.lat, p.reported_at,
           row_number() OVER (PARTITION BY p.uid ORDER BY p.reported_at DESC) AS rn
    FROM patrols p
    WHERE p.reported_at >= $since AND p.reported_at <= $until AND list_contains($uids, p.uid)
)
SELECT uid, lon, lat, reported_at FROM ranked WHERE rn <= $track_points ORDER BY uid, reported_at
