-- Open app sessions of an account, newest first (never the id or its hash).
SELECT account, address, created_at, last_seen_at, idle_until, expires_at
FROM sessions WHERE account = $account AND revoked_at IS NULL AND idle_until > $at AND expires_at > $at
ORDER BY created_at DESC
