"""Data exports: exactly the filtered incidents as CSV, GeoJSON or GeoParquet, and breakdown tables.

Incidents are streamed from DuckDB in Arrow record batches and written batch by batch, so a
million-row export holds one batch in memory, never the whole result (no ORDER BY either: a sort
would have to hold every row; rows come in store order). Every export says where it came from:

- the file name: ``borderwatch_incidents_<Filter.slug()>_<reference time, UTC>.<ext>``;
- metadata (``metadata()``: the filter as a sentence and as URL parameters, the window, the
  reference and export times, the row count, CRS and time zone, whether rows are synthetic):
  CSV travels in a zip next to ``metadata.json`` (a comment line would break CSV readers), or,
  written plain, with a ``<name>.metadata.json`` sidecar; GeoJSON carries it as a top-level
  ``metadata`` member of the FeatureCollection (RFC 7946 §6.1 foreign member) and
  ``numberReturned`` after the features (and, zipped, in ``metadata.json`` too); GeoParquet in
  the file's key-value metadata (``borderwatch``) beside the GeoParquet ``geo`` metadata.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import pathlib
import re
import urllib.parse
import zipfile
from typing import IO, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import queries
from borderwatch import access
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store, default_store

EXPORT_VERSION = "1"
BATCH_ROWS = 65_536
GEOJSON_BATCH_ROWS = 16_384  # feature texts are ~10× a row's Arrow size
GEOPARQUET_VERSION = "1.1.0"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIME_COLUMNS = ("occurred_at", "ingested_at")
GEOMETRY_COLUMN = "geometry"


@dataclasses.dataclass(frozen=True)
class Format:
    key: str
    label: str
    extension: str
    mime: str


FORMATS = {
    "csv": Format("csv", "CSV", ".csv", "text/csv"),
    "geojson": Format("geojson", "GeoJSON", ".geojson", "application/geo+json"),
    "geoparquet": Format("geoparquet", "GeoParquet", ".parquet", "application/vnd.apache.parquet"),
}

Progress = Callable[[int, int], None]  # rows written so far, rows in the export


@dataclasses.dataclass
class ExportResult:
    path: pathlib.Path | None
    file_name: str
    rows: int
    metadata: dict


def file_name(flt: Filter, kind: str, extension: str, now: dt.datetime | None = None) -> str:
    """``borderwatch_<kind>_<filter slug>_<UTC reference time>.<ext>``, safe on every file system."""
    now = now or utcnow()
    slug = re.sub(r"[^A-Za-z0-9_+.-]+", "-", flt.slug()).strip("-") or "all"
    return f"borderwatch_{kind}_{slug}_{now:%Y%m%dT%H%MZ}{extension}"


def metadata(flt: Filter, *, now: dt.datetime | None = None, names: dict[str, str] | None = None,
             fmt: str = "", rows: int | None = None, kind: str = "incidents") -> dict:
    """What an export contains and which filter produced it (reopen with ``filter.url_query``)."""
    now = now or utcnow()
    start, end = flt.time_range(now)
    params = flt.to_params()
    out = {
        "product": "Borderwatch",
        "kind": kind,
        "export_version": EXPORT_VERSION,
        "format": fmt,
        "exported_at": dt.datetime.now(dt.timezone.utc).strftime(TIME_FORMAT),
        "reference_time": now.strftime(TIME_FORMAT),
        "filter": {
            "description": flt.describe(now, names=names),
            "url_query": urllib.parse.urlencode(params),
            "params": params,
            "slug": flt.slug(),
        },
        "window": {"start": start.strftime(TIME_FORMAT), "end": end.strftime(TIME_FORMAT),
                   "note": "start inclusive, end exclusive"},
        "crs": "OGC:CRS84 (WGS84 longitude, latitude)",
        "times": "UTC",
        "order": "store order (unsorted)",
    }
    if rows is not None:
        out["rows"] = rows
    return out


# -- reading -----------------------------------------------------------------------------------
def _batches(name: str, flt: Filter, store: Store, now: dt.datetime, batch_rows: int):
    cur = queries.execute(name, flt, store=store, now=now)
    return cur.to_arrow_reader(batch_rows)


class _Counter:
    """Counts rows (and synthetic rows) as batches go by, and reports progress."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.progress = total, progress
        self.rows = self.synthetic = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if "synthetic" in batch.schema.names:
            self.synthetic += int(pc.sum(batch.column("synthetic").cast(pa.int64())).as_py() or 0)
        if self.progress:
            self.progress(self.rows, max(self.total, self.rows))

    def finish(self, meta: dict) -> dict:
        meta["rows"] = self.rows
        meta["synthetic_rows"] = self.synthetic
        if self.synthetic:
            meta["note"] = "contains synthetic scenario incidents (column synthetic = true): not real events"
        return meta


def _prepare(flt, store, now, names, fmt, progress):
    store, now = store or default_store(), now or utcnow()
    total = int(queries.scalar("incident_count", flt, store=store, now=now))
    meta = metadata(flt, now=now, names=names, fmt=fmt)
    meta["marking"] = access.export_marking(flt, store=store, now=now, tables=("incident",))
    return store, now, meta, _Counter(total, progress)


