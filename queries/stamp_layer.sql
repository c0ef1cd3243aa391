-- The same for sensors or fortifications, which also get the time they were reported (agreement
-- membership is judged then).
UPDATE {{ident:table}}
SET owner_nation = coalesce($owner, owner_nation), release_public = $public, release_nations = $nations,
    release_agreements = $agreements, reported_at = coalesce(reported_at, $stamped_at)
WHERE dataset = $dataset AND owner_nation IS NULL AND release_public IS NULL AND release_nations IS NULL
  AND release_agreements IS NULL
