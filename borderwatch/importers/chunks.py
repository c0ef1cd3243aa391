"""Large tables read in chunks, so that memory does not grow with the file: CSV / TSV and
(Geo)Parquet.

A CSV is read in blocks of whole lines. A block without a quote character, a NUL byte or a blank
line is parsed by pyarrow (every value as text, empty = missing), which refuses a record of the
wrong width; from the first block that has any of them (or that pyarrow refuses) to the end of the
file, the strict reader of ``delimited`` takes over, so a malformed file gets the same words, line
and row numbers as before. GeoParquet is read one batch of rows at a time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import pathlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyproj

from borderwatch.importers import ahead, delimited, safety, sources, wkbpoints
from borderwatch.importers.report import FileRefused

CHUNK_ROWS = 100_000  # default rows per chunk (the pipeline passes its own)
BLOCK_BYTES = 8 * 1024 * 1024


@dataclasses.dataclass
class Chunk:
    frame: pd.DataFrame | None  # the chunk's columns, values as objects (None = missing); None: made from ``arrow``
    geoms: np.ndarray | None  # file CRS; None for a table (CSV, plain Parquet)
    row_errors: list[tuple[int, str | None, str]]  # chunk position -> (field, reason)
    fraction: float  # of the file read so far (bytes or rows)
    # every row a finite 2D point: their x/y (``geoms`` is then all None; see ``lonlat``)
    coords: np.ndarray | None = None
    arrow: pa.Table | None = None  # the same columns as read (CSV: text), for ``columnar``
    rows: int = 0
    # a GeoParquet chunk's 2D points (NaN where a row has none) when it may come as coordinates
    points: np.ndarray | None = None

    def part(self, start: int, stop: int) -> Chunk:
        """Rows ``start``..``stop`` as a chunk of their own (coordinates when they are all finite points)."""
        points = None if self.points is None else self.points[start:stop]
        coords = points if points is not None and np.isfinite(points).all() else None
        geoms = np.full(stop - start, None, dtype=object) if coords is not None else \
            None if self.geoms is None else self.geoms[start:stop]
        return Chunk(None if self.frame is None else self.frame.iloc[start:stop].reset_index(drop=True), geoms,
                     [(i - start, f, r) for i, f, r in self.row_errors if start <= i < stop], self.fraction, coords,
                     None if self.arrow is None else self.arrow.slice(start, stop - start), stop - start, points)

    @property
    def attrs(self) -> pd.DataFrame:
        """The columns as objects, made from ``arrow`` when first asked for (a chunk ``columnar``
        validates never needs them)."""
        if self.frame is None:
            self.frame = _objects_frame(self.arrow)
        return self.frame


def _objects_frame(table: pa.Table) -> pd.DataFrame:
    if not table.num_columns:
        return pd.DataFrame(index=range(table.num_rows))
    return pd.DataFrame({c: pd.Series(sources.arrow_objects(table.column(c)), dtype=object)
                         for c in table.column_names})


class CsvChunks:
    """The chunks of a delimited text file (after the encoding checks of ``safety``)."""

    def __init__(self, path: pathlib.Path, encoding: str | None, workdir: pathlib.Path, chunk_rows: int | None = None):
        self.path, self.chunk_rows = path, chunk_rows or CHUNK_ROWS
        self.readable, self.encoding, self.notes, self.confidence = safety.prepare_text(path, encoding, workdir)
        with open(self.readable, encoding="utf-8-sig", newline="") as fh:
            self.header, self.separator, self.header_lines = delimited.read_header(fh, path.suffix)
        self.size = max(self.readable.stat().st_size, 1)
        self.tally = delimited.Tally()
        self.name, self.driver, self.geo = path.stem, "CSV", None

    def _data_start(self, fh) -> int:
        """Byte offset of the first data line (after the BOM and the header's lines)."""
        if fh.read(3) != b"\xef\xbb\xbf":
            fh.seek(0)
        for _ in range(self.header_lines):
            fh.readline()
        return fh.tell()

    def estimate_rows(self, sample: int = 1 << 20) -> int:
        """The number of data rows, from the lines of the first MB (exact for a file that small)."""
        with open(self.readable, "rb") as fh:
            start = self._data_start(fh)
            head = fh.read(sample)
            whole = not fh.read(1)
        lines = head.count(b"\n") + (1 if head and not head.endswith(b"\n") else 0)
        if whole or not lines:
            return lines
        return max(int((self.size - start) * lines / len(head)), lines)

    def __iter__(self) -> Iterator[Chunk]:
        self.tally = delimited.Tally()
        # the next block is read and parsed by a thread (pyarrow parses without the GIL) while this one is validated
        blocks = ahead.ahead(self._blocks())
        with contextlib.closing(blocks):
            for offset, end, line, table in blocks:
                if table is None:  # from here on, the strict reader
                    with open(self.readable, "rb") as fh:
                        fh.seek(offset)
                        yield from self._strict(fh, line)
                    return
                yield from self._split(table, offset, end)

    def _blocks(self) -> Iterator[tuple[int, int, int, pa.Table | None]]:
        """(byte offset, end offset, first line number, pyarrow's table or None) of each block of
        whole lines, up to the first block that pyarrow must not read."""
        with open(self.readable, "rb") as fh:
            self._data_start(fh)
            line = self.header_lines + 1
            while True:
                offset = fh.tell()
                block = fh.read(BLOCK_BYTES)
                if not block:
                    return
                block += fh.readline()
                table = self._fast(block)
                yield offset, fh.tell(), line, table
                if table is None:
                    return
                line += block.count(b"\n")

    def _fast(self, block: bytes) -> pa.Table | None:
        """The block parsed by pyarrow, or None when the strict reader must read it."""
        if b"\x00" in block or block.startswith((b"\n", b"\r")) or b"\n\n" in block or b"\n\r\n" in block \
                or b"\r\r" in block or not _plain_quotes(block, self.separator.encode()):
            return None
        try:
            return pacsv.read_csv(
                pa.py_buffer(block),
                read_options=pacsv.ReadOptions(column_names=self.header, use_threads=False, block_size=len(block) + 1),
                parse_options=pacsv.ParseOptions(delimiter=self.separator, quote_char='"', double_quote=True,
                                                 escape_char=False, newlines_in_values=True,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in self.header},
                                                     strings_can_be_null=True, quoted_strings_can_be_null=True,
                                                     null_values=[""]))
        except (pa.ArrowInvalid, pa.ArrowException):
            return None

    def _split(self, table: pa.Table, begin: int, end: int) -> Iterator[Chunk]:
        for start in range(0, table.num_rows, self.chunk_rows):
            done = begin + (end - begin) * min(start + self.chunk_rows, table.num_rows) / table.num_rows
            part = table.slice(start, self.chunk_rows)
            self.tally.rows += part.num_rows
            yield Chunk(None, None, [], min(done / self.size, 1.0), arrow=part, rows=part.num_rows)

    def _strict(self, fh, first_line: int) -> Iterator[Chunk]:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        rows_before = self.tally.rows
        for columns in delimited.read_rows(text, self.separator, self.header, first_line=first_line, tally=self.tally,
                                           chunk_rows=self.chunk_rows):
            attrs = pd.DataFrame({n: pd.Series(v, dtype=object) for n, v in columns.items()})
            yield Chunk(attrs, None, [], min((self.tally.rows - rows_before) / max(self.tally.rows, 1), 0.99),
                        rows=len(attrs))
        text.detach()

    def warnings(self) -> list[str]:
        out = list(self.notes)
        if self.tally.blank_lines:
            out.append(f"{len(self.tally.blank_lines)} blank line(s) skipped (first: line {self.tally.blank_lines[0]})")
        return out


