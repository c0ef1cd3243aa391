"""Deployments of the store: PostgreSQL catalog, start errors, migration, backup/restore under
write load, time travel, the result cache across replicas. PostgreSQL is a real server (tests/pg.py)."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import queries
from borderwatch import backup, reference
from borderwatch.store import Store, StoreError
from store_helpers import ROOT, T0, add_incidents, cli  # noqa: F401



@pytest.fixture(params=["embedded", "postgresql"])
def lake(request, tmp_path):
    """A store with the reference data, on each kind of catalog (selected by the environment)."""
    if request.param == "postgresql":
        request.getfixturevalue("pg_lake")
    store = Store(tmp_path / "store")
    assert store.kind == request.param
    reference.load_into(store)
    yield store
    store.close()


# -- start errors: one sentence, nothing changed -------------------------------------------------
@pytest.mark.parametrize("url, words", [
    ("mysql://u@127.0.0.1/lake", "must be a postgresql://"),
    ("postgresql://u@127.0.0.1:5432", "must name a host and a database"),
    ("postgresql://u@127.0.0.1:99999/lake", "not a valid URL"),
    ("postgresql://u@127.0.0.1/lake?sslmode=require&evil=1", "unknown option(s) evil"),
])
def test_wrong_catalog_url_is_refused_in_one_sentence(tmp_path, url, words):
    with pytest.raises(StoreError) as err:
        Store(tmp_path, catalog=url)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_unreachable_postgresql_and_missing_database(tmp_path, postgres):
    import pg

    port = pg.free_port()
    with pytest.raises(StoreError) as err:
        Store(tmp_path, catalog=f"postgresql://someone:secret@127.0.0.1:{port}/lake").cursor()
    text = str(err.value)
    assert f"127.0.0.1:{port}/lake" in text and "connection refused" in text and "secret" not in text
    with pytest.raises(StoreError, match='database "nosuch" does not exist'):
        Store(tmp_path, catalog=postgres.url("nosuch")).cursor()
    # the command line says the same in one line on stderr, exit status 2
    proc = cli("store", "info", env={"BORDERWATCH_CATALOG": f"postgresql://x@127.0.0.1:{port}/lake",
                                     "BORDERWATCH_STORE": str(tmp_path / "s")})
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "connection refused" in lines[0], proc.stderr
    # the feed service refuses to start the same way: a store it cannot reach at start is a configuration error
    proc = cli("feeds", "--cot-tcp", "0", "--cot-udp", "off", "--json-tcp", "off", "--no-watch",
               env={"BORDERWATCH_CATALOG": f"postgresql://x@127.0.0.1:{port}/lake", "BORDERWATCH_STORE": str(tmp_path / "s")},
               timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "connection refused" in lines[0], proc.stderr


def test_unwritable_data_path(tmp_path, pg_lake):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="data path .* is not writable"):
        Store(tmp_path / "s", data_path=blocker / "data").cursor()
    with pytest.raises(StoreError, match="must be a directory .* or an s3://bucket/prefix/ URL"):
        Store(tmp_path / "s", data_path="gs://bucket/lake")


# -- the result cache follows the catalog's snapshot on every replica ------------------------
def test_result_cache_follows_writes_from_another_replica(tmp_path, pg_lake):
    writer, replica = Store(tmp_path / "host-a"), Store(tmp_path / "host-b")  # same catalog, two hosts
    reference.load_into(writer)
    before = queries.df("count_rows", cache=True, store=replica, idents={"table": "incidents"}).iloc[0, 0]
    assert replica.snapshot_id() == writer.snapshot_id()
    assert add_incidents(writer, "other-host", 7) == 7
    assert replica.snapshot_id() == writer.snapshot_id()
    after = queries.df("count_rows", cache=True, store=replica, idents={"table": "incidents"}).iloc[0, 0]
    assert after == before + 7


# -- migration ---------------------------------------------------------------------------------
def test_migrate_embedded_store_to_postgresql(tmp_path, postgres):
    store = Store(tmp_path / "store", catalog="")
    reference.load_into(store)
    add_incidents(store, "before-migration", 120)
    counts = backup.row_counts(store)
    store.close()
    url = postgres.create_database()
    env = {"BORDERWATCH_STORE": str(tmp_path / "store"), "BORDERWATCH_CATALOG": ""}
    proc = cli("store", "migrate", "--to", url, "--data-path", str(tmp_path / "shared"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "rows per table checked" in proc.stdout
    moved = Store(tmp_path / "store", catalog=url, data_path=tmp_path / "shared")
    assert backup.row_counts(moved) == counts
    assert moved.cursor().execute(
        "SELECT count(*) FROM incidents WHERE dataset = 'before-migration' AND segment_id IS NOT NULL").fetchone()[0] == 120
    # a second migration into the same catalog is refused (it holds data) and changes nothing
    again = cli("store", "migrate", "--to", url, "--data-path", str(tmp_path / "shared"), env=env)
    assert again.returncode == 2 and "already holds data" in again.stderr and "--replace" in again.stderr
    assert backup.row_counts(moved) == counts


# -- backup and restore under write load ---------------------------------------------------------
LOAD = textwrap.dedent("""
    import sys, time, pandas as pd, datetime as dt
    from borderwatch.store import Store
    from borderwatch import incident_store
    store = Store(sys.argv[1]); stop_file = sys.argv[2]; b = 0
    import os
    while not os.path.exists(stop_file):
        rows = [{"incident_id": f"load-{b}-{k}", "occurred_at": dt.datetime(2026, 10, 2, 0, k),
                 "threat_type": "drone_incursion", "lon": 23.6, "lat": 41.3} for k in range(10)]
        incident_store.insert_incidents(store, incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset="load"))
        print(b, flush=True); b += 1
    print("stopped", b, flush=True)
