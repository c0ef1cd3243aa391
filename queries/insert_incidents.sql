-- Insert staged incidents (the registered `staged` rows: a feed batch, an import, a slice of a large
-- import) whose identity is not in the store yet, so re-sends and re-imports are idempotent. An
-- incident's identity is its owner nation and its id: the owner is owner_nation, or the reporting
-- nation where none is set (borderwatch/access.py). A row is only ever compared with rows of its
-- own owner, so another nation's row under the same id neither blocks it nor shows in any count.
-- Callers hold the store's write lock, so the check and the insert are atomic.
INSERT INTO incidents (incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
                       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
                       dataset, synthetic, ingested_at,
                       owner_nation, release_public, release_nations, release_agreements)
WITH s AS (  -- callers stage one row per identity (incident_store.first_per_identity)
    SELECT *, coalesce(owner_nation, reporting_nation) AS owner_key FROM staged
), present AS (  -- stored rows under the staged ids (any owner), to compare owners with
    SELECT x.incident_id, coalesce(x.owner_nation, x.reporting_nation) AS owner_key
    FROM incidents x
    WHERE x.incident_id IN (SELECT incident_id FROM staged)
)
SELECT s.incident_id, s.occurred_at, s.time_precision, s.threat_type, s.severity, s.confidence,
       s.reporting_nation, s.source, s.description, s.lon, s.lat, s.location_error_m, s.h3,
       s.segment_id, s.nation_a, s.nation_b, s.shared_under, s.dataset, s.synthetic, s.ingested_at,
       s.owner_nation, s.release_public, s.release_nations, s.release_agreements
FROM s
WHERE NOT EXISTS (
    SELECT 1 FROM present p WHERE p.incident_id = s.incident_id AND p.owner_key IS NOT DISTINCT FROM s.owner_key
)
