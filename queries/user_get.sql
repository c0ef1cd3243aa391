-- One local account (sign-in, session checks).
SELECT name, nation, role, password_hash, must_change, disabled, created_at, updated_at
FROM users WHERE name = $account
