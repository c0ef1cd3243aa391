-- How many of the given border segments are in the store (an import replaces them).
SELECT count(*) FROM segments WHERE list_contains($ids, segment_id)
