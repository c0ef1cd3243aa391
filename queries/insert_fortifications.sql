INSERT INTO fortifications (fortification_id, kind, name, condition, year_built, segment_id, nation, geom, dataset, synthetic,
                            reported_at, owner_nation, release_public, release_nations, release_agreements)
SELECT fortification_id, kind, name, condition, year_built, segment_id, nation,
       ST_GeomFromWKB(geom_wkb), $dataset, $synthetic,
       reported_at, owner_nation, release_public, release_nations, release_agreements
FROM staged
