-- End every open session of an account (disabled, or its password reset by an administrator).
UPDATE sessions SET revoked_at = $at WHERE account = $account AND revoked_at IS NULL
