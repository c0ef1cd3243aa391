-- Change a rule's name, parameters, hold-off or whether it is evaluated.
UPDATE alert_rules
SET name = $rule_name, params = $params, hold_off_min = $hold_off_min, enabled = $enabled, updated_by = $by, updated_at = $at
WHERE rule_id = $rule_id
