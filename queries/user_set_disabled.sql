UPDATE users SET disabled = $disabled, updated_at = $at WHERE name = $account
