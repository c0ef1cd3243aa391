-- Remove what earlier imports from one source (dataset $dataset) wrote, before an import with
-- "replace" writes its rows (the registered `staged` rows): only rows of the owners it writes
-- (owner_nation, else the reporting nation), so a nation never removes, nor counts, another's rows.
DELETE FROM incidents
WHERE dataset = $dataset
  AND coalesce(owner_nation, reporting_nation, '') IN (
      SELECT DISTINCT coalesce(owner_nation, reporting_nation, '') FROM staged)
