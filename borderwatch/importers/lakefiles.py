"""Completed incident rows handed to the store as data files, without DuckDB rewriting them.

When none of an import's ids is stored yet (``queries/import_staged_stored_ids.sql``: every staged
row is new, as for ``insert_incidents_unseen.sql``), each completed part is written as the store
writes its own files (Snappy, row groups no larger than DuckDB's, exactly the columns and types of
``incident_store.INCIDENT_SCHEMA``), moved into the store's data directory and registered in the
import's transaction with DuckLake's ``ducklake_add_data_files``
(``queries/import_add_incident_file.sql``): the lake takes the file as it is, in the same
transaction as the other parts, so the import is still one write. On any error the transaction
rolls back and the files moved in that the lake does not reference are deleted. Only with the
embedded catalog, a data directory on this machine and an ``incidents`` table of exactly the
schema's columns; otherwise rows are inserted as before.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import uuid

import pyarrow as pa

from borderwatch import incident_store
import queries

# as the store's own (DuckDB-written) files: Snappy pages; row groups are the commit's batches
# (``staged.BATCH_ROWS``, under DuckDB's 122,880 rows); dictionary pages for the columns of few
# distinct values only (an id, a time or a coordinate column gains nothing from one: a quarter
# less time to write a part, and a tenth fewer bytes)
LAKE_PARQUET = {"compression": "snappy", "use_dictionary": [
    "time_precision", "threat_type", "reporting_nation", "source", "description", "segment_id", "nation_a",
    "nation_b", "shared_under", "dataset", "owner_nation", "release_nations", "release_agreements"]}
TABLE_DIR = ("main", "incidents")


def usable(store, cur) -> bool:
    """Whether parts can be registered as files: a local data directory, and an incidents table
    with the columns and types of ``INCIDENT_SCHEMA``, in order."""
    data = str(store.data_path)
    if "://" in data or store.postgres is not None:  # a bucket; a shared catalog (its lock checks after commit)
        return False
    got = [(name, kind) for name, kind, *_ in cur.execute("DESCRIBE incidents").fetchall()]
    return got == _expected()


_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.timestamp("us"): "TIMESTAMP", pa.int8(): "TINYINT",
                 pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.uint64(): "UBIGINT", pa.bool_(): "BOOLEAN",
                 pa.list_(pa.string()): "VARCHAR[]"}


def _expected() -> list[tuple[str, str]]:
    return [(f.name, _DUCKDB_TYPES.get(f.type, str(f.type))) for f in incident_store.INCIDENT_SCHEMA]


class Adopted:
    """The files moved into the store's data directory by one commit (deleted again if it fails)."""

    def __init__(self, store):
        self.folder = pathlib.Path(store.data_path).joinpath(*TABLE_DIR)
        self.files: list[pathlib.Path] = []

    def add(self, store, part: pathlib.Path) -> None:
        """Move ``part`` into the data directory and register it with the incidents table."""
        self.folder.mkdir(parents=True, exist_ok=True)
        dest = self.folder / f"import-{uuid.uuid4()}.parquet"
        self.files.append(dest)
        shutil.move(str(part), dest)
        os.chmod(dest, 0o644)
        queries.execute("import_add_incident_file", store=store, file=str(dest))

    def discard(self, store) -> None:
        """After a failed commit: delete the files moved in that the lake does not reference (all of
        them when the transaction rolled back; none if the lake cannot be asked)."""
        if not self.files:
            return
        try:
            listed = queries.rows("import_incident_files", store=store)
        except Exception:  # noqa: BLE001  (an unreferenced file left behind is harmless; a missing one is not)
            return
        referenced = {pathlib.Path(f).name for (f,) in listed}
        for path in self.files:
            if path.name not in referenced:
                with contextlib.suppress(OSError):
                    path.unlink()
        self.files.clear()
