-- The newest audit entry's sequence number and hash (the next entry chains to it).
SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1
