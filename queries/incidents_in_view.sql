-- Individual incidents in the map view, newest first (drawn only when few enough).
SELECT i.incident_id, i.occurred_at, i.time_precision, i.threat_type, i.severity, i.confidence,
       i.reporting_nation, i.source, i.description, i.lon, i.lat, i.segment_id, i.ingested_at, i.synthetic
FROM incidents i
WHERE {{filter:incident:i}} AND i.lon BETWEEN $vw AND $ve AND i.lat BETWEEN $vs AND $vn
ORDER BY i.occurred_at DESC
LIMIT $max_rows
