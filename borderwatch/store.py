"""The Borderwatch store: one DuckLake (a catalog database + Parquet files) shared by processes.

Why DuckLake and not a plain DuckDB file: a DuckDB file admits one writing process and no
other process at all while it writes (not even read-only), but the app, a command-line import
and the live-feed service must run side by side. DuckLake keeps table data in immutable Parquet
files and the table state in a catalog database; every process attaches the same catalog, reads
a consistent snapshot, and commits new snapshots.

Two deployments, chosen by the environment:

- **embedded** (default): the catalog is a SQLite file (WAL mode) in the store directory, the
  Parquet files beside it; one machine.
- **PostgreSQL** (``BORDERWATCH_CATALOG=postgresql://user@host:port/dbname``): the catalog is a
  PostgreSQL database and ``BORDERWATCH_DATA_PATH`` a directory every host mounts; any number of
  app replicas, feed services and imports on any number of machines.

With either catalog, ``BORDERWATCH_DATA_PATH`` may instead be ``s3://bucket/prefix/`` on
S3-compatible object storage (``borderwatch.objectstore``: httpfs, credentials from the environment
or the AWS credential chain).

Writers serialise on one lock: an advisory file lock (``write.lock``) in the embedded store, a
PostgreSQL session advisory lock with the PostgreSQL catalog (it works across hosts and is
released by the server if the holder dies). That makes "insert if the key is absent" race-free
(DuckLake has no unique constraints) and keeps SQLite from answering "database is locked" to a
concurrent committer. A PostgreSQL writer checks after each commit that its lock session lived
through the whole write, and repairs the write when it did not (``borderwatch.pglock``).
``snapshot_id`` reads the catalog's latest snapshot: the result cache key,
identical on every replica.

History: every commit is a DuckLake snapshot. ``Store(as_of=TIME)`` opens the lake read-only as
it was at TIME (time travel); compaction keeps ``BORDERWATCH_HISTORY_DAYS`` of history.

Connections and extensions: ``borderwatch.connections``; the PostgreSQL catalog's URL and
connection: ``borderwatch.pgcatalog``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import pathlib
import sqlite3
import tempfile
import threading
import time
from typing import Iterator

import duckdb

from borderwatch import objectstore, pglock
from borderwatch.connections import StoreError, load_extension, new_connection  # noqa: F401 (the store's API)
from borderwatch.pgcatalog import CATALOG_ENV, PostgresCatalog, _pg_reason, _redact  # noqa: F401
from borderwatch.pglock import ADVISORY_LOCK_KEY  # noqa: F401 (the writers' lock key)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_STORE = REPO_ROOT / "var" / "store"
LAKE = "bw"
SNAPSHOT_MEMO_S = 0.5  # how long an embedded store's snapshot id is reused before asking again
# (snapshot id, when read) by store path, shared by every Store of the path in this process, so that a
# commit through one of them is seen at once through the others (the sign-out page and the session check)
_SNAPSHOT_MEMO: dict[str, tuple[int, float]] = {}
DATA_PATH_ENV = "BORDERWATCH_DATA_PATH"
HISTORY_ENV = "BORDERWATCH_HISTORY_DAYS"
DEFAULT_HISTORY_DAYS = 30

def store_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("BORDERWATCH_STORE", DEFAULT_STORE)).resolve()


def history_days() -> float:
    text = os.environ.get(HISTORY_ENV, "").strip()
    if not text:
        return DEFAULT_HISTORY_DAYS
    try:
        days = float(text)
    except ValueError:
        days = -1
    if not days >= 0:
        raise StoreError(f"{HISTORY_ENV} must be a number of days (0 or more), not {text!r}")
    return days


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _quote(path: pathlib.Path) -> str:
    text = str(path)
    if "'" in text:
        raise StoreError(f"the store path may not contain a quote character: {text}")
    return text


# -- the store ---------------------------------------------------------------------------------
_AS_OF: dt.datetime | None = None


def travel_to(as_of: dt.datetime) -> None:
    """Read every store this process opens as it was at ``as_of`` (UTC), with "now" pinned there
    too, so filters with relative windows ("last 24 h") mean what they meant then."""
    global _AS_OF, _default
    _AS_OF = as_of.replace(tzinfo=None, microsecond=0)
    os.environ["BORDERWATCH_NOW"] = _AS_OF.isoformat()
    _default = None


def parse_time(text: str) -> dt.datetime:
    """A user's ISO time ('2026-11-01T12:00', zone optional, UTC by default) as naive UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise StoreError(f"not a time: {text!r} (use ISO form, e.g. 2026-11-01T12:00 in UTC)") from exc
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


