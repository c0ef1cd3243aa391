INSERT INTO agreement_members
SELECT agreement_id, iso3, joined FROM staged
