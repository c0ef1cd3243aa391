INSERT INTO users (name, nation, role, password_hash, must_change, disabled, created_at, updated_at)
VALUES ($account, $nation, $role, $password_hash, $must_change, FALSE, $at, $at)
