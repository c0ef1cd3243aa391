"""Clean chunks of a streamed incident table, validated column by column on their Arrow arrays.

Most chunks of a large file have nothing to say: every id given, every date an ISO time (with or
without a zone: ``2026-02-09T12:46:59Z``, ``2026-02-09 12:46:59``), an ISO day or a value of a
timestamp column, every threat type, severity, confidence and nation code one the rules accept,
every point inside longitude / latitude. Such a chunk needs no per-row decision, so it is read
here without Python objects per row: texts are trimmed by Arrow (with ``str.strip``'s whitespace,
``values.arrow_texts``), dates are read by Arrow's ISO 8601 parser (times without a zone are read as
UTC and counted, as the row path counts them), and the words and numbers are read by the row
path's own functions (``values.word_reader``, ``incidents.severity_of``,
``incidents.confidence_of``, ``Nations.code``), once per distinct text.

A value of any other form (a date in another layout, a missing value where the rules require
one, a word or number they refuse, a point out of range or at 0, 0) marks its row unsettled, and
the block of rows around it goes through the row path (``stream.Scan._columns``), so those rows
get exactly the words they always got. A column of a type other than text or whole numbers (or
timestamps, for the date), or a date in an ISO form that Arrow's parser refuses (31 February),
sends the whole chunk through the row path. Only files mapped without a preset, a --set value,
--date-format, --crs, a time precision or location error column take this path;
``tests/test_import_columnar.py`` compares what both paths stage and report on the same files.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from borderwatch.domain import THREAT_TYPES
from borderwatch.importers import mapping as mp
from borderwatch.importers import reproject, staged
from borderwatch.importers import values as vals
from borderwatch.importers.targets import incidents

# the fields a clean chunk may have; any other mapped field (or a preset, a --set value) takes the row path
FIELDS = ("incident_id", "occurred_at", "threat_type", "severity", "confidence", "reporting_nation", "source",
          "description", "lon", "lat")
# the row path's first date form (``values._ISO_ZONED``) with at most microseconds, ASCII digits only
ZONED = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:?\d{2})$"
NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?$"  # read as UTC, and counted
DAY = r"^\d{4}-\d{2}-\d{2}$"
# a plain decimal number (what ``values.parse_numbers`` reads the same way with Arrow)
NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
EARLIEST = dt.datetime(vals.EARLIEST_YEAR, 1, 1)


@dataclasses.dataclass
class Reading:
    """How the chunks of one file are read, from its first chunk's mapping (``reading``)."""
    columns: dict[str, str]  # field -> column
    source: str
    threat: object  # text -> Borderwatch threat type (or None)
    nations: vals.Nations
    now: dt.datetime
    tabular: bool  # points from lon/lat columns (else from the chunk's coordinates)


def reading(work, opts, nations: vals.Nations, now: dt.datetime) -> Reading | None:
    """The reading of a file whose first chunk was mapped as ``work``, or None when its chunks
    must all take the row path."""
    columns = work.columns
    if work.preset is not None or opts.defaults or opts.date_format or opts.crs or work.derived:
        return None
    if set(work.values) != set(columns) or not set(columns) <= set(FIELDS):
        return None
    if not {"incident_id", "occurred_at", "threat_type"} <= set(columns):
        return None
    if any(work.labels.get(f) != c for f, c in columns.items()):
        return None
    tabular = "lon" in columns
    if tabular != ("lat" in columns):
        return None
    return Reading(dict(columns), work.source, vals.word_reader(mp.THREATS, opts.threat_map), nations, now, tabular)


@dataclasses.dataclass
class Rows:
    """A chunk read column by column: ``table`` holds every row as ``staged.SCHEMA`` columns, of
    which only the settled ones are meant to be staged."""
    table: pa.Table
    unsettled: np.ndarray  # rows the row path must read (their values in ``table`` mean nothing)
    naive: np.ndarray  # times without a zone (read as UTC; the row path counts them)


