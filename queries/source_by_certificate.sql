-- The feed source holding a certificate fingerprint, if any (one certificate, one source).
SELECT name FROM feed_sources WHERE cert_sha256 = $cert_sha256
