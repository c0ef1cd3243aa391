-- Feed incidents the current viewer may see (feed status for a viewer who is not an administrator):
-- how many reached the store after $since, and when the last one did.
SELECT count(*) FILTER (WHERE i.ingested_at > $since) AS recent, max(i.ingested_at) AS last_at
FROM incidents i
WHERE {{access:incident:i}} AND i.dataset LIKE 'feed:%'
