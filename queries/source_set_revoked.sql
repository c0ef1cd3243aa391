-- Revoke a feed source: its token and certificate stop working.
UPDATE feed_sources SET revoked = TRUE, updated_at = $at WHERE name = $source
