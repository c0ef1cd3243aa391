-- Every agreement membership with its join date as curated (access rules judge membership by it).
SELECT agreement_id, iso3, joined FROM agreement_members ORDER BY agreement_id, iso3