def chunk(r: Reading, table: pa.Table, coords: np.ndarray | None, first_row: int) -> Rows | None:
    """The chunk's rows (``_row`` numbered from ``first_row``), with the rows whose values need the
    row path marked; None when the whole chunk does (a column of another type, no point coordinates,
    a date that Arrow's parser refuses)."""
    n = table.num_rows
    cols = r.columns
    if n == 0:
        return None

    def text(field: str) -> pa.Array | None:
        return vals.arrow_texts(table.column(cols[field]))

    ids = text("incident_id")
    dates = _dates(table.column(cols["occurred_at"]), r.now)
    threat = _words(text("threat_type"), r.threat, THREAT_TYPES)
    severity = _numbers(table, cols.get("severity"), incidents.severity_of, incidents.DEFAULT_SEVERITY, pa.int8())
    confidence = _numbers(table, cols.get("confidence"), incidents.confidence_of, incidents.DEFAULT_CONFIDENCE,
                          pa.float32())
    nation = _codes(text("reporting_nation"), r.nations.code) if "reporting_nation" in cols \
        else (pa.nulls(n, pa.string()), np.zeros(n, bool))
    if r.tabular:
        coords = _lonlat(table.column(cols["lon"]), table.column(cols["lat"]))
    if ids is None or any(x is None for x in (dates, threat, severity, confidence, nation, coords)):
        return None
    occurred, precision, naive, bad = dates
    bad = bad | _missing(ids) | threat[1] | severity[1] | confidence[1] | nation[1]
    bad |= ~np.isfinite(coords).all(axis=1)
    rows = np.arange(n)
    for row, *_ in reproject._out_of_range(coords, rows, rows, set(), ("lon", "lat")):
        bad[row] = True
    source = text("source") if "source" in cols else None
    description = text("description") if "description" in cols else None
    if ("source" in cols and source is None) or ("description" in cols and description is None):
        return None  # a column of numbers or times: the row path writes them as text
    return Rows(pa.table({
        "incident_id": pc.binary_join_element_wise(r.source, ids, ":"),
        "occurred_at": occurred,
        "time_precision": precision,
        "threat_type": threat[0],
        "severity": severity[0],
        "confidence": confidence[0],
        "reporting_nation": nation[0],
        "source": pc.fill_null(source, r.source) if source is not None else pa.repeat(pa.scalar(r.source), n),
        "description": pc.fill_null(description, "") if description is not None else pa.repeat(pa.scalar(""), n),
        "lon": pa.array(coords[:, 0]),
        "lat": pa.array(coords[:, 1]),
        "location_error_m": pa.nulls(n, pa.float64()),
        "_row": pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
    }, schema=staged.SCHEMA), bad, naive)


def _missing(arr: pa.Array) -> np.ndarray:
    return arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(len(arr), bool)