def _text_times(batch: pa.RecordBatch) -> pa.RecordBatch:
    cols, names = [], []
    for name, col in zip(batch.schema.names, batch.columns):
        if name == GEOMETRY_COLUMN:
            continue
        if name in TIME_COLUMNS:
            col = pc.strftime(pc.cast(col, pa.timestamp("s", tz="UTC"), safe=False), format=TIME_FORMAT)
        cols.append(col)
        names.append(name)
    return pa.RecordBatch.from_arrays(cols, names=names)


# -- CSV ---------------------------------------------------------------------------------------
def write_csv(flt: Filter, dest: str | os.PathLike | IO[bytes], *, store: Store | None = None,
              now: dt.datetime | None = None, names: dict[str, str] | None = None,
              progress: Progress | None = None, batch_rows: int = BATCH_ROWS) -> dict:
    """The filtered incidents as CSV (UTF-8, header row, ISO times with Z); returns the metadata."""
    store, now, meta, counter = _prepare(flt, store, now, names, "csv", progress)
    reader = _batches("export_incidents", flt, store, now, batch_rows)
    writer = None
    try:
        for batch in reader:
            batch = _text_times(batch)
            if writer is None:
                writer = pacsv.CSVWriter(dest, batch.schema)
            writer.write_batch(batch)
            counter.add(batch)
        if writer is None:  # no rows: still a header
            empty = _text_times(pa.RecordBatch.from_pylist([], schema=reader.schema))
            writer = pacsv.CSVWriter(dest, empty.schema)
    finally:
        if writer is not None:
            writer.close()
    meta["columns"] = [n for n in reader.schema.names if n != GEOMETRY_COLUMN]
    return counter.finish(meta)


def write_csv_zip(flt: Filter, dest: str | os.PathLike | IO[bytes], **kw) -> dict:
    """A zip holding the CSV (streamed into the archive) and ``metadata.json``."""
    return _write_zip(write_csv, ".csv", flt, dest, **kw)


def write_geojson_zip(flt: Filter, dest: str | os.PathLike | IO[bytes], **kw) -> dict:
    """A zip holding the GeoJSON (streamed into the archive, about 9× smaller) and ``metadata.json``."""
    return _write_zip(write_geojson, ".geojson", flt, dest, **kw)


def _write_zip(writer, extension: str, flt: Filter, dest, *, now: dt.datetime | None = None, **kw) -> dict:
    now = now or utcnow()
    member_name = file_name(flt, "incidents", extension, now)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        with zf.open(member_name, "w", force_zip64=True) as member:
            meta = writer(flt, member, now=now, **kw)
        meta["data_file"] = member_name
        zf.writestr("metadata.json", json.dumps(meta, indent=2, ensure_ascii=False))
    return meta


# -- GeoJSON -----------------------------------------------------------------------------------
def write_geojson(flt: Filter, dest: str | os.PathLike | IO[bytes], *, store: Store | None = None,
                  now: dt.datetime | None = None, names: dict[str, str] | None = None,
                  progress: Progress | None = None, batch_rows: int = GEOJSON_BATCH_ROWS) -> dict:
    """The filtered incidents as an RFC 7946 FeatureCollection of points, written incrementally."""
    store, now, meta, counter = _prepare(flt, store, now, names, "geojson", progress)
    with _open_binary(dest) as out:
        out.write(b'{"type":"FeatureCollection","name":' + _json(file_name(flt, "incidents", "", now))
                  + b',\n"metadata":' + _json(meta) + b',\n"features":[\n')
        skip = 2  # every feature text starts with "," and a newline; the first one is dropped
        for batch in _batches("export_incidents_geojson", flt, store, now, batch_rows):
            if batch.num_rows == 0:
                continue
            out.write(_string_bytes(batch.column("feature"))[skip:])
            skip = 0
            counter.rows += batch.num_rows
            counter.synthetic += int(pc.sum(batch.column("synthetic").cast(pa.int64())).as_py() or 0)
            if counter.progress:
                counter.progress(counter.rows, max(counter.total, counter.rows))
        out.write(b'\n],\n"numberReturned":' + str(counter.rows).encode() + b"}\n")
    return counter.finish(meta)


def _string_bytes(array: pa.Array) -> memoryview:
    """The UTF-8 bytes of a (non-null) string array, concatenated, without copying them."""
    if pa.types.is_string_view(array.type):
        array = array.cast(pa.large_string())
    width = 8 if pa.types.is_large_string(array.type) else 4
    _, offsets, data = array.buffers()
    first = int.from_bytes(offsets[array.offset * width:(array.offset + 1) * width], "little", signed=True)
    last = int.from_bytes(offsets[(array.offset + len(array)) * width:(array.offset + len(array) + 1) * width],
                          "little", signed=True)
    return memoryview(data)[first:last]


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _open_binary:
    """A path opened for binary writing, or a file object passed through (not closed)."""

    def __init__(self, dest):
        self.dest, self.fh = dest, None

    def __enter__(self):
        if isinstance(self.dest, (str, os.PathLike)):
            self.fh = open(self.dest, "wb")
            return self.fh
        return self.dest

    def __exit__(self, *exc):
        if self.fh is not None:
            self.fh.close()


