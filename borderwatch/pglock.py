"""The writers' PostgreSQL lock: taken, checked before and after every commit, and the repair of a
write that lost it.

With a PostgreSQL catalog, writers on every host serialise "insert the row unless its identity is
stored" on one session advisory lock (``Store.write_lock``). The lock lives as long as the
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

A writer could also die in the instant between its commit and that check. So just before each
commit it leaves a marker in the catalog database (``borderwatch_pending_writes``: its lock
session and the snapshot it started from), written on the lock session only while that session
still holds the lock, and removed by the check after the commit (or by that writer's own repair).
A marker whose session has ended was left by a writer that has not confirmed its commit; once it
is older than ``ABANDONED_AFTER_S`` the writer is taken as dead (a live one that commits even later
repairs its own write), and the next writer to take the lock runs the same repair from the
marker's snapshot and removes the marker. (The sessions are matched in
``pg_stat_activity``, which is why every Borderwatch process uses the same database role.)

Identities and their owners (``borderwatch/access.py``): an incident is its owner nation (else
its reporting nation) and its id; a sensor or fortification its owner nation (else the nation it
stands in) and its id. Rows are only compared with rows of the same owner, so the repair never
removes, nor keeps because of, another nation's row under the same id: what a viewer may see
is what it would have been had the writes been serialised.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

from borderwatch.connections import StoreError
from borderwatch.pgcatalog import _pg_reason

log = logging.getLogger("borderwatch.store")
# the writers' PostgreSQL advisory lock (one 64-bit key per catalog database)
ADVISORY_LOCK_KEY = 0x426F72646577  # "Bordew"

# the tables written with "insert if the identity is absent": table, id column, owner when unset
IDENTITIES = (
    ("incidents", "incident_id", "reporting_nation"),
    ("sensors", "sensor_id", "nation"),
    ("fortifications", "fortification_id", "nation"),
)


PENDING = "borderwatch_pending_writes"
ABANDONED_AFTER_S = 60  # a writer whose lock session ended this long ago has committed or never will
_LOCKED = ("EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
           "AND classid::bigint = %(high)s AND objid::bigint = %(low)s AND objsubid = 1)")
_ME = "(SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())"


@dataclasses.dataclass(frozen=True)
class LockToken:
    """Which session took the lock, the lake's latest snapshot when it did, and the markers of
    writers whose sessions ended before they confirmed a commit: (pid, session start, snapshot)."""

    pid: int
    started: object  # the session's backend_start (with pid: the session, even if the pid is reused)
    snapshot: int
    abandoned: tuple = ()


def _key(key: int) -> dict:
    return {"high": key >> 32, "low": key & 0xFFFFFFFF}


def take_token(con, *, table_ready: bool = False) -> LockToken:
    """Called on the lock session right after the lock was granted (so one writer at a time
    creates the marker table; ``table_ready``: this session has seen it)."""
    import psycopg

    if not table_ready:
        con.execute(f"CREATE TABLE IF NOT EXISTS {PENDING} (pid integer NOT NULL, backend_start timestamptz NOT NULL, "
                    "after_snapshot bigint NOT NULL, marked_at timestamptz NOT NULL DEFAULT now(), "
                    "PRIMARY KEY (pid, backend_start))")
    def who(snapshot: str) -> str:  # this session, the lake's snapshot, markers of ended sessions
        return (f"SELECT pg_backend_pid(), {_ME}, {snapshot}, (SELECT coalesce(json_agg(json_build_array("
                f"p.pid, p.backend_start, p.after_snapshot)), '[]') FROM {PENDING} p "
                "WHERE p.marked_at < now() - make_interval(secs => %s) AND NOT EXISTS (SELECT 1 FROM "
                "pg_stat_activity a WHERE a.pid = p.pid AND a.backend_start = p.backend_start))")

    try:
        row = con.execute(who("(SELECT max(snapshot_id) FROM ducklake_snapshot)"), (ABANDONED_AFTER_S,)).fetchone()
    except psycopg.errors.UndefinedTable:  # a new, empty catalog (autocommit: the session stays usable)
        row = con.execute(who("NULL"), (ABANDONED_AFTER_S,)).fetchone()
    pid, started, snapshot, abandoned = row
    return LockToken(int(pid), started, int(snapshot) if snapshot is not None else -1,
                     tuple((int(m[0]), m[1], int(m[2])) for m in abandoned))


def _vouch(con, token: LockToken | None, sql: str, params: dict):
    """One row of ``sql`` on the lock session, or None when that session cannot answer (gone,
    closed, never taken): a session that cannot answer cannot vouch for the lock."""
    if con is None or token is None or con.closed:
        return None
    try:
        return con.execute(sql, params).fetchone()
    except Exception:  # noqa: BLE001 - any failure to answer means the session cannot vouch for the lock
        return None


def mark(con, token: LockToken | None, key: int) -> bool:
    """Before a commit: leave this session's marker, only if it still holds the lock; says whether it does."""
    row = _vouch(con, token,
                 f"INSERT INTO {PENDING} AS p (pid, backend_start, after_snapshot) "
                 f"SELECT pg_backend_pid(), {_ME}, %(after)s WHERE pg_backend_pid() = %(pid)s AND {_LOCKED} "
                 "ON CONFLICT (pid, backend_start) DO UPDATE SET after_snapshot = least(p.after_snapshot, "
                 "excluded.after_snapshot), marked_at = now() RETURNING 1",
                 {"after": token.snapshot if token else None, "pid": token.pid if token else None, **_key(key)})
    return row is not None


