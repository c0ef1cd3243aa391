-- Exactly the filtered incidents as GeoJSON Feature texts (RFC 7946, lon/lat), in store order, each
-- preceded by the separator ',' + newline so a writer can copy the texts out as they are.
SELECT ',' || chr(10) || json_object(
    'type', 'Feature',
    'id', i.incident_id,
    'geometry', json_object('type', 'Point', 'coordinates', json_array(i.lon, i.lat)),
    'properties', json_object(
        'incident_id', i.incident_id,
        'occurred_at', strftime(i.occurred_at, '%Y-%m-%dT%H:%M:%SZ'),
        'time_precision', i.time_precision, 'threat_type', i.threat_type, 'severity', i.severity,
        'confidence', round(i.confidence::DOUBLE, 4), 'reporting_nation', i.reporting_nation, 'source', i.source,
        'description', i.description, 'location_error_m', i.location_error_m, 'segment_id', i.segment_id,
        'nation_a', i.nation_a, 'nation_b', i.nation_b, 'shared_under', i.shared_under,
        'dataset', i.dataset, 'synthetic', i.synthetic,
        'ingested_at', strftime(i.ingested_at, '%Y-%m-%dT%H:%M:%SZ'))
)::VARCHAR AS feature,
       i.synthetic
FROM incidents i
WHERE {{filter:incident:i}}
