-- Incident counts per H3 cell at resolution $res (parent of the stored cell, by bit operations),
-- within the map view; the busiest $max_cells cells.
SELECT ((i.h3 & ~(CAST(15 AS UBIGINT) << 52)) | (CAST($res AS UBIGINT) << 52)
        | ((CAST(1 AS UBIGINT) << (3 * (15 - $res))) - 1))::UBIGINT AS cell,
       count(*) AS n,
       mode(i.threat_type) AS top_threat,
       max(i.severity) AS max_severity,
       max(i.occurred_at) AS last_at
FROM incidents i
WHERE {{filter:incident:i}}
  AND i.lon BETWEEN $vw AND $ve AND i.lat BETWEEN $vs AND $vn
GROUP BY 1
ORDER BY n DESC
LIMIT $max_cells
