"""Accepted incident records staged on disk (Parquet in a temporary directory) between reading a
file and committing it: ids repeated across the whole file are found with DuckDB, and the commit
completes the rows batch by batch (``ingest``) and writes them in one store transaction."""
from __future__ import annotations

import collections
import contextlib
import dataclasses
from concurrent.futures import ThreadPoolExecutor
import pathlib
import tempfile
import threading
from typing import Callable, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from borderwatch import hexgrid, incident_store
from borderwatch.importers import ahead, lakefiles
import queries

BATCH_ROWS = 100_000
INSERT_ROWS = 500_000  # rows per INSERT statement of a commit
MEMORY_LIMIT = "256MB"  # DuckDB's own work over the staged files spills to disk beyond this
# staged files live minutes in a temporary directory: written plain (no compression, no
# dictionary pages), 5x cheaper to write than pyarrow's default for ~40% more bytes
STAGED_PARQUET = {"compression": "none", "use_dictionary": False}
SCHEMA = pa.schema([
    ("incident_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("time_precision", pa.string()),
    ("threat_type", pa.string()), ("severity", pa.int8()), ("confidence", pa.float32()),
    ("reporting_nation", pa.string()), ("source", pa.string()), ("description", pa.string()),
    ("lon", pa.float64()), ("lat", pa.float64()), ("location_error_m", pa.float64()),
    ("_row", pa.int64()),
])


# with a locator (``Writer(loc=...)``): each row's nearest segment (index into the locator, -1: none)
# and H3 cell, worked out while the file is read so that the commit only inserts
COMPLETED = SCHEMA.append(pa.field("_near", pa.int32())).append(pa.field("_h3", pa.uint64()))


def table(frame: pd.DataFrame) -> pa.Table:
    """Records of a frame as ``SCHEMA`` rows."""
    return pa.Table.from_pandas(frame[SCHEMA.names], schema=SCHEMA, preserve_index=False)


STAGE_THREADS = 2  # chunks completed at once while the reader validates the next


class Writer:
    """Appends chunks of records to one Parquet file. Given a segment locator, STAGE_THREADS
    threads complete chunks (nearest segment, H3 cell: shapely, NumPy and h3ronpy, mostly without
    the GIL) while the reader validates the next one, and write them in the order they came; at
    most STAGE_THREADS chunks wait for them."""

    def __init__(self, path: pathlib.Path, loc=None):
        self.path, self.loc = path, loc
        self.rows = 0
        self._writer = pq.ParquetWriter(path, SCHEMA if loc is None else COMPLETED, **STAGED_PARQUET)
        self._pool = None if loc is None else ThreadPoolExecutor(STAGE_THREADS, thread_name_prefix="import-stage")
        self._pending: list = []  # (chunk number, future)
        self._turn = threading.Condition()
        self._submitted = self._written = 0  # chunks handed to the threads; written (or passed), in that order
        self._passed: set[int] = set()  # chunks cancelled before they started: their turn is passed

    def write(self, frame: pd.DataFrame) -> None:
        self.write_table(table(frame))

    def write_table(self, table: pa.Table) -> None:
        """Append rows of ``SCHEMA``."""
        self.rows += table.num_rows
        if self._pool is None:
            self._writer.write_table(table)
            return
        self._wait(STAGE_THREADS)
        self._pending.append((self._submitted, self._pool.submit(self._complete, table, self._submitted)))
        self._submitted += 1

    def _complete(self, table: pa.Table, k: int) -> None:
        """Complete chunk ``k`` and write it once chunks 0..k-1 are written (or have failed)."""
        done = None
        try:
            lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
            near = self.loc.nearest(lon, lat).astype(np.int32)
            table = table.append_column("_near", pa.array(near, pa.int32()))
            done = table.append_column("_h3", pa.array(hexgrid.cells(lon, lat), pa.uint64()))
        finally:
            with self._turn:
                self._turn.wait_for(lambda: self._written == k)
                try:
                    if done is not None:
                        self._writer.write_table(done)
                finally:
                    self._next()

    def _next(self) -> None:
        """The next chunk's turn (under ``_turn``)."""
        self._written += 1
        self._skip()

    def _skip(self) -> None:
        """Past the chunks that were cancelled (under ``_turn``)."""
        while self._written in self._passed:
            self._written += 1
        self._turn.notify_all()

    def _wait(self, keep: int) -> None:
        while len(self._pending) > keep:
            self._pending.pop(0)[1].result()  # the thread's error, raised here

    def close(self) -> None:
        try:
            self._wait(0)
        finally:
            for k, job in self._pending:  # after an error: the chunks not started yet are not completed
                if job.cancel():
                    with self._turn:
                        self._passed.add(k)  # its turn passes now if it has come, else when it comes
                        self._skip()
            self._pending.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._writer is not None:
                self._writer.close()
                self._writer = None


@dataclasses.dataclass
class Repeat:
    incident_id: str
    row: int
    same: bool
    first_row: int


def _duckdb(workdir: pathlib.Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute("SET temp_directory = $dir", {"dir": str(workdir / "spill")})
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    return con


def _query(con, name: str, **params):
    sql, bound = queries.render(name, params=params)
    return con.execute(sql, bound)


def repeats(path: pathlib.Path) -> list[Repeat]:
    """Rows whose id an earlier row of the file has (identical content or not)."""
    pa.default_memory_pool().release_unused()
    con = _duckdb(path.parent)
    try:
        rows = _query(con, "import_staged_repeats", path=str(path)).fetchall()
    finally:
        con.close()
    return [Repeat(i, int(r), bool(s), int(f)) for i, r, s, f in rows]


def keep_first(path: pathlib.Path) -> pathlib.Path:
    """A copy of the staged file holding the first row of each id only."""
    target = path.with_name("unique.parquet")
    con = _duckdb(path.parent)
    try:
        reader = _query(con, "import_staged_unique", path=str(path)).to_arrow_reader(BATCH_ROWS)
        with pq.ParquetWriter(target, reader.schema, **STAGED_PARQUET) as out:
            for batch in reader:
                out.write_batch(batch)
    finally:
        con.close()
    return target


@dataclasses.dataclass
class Staged:
    """The staged records of a plan (unique ids once ``unique`` is called); removed by ``close``."""
    tmp: tempfile.TemporaryDirectory
    path: pathlib.Path
    rows: int
    repeats: int = 0  # rows whose id an earlier row has
    unique_path: pathlib.Path | None = None
    locator: object = None  # the segment locator the rows were completed with (None: not completed)

    def unique(self) -> pathlib.Path:
        if self.unique_path is None:
            self.unique_path = keep_first(self.path) if self.repeats else self.path
        return self.unique_path

    def close(self) -> None:
        self.tmp.cleanup()


def count_existing(store, plan) -> int:
    """How many of the plan's records the store already holds under the same owner (dry runs)."""
    path = plan.staged.unique()
    cur = store.cursor()
    cur.register("staged", pads.dataset(path))  # scanned by DuckDB, not loaded
    try:
        return int(queries.scalar("import_existing_incidents_staged", store=store, owner=plan.owner))
    finally:
        cur.unregister("staged")


def commit(store, plan, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Complete the staged records (``incident_store.derived``) into files of at most INSERT_ROWS
    store rows and write them in one store transaction, one statement per file. A thread completes
    the next file while DuckDB inserts the current one (DuckDB releases the GIL)."""
    report = plan.report
    source = plan.staged.unique()
    stamps = {"dataset": report.dataset, "ingested_at": incident_store.utcnow(),
              **incident_store.release_columns(plan.owner, plan.release)}
    loc = incident_store.locator(store)  # looked up here: the completing thread does not query the store
    # rows completed while the file was read are used as they are if the store's segments have not
    # changed since (the locator is rebuilt when they change)
    done = plan.staged.locator is loc
    adopted = lakefiles.Adopted(store)
    try:
        return _write(store, plan, source, progress, adopted, _complete_parts(loc, source, stamps, done))
    except BaseException:
        adopted.discard(store)  # the transaction rolled back: files moved into the data directory go too
        raise


def _write(store, plan, source: pathlib.Path, progress, adopted, parts) -> dict[str, int]:
    """The transaction of ``commit``: "replace" removals, then each completed part registered as a
    data file (no staged id stored yet, ``lakefiles``) or inserted."""
    report = plan.report
    total, rows = max(report.records, 1), 0
    with store.transaction() as cur, _bounded_memory(cur):
        removed = 0
        if plan.replace:  # only the rows of the owners this import writes (an incident is owner + id)
            before = queries.scalar("count_rows", store=store, idents={"table": "incidents"})
            cur.register("staged", _owners(source, plan.owner))
            try:
                queries.execute("delete_incident_dataset", store=store, dataset=report.dataset)
            finally:
                cur.unregister("staged")
            removed = int(before - queries.scalar("count_rows", store=store, idents={"table": "incidents"}))
        before = queries.scalar("count_rows", store=store, idents={"table": "incidents"})
        insert = "insert_incidents" if _any_stored(store, cur, source) else "insert_incidents_unseen"
        direct = insert == "insert_incidents_unseen" and lakefiles.usable(store, cur)
        # one statement per file keeps DuckDB's memory bounded; the ids are unique across files,
        # and the transaction makes the files one write
        for path, count in ahead.ahead(parts(lakefiles.LAKE_PARQUET if direct else STAGED_PARQUET)):
            if direct:
                adopted.add(store, path)
            else:
                cur.register("staged", pads.dataset(str(path)))  # scanned by DuckDB, not loaded
                try:
                    queries.execute(insert, store=store)
                finally:
                    cur.unregister("staged")
                path.unlink()
            rows += count
            if progress:
                progress(rows, max(total, rows))
        written = int(queries.scalar("count_rows", store=store, idents={"table": "incidents"}) - before)
    return {"written": written, "already_present": rows - written, "replaced": removed}


def _any_stored(store, cur, source: pathlib.Path) -> bool:
    """Whether the store holds any of the staged ids (under any owner): when it holds none, every
    staged row is new and is inserted without comparing it with stored rows."""
    cur.register("staged", pads.dataset(str(source)))  # scanned by DuckDB, not loaded
    try:
        return bool(queries.scalar("import_staged_stored_ids", store=store))
    finally:
        cur.unregister("staged")


def _owners(source: pathlib.Path, owner: str | None) -> pa.Table:
    """The owners the staged rows will have (``owner``, else each reporting nation), as the
    columns ``delete_incident_dataset.sql`` reads."""
    nations = [owner] if owner is not None else \
        pc.unique(pq.read_table(source, columns=["reporting_nation"])["reporting_nation"]).to_pylist()
    return pa.table({"owner_nation": pa.array([owner] * len(nations), pa.string()),
                     "reporting_nation": pa.array(nations, pa.string())})


COMMIT_MEMORY = "400MB"  # DuckDB memory while a commit's rows wait for the end of the transaction


@contextlib.contextmanager
def _bounded_memory(cur):
    """DuckDB keeps the rows a transaction inserts in its buffers until the commit: under a memory
    limit it spills them to its temporary directory instead of growing with the file."""
    before = cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    cur.execute(f"SET GLOBAL memory_limit = '{COMMIT_MEMORY}'")
    try:
        yield
    finally:
        cur.execute(f"SET GLOBAL memory_limit = '{before}'")


def _complete_parts(loc, source: pathlib.Path, stamps: dict, done: bool):
    """``_complete`` of these rows, written with the Parquet options it is given."""
    return lambda options: _complete(loc, source, stamps, done, options)


COMMIT_THREADS = 2  # parts completed and written at once (pyarrow encodes and compresses without the GIL)


def _complete(loc, source: pathlib.Path, stamps: dict, done: bool,
              options: dict = STAGED_PARQUET) -> Iterator[tuple[pathlib.Path, int]]:
    """The staged rows as store rows (``incident_store.INCIDENT_SCHEMA``): what Borderwatch derives,
    and the same ``stamps`` (dataset, ingest time, owner, releasability) on every row; in Parquet
    files of about INSERT_ROWS rows (DuckDB reads them into its own buffers, which spill under its
    memory limit: an Arrow table handed to DuckDB stays in memory until the transaction ends).
    COMMIT_THREADS parts are written at once, each batch by batch; they come in file order."""
    parts = _row_group_parts(pq.ParquetFile(source).metadata)

    def write(k: int, groups: list[int]) -> tuple[pathlib.Path, int]:
        path, out, count = source.with_name(f"complete-{k}.parquet"), None, 0
        try:
            # pre-buffering keeps every row group read
            for batch in pq.ParquetFile(source, pre_buffer=False).iter_batches(batch_size=BATCH_ROWS,
                                                                              row_groups=groups):
                table = _store_rows(loc, batch, stamps, done)
                if out is None:
                    out = pq.ParquetWriter(path, table.schema, **options)
                out.write_table(table)
                count += table.num_rows
                del table, batch
                pa.default_memory_pool().release_unused()  # the batch's Arrow buffers, back to the system
        finally:
            if out is not None:
                out.close()
        return path, count

    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(COMMIT_THREADS, thread_name_prefix="import-commit") as pool:
        try:
            for k, groups in enumerate(parts):
                pending.append(pool.submit(write, k, groups))
                if len(pending) >= COMMIT_THREADS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for job in pending:
                job.cancel()


def _row_group_parts(meta) -> list[list[int]]:
    """The staged file's row groups in consecutive runs of at least INSERT_ROWS rows (the last: the rest)."""
    parts: list[list[int]] = []
    rows = INSERT_ROWS
    for k in range(meta.num_row_groups):
        if rows >= INSERT_ROWS:
            parts.append([])
            rows = 0
        parts[-1].append(k)
        rows += meta.row_group(k).num_rows
    return [p for p in parts if p]


def _same(value, n: int, kind: pa.DataType) -> pa.Array:
    """``value`` on each of ``n`` rows (a list through a Python list: ``pa.repeat`` of a list is slower;
    anything else repeated by Arrow, which is ~100x faster for text than a Python list of it)."""
    if pa.types.is_list(kind) and value is not None:
        return pa.array([value] * n, kind)
    return pa.repeat(pa.scalar(value, kind), n)


def _store_rows(loc, batch: pa.RecordBatch, stamps: dict, done: bool = False) -> pa.Table:
    n = batch.num_rows
    columns = {name: batch.column(name) for name in batch.schema.names}
    if done:  # nearest segment and cell worked out while reading, with this locator
        columns.update(incident_store.derived_from(loc, columns["_near"].to_numpy(), columns["_h3"]))
    else:
        columns.update(incident_store.derived_with(loc, columns["lon"].to_numpy(), columns["lat"].to_numpy()))
    columns["description"] = pc.fill_null(columns["description"], "")
    columns["synthetic"] = pa.array(np.zeros(n, bool))
    for name, value in stamps.items():
        columns[name] = _same(value, n, incident_store.INCIDENT_SCHEMA.field(name).type)
    return pa.table({f.name: columns[f.name].cast(f.type) for f in incident_store.INCIDENT_SCHEMA},
                    schema=incident_store.INCIDENT_SCHEMA)
