-- A state change of one alert (acknowledged, assigned, closed); who and when are also kept in alert_events.
UPDATE alerts
SET state = $state, assignee = $assignee, acked_by = $acked_by, acked_at = $acked_at, closed_by = $closed_by,
    closed_at = $closed_at, updated_at = $at
WHERE alert_id = $alert_id
