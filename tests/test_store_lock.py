"""The PostgreSQL writer lock lost between a writer's last check and its commit (borderwatch/pglock.py).

The lock session of writer A is ended (``pg_terminate_backend``, as a server restart or a network cut
would) after A has checked it and before A commits; writer B, on another store directory (another
host), takes the free lock and inserts some of the same identities first. A real PostgreSQL server
(tests/pg.py), real DuckLake commits through the store's own insert queries."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pyarrow as pa
import pytest
import shapely

import queries
from borderwatch import audit, incident_store
from borderwatch.access import Release
from borderwatch.store import Store

T0 = dt.datetime(2026, 10, 1, 12, 0)
SHARED = [f"x-{k}" for k in range(5)]  # written by both writers
ONLY_A = [f"a-{k}" for k in range(4)]


def _incidents(store: Store, ids: list[str], writer: str, owner: str = "GRC") -> pa.Table:
    rows = [{"incident_id": i, "occurred_at": T0 + dt.timedelta(minutes=k), "threat_type": "smuggling",
             "lon": 23.5 + k * 0.01, "lat": 41.3, "reporting_nation": owner, "description": writer}
            for k, i in enumerate(ids)]
    return incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset=writer, owner=owner,
                                            release=Release(False, (), ()))


def _owned(columns: dict, owner: str) -> pa.Table:
    n = len(next(iter(columns.values())))
    return pa.table({**columns, "owner_nation": [owner] * n, "release_public": [False] * n,
                     "release_nations": pa.array([[]] * n, pa.list_(pa.string())),
                     "release_agreements": pa.array([[]] * n, pa.list_(pa.string()))})


def _sensors(ids: list[str], writer: str, owner: str = "GRC") -> pa.Table:
    n = len(ids)
    coverage = shapely.to_wkb(shapely.Point(23.5, 41.3).buffer(0.05))
    return _owned({"sensor_id": ids, "sensor_type": ["radar"] * n, "name": [writer] * n, "status": ["online"] * n,
                   "lon": [23.5] * n, "lat": [41.3] * n, "range_m": [5000.0] * n, "azimuth_deg": [0.0] * n,
                   "fov_deg": [360.0] * n, "segment_id": [None] * n, "nation": [owner] * n,
                   "coverage_wkb": pa.array([coverage] * n, pa.binary())}, owner)


def _fortifications(ids: list[str], writer: str, owner: str = "GRC") -> pa.Table:
    n = len(ids)
    point = shapely.to_wkb(shapely.Point(23.6, 41.3))
    return _owned({"fortification_id": ids, "kind": ["watchtower"] * n, "name": [writer] * n,
                   "condition": ["good"] * n, "year_built": pa.array([2020] * n, pa.int32()),
                   "segment_id": [None] * n, "nation": [owner] * n,
                   "geom_wkb": pa.array([point] * n, pa.binary())}, owner)


def write(store: Store, writer: str, incident_ids, sensor_ids, fortification_ids, owner: str = "GRC") -> None:
    """One write transaction through the store's insert-if-absent queries of all three tables."""
    table = incident_store.first_per_identity(_incidents(store, incident_ids, writer, owner))
    with store.transaction() as cur:
        for staged, query, params in (
                (table, "insert_incidents", {}),
                (_sensors(sensor_ids, writer, owner), "import_sensors", {"dataset": writer, "heard_at": T0}),
                (_fortifications(fortification_ids, writer, owner), "import_fortifications",
                 {"dataset": writer, "reported_at": T0})):
            cur.register("staged", staged)
            try:
                queries.execute(query, store=store, **params)
            finally:
                cur.unregister("staged")


def stored(store: Store) -> dict[str, list[tuple]]:
    """Every stored row as (owner, id, who wrote it), per table."""
    cur = store.cursor()
    return {
        "incidents": cur.execute("SELECT coalesce(owner_nation, reporting_nation), incident_id, description "
                                 "FROM incidents ORDER BY ALL").fetchall(),
        "sensors": cur.execute("SELECT coalesce(owner_nation, nation), sensor_id, name FROM sensors "
                               "ORDER BY ALL").fetchall(),
        "fortifications": cur.execute("SELECT coalesce(owner_nation, nation), fortification_id, name "
                                      "FROM fortifications ORDER BY ALL").fetchall(),
    }


