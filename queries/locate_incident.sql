-- One incident's position, for the map's search box; the gateway's rules apply (no time window).
-- Two nations may use one id: the viewer's own nation's row ($viewer_nation) comes first.
SELECT i.incident_id, i.lat, i.lon, i.occurred_at
FROM incidents i
WHERE i.incident_id = $incident_id AND {{filter_notime:incident:i}}
ORDER BY coalesce(i.owner_nation, i.reporting_nation) IS NOT DISTINCT FROM $viewer_nation DESC,
         coalesce(i.owner_nation, i.reporting_nation)
LIMIT 1
