"""Accepted incident records staged on disk (Parquet in a temporary directory) between reading a
file and committing it: ids repeated across the whole file are found with DuckDB, and the commit
completes the rows batch by batch (``ingest``) and writes them in one store transaction."""
from __future__ import annotations

import dataclasses
import pathlib
import tempfile
from typing import Callable

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from borderwatch import incident_store
import queries

BATCH_ROWS = 100_000
INSERT_ROWS = 500_000  # rows per INSERT statement of a commit
MEMORY_LIMIT = "256MB"  # DuckDB's own work over the staged files spills to disk beyond this
SCHEMA = pa.schema([
    ("incident_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("time_precision", pa.string()),
    ("threat_type", pa.string()), ("severity", pa.int8()), ("confidence", pa.float32()),
    ("reporting_nation", pa.string()), ("source", pa.string()), ("description", pa.string()),
    ("lon", pa.float64()), ("lat", pa.float64()), ("location_error_m", pa.float64()),
    ("_row", pa.int64()), ("_hash", pa.int64()),
])


class Writer:
    """Appends chunks of records to one Parquet file."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.rows = 0
        self._writer = pq.ParquetWriter(path, SCHEMA)

    def write(self, frame: pd.DataFrame) -> None:
        self._writer.write_table(pa.Table.from_pandas(frame[SCHEMA.names], schema=SCHEMA, preserve_index=False))
        self.rows += len(frame)

    def close(self) -> None:
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
    con.execute("SET threads = 1")
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
        with pq.ParquetWriter(target, reader.schema) as out:
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
    """Complete the staged records batch by batch, then write them in one store transaction."""
    report = plan.report
    source = plan.staged.unique()
    done_path = source.with_name("complete.parquet")
    stamp = incident_store.utcnow()
    rows = 0
    with pq.ParquetWriter(done_path, incident_store.INCIDENT_SCHEMA) as out:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS):
            frame = batch.to_pandas().drop(columns=[c for c in ("_row", "_hash") if c in batch.schema.names])
            table = incident_store.prepare_incidents(frame, store, dataset=report.dataset, owner=plan.owner,
                                                     release=plan.release)
            k = table.schema.get_field_index("ingested_at")
            table = table.set_column(k, "ingested_at", pa.array([stamp] * table.num_rows, table.schema.field(k).type))
            out.write_table(table)
            del frame, table
            pa.default_memory_pool().release_unused()
            rows += batch.num_rows
            if progress:
                progress(rows, max(report.records, rows))
    with store.transaction() as cur:
        removed = 0
        if plan.replace:  # only the rows of the owners this import writes (an incident is owner + id)
            before = queries.scalar("count_rows", store=store, idents={"table": "incidents"})
            cur.register("staged", pads.dataset(done_path))
            try:
                queries.execute("delete_incident_dataset", store=store, dataset=report.dataset)
            finally:
                cur.unregister("staged")
            removed = int(before - queries.scalar("count_rows", store=store, idents={"table": "incidents"}))
        before = queries.scalar("count_rows", store=store, idents={"table": "incidents"})
        # one statement per slice keeps DuckDB's memory bounded; the ids are unique across slices,
        # and the transaction makes the slices one write
        for batch in pq.ParquetFile(done_path).iter_batches(batch_size=INSERT_ROWS):
            cur.register("staged", pa.Table.from_batches([batch]))
            try:
                queries.execute("insert_incidents", store=store)
            finally:
                cur.unregister("staged")
        written = int(queries.scalar("count_rows", store=store, idents={"table": "incidents"}) - before)
    return {"written": written, "already_present": rows - written, "replaced": removed}