class ParquetChunks:
    """The batches of a (Geo)Parquet file whose geometries are WKB (other encodings: not streamed)."""

    def __init__(self, path: pathlib.Path, chunk_rows: int | None = None):
        import pyarrow.parquet as pq

        self.path, self.chunk_rows = path, chunk_rows or CHUNK_ROWS
        try:
            self.file = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps every row group read
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise FileRefused(f"not a readable Parquet file ({exc})") from exc
        schema = self.file.schema_arrow
        seen: dict[str, int] = {}
        for k, name in enumerate(schema.names):
            if name.lower() in seen:
                raise FileRefused(f"two columns are named '{name}' (columns {seen[name.lower()] + 1} and {k + 1})",
                                  field=name)
            seen[name.lower()] = k
        self.rows = self.file.metadata.num_rows
        self.name, self.encoding, self.confidence = path.stem, "UTF-8", None
        self.geo = geo_meta = (schema.metadata or {}).get(b"geo")
        self.driver = "Parquet" if geo_meta is None else "GeoParquet"
        self.crs = self.crs_label = self.primary = None
        self.points_as_coords = False  # set by the reader when chunks of finite points may come as coordinates
        self.columns = list(schema.names)
        if geo_meta is not None:
            self._geo(json.loads(geo_meta) if _is_json(geo_meta) else None, schema)

    def _geo(self, geo, schema) -> None:
        try:
            self.primary = geo["primary_column"]
            column_meta = geo["columns"][self.primary]
        except (KeyError, TypeError) as exc:
            raise FileRefused(f"the GeoParquet 'geo' metadata is not valid ({exc})") from exc
        if self.primary not in schema.names:
            raise FileRefused(f"the GeoParquet primary geometry column {self.primary!r} is missing")
        self.wkb = str(column_meta.get("encoding", "WKB")).upper() == "WKB"
        if "crs" in column_meta and column_meta["crs"] is None:
            pass  # GeoParquet: an explicit null means "unknown"
        elif column_meta.get("crs") is not None:
            try:
                self.crs = pyproj.CRS.from_user_input(column_meta["crs"])
            except pyproj.exceptions.CRSError as exc:
                raise FileRefused("the GeoParquet declares a CRS that is not known") from exc
            self.crs_label = self.crs.to_string()
        else:  # absent: the specification's default, OGC:CRS84 (longitude / latitude)
            self.crs, self.crs_label = pyproj.CRS.from_user_input("OGC:CRS84"), "OGC:CRS84 (GeoParquet default)"
        self.columns = [n for n in schema.names if n != self.primary and n not in (geo.get("columns") or {})]

    @property
    def streamable(self) -> bool:
        return self.geo is None or self.wkb

    def __iter__(self) -> Iterator[Chunk]:
        wanted = self.columns + ([self.primary] if self.primary else [])
        # the next batch is read by a thread (pyarrow decodes pages without the GIL) while this one is validated
        batches = ahead.ahead(self.file.iter_batches(batch_size=self.chunk_rows, columns=wanted))
        with contextlib.closing(batches):
            yield from self._chunks(batches)

    def _chunks(self, batches) -> Iterator[Chunk]:
        done = 0
        for batch in batches:
            n = batch.num_rows
            table = pa.Table.from_batches([batch]).select(self.columns)
            geoms, errors, coords, points = None, [], None, None
            if self.primary:
                column = batch.column(self.primary)
                found = wkbpoints.coordinates(column) if self.points_as_coords else None
                points = None if found is None else found[0]  # NaN where missing
                if points is not None and np.isfinite(points).all():
                    geoms, coords = np.full(n, None, dtype=object), points
                else:
                    geoms, errors = sources.decode_column(column, n)
            done += n
            yield Chunk(None, geoms, errors, done / max(self.rows, 1), coords, arrow=table, rows=n, points=points)

    def warnings(self) -> list[str]:
        return []


