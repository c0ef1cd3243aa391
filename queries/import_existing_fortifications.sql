-- How many fortifications of an import (the registered `staged_ids`: id, nation) are already stored
-- (dry-run report). A fortification is compared with stored rows of its own owner only — $owner (the
-- import's owner nation), else the nation it stands in — as the insert does
-- (import_fortifications.sql), and only rows the current viewer may see are counted, so the report
-- reveals nothing about other rows.
SELECT count(*)
FROM staged_ids s JOIN fortifications x
  ON x.fortification_id = s.id
 AND coalesce(x.owner_nation, x.nation) IS NOT DISTINCT FROM coalesce($owner, s.nation)
WHERE {{access:fortification:x}}
