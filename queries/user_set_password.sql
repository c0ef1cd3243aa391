UPDATE users SET password_hash = $password_hash, must_change = $must_change, updated_at = $at WHERE name = $account
