-- Every feed source with its token hash, for the feed service's lookup of tokens and certificates.
SELECT name, nation, release_public, release_nations, release_agreements, token_hash, cert_sha256, revoked,
       created_at, updated_at
FROM feed_sources ORDER BY name
