-- Everything about one incident (the analysis page's detail panel), with its segment's figures.
-- Two nations may use one id (an incident is its owner and its id): of the rows under the id the
-- viewer may see, the one of owner $owner_key when given (a row chosen in a table), else the viewer's
-- own nation's ($viewer_nation) first, then by owner.
SELECT i.incident_id, i.occurred_at, i.time_precision, i.threat_type, i.severity, i.confidence,
       i.reporting_nation, i.source, i.description, i.lon, i.lat, i.location_error_m, i.segment_id,
       i.nation_a, i.nation_b, i.shared_under, i.dataset, i.synthetic, i.ingested_at,
       coalesce(i.owner_nation, i.reporting_nation) AS owner_nation,
       s.length_km AS segment_length_km, ST_AsGeoJSON(s.geom) AS segment_geojson
FROM incidents i
LEFT JOIN segments s ON s.segment_id = i.segment_id
WHERE i.incident_id = $incident_id AND {{filter_notime:incident:i}}
  AND (CAST($owner_key AS VARCHAR) IS NULL OR coalesce(i.owner_nation, i.reporting_nation) = $owner_key)
ORDER BY coalesce(i.owner_nation, i.reporting_nation) IS NOT DISTINCT FROM $viewer_nation DESC,
         coalesce(i.owner_nation, i.reporting_nation)
LIMIT 1
