"""The store: offline extensions, geometry axis order, and processes writing side by side."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from borderwatch.store import Store, new_connection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_extensions_load_without_network_or_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    con = new_connection()
    loaded = {r[0] for r in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    assert {"spatial", "ducklake", "sqlite_scanner"} <= loaded
    assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    assert not (tmp_path / "home" / ".duckdb").exists()


def test_spherical_distance_reads_lon_lat():
    con = new_connection()
    # Paris -> Berlin is about 878 km; read as (lat, lon) it would be far off.
    km = con.execute("SELECT ST_Distance_Sphere(ST_Point(2.3522, 48.8566), ST_Point(13.4050, 52.5200)) / 1000").fetchone()[0]
    assert 870 < km < 885
    cur = con.cursor()
    km2 = cur.execute("SELECT ST_Distance_Sphere(ST_Point(2.3522, 48.8566), ST_Point(13.4050, 52.5200)) / 1000").fetchone()[0]
    assert km2 == pytest.approx(km)


WRITER = textwrap.dedent("""
    import sys, pandas as pd, datetime as dt
    from borderwatch.store import Store
    from borderwatch import incident_store
    store = Store(sys.argv[1]); name = sys.argv[2]; batches = int(sys.argv[3])
    for b in range(batches):
        rows = [{"incident_id": f"{name}-{b}-{k}", "occurred_at": dt.datetime(2026, 10, 1, 12, k),
                 "threat_type": "smuggling", "lon": 23.5 + k * 0.01, "lat": 41.3, "description": name}
                for k in range(20)]
        # every batch re-sends the previous one's first row: it must not be duplicated
        if b:
            rows.append(dict(rows[0], incident_id=f"{name}-{b-1}-0"))
        table = incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset=name)
        incident_store.insert_incidents(store, table)
    print("done", name)
""")

READER = textwrap.dedent("""
    import sys, time
    from borderwatch.store import Store
    store = Store(sys.argv[1]); seen = []
    deadline = time.time() + 120
    while time.time() < deadline:
        n = store.cursor().execute("SELECT count(*) FROM incidents WHERE dataset IN ('w1', 'w2')").fetchone()[0]
        seen.append(n)
        if n >= int(sys.argv[2]):
            break
        time.sleep(0.05)
    assert seen == sorted(seen), "a reader saw the count go backwards"
    print("reads", len(seen), "last", seen[-1])
""")


@pytest.fixture(params=["embedded", "postgresql"])
def catalog_kind(request):
    """Runs a test on the embedded (SQLite) catalog and on a real PostgreSQL catalog."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_lake")
    return request.param


def test_two_writers_and_a_reader_run_side_by_side(tmp_path, catalog_kind):
    # start from the reference data so segments exist for the writers
    store = Store(tmp_path / "lake")
    assert store.kind == catalog_kind
    from borderwatch import reference
    reference.load_into(store)
    store.close()
    batches = 15
    total = 2 * batches * 20
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(store.path), name, str(batches)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("w1", "w2")]
    procs.append(subprocess.Popen([sys.executable, "-c", READER, str(store.path), str(total)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert "reads" in outs[2][0]
    reopened = Store(store.path)
    cur = reopened.cursor()
    assert cur.execute("SELECT count(*), count(DISTINCT incident_id) FROM incidents").fetchone() == (total, total)
    per = dict(cur.execute("SELECT dataset, count(*) FROM incidents GROUP BY 1").fetchall())
    assert per == {"w1": total // 2, "w2": total // 2}
    # derived fields were filled: the points sit on the Greece-North Macedonia/Bulgaria area
    assert cur.execute("SELECT count(*) FROM incidents WHERE segment_id IS NULL OR h3 IS NULL").fetchone()[0] == 0


def test_no_progress_bar_reaches_standard_output(tmp_path):
    """A slow query in a command must not draw DuckDB's progress bar on stdout, where commands
    print their JSON: every thread's cursor has it off."""
    import threading

    from borderwatch.store import Store

    store = Store(tmp_path / "s")
    seen = []
    t = threading.Thread(target=lambda: seen.append(
        store.cursor().execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]))
    t.start()
    t.join()
    assert seen == [False]
    assert store.cursor().execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False


def test_snapshot_id_follows_every_write_of_this_process(tmp_path):
    """The snapshot id is the cache key of query results: it must move with every commit, the
    second and third as much as the first (a long-lived reader once kept an old one)."""
    import queries
    import tiny_store as tiny

    store = tiny.build(tmp_path / "s")
    ids = [store.snapshot_id()]
    for k in range(3):
        with store.transaction():
            queries.execute("set_meta", store=store, key=f"k{k}", value="v")
        ids.append(store.snapshot_id())
    assert ids == sorted(set(ids)) and len(ids) == 4, ids
    # a cached result follows the write too
    from borderwatch.filters import Filter

    count = lambda: queries.df("incident_count", Filter(window="365d"), store=store, now=tiny.NOW,  # noqa: E731
                               cache=True).iloc[0, 0]
    before = count()
    with store.transaction():
        queries.execute("delete_dataset", store=store, idents={"table": "incidents"}, dataset="tiny")
    assert count() == 0 < before


def test_cached_rows_follow_writes_and_reads_inside_a_write_are_not_kept(tmp_path):
    """Page reads of small tables (the session, the account, scenario notes) are cached per
    snapshot. A read inside a write transaction sees uncommitted rows: it must not be kept under
    the last committed snapshot, or a rolled-back write would be served to the next reader."""
    import queries
    import tiny_store as tiny

    store = tiny.build(tmp_path / "s")
    meta = lambda key="probe": queries.scalar("meta", store=store, cache=True, key=key)  # noqa: E731
    assert meta() is None
    with store.transaction():
        queries.execute("set_meta", store=store, key="probe", value="one")
        assert meta() == "one"  # the transaction sees its own write
    assert meta() == "one"  # committed: a new snapshot, a new cache entry
    with pytest.raises(RuntimeError):
        with store.transaction():
            queries.execute("set_meta", store=store, key="later", value="rolled back")
            assert meta("later") == "rolled back"
            raise RuntimeError("abandon the write")
    assert meta("later") is None and meta() == "one"
    assert queries.rows("meta", store=store, cache=True, key="probe") == [("one",)]
