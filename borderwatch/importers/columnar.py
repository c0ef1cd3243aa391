"""Clean chunks of a streamed incident table, validated column by column on their Arrow arrays.

Most chunks of a large file have nothing to say: every id given, every date an ISO time (with or
without a zone: ``2026-02-09T12:46:59Z``, ``2026-02-09 12:46:59``), an ISO day or a value of a
timestamp column, every threat type, severity, confidence and nation code one the rules accept,
every point inside longitude / latitude. Such a chunk needs no per-row decision, so it is read
here without Python objects per row: texts are trimmed by Arrow (with ``str.strip``'s whitespace,
as ``values.texts``), dates are read by Arrow's ISO 8601 parser (times without a zone are read as
UTC and counted, as the row path counts them), and the words and numbers are read by the row
path's own functions (``values.word_reader``, ``incidents.severity_of``,
``incidents.confidence_of``, ``Nations.code``), once per distinct text.

The first value of any other form (a date in another layout, a missing value
where the rules require one, a word or number they refuse, a point out of range or at 0, 0, a
column of a type other than text or whole numbers) sends the whole chunk through the row path
(``stream.Scan._chunk``), so a chunk with any problem gets exactly the words it always got.
Only files mapped without a preset, a --set value, --date-format, a time precision or location
error column take this path; ``tests/test_import_columnar.py`` compares the staged rows of both
paths on the same chunks.
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


def chunk(r: Reading, table: pa.Table, coords: np.ndarray | None, first_row: int) -> tuple[pa.Table, int] | None:
    """The chunk's rows as ``staged.SCHEMA`` columns (``_row`` numbered from ``first_row``) and how
    many of its times had no zone (read as UTC, as the row path counts them); None when some value
    needs the row path."""
    n = table.num_rows
    if n == 0:
        return None
    cols = r.columns

    def text(field: str) -> pa.Array | None:
        return _texts(table.column(cols[field]))

    ids = text("incident_id")
    if ids is None or ids.null_count:
        return None
    dates = _dates(table.column(cols["occurred_at"]), r.now)
    if dates is None:
        return None
    occurred, precision, naive = dates
    threat = _words(text("threat_type"), r.threat, THREAT_TYPES)
    if threat is None:
        return None
    severity = _numbers(table, cols.get("severity"), incidents.severity_of, incidents.DEFAULT_SEVERITY, pa.int8())
    confidence = _numbers(table, cols.get("confidence"), incidents.confidence_of, incidents.DEFAULT_CONFIDENCE,
                          pa.float32())
    if severity is None or confidence is None:
        return None
    if "reporting_nation" in cols:
        nation = _codes(text("reporting_nation"), r.nations.code)
        if nation is None:
            return None
    else:
        nation = pa.nulls(n, pa.string())
    if r.tabular:
        coords = _lonlat(table.column(cols["lon"]), table.column(cols["lat"]))
    if coords is None or not np.isfinite(coords).all():
        return None
    rows = np.arange(n)
    if reproject._out_of_range(coords, rows, rows, set(), ("lon", "lat")):
        return None
    source = text("source") if "source" in cols else None
    description = text("description") if "description" in cols else None
    return pa.table({
        "incident_id": pc.binary_join_element_wise(r.source, ids, ":"),
        "occurred_at": occurred,
        "time_precision": precision,
        "threat_type": threat,
        "severity": severity,
        "confidence": confidence,
        "reporting_nation": nation,
        "source": pc.fill_null(source, r.source) if source is not None else pa.repeat(pa.scalar(r.source), n),
        "description": pc.fill_null(description, "") if description is not None else pa.repeat(pa.scalar(""), n),
        "lon": pa.array(coords[:, 0]),
        "lat": pa.array(coords[:, 1]),
        "location_error_m": pa.nulls(n, pa.float64()),
        "_row": pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
    }, schema=staged.SCHEMA), naive


def _texts(column) -> pa.Array | None:
    """``values.texts`` of an Arrow column of text or whole numbers (None for any other type)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    trimmed = pc.utf8_trim(arr.cast(pa.string()), characters=vals._SPACE)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _dates(column, now: dt.datetime) -> tuple[pa.Array, pa.Array, int] | None:
    """(UTC times, precision, how many had no zone) of a column of ISO dates or of a timestamp
    column, from 1900 to a day after ``now``; None for anything else."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if pa.types.is_timestamp(arr.type):  # as the row path reads their texts (``sources.arrow_objects``)
        if arr.null_count:
            return None
        try:
            stamps = arr.cast(pa.timestamp("us", tz=arr.type.tz)).cast(pa.timestamp("us"))
        except pa.ArrowInvalid:  # finer than microseconds
            return None
        precision, naive = pa.repeat(pa.scalar("second"), n), 0 if arr.type.tz is not None else n
    else:
        texts = _texts(arr)
        if texts is None or texts.null_count:
            return None
        zoned = pc.match_substring_regex(texts, ZONED)
        if pc.all(zoned).as_py():
            try:
                stamps = pc.cast(texts, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
            precision, naive = pa.repeat(pa.scalar("second"), n), 0
        else:
            found = _mixed_dates(texts, zoned)
            if found is None:
                return None
            stamps, precision, naive = found
    lo, hi = pc.min_max(stamps).values()
    if lo.as_py() < EARLIEST or hi.as_py() > now + dt.timedelta(days=1):
        return None
    return stamps, precision, naive


def _mixed_dates(texts: pa.Array, zoned: pa.Array) -> tuple[pa.Array, pa.Array, int] | None:
    """Zoned times, times without a zone (read as UTC) and days, in one column."""
    timed, day = pc.match_substring_regex(texts, NAIVE), pc.match_substring_regex(texts, DAY)
    if not pc.all(pc.or_(pc.or_(zoned, timed), day)).as_py():
        return None
    out = np.empty(len(texts), dtype="datetime64[us]")
    try:
        for mask, kind in ((zoned, pa.timestamp("us", tz="UTC")), (pc.invert(zoned), pa.timestamp("us"))):
            rows = mask.to_numpy(zero_copy_only=False)
            if rows.any():
                out[rows] = pc.cast(texts.filter(mask), kind).cast(pa.timestamp("us")).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    precision = pc.if_else(day, pa.scalar("day"), pa.scalar("second"))
    return pa.array(out), precision, int(pc.sum(timed).as_py() or 0)


def _distinct(texts: pa.Array, read) -> tuple[pa.Array, list]:
    """(index of each row's distinct text, ``read`` of each distinct text)."""
    encoded = texts.dictionary_encode()
    return encoded.indices, [read(t) for t in encoded.dictionary.to_pylist()]


def _words(texts: pa.Array | None, read, allowed) -> pa.Array | None:
    if texts is None or texts.null_count:
        return None
    codes, found = _distinct(texts, read)
    if any(w not in allowed for w in found):
        return None
    return pa.array(found, pa.string()).take(codes)


def _codes(texts: pa.Array | None, read) -> pa.Array | None:
    """Nation codes (null where none is given); None when a given one is not known."""
    if texts is None:
        return None
    codes, found = _distinct(texts, read)
    if any(c is None for c in found):
        return None
    return pa.array(found, pa.string()).take(codes)


def _numbers(table: pa.Table, column: str | None, read, default, kind: pa.DataType) -> pa.Array | None:
    """Each row's value read by ``read`` (``default`` where none is given); None when one is refused."""
    n = table.num_rows
    if column is None:
        return pa.repeat(pa.scalar(default, kind), n)
    texts = _texts(table.column(column))
    if texts is None:
        return None
    codes, found = _distinct(texts, read)
    if any(reason is not None for _, reason in found):
        return None
    return pc.fill_null(pa.array([v for v, _ in found], kind).take(codes), pa.scalar(default, kind))


def _lonlat(lon, lat) -> np.ndarray | None:
    """Coordinates from two columns of plain numbers (text or numeric); None when one is not."""
    out = []
    for column in (lon, lat):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
            if arr.null_count:
                return None
            out.append(arr.cast(pa.float64()).to_numpy(zero_copy_only=False))
            continue
        texts = _texts(arr)
        if texts is None or texts.null_count or not pc.all(pc.match_substring_regex(texts, NUMBER)).as_py():
            return None
        out.append(pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False))
    return np.column_stack(out)
