-- How many stored incidents came from a feed (dataset 'feed:cot' or 'feed:json'), with distinct ids.
SELECT count(*) AS n, count(DISTINCT incident_id) AS distinct_ids
FROM incidents
WHERE dataset LIKE 'feed:%'
