-- The session was used: it stays open for another idle period (never past its lifetime).
UPDATE sessions SET last_seen_at = $at, idle_until = least($idle_until, expires_at)
WHERE id_hash = $id_hash AND revoked_at IS NULL
