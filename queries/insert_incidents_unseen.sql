-- Insert the staged rows of an import none of whose ids the store holds, under any owner
-- (import_staged_stored_ids.sql, asked in the same transaction under the writer lock). The staged ids
-- are unique across the import's parts, so every row is new: insert_incidents.sql's comparison with
-- stored rows would find nothing, and is left out (it is 40% of the insert's work).
INSERT INTO incidents (incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
                       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
                       dataset, synthetic, ingested_at,
                       owner_nation, release_public, release_nations, release_agreements)
SELECT incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, source,
       description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under,
       dataset, synthetic, ingested_at, owner_nation, release_public, release_nations, release_agreements
FROM staged
