-- Insert the incidents of a staged import (the registered `staged` rows, whose ids are unique) that are
-- not stored yet. Callers hold the store's write lock, so the check and the insert are atomic.
INSERT INTO incidents (incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
                       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
                       dataset, synthetic, ingested_at,
                       owner_nation, release_public, release_nations, release_agreements)
SELECT s.incident_id, s.occurred_at, s.time_precision, s.threat_type, s.severity, s.confidence,
       s.reporting_nation, s.source, s.description, s.lon, s.lat, s.location_error_m, s.h3,
       s.segment_id, s.nation_a, s.nation_b, s.shared_under, s.dataset, s.synthetic, s.ingested_at,
       s.owner_nation, s.release_public, s.release_nations, s.release_agreements
FROM staged s
WHERE s.incident_id NOT IN (
    SELECT incident_id FROM incidents WHERE incident_id IN (SELECT incident_id FROM staged)
)