def held(con, token: LockToken | None, key: int) -> bool:
    """The lock session that produced ``token`` is alive and still holds advisory lock ``key``; if
    so, its marker (a commit confirmed) is removed in the same statement."""
    row = _vouch(con, token,
                 f"WITH mine AS (SELECT pg_backend_pid() AS pid, {_LOCKED} AS locked), "
                 f"confirmed AS (DELETE FROM {PENDING} p USING mine WHERE mine.locked AND p.pid = mine.pid "
                 f"AND p.backend_start = {_ME} RETURNING 1) "
                 "SELECT pid, locked, (SELECT count(*) FROM confirmed) FROM mine", _key(key))
    return row is not None and int(row[0]) == token.pid and bool(row[1])


def forget(con, markers) -> None:
    """Remove markers (pid, session start, ...) once their writes are repaired."""
    for pid, started, *_ in markers:
        con.execute(f"DELETE FROM {PENDING} WHERE pid = %s AND backend_start = %s", (pid, started))


def release(con) -> None:
    """Release the lock, with this session's marker of a write that was rolled back (one statement)."""
    con.execute(f"WITH gone AS (DELETE FROM {PENDING} WHERE pid = pg_backend_pid() AND backend_start = {_ME} "
                "RETURNING 1) SELECT pg_advisory_unlock(%s), (SELECT count(*) FROM gone)", (ADVISORY_LOCK_KEY,))


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


# -- the lock of one store ------------------------------------------------------------------------
@contextlib.contextmanager
def hold(store, timeout: float):
    """Hold the lock for ``store`` (its ``_lock_con`` session; ``_lock_token`` says which)."""
    take(store, timeout)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            release(store._lock_con)
        store._lock_token = None


def take(store, timeout: float) -> None:
    """Wait for the lock (with back-off while the server is away); a one-sentence error after ``timeout``."""
    import psycopg

    deadline = time.monotonic() + timeout
    delay = 0.02
    last_error = "another writer holds the lock"
    while True:
        try:
            if store._lock_con is None or store._lock_con.closed:
                store._lock_con = store.postgres.connect()
            if store._lock_con.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]:
                # which session holds it, and the lake's snapshot then (what a repair starts from)
                store._lock_token = take_token(store._lock_con, table_ready=store._pending_table_con is store._lock_con)
                store._pending_table_con = store._lock_con
                return
            delay = 0.02
        except (psycopg.Error, StoreError) as exc:
            last_error = _pg_reason(exc) if isinstance(exc, psycopg.Error) else str(exc)
            with contextlib.suppress(Exception):
                store._lock_con.close()
            store._lock_con = None
            delay = min(max(delay * 2, 0.2), 2.0)
        if time.monotonic() + delay > deadline:
            raise StoreError(f"the store's write lock on {store.postgres.display()} was not granted within "
                             f"{timeout:.0f} s ({last_error})")
        time.sleep(delay)


def before_commit(store) -> None:
    """The lock is still ours: leave the marker the check after the commit removes, or refuse the commit."""
    if not mark(store._lock_con, store._lock_token, ADVISORY_LOCK_KEY):
        with contextlib.suppress(Exception):
            store._lock_con.close()
        store._lock_con = None
        raise StoreError("the connection holding the store's write lock was lost; "
                         "the write was not committed and can be retried")


def after_commit(store) -> None:
    """The lock session survived the whole write, so no other writer can have held the lock
    meanwhile. If it did not, take the lock again and remove what may have been inserted twice."""
    if store._repairing or held(store._lock_con, store._lock_token, ADVISORY_LOCK_KEY):
        return
    lost = [store._lock_token] if store._lock_token is not None else []
    since = min([t.snapshot for t in lost] or [-1])
    store._repairing = True
    try:
        for _ in range(5):
            with contextlib.suppress(Exception):
                store._lock_con.close()
            store._lock_con = None
            take(store, 120.0)
            repair(store, since)
            if held(store._lock_con, store._lock_token, ADVISORY_LOCK_KEY):
                forget(store._lock_con, [(t.pid, t.started) for t in lost])  # their writes are repaired
                return
            lost.append(store._lock_token)
        raise StoreError("the store's write lock kept being lost while repairing a write; "
                         "check the PostgreSQL catalog server")
    finally:
        store._repairing = False


def repair_abandoned(store) -> None:
    """Just after taking the lock: repair the writes of writers that died before confirming their
    commit (their markers), once the store's lake is open."""
    token = store._lock_token
    if token is None or not token.abandoned or store._con is None or store._repairing:
        return
    store._repairing = True
    try:
        repair(store, min(int(m[2]) for m in token.abandoned))
        forget(store._lock_con, token.abandoned)
    finally:
        store._repairing = False