# -- GeoParquet --------------------------------------------------------------------------------
def write_geoparquet(flt: Filter, dest: str | os.PathLike | IO[bytes], *, store: Store | None = None,
                     now: dt.datetime | None = None, names: dict[str, str] | None = None,
                     progress: Progress | None = None, batch_rows: int = BATCH_ROWS) -> dict:
    """The filtered incidents as GeoParquet 1.1 (WKB points, lon/lat), one row group per batch."""
    store, now, meta, counter = _prepare(flt, store, now, names, "geoparquet", progress)
    reader = _batches("export_incidents", flt, store, now, batch_rows)
    bbox = [float("inf"), float("inf"), float("-inf"), float("-inf")]
    with pq.ParquetWriter(dest, reader.schema, compression="zstd") as writer:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            writer.write_batch(batch)
            counter.add(batch)
            lon, lat = pc.min_max(batch.column("lon")), pc.min_max(batch.column("lat"))
            bbox = [min(bbox[0], lon["min"].as_py()), min(bbox[1], lat["min"].as_py()),
                    max(bbox[2], lon["max"].as_py()), max(bbox[3], lat["max"].as_py())]
        meta["columns"] = list(reader.schema.names)
        column = {"encoding": "WKB", "geometry_types": ["Point"]}
        if counter.rows:
            column["bbox"] = bbox
        geo = {"version": GEOPARQUET_VERSION, "primary_column": GEOMETRY_COLUMN, "columns": {GEOMETRY_COLUMN: column}}
        writer.add_key_value_metadata({"geo": json.dumps(geo), "borderwatch": json.dumps(counter.finish(meta))})
    return meta


# -- one call for the page and the command line -----------------------------------------------
WRITERS = {("csv", True): write_csv_zip, ("csv", False): write_csv, ("geojson", False): write_geojson,
           ("geojson", True): write_geojson_zip, ("geoparquet", False): write_geoparquet}
ZIPPED_BY_DEFAULT = {"csv": True, "geojson": False, "geoparquet": False}
# Streamlit holds a download in memory while the page shows it: GeoJSON above this many rows
# (~60 MB of text) is offered zipped, about 9x smaller.
ZIP_GEOJSON_ABOVE = 100_000


def zipped_download(fmt: str, rows: int) -> bool:
    """Whether the page offers ``fmt`` zipped for an export of ``rows`` incidents."""
    return fmt == "csv" or (fmt == "geojson" and rows > ZIP_GEOJSON_ABOVE)


def extension(fmt: str, zipped: bool | None = None) -> str:
    zipped = ZIPPED_BY_DEFAULT[fmt] if zipped is None else zipped
    return {"csv": ".csv", "geojson": ".geojson", "geoparquet": ".parquet"}[fmt] + (".zip" if zipped else "")


def export_incidents(flt: Filter, fmt: str, directory: str | os.PathLike, *, zipped: bool | None = None,
                     store: Store | None = None, now: dt.datetime | None = None, names: dict[str, str] | None = None,
                     progress: Progress | None = None) -> ExportResult:
    """Write the filtered incidents in ``fmt`` into ``directory`` under the standard file name.

    ``zipped`` puts the data file in a zip with ``metadata.json`` (default: CSV only; GeoParquet
    is compressed already and cannot be zipped here). A plain CSV gets a ``.metadata.json`` sidecar."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    zipped = ZIPPED_BY_DEFAULT[fmt] if zipped is None else zipped
    if (fmt, zipped) not in WRITERS:
        raise ValueError(f"{fmt} cannot be zipped")
    now = now or utcnow()
    name = file_name(flt, "incidents", extension(fmt, zipped), now)
    path = pathlib.Path(directory) / name
    tmp = path.with_name(path.name + ".part")
    try:
        meta = WRITERS[(fmt, zipped)](flt, tmp, store=store, now=now, names=names, progress=progress)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    if fmt == "csv" and not zipped:
        sidecar = path.with_name(path.name[: -len(".csv")] + ".metadata.json")
        sidecar.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return ExportResult(path, name, meta["rows"], meta)


# -- breakdown tables --------------------------------------------------------------------------
def breakdown_csv(table: pd.DataFrame, dimension: str, flt: Filter, *, now: dt.datetime | None = None) -> tuple[str, bytes]:
    """A breakdown table as CSV bytes and its file name (which carries the filter's slug)."""
    now = now or utcnow()
    buf = io.StringIO()
    out = table.copy()
    if "last_at" in out:
        out["last_at"] = pd.to_datetime(out.last_at).dt.strftime(TIME_FORMAT)
    out.to_csv(buf, index=False)
    return file_name(flt, f"breakdown-{dimension}", ".csv", now), buf.getvalue().encode("utf-8")
