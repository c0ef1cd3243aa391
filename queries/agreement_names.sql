SELECT agreement_id, name FROM agreements ORDER BY name
