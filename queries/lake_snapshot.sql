-- The lake's latest snapshot as the calling connection sees it (inside a transaction: the one it
-- started from).
SELECT id FROM ducklake_current_snapshot($lake)
