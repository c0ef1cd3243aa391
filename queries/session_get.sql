-- One app session by the hash of its id (a reload or a new tab resuming it).
SELECT account, address, created_at, last_seen_at, idle_until, expires_at, revoked_at
FROM sessions WHERE id_hash = $id_hash
