-- Remove a rule (its alerts stay, with the rule's name copied into each).
DELETE FROM alert_rules WHERE rule_id = $rule_id