def _dates(column, now: dt.datetime) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray] | None:
    """(UTC times, precision, no zone, unsettled) of a column of ISO dates or of a timestamp
    column: a missing value, another form, or a time before 1900 or later than a day after ``now``
    is unsettled. None for a column of another type, or a date Arrow's parser refuses."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if pa.types.is_timestamp(arr.type):  # as the row path reads their texts (``sources.arrow_objects``)
        try:
            stamps = arr.cast(pa.timestamp("us", tz=arr.type.tz)).cast(pa.timestamp("us"))
        except pa.ArrowInvalid:  # finer than microseconds
            return None
        precision, naive, bad = pa.repeat(pa.scalar("second"), n), np.full(n, arr.type.tz is None), _missing(arr)
    else:
        texts = vals.arrow_texts(arr)
        if texts is None:
            return None
        zoned = pc.fill_null(pc.match_substring_regex(texts, ZONED), False)
        if pc.all(zoned).as_py():
            try:
                stamps = pc.cast(texts, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
            precision, naive, bad = pa.repeat(pa.scalar("second"), n), np.zeros(n, bool), np.zeros(n, bool)
        else:
            found = _mixed_dates(texts, zoned)
            if found is None:
                return None
            stamps, precision, naive, bad = found
    values = stamps.to_numpy(zero_copy_only=False)
    bad = bad | ~np.isnat(values) & ((values < np.datetime64(EARLIEST, "us"))
                                     | (values > np.datetime64(now + dt.timedelta(days=1), "us")))
    return stamps, precision, naive & ~bad, bad


def _mixed_dates(texts: pa.Array, zoned: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray] | None:
    """Zoned times, times without a zone (read as UTC) and days, in one column (anything else unsettled)."""
    timed = pc.fill_null(pc.match_substring_regex(texts, NAIVE), False)
    day = pc.fill_null(pc.match_substring_regex(texts, DAY), False)
    out = np.full(len(texts), np.datetime64("NaT"), dtype="datetime64[us]")
    try:
        for mask, kind in ((zoned, pa.timestamp("us", tz="UTC")), (pc.or_(timed, day), pa.timestamp("us"))):
            rows = mask.to_numpy(zero_copy_only=False)
            if rows.any():
                out[rows] = pc.cast(texts.filter(mask), kind).cast(pa.timestamp("us")).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    settled = pc.or_(pc.or_(zoned, timed), day).to_numpy(zero_copy_only=False)
    precision = pc.if_else(day, pa.scalar("day"), pa.scalar("second"))
    return pa.array(out), precision, timed.to_numpy(zero_copy_only=False), ~settled


def _distinct(texts: pa.Array, read) -> tuple[np.ndarray, list]:
    """(index of each row's distinct text, -1 where missing; ``read`` of each distinct text)."""
    encoded = texts.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return codes, [read(t) for t in encoded.dictionary.to_pylist()]


def _pick(codes: np.ndarray, values: list, kind: pa.DataType, missing=None) -> pa.Array:
    """Each row's value from its code (``missing`` where -1)."""
    return pa.array(values + [missing], kind).take(pa.array(np.where(codes < 0, len(values), codes)))


def _words(texts: pa.Array | None, read, allowed) -> tuple[pa.Array, np.ndarray] | None:
    """Each row's word, and the unsettled rows: missing, or not one of ``allowed``."""
    if texts is None:
        return None
    codes, found = _distinct(texts, read)
    known = np.array([w in allowed for w in found] + [False])
    return _pick(codes, [w if w in allowed else None for w in found], pa.string()), ~known[codes]


def _codes(texts: pa.Array | None, read) -> tuple[pa.Array, np.ndarray] | None:
    """Nation codes (null where none is given), and the unsettled rows: a code no nation has."""
    if texts is None:
        return None
    codes, found = _distinct(texts, read)
    unknown = np.array([c is None for c in found] + [False])
    return _pick(codes, found, pa.string()), unknown[codes]


def _numbers(table: pa.Table, column: str | None, read, default, kind: pa.DataType) -> tuple[pa.Array, np.ndarray] | None:
    """Each row's value read by ``read`` (``default`` where none is given), and the unsettled rows:
    a value ``read`` refuses."""
    n = table.num_rows
    if column is None:
        return pa.repeat(pa.scalar(default, kind), n), np.zeros(n, bool)
    texts = vals.arrow_texts(table.column(column))
    if texts is None:
        return None
    codes, found = _distinct(texts, read)
    refused = np.array([reason is not None for _, reason in found] + [False])
    return _pick(codes, [v if reason is None else default for v, reason in found], kind, default), refused[codes]


def _lonlat(lon, lat) -> np.ndarray | None:
    """Coordinates from two columns of plain numbers (text or numeric), NaN where a value is not
    one; None for columns of another type."""
    out = []
    for column in (lon, lat):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
            out.append(arr.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float))
            continue
        texts = vals.arrow_texts(arr)
        if texts is None:
            return None
        plain = pc.fill_null(pc.match_substring_regex(texts, NUMBER), False)
        out.append(pc.cast(pc.if_else(plain, texts, pa.scalar(None, pa.string())), pa.float64())
                   .to_numpy(zero_copy_only=False).astype(float))
    return np.column_stack(out)
