-- Incidents that reached the store after $since (highlighted on the live map).
SELECT i.incident_id, i.occurred_at, i.threat_type, i.severity, i.source, i.description, i.lon, i.lat,
       i.segment_id, i.ingested_at
FROM incidents i
WHERE {{filter:incident:i}} AND i.ingested_at > $since
ORDER BY i.ingested_at DESC
LIMIT $max_rows
