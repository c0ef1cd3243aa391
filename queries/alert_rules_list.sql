-- Alert rules a viewer may see: those of the viewer's nation (all of them for the unrestricted command line).
SELECT rule_id, nation, kind, name, params, hold_off_min, enabled, created_by, created_at, updated_by, updated_at
FROM alert_rules
WHERE ($all OR nation = $nation) AND ($rule_id = '' OR rule_id = $rule_id)
ORDER BY created_at, rule_id
