-- The first row of each id of a staged import (Parquet file $path), in file order.
SELECT * FROM read_parquet($path)
QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY _row) = 1
ORDER BY _row
