-- Alerts a viewer may see that nobody has acknowledged yet, and the segments they concern.
SELECT count(*) AS unacknowledged, list_distinct(list(segment_id) FILTER (WHERE segment_id IS NOT NULL)) AS segments
FROM alerts
WHERE ($all OR nation = $nation) AND state = 'new'
