-- Forget sessions that ended long ago (their audit entries stay).
DELETE FROM sessions WHERE least(idle_until, expires_at, coalesce(revoked_at, expires_at)) < $before
