INSERT INTO agreements
SELECT agreement_id, name, kind, signed, provisions, description, sources FROM staged
