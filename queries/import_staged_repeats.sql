-- Rows of a staged import (Parquet file $path) whose id an earlier row of the same file already has:
-- the row, that earlier row, and whether the content is the same (every stored column equal).
WITH repeated AS (SELECT incident_id FROM read_parquet($path) GROUP BY incident_id HAVING count(*) > 1),
x AS (
    SELECT r.*, row_number() OVER (PARTITION BY r.incident_id ORDER BY r._row) AS k
    FROM read_parquet($path) AS r SEMI JOIN repeated USING (incident_id)
)
SELECT x.incident_id, x._row,
       x.occurred_at IS NOT DISTINCT FROM f.occurred_at AND x.time_precision IS NOT DISTINCT FROM f.time_precision
       AND x.threat_type IS NOT DISTINCT FROM f.threat_type AND x.severity IS NOT DISTINCT FROM f.severity
       AND x.confidence IS NOT DISTINCT FROM f.confidence
       AND x.reporting_nation IS NOT DISTINCT FROM f.reporting_nation AND x.source IS NOT DISTINCT FROM f.source
       AND x.description IS NOT DISTINCT FROM f.description AND x.lon IS NOT DISTINCT FROM f.lon
       AND x.lat IS NOT DISTINCT FROM f.lat AND x.location_error_m IS NOT DISTINCT FROM f.location_error_m AS same,
       f._row AS first_row
FROM x JOIN x AS f ON f.incident_id = x.incident_id AND f.k = 1
WHERE x.k > 1
ORDER BY x._row
