-- Every audit entry in order (verifying the hash chain).
SELECT seq, logged_at, actor, nation, role, action, outcome, address, filter_text, row_count, detail, prev_hash, hash
FROM audit_log ORDER BY seq
