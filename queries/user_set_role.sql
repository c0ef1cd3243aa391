UPDATE users SET role = $role, nation = $nation, updated_at = $at WHERE name = $account
