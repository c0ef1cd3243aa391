-- Agreements both nations of each segment belong to (incidents there are shared under them).
SELECT segment_id, list(agreement_id ORDER BY agreement_id) AS shared_under
FROM segment_agreements WHERE scope = 'internal' GROUP BY segment_id
