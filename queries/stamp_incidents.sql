-- Give one dataset's incidents that carry no releasability yet an owner and a releasability
-- (an import's --owner / --release-to); rows that have one keep it.
UPDATE incidents
SET owner_nation = coalesce($owner, owner_nation), release_public = $public, release_nations = $nations,
    release_agreements = $agreements
WHERE dataset = $dataset AND owner_nation IS NULL AND release_public IS NULL AND release_nations IS NULL
  AND release_agreements IS NULL
