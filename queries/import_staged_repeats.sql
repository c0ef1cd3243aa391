-- Rows of a staged import (Parquet file $path: incident_id, _row, _hash) whose id an earlier row of the
-- same file already has: the row, that earlier row, and whether the content is the same.
WITH r AS (SELECT incident_id, _row, _hash FROM read_parquet($path)),
repeated AS (SELECT incident_id FROM r GROUP BY incident_id HAVING count(*) > 1),
x AS (
    SELECT r.incident_id, r._row, r._hash,
           row_number() OVER (PARTITION BY r.incident_id ORDER BY r._row) AS k
    FROM r JOIN repeated USING (incident_id)
)
SELECT x.incident_id, x._row, x._hash = f._hash AS same, f._row AS first_row
FROM x JOIN x AS f ON f.incident_id = x.incident_id AND f.k = 1
WHERE x.k > 1
ORDER BY x._row
