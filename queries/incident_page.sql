-- One page of the analysis table, sorted and paginated in DuckDB.
-- Late materialisation: only the sort key and id are sorted, the page's rows are fetched after.
-- NULL sort values count as the largest (last ascending, first descending) and incident_id breaks
-- ties in the same direction, so the order read backwards is exactly the reversed order.
WITH page AS (
    SELECT i.incident_id, i.{{ident:sort}} AS sort_value
    FROM incidents i
    WHERE {{filter:incident:i}}
    ORDER BY (i.{{ident:sort}} IS NULL) {{ident:direction}}, i.{{ident:sort}} {{ident:direction}},
             i.incident_id {{ident:direction}}
    LIMIT $limit OFFSET $offset
)
SELECT i.incident_id, i.occurred_at, i.threat_type, i.severity, i.confidence, i.reporting_nation, i.source,
       i.segment_id, i.description, i.lon, i.lat, i.synthetic
FROM page p
JOIN incidents i ON i.incident_id = p.incident_id
ORDER BY (p.sort_value IS NULL) {{ident:direction}}, p.sort_value {{ident:direction}}, p.incident_id {{ident:direction}}
