-- Remove what earlier imports from one source (dataset $dataset) wrote to a sensor or fortification
-- table, before an import with "replace" writes its rows (the registered `staged` rows): only rows of
-- the owners it writes (owner_nation, else the nation the row stands in), so a nation never removes,
-- nor counts, another's rows.
DELETE FROM {{ident:table}}
WHERE dataset = $dataset
  AND coalesce(owner_nation, nation, '') IN (SELECT DISTINCT coalesce(owner_nation, nation, '') FROM staged)
