-- Sign-out: the session ends now, in every tab that uses it.
UPDATE sessions SET revoked_at = $at WHERE id_hash = $id_hash AND revoked_at IS NULL
