-- The identity hashes (as feed_known_ids.sql) of the staged rows of a feed batch.
SELECT hash(coalesce(owner_nation, reporting_nation), incident_id) AS h FROM staged
