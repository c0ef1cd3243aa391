INSERT INTO alert_rules (rule_id, nation, kind, name, params, hold_off_min, enabled, created_by, created_at,
                         updated_by, updated_at)
VALUES ($rule_id, $nation, $kind, $rule_name, $params, $hold_off_min, $enabled, $by, $at, $by, $at)