""")


def test_backup_under_write_load_restores_its_snapshot(lake, tmp_path):
    add_incidents(lake, "base", 50)
    stop = tmp_path / "stop"
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(lake.path), str(stop)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        for _ in range(3):  # the load is committing before the backup starts
            assert load.stdout.readline(), load.stderr.read()
        result = backup.backup(lake, tmp_path / "backup")
        for _ in range(3):  # ... and after it ends
            assert load.stdout.readline(), load.stderr.read()
    finally:
        stop.touch()
        out, err = load.communicate(timeout=120)
    assert load.returncode == 0, err
    manifest = backup.read_manifest(tmp_path / "backup")
    assert manifest["snapshot_id"] == result.snapshot_id
    # what the source held at the backup's snapshot, read back by time travel
    con = lake.cursor()
    at = {"v": result.snapshot_id}
    ids_then = {r[0] for r in con.execute("SELECT incident_id FROM incidents AT (VERSION => $v)", at).fetchall()}
    ids_now = {r[0] for r in con.execute("SELECT incident_id FROM incidents").fetchall()}
    assert len(ids_now) > len(ids_then) > 50  # writes went on during and after the backup
    assert manifest["tables"]["incidents"] == len(ids_then)
    # restore into a fresh store of the same kind: every row of the snapshot, nothing later
    target = Store(tmp_path / "restored", data_path=(tmp_path / "restored-data") if lake.kind == "postgresql" else None,
                   catalog=None if lake.kind == "embedded" else _fresh_catalog(lake))
    backup.restore(target, tmp_path / "backup")
    restored = {r[0] for r in target.cursor().execute("SELECT incident_id FROM incidents").fetchall()}
    assert restored == ids_then
    assert backup.row_counts(target) == manifest["tables"]
    # restoring over data needs --replace; the command line says so and changes nothing
    with pytest.raises(StoreError, match="already holds data"):
        backup.restore(target, tmp_path / "backup")
    # an unfinished backup (no manifest) is refused
    (tmp_path / "half").mkdir()
    with pytest.raises(StoreError, match="not a finished Borderwatch backup"):
        backup.restore(target, tmp_path / "half")


def _fresh_catalog(store: Store) -> str:
    import psycopg

    name = f"restored_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = store.postgres
    with psycopg.connect(f"host={admin.host} port={admin.port} dbname=postgres user={admin.user}", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql://{admin.user}@{admin.host}:{admin.port}/{name}"


def test_history_setting_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_HISTORY_DAYS", "a month")
    store = Store(tmp_path / "s", catalog="")
    with pytest.raises(StoreError, match="BORDERWATCH_HISTORY_DAYS must be a number of days"):
        store.compact()


# -- time travel -------------------------------------------------------------------------------
def test_as_of_reads_the_store_as_it_was(lake, tmp_path):
    today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    add_incidents(lake, "early", 30, when=today - dt.timedelta(days=2))
    time.sleep(1.2)
    as_of = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    time.sleep(1.2)
    add_incidents(lake, "late", 20, when=today - dt.timedelta(days=1))
    lake.compact()  # merging files keeps the history that time travel reads
    then = Store(lake.path, as_of=as_of)
    assert then.cursor().execute("SELECT count(*) FROM incidents").fetchone()[0] == 30
    assert lake.cursor().execute("SELECT count(*) FROM incidents").fetchone()[0] == 50
    assert then.snapshot_id() < lake.snapshot_id()
    with pytest.raises(StoreError, match="read-only"):
        with then.transaction():
            pass
    with pytest.raises(StoreError, match="no history at"):
        Store(lake.path, as_of=dt.datetime(2000, 1, 1)).cursor()
    # the export command, as of then: the early incidents only ("last 30 days" ending then)
    env = {"BORDERWATCH_STORE": str(lake.path)}
    proc = cli("export", "csv", "--no-zip", "-q", "--as-of", as_of.isoformat(), "-o", str(tmp_path / "then.csv"), env=env)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(tmp_path / "then.csv")
    assert set(frame.incident_id) == {f"early-{k}" for k in range(30)}
    now = cli("export", "csv", "--no-zip", "-q", "--as-of", "2026-10-05T00:00", "-o", str(tmp_path / "x.csv"),
              env=env)  # a time before the store existed
    assert now.returncode == 2 and "no history at 2026-10-05 00:00:00" in now.stderr
    bad = cli("export", "csv", "--as-of", "yesterday", env=env)
    assert bad.returncode == 2 and "not a time: 'yesterday'" in bad.stderr
