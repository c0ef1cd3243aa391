-- One state change or comment of an alert (kept for good: nothing updates or deletes these rows);
-- seq orders the alert's events (callers hold the write lock).
INSERT INTO alert_events (alert_id, seq, event_at, actor, action, state, note)
SELECT $alert_id, (SELECT count(*) + 1 FROM alert_events WHERE alert_id = $alert_id), $at, $actor, $action, $state, $note
