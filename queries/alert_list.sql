-- Alerts a viewer may see (their nation's rules' alerts; every alert for the unrestricted command line),
-- newest first, optionally by state and by when they were raised.
SELECT alert_id, rule_id, rule_name, nation, kind, cause, segment_id, title, detail, evidence, raised_at, state,
       assignee, acked_by, acked_at, closed_by, closed_at, updated_at
FROM alerts
WHERE ($all OR nation = $nation)
  AND ($state = '' OR state = $state)
  AND ($alert_id = '' OR alert_id = $alert_id)
  AND raised_at >= $since AND raised_at < $until
ORDER BY raised_at DESC, alert_id
LIMIT $max_rows
