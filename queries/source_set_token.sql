-- A feed source's new token (rotation): the old one stops working.
UPDATE feed_sources SET token_hash = $token_hash, updated_at = $at WHERE name = $source
