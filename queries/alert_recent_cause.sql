-- Whether a rule already has an alert for this cause that still stands: one not closed yet, or one
-- raised or closed within the rule's hold-off (so a cause that persists is not raised twice).
SELECT count(*) FROM alerts
WHERE rule_id = $rule_id AND cause = $cause
  AND (state <> 'closed' OR raised_at >= $since OR closed_at >= $since)
