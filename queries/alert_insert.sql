INSERT INTO alerts (alert_id, rule_id, rule_name, nation, kind, cause, segment_id, title, detail, evidence, raised_at,
                    state, assignee, acked_by, acked_at, closed_by, closed_at, updated_at)
VALUES ($alert_id, $rule_id, $rule_name, $nation, $kind, $cause, $segment_id, $title, $detail, $evidence, $raised_at,
        'new', NULL, NULL, NULL, NULL, NULL, $raised_at)
