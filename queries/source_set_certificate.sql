-- A feed source's TLS client certificate (SHA-256 fingerprint of its DER form), or none.
UPDATE feed_sources SET cert_sha256 = $cert_sha256, updated_at = $at WHERE name = $source
