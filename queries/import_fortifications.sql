-- Imported fortifications (staged) whose id is not in the store yet: re-imports do not
-- duplicate. Callers hold the store's write lock, so the check and the insert are atomic.
INSERT INTO fortifications (fortification_id, kind, name, condition, year_built, segment_id, nation, geom, dataset, synthetic)
SELECT s.fortification_id, s.kind, s.name, s.condition, s.year_built, s.segment_id, s.nation,
       ST_GeomFromWKB(s.geom_wkb), $dataset, FALSE
FROM staged s
WHERE s.fortification_id NOT IN (
    SELECT fortification_id FROM fortifications WHERE fortification_id IN (SELECT fortification_id FROM staged)
)
