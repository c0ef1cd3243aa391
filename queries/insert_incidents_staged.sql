-- Insert the incidents of one staged import file (Parquet $path: validated records whose ids are unique,
-- with their derived H3 cell, segment, nations and agreements) that are not stored yet, as dataset
-- $dataset ingested at $ingested_at. Callers hold the store's write lock, so the check and the
-- insert are atomic.
INSERT INTO incidents (incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
                       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
                       dataset, synthetic, ingested_at)
SELECT s.incident_id, s.occurred_at, s.time_precision, s.threat_type, s.severity, s.confidence,
       s.reporting_nation, s.source, coalesce(s.description, ''), s.lon, s.lat, s.location_error_m, s.h3,
       s.segment_id, s.nation_a, s.nation_b, s.shared_under, $dataset, false, $ingested_at
FROM read_parquet($path) s
WHERE s.incident_id NOT IN (
    SELECT incident_id FROM incidents WHERE incident_id IN (SELECT incident_id FROM read_parquet($path))
)
