-- The history of one alert, oldest first.
SELECT seq, event_at, actor, action, state, note FROM alert_events WHERE alert_id = $alert_id ORDER BY seq
