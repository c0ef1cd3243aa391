-- Incidents ingested at or after $since at or above $min_severity, oldest ingest first, for CoT out.
-- Incidents that arrived as CoT (dataset feed:cot) are left out unless $echo: the TAK network
-- already has them. Only incidents releasable to the network (the publisher's viewer) go out.
-- owner_key: an incident is its owner and its id (two nations may use one id); the uid carries both.
SELECT i.incident_id, coalesce(i.owner_nation, i.reporting_nation) AS owner_key, i.occurred_at, i.threat_type, i.severity, i.confidence, i.reporting_nation, i.source,
       i.description, i.lon, i.lat, i.location_error_m, i.segment_id, i.dataset, i.ingested_at
FROM incidents i
WHERE i.ingested_at >= $since AND i.severity >= $min_severity AND ($echo OR i.dataset <> 'feed:cot')
  AND {{access:incident:i}}
ORDER BY i.ingested_at, i.incident_id, owner_key
LIMIT $max_rows