class Store:
    """Owns the lake's location, its connections (one cursor per thread) and the write lock.

    ``path`` is the local store directory (embedded catalog, feed journal); ``catalog`` a
    PostgreSQL URL or "" for the embedded catalog and ``data_path`` the Parquet directory (both
    default to ``BORDERWATCH_CATALOG`` / ``BORDERWATCH_DATA_PATH``); ``as_of`` opens the lake
    read-only as it was at that UTC time."""

    def __init__(self, path: str | os.PathLike | None = None, *, catalog: str | None = None,
                 data_path: str | os.PathLike | None = None, as_of: dt.datetime | None = None):
        self.path = pathlib.Path(path).resolve() if path else store_path()
        url = (os.environ.get(CATALOG_ENV, "") if catalog is None else catalog).strip()
        self.postgres = PostgresCatalog.parse(url) if url else None
        self.catalog = self.path / "catalog.sqlite"
        data = data_path if data_path is not None else (os.environ.get(DATA_PATH_ENV, "").strip() or None)
        self.s3 = objectstore.S3DataPath.parse(str(data)) if data and objectstore.is_s3(data) else None
        if data is not None and self.s3 is None and "://" in str(data):
            raise StoreError("the data path must be a directory (a shared mount on every host) or an "
                             f"s3://bucket/prefix/ URL, not {data!r}")
        # the local directory of the table files (None when they are in a bucket)
        self.data_dir = None if self.s3 else (pathlib.Path(data).resolve() if data else self.path / "files")
        self.lock_file = self.path / "write.lock"
        self.as_of = as_of if as_of is not None else _AS_OF
        self.pinned_snapshot: int | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self.threads: int | None = None  # DuckDB worker threads of the connection (use_threads)
        self._local = threading.local()
        self._open_lock = threading.Lock()
        self._thread_lock = threading.RLock()  # writers within this process
        self._lock_depth = 0
        self._lock_con = None  # PostgreSQL session holding the advisory lock
        self._lock_token = None  # which session took it, and the snapshot then (borderwatch.pglock)
        self._repairing = False
        self._pending_table_con = None  # the lock session that has seen the marker table
        self._reader_con = None  # PostgreSQL session reading the latest snapshot id
        self._reader_lock = threading.Lock()

    def live(self) -> "Store":
        """The same lake as it is now (writable): where a time-travel store's own bookkeeping
        (the audit log of the export or briefing made from it) is written."""
        if self.as_of is None:
            return self
        other = Store(self.path, data_path=self.data_path)
        other.as_of = None
        return other

    @property
    def kind(self) -> str:
        return "postgresql" if self.postgres else "embedded"

    @property
    def data_path(self) -> str:
        """Where the table files are: a directory, or an s3://bucket/prefix/ URL."""
        return self.s3.url if self.s3 else str(self.data_dir)

    def describe(self) -> str:
        """Where the lake is, in words (no secrets)."""
        catalog = self.postgres.display() if self.postgres else str(self.catalog)
        return f"{self.kind} catalog {catalog}, data {self.s3.display() if self.s3 else self.data_dir}"

    def configure(self, con: duckdb.DuckDBPyConnection) -> None:
        """Give a connection what attaching this lake needs (httpfs and the bucket's secret)."""
        if self.s3:
            try:
                self.s3.configure(con)
            except duckdb.Error as exc:
                raise StoreError(f"the object store settings were refused: {self._scrub(exc)}") from exc

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new DuckDB connection ready to attach this lake."""
        con = new_connection(self.threads)
        try:
            self.configure(con)
        except BaseException:
            con.close()
            raise
        return con

    # -- connections -------------------------------------------------------------------
    def exists(self) -> bool:
        if self.postgres is None:
            return self.catalog.exists()
        con = self.postgres.connect()
        try:
            return con.execute("SELECT to_regclass('ducklake_snapshot') IS NOT NULL").fetchone()[0]
        finally:
            con.close()

    def attach_sql(self, alias: str, *, snapshot: int | None = None, read_only: bool = False) -> str:
        """The ATTACH statement for this lake under ``alias`` (optionally at a snapshot)."""
        if self.postgres:
            target = "ducklake:postgres:" + self.postgres.conninfo()
        else:
            target = f"ducklake:sqlite:{_quote(self.catalog)}"
        options = [f"DATA_PATH {_sql_text(self.data_path.rstrip('/') + '/')}"]
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        if read_only or snapshot is not None:
            options.append("READ_ONLY")
        return f"ATTACH {_sql_text(target)} AS {alias} ({', '.join(options)})"

    def check(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        """Fail now, in one sentence, if the catalog is unreachable or the data path unusable
        (a bucket: reachable with these credentials, and writable; ``con``: a configured
        connection to probe it with)."""
        if self.s3:
            if self.as_of is None:
                probe = con if con is not None else self.connect()
                try:
                    self.s3.probe(probe)
                finally:
                    if con is None:
                        probe.close()
        else:
            self._check_data_dir()
        if self.postgres:
            self.postgres.connect().close()

    def _check_data_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self.as_of is None:
                with tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".probe-"):
                    pass
        except OSError as exc:
            raise StoreError(f"the data path {self.data_dir} is not writable by this process "
                             f"({exc.strerror or exc}); check {DATA_PATH_ENV} and the mount") from exc

    def _base(self) -> duckdb.DuckDBPyConnection:
        with self._open_lock:
            if self._con is None:
                self.path.mkdir(parents=True, exist_ok=True)
                con = self.connect()
                try:
                    self.check(con)
                    if self.postgres is None and not self.catalog.exists():
                        if self.as_of is not None:
                            raise StoreError(f"there is no store at {self.path} to read as of a past time")
                        with self.write_lock():
                            _init_sqlite(self.catalog)
                    if self.as_of is not None:
                        self.pinned_snapshot = self._snapshot_at(con, self.as_of)
                        con.execute(self.attach_sql(LAKE, snapshot=self.pinned_snapshot))
                    elif self.postgres is not None:
                        # the first process to attach an empty database creates DuckLake's tables
                        with self.write_lock():
                            con.execute(self.attach_sql(LAKE))
                    else:
                        _retry(lambda: con.execute(self.attach_sql(LAKE)))
                except duckdb.Error as exc:
                    con.close()
                    raise StoreError(f"the store ({self.describe()}) could not be opened: {self._scrub(exc)}") from exc
                except BaseException:
                    con.close()
                    raise
                con.execute(f"USE {LAKE}")
                if self.as_of is None:
                    from borderwatch import schema

                    with self.write_lock():
                        schema.ensure(con)
                self._con = con
            return self._con

    def _snapshot_at(self, con: duckdb.DuckDBPyConnection, when: dt.datetime) -> int:
        """The last snapshot committed at or before ``when`` (UTC)."""
        con.execute(self.attach_sql("catalog_history", read_only=True))
        try:
            row = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('catalog_history') "
                              "WHERE snapshot_time <= $t::TIMESTAMP", {"t": when}).fetchone()
            oldest = con.execute("SELECT min(snapshot_time)::TIMESTAMP::VARCHAR FROM ducklake_snapshots('catalog_history')").fetchone()[0]
        finally:
            con.execute("DETACH catalog_history")
        if row[0] is None:
            raise StoreError(f"the store has no history at {when:%Y-%m-%d %H:%M:%S} UTC; its oldest kept "
                             f"snapshot is from {str(oldest)[:19]} UTC")
        return int(row[0])

    def _scrub(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        if self.postgres and self.postgres.password:
            text = text.replace(self.postgres.password, "***")
        return self.s3.scrub(text) if self.s3 else text

    def use_threads(self, n: int | None) -> bool:
        """DuckDB worker threads of this process's connection to the store (every cursor shares
        them), set when it opens: False once it is open (``SET threads`` while other threads query
        the same connection can wait on them for ever)."""
        self.threads = n
        return self._con is None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """The calling thread's cursor (DuckDB connections are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._base().cursor()
            cur.execute(f"USE {LAKE}")
            # a slow query must never draw a progress bar on standard output, where the commands print
            # their JSON; the setting is per connection, and every thread reads through its own cursor
            cur.execute("SET enable_progress_bar = false")
            self._local.cursor = cur
        return cur

    def snapshot_id(self) -> int:
        """The lake's latest committed snapshot (changes with every write; a cheap cache key that
        is the same on every replica of a PostgreSQL catalog). Pinned for a store read as of a time."""
        if self.as_of is not None:
            self._base()
            return int(self.pinned_snapshot)
        if self.postgres is not None:
            return self._pg_snapshot_id()
        # Asked of DuckDB itself, never through Python's own sqlite3 module: two copies of SQLite in
        # one process (DuckDB's and Python's) on one file share POSIX locks unknowingly, and a
        # long-lived sqlite3 reader here was seen to keep returning an old snapshot after writes.
        # A short memo keeps page reruns cheap; this process's own commits clear it.
        memo = _SNAPSHOT_MEMO.get(str(self.path))
        if memo is not None and time.monotonic() - memo[1] < SNAPSHOT_MEMO_S:
            return memo[0]
        value = int(self.cursor().execute(f"SELECT id FROM ducklake_current_snapshot('{LAKE}')").fetchone()[0])
        _SNAPSHOT_MEMO[str(self.path)] = (value, time.monotonic())
        return value

    def _pg_snapshot_id(self, timeout: float = 30.0) -> int:
        """One small query on one connection per store (shared by its threads: bounded connections)."""
        import psycopg

        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            with self._reader_lock:
                try:
                    if self._reader_con is None or self._reader_con.closed:
                        self._reader_con = self.postgres.connect()
                    row = self._reader_con.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchone()
                    return int(row[0] or 0)
                except (psycopg.Error, StoreError) as exc:
                    if self._reader_con is not None:
                        with contextlib.suppress(Exception):
                            self._reader_con.close()
                    self._reader_con = None
                    error = exc
            if isinstance(error, psycopg.errors.UndefinedTable) and self._con is None:
                self._base()  # a new, empty catalog: attaching creates DuckLake's tables
                continue
            if time.monotonic() + delay > deadline:
                reason = _pg_reason(error) if isinstance(error, psycopg.Error) else str(error)
                raise StoreError(f"the PostgreSQL catalog at {self.postgres.display()} stayed unreachable "
                                 f"for {timeout:.0f} s: {reason}") from error
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        for attr in ("_lock_con", "_reader_con"):
            con = getattr(self, attr)
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
                setattr(self, attr, None)
        self._local = threading.local()

    # -- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def write_lock(self, timeout: float = 120.0) -> Iterator[None]:
        """Exclusive among all writers of this lake (all processes, all hosts); re-entrant within
        a thread."""
        if self.as_of is not None:
            raise StoreError("a store opened as of a past time is read-only")
        with self._thread_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            with (self._pg_lock(timeout) if self.postgres else self._file_lock(timeout)):
                self._lock_depth = 1
                try:
                    if self.postgres:
                        pglock.repair_abandoned(self)
                    yield
                finally:
                    self._lock_depth = 0

    @contextlib.contextmanager
    def _file_lock(self, timeout: float) -> Iterator[None]:
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

    def _pg_lock(self, timeout: float):
        """A PostgreSQL session advisory lock: waits (with back-off while the server is away)."""
        return pglock.hold(self, timeout)

    def _still_locked(self) -> None:
        """Before a commit: the advisory lock is still ours (a PostgreSQL restart drops it)."""
        if self.postgres is not None:
            pglock.before_commit(self)

    def _confirm_lock(self) -> None:
        """After a commit: the lock was ours throughout, or the write is repaired (``borderwatch.pglock``)."""
        if self.postgres is not None:
            pglock.after_commit(self)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction: exclusive among Borderwatch processes, all-or-nothing."""
        cur = self.cursor()
        with self.write_lock():
            _retry(lambda: cur.execute("BEGIN TRANSACTION"))
            self._local.writing = True
            try:
                yield cur
                self._still_locked()
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                raise
            else:
                try:
                    _retry(lambda: cur.execute("COMMIT"))
                    _SNAPSHOT_MEMO.pop(str(self.path), None)
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise
                self._confirm_lock()
            finally:
                self._local.writing = False

    def writing(self) -> bool:
        """True inside a write transaction on the calling thread (its reads see uncommitted rows:
        never cached under the last committed snapshot)."""
        return getattr(self._local, "writing", False)

    def compact(self) -> None:
        """Merge small Parquet files (live feeds write many) and drop snapshots and files older
        than the kept history (``BORDERWATCH_HISTORY_DAYS``, default 30; time travel reaches back
        that far)."""
        days = history_days()
        with self.write_lock():
            cur = self.cursor()
            _retry(lambda: cur.execute(f"CALL ducklake_merge_adjacent_files('{LAKE}')"))
            keep = {"days": days}
            _retry(lambda: cur.execute(
                f"CALL ducklake_expire_snapshots('{LAKE}', older_than => now() - to_seconds($days * 86400))", keep))
            _retry(lambda: cur.execute(
                f"CALL ducklake_cleanup_old_files('{LAKE}', older_than => now() - to_seconds($days * 86400))", keep))


def _init_sqlite(path: pathlib.Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


_TRANSIENT = ("locked", "busy", "unable to connect to postgres", "server closed the connection",
              "terminating connection", "connection refused", "could not connect", "no connection to the server",
              "the database system is starting up", "the database system is shutting down")


def _retry(fn, attempts: int = 50, delay: float = 0.05):
    """Retry an operation that met a transient catalog lock or a catalog server coming back."""
    for i in range(attempts):
        try:
            return fn()
        except duckdb.Error as exc:
            message = str(exc).lower()
            if any(m in message for m in _TRANSIENT) and i < attempts - 1:
                time.sleep(delay * (1 + i % 5))
                continue
            raise


_default: Store | None = None
_default_lock = threading.Lock()


def reset_default_store() -> None:
    """Forget the process-wide store, so the next ``default_store()`` opens the one the
    environment names now (``BORDERWATCH_STORE``, ``BORDERWATCH_CATALOG``...)."""
    global _default
    with _default_lock:
        _default = None


def default_store() -> Store:
    """The process-wide store at ``BORDERWATCH_STORE`` (or ``var/store`` in the repo)."""
    global _default
    with _default_lock:
        if _default is None or _default.path != store_path():
            _default = Store()
        return _default
