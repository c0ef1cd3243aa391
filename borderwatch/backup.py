"""Copying the lake: backup, restore, and migration of an embedded store to PostgreSQL.

All three are one operation: copy every table of a source lake, read at one DuckLake snapshot,
into a target lake in one transaction, then check the row count of every table. Reading at a
snapshot makes a backup consistent while feeds keep writing (their later commits are simply not
in it). A backup directory is itself an embedded store (SQLite catalog + Parquet files) with a
``manifest.json`` naming the snapshot and the row counts; the manifest is written last, so a
directory without one is an unfinished backup and is refused by restore.

``borderwatch store info | backup DIR | restore DIR | migrate --to postgresql://...``
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import time

from borderwatch.fileio import write_atomic
from borderwatch import objectstore
from borderwatch.store import Store, StoreError

MANIFEST = "manifest.json"
FORMAT = 1


@dataclasses.dataclass
class CopyResult:
    snapshot_id: int
    snapshot_time: str
    counts: dict[str, int]
    seconds: float


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(con, alias: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = $db ORDER BY table_name", {"db": alias}).fetchall()]


def _counts(con, alias: str, tables: list[str]) -> dict[str, int]:
    return {t: int(con.execute(f"SELECT count(*) FROM {alias}.{_ident(t)}").fetchone()[0]) for t in tables}


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table of a store, at its latest snapshot (or its pinned one)."""
    cur = store.cursor()
    db = cur.execute("SELECT current_database()").fetchone()[0]
    return _counts(cur, db, _tables(cur, db))


def copy_lake(source: Store, target: Store, *, snapshot: int | None = None, replace: bool = False) -> CopyResult:
    """Copy every table of ``source`` at ``snapshot`` (default: its latest) into ``target``,
    replacing the target's tables, all-or-nothing; raises StoreError if any count differs."""
    t0 = time.monotonic()
    source.check()
    target.check()
    snapshot = source.snapshot_id() if snapshot is None else snapshot
    con = source.connect()
    try:
        target.configure(con)
        con.execute(source.attach_sql("source_lake", snapshot=snapshot))
        snap_time = con.execute(
            "SELECT snapshot_time::TIMESTAMP::VARCHAR FROM ducklake_snapshots('source_lake') WHERE snapshot_id = $s",
            {"s": snapshot}).fetchone()
        tables = _tables(con, "source_lake")
        expected = _counts(con, "source_lake", tables)
        with target.write_lock():
            if target.kind == "embedded" and not target.catalog.exists():
                target.path.mkdir(parents=True, exist_ok=True)
                from borderwatch.store import _init_sqlite

                _init_sqlite(target.catalog)
            con.execute(target.attach_sql("target_lake"))
            existing = _tables(con, "target_lake")
            if not replace:
                nonempty = {t: n for t, n in _counts(con, "target_lake", existing).items() if n}
                if nonempty:
                    shown = ", ".join(f"{t} ({n:,} rows)" for t, n in sorted(nonempty.items()))
                    raise StoreError(f"the target store ({target.describe()}) already holds data: {shown}; "
                                     "use --replace to overwrite it")
            con.execute("BEGIN TRANSACTION")
            try:
                for t in tables:
                    if t in existing:
                        con.execute(f"DELETE FROM target_lake.{_ident(t)}")
                        con.execute(f"INSERT INTO target_lake.{_ident(t)} BY NAME SELECT * FROM source_lake.{_ident(t)}")
                    else:
                        con.execute(f"CREATE TABLE target_lake.{_ident(t)} AS SELECT * FROM source_lake.{_ident(t)}")
                copied = _counts(con, "target_lake", tables)
                if copied != expected:
                    raise StoreError("the copy does not match the source: " + ", ".join(
                        f"{t}: {copied.get(t)} copied, {n} expected" for t, n in expected.items() if copied.get(t) != n))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        con.execute("DETACH target_lake")
        con.execute(target.attach_sql("target_lake", read_only=True))
        after = _counts(con, "target_lake", tables)
        if after != expected:
            raise StoreError("the committed copy does not match the source: " + ", ".join(
                f"{t}: {after.get(t)} stored, {n} expected" for t, n in expected.items() if after.get(t) != n))
    finally:
        con.close()
    return CopyResult(snapshot, snap_time[0] if snap_time else "", expected, time.monotonic() - t0)


def _backup_store(directory: pathlib.Path) -> Store:
    return Store(directory, catalog="", data_path=directory / "files", as_of=None)


def backup(source: Store, directory: str | pathlib.Path) -> CopyResult:
    """Write a consistent backup of ``source`` (at its latest snapshot) into a new directory."""
    directory = pathlib.Path(directory).resolve()
    if directory.exists() and any(directory.iterdir()):
        raise StoreError(f"the backup directory {directory} is not empty; give a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    result = copy_lake(source, _backup_store(directory))
    manifest = {"format": FORMAT, "snapshot_id": result.snapshot_id, "snapshot_time_utc": result.snapshot_time,
                "source": source.describe(), "written_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                "tables": result.counts}
    write_atomic(directory / MANIFEST, json.dumps(manifest, indent=2).encode())
    return result


def read_manifest(directory: str | pathlib.Path) -> dict:
    path = pathlib.Path(directory).resolve() / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StoreError(f"{path.parent} is not a finished Borderwatch backup (no {MANIFEST})") from exc
    except (OSError, ValueError) as exc:
        raise StoreError(f"the backup manifest {path} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("tables"), dict):
        raise StoreError(f"the backup manifest {path} is not of a format this version reads (format {FORMAT})")
    return manifest


def restore(target: Store, directory: str | pathlib.Path, *, replace: bool = False) -> CopyResult:
    """Replace the contents of ``target`` with a backup; checks every table's rows against the manifest."""
    directory = pathlib.Path(directory).resolve()
    manifest = read_manifest(directory)
    source = _backup_store(directory)
    if not source.catalog.exists():
        raise StoreError(f"the backup {directory} has no catalog (catalog.sqlite)")
    result = copy_lake(source, target, replace=replace)
    if result.counts != {k: int(v) for k, v in manifest["tables"].items()}:
        raise StoreError(f"the backup {directory} does not hold the rows its manifest lists")
    result.snapshot_id, result.snapshot_time = manifest["snapshot_id"], manifest["snapshot_time_utc"]
    return result


def migrate(source: Store, catalog: str, data_path: str | None, *, replace: bool = False) -> tuple[Store, CopyResult]:
    """Copy an embedded store into a PostgreSQL catalog with its data files under ``data_path``
    (a directory every host mounts, or an s3://bucket/prefix/ URL)."""
    if source.kind != "embedded":
        raise StoreError("migrate copies an embedded store; BORDERWATCH_CATALOG already names a PostgreSQL catalog")
    if not source.catalog.exists():
        raise StoreError(f"there is no embedded store at {source.path} to migrate")
    if not data_path:
        raise StoreError("give the place for the table files (--data-path): a directory every host mounts "
                         "or an s3://bucket/prefix/ URL")
    target = Store(source.path, catalog=catalog, data_path=data_path, as_of=None)
    if target.postgres is None:
        raise StoreError("--to must be a postgresql://user@host:port/dbname URL")
    if not objectstore.is_s3(data_path) and pathlib.Path(data_path).resolve() == source.data_dir:
        raise StoreError("the data path must differ from the embedded store's own files directory")
    return target, copy_lake(source, target, replace=replace)

