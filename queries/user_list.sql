-- Local accounts, without their password hashes.
SELECT name, nation, role, disabled, must_change, created_at, updated_at FROM users ORDER BY name
