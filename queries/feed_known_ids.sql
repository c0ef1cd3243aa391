-- The identity of every stored incident (owner nation, else reporting nation, and incident_id) as a
-- 64-bit hash: the feed store writer's in-memory set of what the store holds
-- (borderwatch/feeds/knownids.py), read once, then kept up to date from the snapshots' insertions.
-- Writer bookkeeping: never shown.
SELECT hash(coalesce(owner_nation, reporting_nation), incident_id) AS h FROM incidents
