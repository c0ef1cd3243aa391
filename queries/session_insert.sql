-- A new app session (borderwatch/sessions.py): only the SHA-256 hash of its id is kept.
INSERT INTO sessions (id_hash, account, address, created_at, last_seen_at, idle_until, expires_at, revoked_at)
VALUES ($id_hash, $account, $address, $at, $at, $idle_until, $expires_at, NULL)
