-- Remove border segments an import replaces (same nation pair, same id).
DELETE FROM segments WHERE list_contains($ids, segment_id)
