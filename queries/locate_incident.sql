-- One incident's position, for the map's search box; the gateway's rules apply (no time window).
SELECT i.incident_id, i.lat, i.lon, i.occurred_at
FROM incidents i
WHERE i.incident_id = $incident_id AND {{filter_notime:incident:i}}
LIMIT 1
