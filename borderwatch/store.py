"""The Borderwatch store: one DuckLake (SQLite catalog + Parquet files) shared by processes.

Why DuckLake and not a plain DuckDB file: a DuckDB file admits one writing process and no
other process at all while it writes (not even read-only), but the app, a command-line import
and the live-feed service must run side by side. DuckLake keeps table data in immutable Parquet
files and the table state in a catalog database; every process attaches the same catalog, reads
a consistent snapshot, and commits new snapshots. The catalog is SQLite (WAL mode) on one
machine and can move to PostgreSQL when a site outgrows one machine.

Writers additionally serialise on an advisory file lock (``write.lock``): that makes
"insert if the key is absent" race-free across processes (DuckLake has no unique constraints)
and keeps SQLite from answering "database is locked" to a concurrent committer.

Extensions are loaded only from their PyPI packages (``duckdb-extension-*``), installed into an
extension directory inside the Python environment; nothing is ever downloaded.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import pathlib
import sqlite3
import sys
import threading
import time
from typing import Iterator

import duckdb

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_STORE = REPO_ROOT / "var" / "store"
LAKE = "bw"

# extension name as DuckDB knows it -> PyPI package module and file stem
_EXTENSIONS = {
    "spatial": ("duckdb_extension_spatial", "spatial"),
    "sqlite_scanner": ("duckdb_extension_sqlite", "sqlite"),
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
}


class StoreError(RuntimeError):
    """A store that cannot be opened or used, explained in one sentence."""


def store_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("BORDERWATCH_STORE", DEFAULT_STORE)).resolve()


def extension_directory() -> pathlib.Path:
    """Extensions live inside the active Python environment, never in the user's home."""
    return pathlib.Path(sys.prefix) / "duckdb_extensions"


def _extension_file(module: str, stem: str) -> pathlib.Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise StoreError(
            f"DuckDB extension package '{module.replace('_', '-')}' is not installed; "
            "run the README's setup command (make setup)."
        ) from exc
    path = pathlib.Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{stem}.duckdb_extension"
    if not path.exists():
        raise StoreError(
            f"DuckDB extension '{stem}' has no build for DuckDB {duckdb.__version__} in its package "
            f"({module}); pin duckdb to the extension package's version."
        )
    return path


def new_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with spatial, sqlite and ducklake loaded offline."""
    ext_dir = extension_directory()
    ext_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(ext_dir),
        }
    )
    for name, (module, stem) in _EXTENSIONS.items():
        try:
            con.execute(f"LOAD {name}")
        except duckdb.Error:
            try:
                con.execute(f"INSTALL '{_extension_file(module, stem)}'")
                con.execute(f"LOAD {name}")
            except duckdb.Error as exc:
                raise StoreError(f"DuckDB extension '{name}' could not be loaded from its package: {exc}") from exc
    con.execute("SET enable_progress_bar = false")
    # Without this, spherical distance functions read points as (lat, lon).
    con.execute("SET GLOBAL geometry_always_xy = true")
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


class Store:
    """Owns the lake's location, its connections (one cursor per thread) and the write lock."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = pathlib.Path(path).resolve() if path else store_path()
        self.catalog = self.path / "catalog.sqlite"
        self.data_dir = self.path / "files"
        self.lock_file = self.path / "write.lock"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._open_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------
    def exists(self) -> bool:
        return self.catalog.exists()

    def _base(self) -> duckdb.DuckDBPyConnection:
        with self._open_lock:
            if self._con is None:
                self.path.mkdir(parents=True, exist_ok=True)
                self.data_dir.mkdir(parents=True, exist_ok=True)
                new_catalog = not self.catalog.exists()
                if new_catalog:
                    with self.write_lock():
                        _init_sqlite(self.catalog)
                con = new_connection()
                _retry(lambda: con.execute(
                    f"ATTACH 'ducklake:sqlite:{_quote(self.catalog)}' AS {LAKE} "
                    f"(DATA_PATH '{_quote(self.data_dir)}/')"
                ))
                con.execute(f"USE {LAKE}")
                from borderwatch import schema

                with self.write_lock():
                    schema.ensure(con)
                self._con = con
            return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """The calling thread's cursor (DuckDB connections are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._base().cursor()
            cur.execute(f"USE {LAKE}")
            self._local.cursor = cur
        return cur

    def snapshot_id(self) -> int:
        """The lake's latest committed snapshot (changes with every write; a cheap cache key)."""
        con = getattr(self._local, "catalog_reader", None)
        if con is None:
            con = sqlite3.connect(f"file:{self.catalog}?mode=ro", uri=True, check_same_thread=False)
            self._local.catalog_reader = con
        for attempt in range(20):
            try:
                return int(con.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchone()[0] or 0)
            except sqlite3.OperationalError:
                time.sleep(0.02 * (attempt + 1))
        raise StoreError("the store's catalog stayed locked for too long")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        self._local = threading.local()

    # -- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, timeout: float = 120.0) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(f"another process has held the store's write lock for over {timeout:.0f} s")
                    time.sleep(0.02)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction: exclusive among Borderwatch processes, all-or-nothing."""
        cur = self.cursor()
        with self.write_lock():
            _retry(lambda: cur.execute("BEGIN TRANSACTION"))
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            else:
                try:
                    _retry(lambda: cur.execute("COMMIT"))
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise

    def compact(self) -> None:
        """Merge small Parquet files (live feeds write many) and drop files no snapshot needs."""
        with self.write_lock():
            cur = self.cursor()
            _retry(lambda: cur.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')"))
            _retry(lambda: cur.execute(f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - INTERVAL 1 HOUR)"))
            _retry(lambda: cur.execute(f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => now() - INTERVAL 1 HOUR)"))


def _quote(path: pathlib.Path) -> str:
    text = str(path)
    if "'" in text:
        raise StoreError(f"the store path may not contain a quote character: {text}")
    return text


def _init_sqlite(path: pathlib.Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _retry(fn, attempts: int = 50, delay: float = 0.05):
    """Retry an operation that met a transient catalog lock."""
    for i in range(attempts):
        try:
            return fn()
        except duckdb.Error as exc:
            message = str(exc).lower()
            if ("locked" in message or "busy" in message) and i < attempts - 1:
                time.sleep(delay * (1 + i % 5))
                continue
            raise


_default: Store | None = None
_default_lock = threading.Lock()


def default_store() -> Store:
    """The process-wide store at ``BORDERWATCH_STORE`` (or ``var/store`` in the repo)."""
    global _default
    with _default_lock:
        if _default is None or _default.path != store_path():
            _default = Store()
        return _default
