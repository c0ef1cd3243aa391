-- Failed sign-ins since a time, for one account and for one address (sign-in throttling).
SELECT count(*) FILTER (WHERE actor = $actor) AS by_account,
       count(*) FILTER (WHERE address = $address) AS by_address,
       max(logged_at) FILTER (WHERE actor = $actor) AS last_by_account,
       max(logged_at) FILTER (WHERE address = $address) AS last_by_address
FROM audit_log
WHERE action = 'sign-in' AND outcome = 'refused' AND logged_at >= $since
