-- One page of the analysis table, sorted and paginated in DuckDB.
-- Late materialisation: only the sort key and the row's identity (id and owner: two nations may use
-- one id) are sorted, the page's rows are fetched after by that identity, so no other owner's row
-- under the same id joins in. NULL sort values count as the largest (last ascending, first
-- descending) and the identity breaks ties in the same direction, so the order read backwards is
-- exactly the reversed order.
WITH page AS (
    SELECT i.incident_id, coalesce(i.owner_nation, i.reporting_nation) AS owner_key, i.{{ident:sort}} AS sort_value
    FROM incidents i
    WHERE {{filter:incident:i}}
    ORDER BY (i.{{ident:sort}} IS NULL) {{ident:direction}}, i.{{ident:sort}} {{ident:direction}},
             i.incident_id {{ident:direction}}, owner_key {{ident:direction}}
    LIMIT $limit OFFSET $offset
)
SELECT i.incident_id, i.occurred_at, i.threat_type, i.severity, i.confidence, i.reporting_nation, i.source,
       i.segment_id, i.description, i.lon, i.lat, i.synthetic, p.owner_key
FROM page p
JOIN incidents i ON i.incident_id = p.incident_id
                AND coalesce(i.owner_nation, i.reporting_nation) IS NOT DISTINCT FROM p.owner_key
ORDER BY (p.sort_value IS NULL) {{ident:direction}}, p.sort_value {{ident:direction}}, p.incident_id {{ident:direction}},
         p.owner_key {{ident:direction}}
