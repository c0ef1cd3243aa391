-- Imported fortifications (staged) whose identity is not in the store yet: re-imports do not
-- duplicate. A fortification's identity is its owner nation and its id: the owner is owner_nation,
-- or the nation it stands in where none is set (borderwatch/access.py). A row is only compared with
-- stored rows of its own owner, so another nation's row under the same id neither blocks it nor
-- shows in any count. Rows are written already owned and released (the import's owner and
-- releasability) and reported at $reported_at. Callers hold the store's write lock, so the check and
-- the insert are atomic.
INSERT INTO fortifications (fortification_id, kind, name, condition, year_built, segment_id, nation, geom, dataset,
                            synthetic, reported_at, owner_nation, release_public, release_nations, release_agreements)
SELECT s.fortification_id, s.kind, s.name, s.condition, s.year_built, s.segment_id, s.nation,
       ST_GeomFromWKB(s.geom_wkb), $dataset, FALSE, $reported_at,
       s.owner_nation, s.release_public, s.release_nations, s.release_agreements
FROM staged s
WHERE NOT EXISTS (
    SELECT 1 FROM fortifications x
    WHERE x.fortification_id = s.fortification_id
      AND coalesce(x.owner_nation, x.nation) IS NOT DISTINCT FROM coalesce(s.owner_nation, s.nation)
)
