-- How many incidents of a staged import (the registered `staged` rows, ids unique) are already stored
-- (dry-run report). A record is compared with stored rows of its own owner only — $owner (the
-- import's owner nation), else its reporting nation — as the insert does (insert_incidents.sql), and
-- only rows the current viewer may see are counted, so the report reveals nothing about other rows.
SELECT count(*)
FROM staged s JOIN incidents x
  ON x.incident_id = s.incident_id
 AND coalesce(x.owner_nation, x.reporting_nation) IS NOT DISTINCT FROM coalesce($owner, s.reporting_nation)
WHERE {{access:incident:x}}
