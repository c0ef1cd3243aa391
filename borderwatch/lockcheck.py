"""Did a write hold the PostgreSQL writer lock from start to commit? The repair when it did not.

With a PostgreSQL catalog, writers on every host serialise "insert the row unless its identity is
stored" on one session advisory lock (``borderwatch.store``). The lock lives as long as the
PostgreSQL session that took it. The writer checks that session just before its DuckLake commit,
but the commit runs on another connection: if the lock session ends in the short gap between
that check and the commit (a PostgreSQL restart, a killed backend, a network cut), another writer
may take the lock, find the same identities absent and insert them too.

So after every commit under the lock the writer asks the lock session again: the same backend
(``pg_backend_pid``) still answering and still holding the lock. A session that survived proves
the lock was never free while the write ran (a restart ends every session; nothing else releases
a session lock), so nobody else can have written in between. When the session did not survive,
the writer takes the lock again and removes later copies of every identity written since the
lock was first taken (:func:`repair`), keeping the earliest-committed row: exactly the row a
serialised insert-if-absent would have kept. It logs the repair and writes it to the audit log.

Identities and their owners (``borderwatch/access.py``): an incident is its owner nation (else
its reporting nation) and its id; a sensor or fortification its owner nation (else the nation it
stands in) and its id. Rows are only compared with rows of the same owner, so the repair never
removes, nor keeps because of, another nation's row under the same id: what a viewer may see
is what it would have been had the writes been serialised.
"""
from __future__ import annotations

import dataclasses
import logging

log = logging.getLogger("borderwatch.store")

# the tables written with "insert if the identity is absent": table, id column, owner when unset
IDENTITIES = (
    ("incidents", "incident_id", "reporting_nation"),
    ("sensors", "sensor_id", "nation"),
    ("fortifications", "fortification_id", "nation"),
)


@dataclasses.dataclass(frozen=True)
class LockToken:
    """Which session took the lock, and the lake's latest snapshot when it did."""

    pid: int
    snapshot: int


def take_token(con) -> LockToken:
    """Called on the lock session right after the lock was granted."""
    import psycopg

    pid = int(con.execute("SELECT pg_backend_pid()").fetchone()[0])
    try:
        snapshot = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchone()[0]
    except psycopg.errors.UndefinedTable:  # a new, empty catalog (autocommit: the session stays usable)
        snapshot = None
    return LockToken(pid, int(snapshot) if snapshot is not None else -1)


def held(con, token: LockToken | None, key: int) -> bool:
    """The lock session that produced ``token`` is alive and still holds advisory lock ``key``."""
    if con is None or token is None or con.closed:
        return False
    try:
        row = con.execute(
            "SELECT pg_backend_pid(), EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid() AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1)",
            (key >> 32, key & 0xFFFFFFFF)).fetchone()
    except Exception:  # noqa: BLE001 - any failure to answer means the session cannot vouch for the lock
        return False
    return int(row[0]) == token.pid and bool(row[1])


def repair(store, after_snapshot: int) -> dict[str, int]:
    """Under the (re-taken) write lock: remove later copies of every identity written in a snapshot
    after ``after_snapshot``, keeping each identity's earliest-committed row. DuckLake numbers rows
    (``rowid``) in commit order and a row keeps its number through updates, so the lowest number
    is the first commit. Returns the rows removed per table; logs and audits a repair that removed any."""
    import queries
    from borderwatch import audit

    removed: dict[str, int] = {}
    with store.transaction() as cur:
        for table, id_column, fallback in IDENTITIES:
            result = queries.execute("repair_duplicates", store=store, after_snapshot=after_snapshot,
                                     idents={"table": table, "id_column": id_column, "owner_fallback": fallback})
            removed[table] = int(result.fetchall()[0][0])
        total = sum(removed.values())
        if total:
            detail = ", ".join(f"{n} {t}" for t, n in removed.items() if n)
            audit.record("duplicates-removed", actor="borderwatch", rows=total, store=store, cur=cur,
                         detail=f"the write lock was lost during a commit; later copies removed: {detail} "
                                f"(identities written after snapshot {after_snapshot})")
    if total:
        log.warning("the store's write lock was lost during a commit; removed later copies of identities "
                    "written after snapshot %s: %s", after_snapshot, removed)
    else:
        log.warning("the store's write lock was lost during a commit; no identity was written twice "
                    "(checked after snapshot %s)", after_snapshot)
    return removed
