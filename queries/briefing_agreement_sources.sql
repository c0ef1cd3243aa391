-- Agreements with their published sources (JSON list of {title, url}), for a briefing's data sources.
SELECT agreement_id, name, sources FROM agreements ORDER BY name
