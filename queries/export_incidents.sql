-- Exactly the filtered incidents, every exported column, in store order (no sort: a sort of
-- millions of rows would have to hold them all). Times are UTC.
SELECT i.incident_id, i.occurred_at::TIMESTAMPTZ AS occurred_at, i.time_precision, i.threat_type, i.severity,
       i.confidence, i.reporting_nation, i.source, i.description, i.lon, i.lat, i.location_error_m,
       i.segment_id, i.nation_a, i.nation_b, array_to_string(i.shared_under, ';') AS shared_under,
       i.dataset, i.synthetic, i.ingested_at::TIMESTAMPTZ AS ingested_at,
       ST_AsWKB(ST_Point(i.lon, i.lat)) AS geometry
FROM incidents i
WHERE {{filter:incident:i}}
