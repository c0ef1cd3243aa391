-- After a write that lost the store's write lock (borderwatch/pglock.py): remove the later copies
-- of every identity written in a snapshot after $after_snapshot, keeping the earliest-committed row
-- (the lowest rowid: DuckLake numbers rows in commit order and keeps a row's number through updates).
-- An identity is the owner nation (owner_nation, else {{ident:owner_fallback}}) and the row's id: a
-- row is only ever compared with rows of its own owner, so another nation's row under the same id is
-- neither removed nor counted. A system repair under the write lock, not a viewer's query.
DELETE FROM {{ident:table}}
WHERE rowid IN (
    WITH written AS (
        SELECT DISTINCT {{ident:id_column}} AS id, coalesce(owner_nation, {{ident:owner_fallback}}) AS owner_key
        FROM {{ident:table}}
        WHERE snapshot_id > $after_snapshot
    ), ranked AS (
        SELECT t.rowid AS row_number_in_lake,
               row_number() OVER (PARTITION BY w.id, w.owner_key ORDER BY t.rowid) AS copy
        FROM {{ident:table}} t
        JOIN written w ON w.id = t.{{ident:id_column}}
                      AND w.owner_key IS NOT DISTINCT FROM coalesce(t.owner_nation, t.{{ident:owner_fallback}})
    )
    SELECT row_number_in_lake FROM ranked WHERE copy > 1
)
