-- One feed source by name, with its token hash (never shown).
SELECT name, nation, release_public, release_nations, release_agreements, token_hash, cert_sha256, revoked,
       created_at, updated_at
FROM feed_sources WHERE name = $source