def _plain_quotes(block: bytes, separator: bytes) -> bool:
    """Whether every quote in the block opens a quoted value at its start, closes it before a separator
    or a line end, or is doubled inside it (anything else, e.g. a value continuing after its closing
    quote, is for the strict reader to accept or refuse)."""
    data = np.frombuffer(block, dtype=np.uint8)
    q = np.flatnonzero(data == 34)
    if not len(q):
        return True
    if len(q) % 2:
        return False  # a quoted value continues past the block (or never closes)
    sep = separator[0]
    before = np.where(q > 0, data[np.maximum(q - 1, 0)], 10)
    after = np.where(q + 1 < len(data), data[np.minimum(q + 1, len(data) - 1)], 10)
    opening = np.arange(len(q)) % 2 == 0
    doubled_second = np.zeros(len(q), dtype=bool)
    doubled_second[1:] = q[1:] == q[:-1] + 1
    doubled_first = np.zeros(len(q), dtype=bool)
    doubled_first[:-1] = q[:-1] + 1 == q[1:]
    opens_ok = (before == sep) | (before == 10) | (before == 13) | doubled_second
    closes_ok = (after == sep) | (after == 10) | (after == 13) | doubled_first
    return bool(np.all(np.where(opening, opens_ok, closes_ok)))


def _is_json(meta: bytes) -> bool:
    try:
        return isinstance(json.loads(meta), dict)
    except ValueError as exc:
        raise FileRefused(f"the GeoParquet 'geo' metadata is not valid ({exc})") from exc
