-- Feed sources for people (command line, Administration page): no token hashes.
SELECT name, nation,
       CASE WHEN release_public THEN 'public'
            WHEN len(coalesce(release_nations, []) || coalesce(release_agreements, [])) = 0 THEN 'owner only'
            ELSE 'REL TO ' || array_to_string(coalesce(release_nations, []) || coalesce(release_agreements, []), ', ')
       END AS release_to,
       CASE WHEN cert_sha256 IS NULL THEN '' ELSE 'sha256:' || cert_sha256[1:16] || '…' END AS certificate,
       CASE WHEN revoked THEN 'revoked' ELSE 'active' END AS state, created_at, updated_at
FROM feed_sources ORDER BY name
