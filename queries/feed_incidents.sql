-- Stored incidents with the given ids, one row per stored copy (the feed service's tests and
-- benchmark check that every accepted event is in the store exactly once).
SELECT i.incident_id, i.occurred_at, i.threat_type, i.severity, i.confidence, i.reporting_nation,
       i.source, i.description, i.lon, i.lat, i.location_error_m, i.segment_id, i.dataset, i.ingested_at
FROM incidents i
WHERE list_contains($ids, i.incident_id)
