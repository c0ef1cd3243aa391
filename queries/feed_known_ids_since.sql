-- The identity hashes (as feed_known_ids.sql) of the incidents inserted in the lake's snapshots
-- $first to $last (both included): what other writers, and this writer's other transactions,
-- added since the feed store writer's set was last brought up to date.
SELECT hash(coalesce(owner_nation, reporting_nation), incident_id) AS h
FROM ducklake_table_insertions($lake, 'main', 'incidents', $first, $last)
