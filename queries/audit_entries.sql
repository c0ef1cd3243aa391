-- Audit entries, newest first, optionally of one action ('' = all).
SELECT seq, logged_at, actor, nation, role, action, outcome, address, filter_text, row_count, detail, prev_hash, hash
FROM audit_log
WHERE ($action = '' OR action = $action)
ORDER BY seq DESC
LIMIT $max_rows