@pytest.fixture
def race(request, postgres, pg_lake, tmp_path, monkeypatch):
    """Writer A, whose lock session is ended just after its last check before the commit, while
    writer B (another host's store) writes the shared identities first; yields (A, B, run)."""
    a, b = Store(tmp_path / "host-a"), Store(tmp_path / "host-b")
    # another nation's rows under the same ids, stored before: never touched by either writer or the repair
    write(b, "TUR-earlier", SHARED[:2], ["s-1"], ["f-1"], owner="TUR")
    checked = a._still_locked
    events = []

    def check_then_lose_the_lock():
        checked()  # the check passes: the lock session is alive
        if events:  # once: the repair's own commit keeps its lock
            return
        pid = a._lock_token.pid
        if getattr(request, "param", "backend-ended") == "server-restarted":  # every session ends, A's catalog connection too
            postgres.restart()
        else:
            with psycopg.connect(postgres.url(), autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        # B takes the lock A has just lost, finds the identities absent (A has not committed) and commits
        write(b, "B", SHARED, ["s-1"], ["f-1"])
        events.append(("B committed while A held no lock", pid))

    def run():
        monkeypatch.setattr(a, "_still_locked", check_then_lose_the_lock)
        try:
            write(a, "A", SHARED + ONLY_A, ["s-1", "s-2"], ["f-1", "f-2"])
        finally:
            monkeypatch.setattr(a, "_still_locked", checked)
        assert events, "the lock was never lost: the test did not exercise the race"
        return events[0][1]

    yield a, b, run
    a.close()
    b.close()


def test_lost_lock_between_check_and_commit_leaves_no_duplicate_and_loses_nothing(race):
    a, b, run = race
    lost_pid = run()
    rows = stored(b)
    # each identity once; the earliest commit (B's) kept for the shared ones; A's own rows all there
    assert rows["incidents"] == sorted([("GRC", i, "B") for i in SHARED] + [("GRC", i, "A") for i in ONLY_A]
                                       + [("TUR", i, "TUR-earlier") for i in SHARED[:2]])
    assert rows["sensors"] == [("GRC", "s-1", "B"), ("GRC", "s-2", "A"), ("TUR", "s-1", "TUR-earlier")]
    assert rows["fortifications"] == [("GRC", "f-1", "B"), ("GRC", "f-2", "A"), ("TUR", "f-1", "TUR-earlier")]
    # the repair is in the audit log, with what it removed
    repairs = audit.entries(store=b, action="duplicates-removed")
    assert len(repairs) == 1
    assert int(repairs.row_count.iloc[0]) == len(SHARED) + 2
    assert f"{len(SHARED)} incidents, 1 sensors, 1 fortifications" in repairs.detail.iloc[0]
    # A writes on under a new lock session, and an ordinary write needs no repair
    assert a._lock_token is None and a._lock_con is not None
    write(a, "A-again", ["later-1"], [], [])
    with psycopg.connect(a.postgres.conninfo(), autocommit=True) as check:
        assert check.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (lost_pid,)).fetchone()[0] == 0
    assert len(audit.entries(store=b, action="duplicates-removed")) == 1
    assert ("GRC", "later-1", "A-again") in stored(b)["incidents"]
    with psycopg.connect(a.postgres.conninfo(), autocommit=True) as check:
        assert check.execute("SELECT count(*) FROM borderwatch_pending_writes").fetchone()[0] == 0


