-- Register a feed source (borderwatch/feeds/sources.py); its token only as a hash.
INSERT INTO feed_sources (name, nation, release_public, release_nations, release_agreements, token_hash,
                          cert_sha256, revoked, created_at, updated_at)
VALUES ($source, $nation, $public, $nations, $agreements, $token_hash, $cert_sha256, FALSE, $at, $at)