def test_a_writer_that_dies_before_its_check_is_repaired_by_the_next_writer(race, monkeypatch):
    """The same race, but A dies right after its commit, before it can check its lock session:
    the duplicates are real (this is also the test above with its repair taken out), and A's marker
    makes the next writer to take the lock repair them."""
    a, b, run = race
    monkeypatch.setattr(a, "_confirm_lock", lambda: None)  # A never gets to check
    run()
    rows = stored(b)
    assert sorted(r for r in rows["incidents"] if r[0] == "GRC" and r[1] in SHARED) == sorted(
        [("GRC", i, "A") for i in SHARED] + [("GRC", i, "B") for i in SHARED])
    assert rows["sensors"].count(("GRC", "s-1", "A")) == rows["sensors"].count(("GRC", "s-1", "B")) == 1
    assert len(audit.entries(store=b, action="duplicates-removed")) == 0
    with psycopg.connect(b.postgres.conninfo(), autocommit=True) as check:
        assert check.execute("SELECT count(*) FROM borderwatch_pending_writes").fetchone()[0] == 1
    # a minute on, B's next write takes the lock, finds A's marker of a session that ended, and repairs first
    with psycopg.connect(b.postgres.conninfo(), autocommit=True) as clock:
        clock.execute("UPDATE borderwatch_pending_writes SET marked_at = marked_at - interval '61 seconds'")
    write(b, "B-later", ["later-2"], [], [])
    rows = stored(b)
    assert rows["incidents"] == sorted([("GRC", i, "B") for i in SHARED] + [("GRC", i, "A") for i in ONLY_A]
                                       + [("TUR", i, "TUR-earlier") for i in SHARED[:2]] + [("GRC", "later-2", "B-later")])
    assert rows["sensors"] == [("GRC", "s-1", "B"), ("GRC", "s-2", "A"), ("TUR", "s-1", "TUR-earlier")]
    assert rows["fortifications"] == [("GRC", "f-1", "B"), ("GRC", "f-2", "A"), ("TUR", "f-1", "TUR-earlier")]
    assert len(audit.entries(store=b, action="duplicates-removed")) == 1
    with psycopg.connect(b.postgres.conninfo(), autocommit=True) as check:
        assert check.execute("SELECT count(*) FROM borderwatch_pending_writes").fetchone()[0] == 0


def test_a_commit_that_kept_its_lock_is_not_repaired(pg_lake, tmp_path):
    from borderwatch import pglock
    from borderwatch.store import ADVISORY_LOCK_KEY

    store = Store(tmp_path / "host")
    write(store, "first", ["k-1", "k-2"], ["s-1"], ["f-1"])
    with store.write_lock():
        token = store._lock_token
        assert pglock.held(store._lock_con, token, ADVISORY_LOCK_KEY)
        write(store, "second", ["k-2", "k-3"], ["s-1"], ["f-1"])  # repeats are skipped, as always
        assert store._lock_token == token  # the same session throughout
    assert not pglock.held(store._lock_con, token, ADVISORY_LOCK_KEY)  # released
    assert [r[1] for r in stored(store)["incidents"]] == ["k-1", "k-2", "k-3"]
    assert len(audit.entries(store=store, action="duplicates-removed")) == 0
    store.close()


@pytest.mark.parametrize("race", ["server-restarted"], indirect=True)
def test_server_restart_between_check_and_commit_fails_the_write_and_a_retry_stores_each_once(race):
    """A restart ends A's catalog connection too: A's commit fails (nothing of it is stored) and the
    caller's retry, like the feed writer's, finds B's rows and stores only A's own."""
    a, b, run = race
    with pytest.raises(Exception, match="(?i)commit|connection|terminat"):
        run()
    assert all(r[2] != "A" for rows in stored(b).values() for r in rows)
    write(a, "A", SHARED + ONLY_A, ["s-1", "s-2"], ["f-1", "f-2"])
    rows = stored(b)
    assert rows["incidents"] == sorted([("GRC", i, "B") for i in SHARED] + [("GRC", i, "A") for i in ONLY_A]
                                       + [("TUR", i, "TUR-earlier") for i in SHARED[:2]])
    assert rows["sensors"] == [("GRC", "s-1", "B"), ("GRC", "s-2", "A"), ("TUR", "s-1", "TUR-earlier")]
    assert rows["fortifications"] == [("GRC", "f-1", "B"), ("GRC", "f-2", "A"), ("TUR", "f-1", "TUR-earlier")]
