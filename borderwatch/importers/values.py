"""Parsing the values of imported rows: dates (keeping their precision), numbers, nation codes,
and words from a vocabulary. Every parser returns, per row, a value or the reason it failed."""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from borderwatch.filters import utcnow

# time_precision values, finest first
PRECISIONS = ("second", "day", "week", "month", "year")  # "week": the date given, within about a week
# numeric precision codes (ACLED's time_precision): 1 the day, 2 within about a week, 3 the month
PRECISION_CODES = {"1": "day", "2": "week", "3": "month"}

MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"], start=1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
MONTHS["sept"] = 9

DATE_EXAMPLES = "e.g. 2019-05-03, 2019-05-03T14:05:00Z, 2019-05, 2019, 'December 30, 2019', '30 December 2019', 03.05.2019"
_MONTH = r"(?P<mon>[A-Za-z]{3,9})\.?"
_TIME = r"(?:[T ]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
_ZONE = r"\s*(?P<z>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_PATTERNS = [
    # (regex, precision when there is no time part)
    (re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _TIME + _ZONE), "day"),
    (re.compile(r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})" + _TIME + _ZONE), "day"),
    (re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"), "day"),
    (re.compile(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})"), "month"),
    (re.compile(r"(?P<y>\d{4})"), "year"),
    (re.compile(_MONTH + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})" + _TIME + _ZONE), "day"),
    (re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s-]+" + _MONTH + r"[\s-]+(?P<y>\d{4})" + _TIME + _ZONE), "day"),
    (re.compile(_MONTH + r"[\s-]+(?P<y>\d{4})"), "month"),
    # a spreadsheet's d-Mon-yy (ACLED exports opened and saved in Excel): see two_digit_year
    (re.compile(r"(?P<d>\d{1,2})[\s-]+" + _MONTH + r"[\s-]+(?P<yy>\d{2})"), "day"),
    (re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})" + _TIME + _ZONE), "day"),
]
_SLASHED = re.compile(r"(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})" + _TIME + _ZONE)
EARLIEST_YEAR = 1900


class DateResult:
    """Parsed dates: UTC ``values`` (datetime64[us], NaT where not parsed), ``precision`` per row,
    ``errors`` {row position: reason}, and how many had no time zone (read as UTC)."""

    def __init__(self, n: int):
        self.values = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        self.precision = np.full(n, None, dtype=object)
        self.errors: dict[int, str] = {}
        self.naive = 0


def _text(value: Any) -> str | None:
    """A value as text; None when missing."""
    if value is None:
        return None
    if type(value) is str:
        value = value.strip()
        return value or None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, (np.floating,)):
        return _text(float(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        if pd.isna(value):
            return None
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip()
    return text or None


_SPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())  # what str.strip() removes


def arrow_texts(column) -> pa.Array | None:
    """``_text`` of each value of an Arrow column of text (trimmed of str.strip's whitespace, empty =
    missing) or of whole numbers; None for a column of any other type."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_integer(arr.type):
        return pc.cast(arr, pa.string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    trimmed = pc.utf8_trim(arr.cast(pa.string()), characters=_SPACE)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def texts(values: Iterable[Any]) -> list[str | None]:
    """``_text`` of each value (a column of text or whole numbers is done by pyarrow: ``arrow_texts``)."""
    if isinstance(values, list) and len(values) > 64:
        for kind in (pa.string(), None):  # text; else whole numbers (e.g. from Parquet)
            try:
                arr = pa.array(values, type=kind, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                continue
            found = arrow_texts(arr)
            if found is not None:
                return found.to_pylist()
    return [_text(v) for v in values]


def by_value(values: list[Any], fn) -> tuple[np.ndarray, list[Any]]:
    """``fn`` of each distinct text (``_text``) of ``values``, once: (code per row, -1 where missing;
    result per code)."""
    codes, uniques = pd.factorize(np.array(texts(list(values)), dtype=object), use_na_sentinel=True)
    return codes, [fn(u) for u in uniques]


def _zone_offset(z: str | None) -> dt.timedelta | None:
    if not z:
        return None
    if z in ("Z", "UTC", "GMT"):
        return dt.timedelta(0)
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return sign * dt.timedelta(hours=hours, minutes=minutes)


def _build(y: int, m: int, d: int, g: dict, precision: str) -> tuple[dt.datetime, str, bool]:
    H = g.get("H")
    stamp = dt.datetime(y, m, d)
    naive = False
    if H is not None:
        frac = (g.get("f") or "0")[:6].ljust(6, "0")
        stamp = dt.datetime(y, m, d, int(H), int(g["M"]), int(g.get("S") or 0), int(frac))
        precision = "second"
        offset = _zone_offset(g.get("z"))
        if offset is None:
            naive = True
        else:
            stamp = stamp - offset
    return stamp, precision, naive


def two_digit_year(yy: int, today: dt.date | None = None) -> int:
    """A two-digit year: this century up to this year (``24`` -> 2024), otherwise the last (``97`` -> 1997)."""
    this = (today or dt.date.today()).year
    return 2000 + yy if 2000 + yy <= this else 1900 + yy


@functools.lru_cache(maxsize=200_000)
def parse_date_text(text: str, slashed_order: str | None = None) -> tuple[dt.datetime, str, bool] | str:
    """(UTC datetime, precision, had no zone) or the reason it is not a date."""
    s = text.strip()
    try:
        for rx, precision in _PATTERNS:
            m = rx.fullmatch(s)
            if not m:
                continue
            g = m.groupdict()
            y = int(g["y"]) if g.get("y") else two_digit_year(int(g["yy"]))
            if g.get("mon"):
                mon = MONTHS.get(g["mon"].lower())
                if mon is None:
                    return f"unknown month name {g['mon']!r}"
            else:
                mon = int(g.get("m") or 1)
            d = int(g.get("d") or 1)
            return _build(y, mon, d, g, precision)
        m = _SLASHED.fullmatch(s)
        if m:
            g = m.groupdict()
            a, b, y = int(g["a"]), int(g["b"]), int(g["y"])
            if slashed_order is None:
                if a == b:
                    slashed_order = "dmy"
                else:
                    return (f"ambiguous date {s!r}: day/month or month/day? the file does not tell "
                            "(give a date format, e.g. --date-format %d/%m/%Y)")
            d, mon = (a, b) if slashed_order == "dmy" else (b, a)
            return _build(y, mon, d, g, "day")
    except ValueError as exc:
        return f"invalid date {s!r} ({exc})"
    return f"unparseable date {s!r} ({DATE_EXAMPLES})"


def _format_precision(fmt: str) -> str:
    if any(d in fmt for d in ("%H", "%I", "%M", "%S", "%X", "%c", "%T")):
        return "second"
    if any(d in fmt for d in ("%d", "%j", "%x")):
        return "day"
    if any(d in fmt for d in ("%m", "%b", "%B")):
        return "month"
    return "year"


def slashed_order(values: list[str | None]) -> tuple[str | None, str | None]:
    """The day/month order of 'a/b/yyyy' dates in a column (file-wide), or a conflict message."""
    first_big = second_big = False
    if len(values) > 64:  # only values holding a slash can be a/b/yyyy: pyarrow finds them
        try:
            arr = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arr = None
        if arr is not None:
            values = arr.filter(pc.fill_null(pc.match_substring(arr, "/"), False)).to_pylist()
    for v in values:
        if v is None:
            continue
        m = _SLASHED.fullmatch(v.strip())
        if m:
            first_big |= int(m["a"]) > 12
            second_big |= int(m["b"]) > 12
    if first_big and second_big:
        return None, "dates written a/b/yyyy use both day/month and month/day orders in this column"
    if first_big:
        return "dmy", None
    if second_big:
        return "mdy", None
    return None, None


def parse_dates(values: list[Any], *, date_format: str | None = None, now: dt.datetime | None = None,
                future_slack: dt.timedelta = dt.timedelta(days=1),
                order: tuple[str | None, str | None] | None = None) -> DateResult:
    """Parse a column of dates. Missing values are left NaT without an error (callers decide).

    ``order``: the column's reading of a/b/yyyy dates (``slashed_order`` of the whole column when
    it is parsed in chunks)."""
    n = len(values)
    out = DateResult(n)
    now = now or utcnow()
    strings = texts(values)
    if date_format:
        order, conflict = None, None
    else:
        order, conflict = order if order is not None else slashed_order(strings)
    fmt_precision = _format_precision(date_format) if date_format else None
    latest = now + future_slack
    fast = np.zeros(n, dtype=bool)
    if not date_format and n:
        values_fast, fast, precision_fast = _fast_iso(strings)
        early = np.datetime64(dt.datetime(EARLIEST_YEAR, 1, 1), "us")
        fast &= (values_fast >= early) & (values_fast <= np.datetime64(latest, "us"))
        out.values[fast] = values_fast[fast]
        out.precision[fast] = precision_fast[fast]
    for i in np.flatnonzero(~fast).tolist():  # the rows the vectorised ISO parse left
        s = strings[i]
        if s is None:
            continue
        if date_format:
            try:
                stamp = dt.datetime.strptime(s, date_format)
            except ValueError:
                out.errors[i] = f"date {s!r} does not match the format {date_format!r}"
                continue
            if stamp.tzinfo is not None:
                stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
            elif fmt_precision == "second":
                out.naive += 1
            result: tuple | str = (stamp, fmt_precision, False)
        else:
            if conflict and _SLASHED.fullmatch(s):
                out.errors[i] = conflict
                continue
            result = parse_date_text(s, order)
        if isinstance(result, str):
            out.errors[i] = result
            continue
        stamp, precision, naive = result
        if stamp.year < EARLIEST_YEAR:
            out.errors[i] = f"date {s!r} is before {EARLIEST_YEAR}"
            continue
        if stamp > latest:
            out.errors[i] = f"date {s!r} is in the future"
            continue
        out.naive += naive
        out.values[i] = np.datetime64(stamp, "us")
        out.precision[i] = precision
    return out


# -- numbers --------------------------------------------------------------------------------
def parse_numbers(values: list[Any], *, what: str = "number") -> tuple[np.ndarray, dict[int, str]]:
    """Floats (NaN where missing) and {position: reason} for values that are not finite numbers."""
    out = np.full(len(values), np.nan)
    errors: dict[int, str] = {}
    if not len(values):
        return out, errors
    texts_only = _number_texts(values)
    if texts_only is not None:
        fast, missing = texts_only
        good = np.isfinite(fast)
        out[good] = fast[good]
        redo = np.flatnonzero(~good & ~missing)
    elif not (series := pd.Series(values, dtype=object)).map(type).isin((bool, np.bool_)).any():
        fast = pd.to_numeric(series.map(lambda v: v.strip() if type(v) is str else v), errors="coerce")
        fast = fast.to_numpy(dtype=float, na_value=np.nan)
        missing = series.map(lambda v: _text(v) is None).to_numpy(dtype=bool)
        good = np.isfinite(fast)
        out[good] = fast[good]
        redo = np.flatnonzero(~good & ~missing)  # only the failures go through the slow path below
    else:
        redo = range(len(values))
    for i in redo:
        v = values[i]
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, bool):
            errors[i] = f"{v!r} is not a {what}"
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            x = float(v)
        else:
            s = str(v).strip()
            if not s:
                continue
            try:
                x = float(s)
            except ValueError:
                errors[i] = f"{s!r} is not a {what}"
                continue
        if not math.isfinite(x):
            errors[i] = f"{v!r} is not a finite {what}"
            continue
        out[i] = x
    return out, errors


def _number_texts(values: list[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """For a column of text (or missing) values: (floats, NaN where not plainly a number; missing);
    None for other columns or text pyarrow does not read as numbers (the general path decides)."""
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    trimmed = pc.utf8_trim_whitespace(arr)
    missing = pc.fill_null(pc.equal(trimmed, ""), True)
    try:
        numbers = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), trimmed), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return numbers.to_numpy(zero_copy_only=False), missing.to_numpy(zero_copy_only=False)


_ISO_ZONED = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
_ISO_DAY = r"\d{4}-\d{2}-\d{2}"


def _fast_iso(strings: list[str | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised parse of the common ISO forms: (datetime64[us] UTC, parsed mask, precision)."""
    n = len(strings)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    done = np.zeros(n, dtype=bool)
    precision = np.full(n, None, dtype=object)
    series = pd.Series(strings, dtype=object)
    text = series.where(series.notna(), "").astype(str)
    for rx, fmt, prec in ((_ISO_ZONED, "ISO8601", "second"), (_ISO_DAY, "%Y-%m-%d", "day")):
        mask = text.str.fullmatch(rx).to_numpy(dtype=bool) & ~done
        if not mask.any():
            continue
        kw = {"utc": True} if prec == "second" else {}
        parsed = pd.to_datetime(text[mask], format=fmt, errors="coerce", **kw)
        if prec == "second":
            parsed = parsed.dt.tz_convert(None)
        arr = parsed.to_numpy(dtype="datetime64[us]")
        ok = ~np.isnat(arr)
        idx = np.flatnonzero(mask)[ok]
        values[idx] = arr[ok]
        done[idx] = True
        precision[idx] = prec
    return values, done, precision


_UNIT = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([A-Za-z]*)\s*$")
DISTANCE_UNITS = {"": None, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
                  "km": 1000.0, "kilometer": 1000.0, "kilometers": 1000.0, "kilometre": 1000.0, "kilometres": 1000.0,
                  "mi": 1609.344, "mile": 1609.344, "miles": 1609.344,
                  "nm": 1852.0, "nmi": 1852.0, "nautical": 1852.0}


def parse_distances(values: list[Any], default_unit_m: float) -> tuple[np.ndarray, dict[int, str]]:
    """Distances in metres: plain numbers are in ``default_unit_m`` metres; '5 km', '500 m',
    '12 nmi', '3 mi' carry their unit."""
    out = np.full(len(values), np.nan)
    errors: dict[int, str] = {}
    for i, v in enumerate(values):
        s = _text(v)
        if s is None:
            continue
        m = _UNIT.match(s)
        if not m or m.group(2).lower() not in DISTANCE_UNITS:
            errors[i] = f"{s!r} is not a distance (a number, optionally with m, km, mi or nmi)"
            continue
        factor = DISTANCE_UNITS[m.group(2).lower()] or default_unit_m
        out[i] = float(m.group(1)) * factor
    return out, errors


# -- words from a vocabulary ----------------------------------------------------------------
@functools.lru_cache(maxsize=100_000)
def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def norm_word(value: Any) -> str:
    return _norm(str(value))


def vocabulary(table: dict[str, Iterable[str]]) -> dict[str, str]:
    """{normalised synonym: canonical} from {canonical: synonyms}."""
    out: dict[str, str] = {}
    for canonical, words in table.items():
        out[norm_word(canonical)] = canonical
        for w in words:
            out[norm_word(w)] = canonical
    return out


def word_reader(vocab: dict[str, str], explicit: dict[str, str] | None = None):
    """The canonical word for one text (None when not in the vocabulary): ``explicit``
    ({value: word}, as the user gave it) first."""
    exp = {norm_word(k): v for k, v in (explicit or {}).items()}

    def one(s: str) -> str | None:
        key = norm_word(s)
        return exp.get(key) or vocab.get(key)
    return one


def lookup(values: list[Any], vocab: dict[str, str], explicit: dict[str, str] | None = None) -> list[str | None]:
    """Canonical word per value (None where missing or not in the vocabulary)."""
    codes, found = by_value(values, word_reader(vocab, explicit))
    table = np.array(found + [None], dtype=object)  # code -1 (missing) -> None
    return table[codes].tolist()


# -- nations --------------------------------------------------------------------------------
class Nations:
    """ISO 3166-1 alpha-3 codes from alpha-3, alpha-2, numeric codes or English names."""

    ALIASES = {"UK": "GBR", "EL": "GRC", "XK": "XKX", "KOSOVO": "XKX"}

    def __init__(self, extra: dict[str, str] | None = None):
        import pycountry

        self.codes: set[str] = set()
        self.names: dict[str, str] = {}
        self.lookup: dict[str, str] = {}
        for c in pycountry.countries:
            self._add(c.alpha_3, [c.alpha_2, str(int(c.numeric)), c.numeric],
                      [c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)])
        for code, name in (extra or {}).items():
            self._add(code, [], [name])
        for alias, code in self.ALIASES.items():
            self.lookup.setdefault(alias, code)

    def _add(self, code: str, codes: list[str], names: list[str | None]) -> None:
        code = code.upper()
        self.codes.add(code)
        self.names.setdefault(code, next((n for n in names if n), code))
        self.lookup.setdefault(code, code)
        for c in codes:
            self.lookup.setdefault(c.upper(), code)
        for n in names:
            if n:
                self.lookup.setdefault(norm_word(n).upper(), code)

    def code(self, value: Any) -> str | None:
        s = _text(value)
        if s is None:
            return None
        key = s.upper()
        if key in self.lookup:
            return self.lookup[key]
        if key.isdigit():
            return self.lookup.get(str(int(key)))
        return self.lookup.get(norm_word(s).upper())


@functools.lru_cache(maxsize=1)
def reference_nations() -> Nations:
    """Nations known to Borderwatch: ISO 3166-1 plus the reference data's own codes (e.g. XKX)."""
    extra: dict[str, str] = {}
    try:
        import pyarrow.parquet as pq

        from borderwatch.reference import NATIONS_FILE

        t = pq.read_table(NATIONS_FILE, columns=["iso3", "name"])
        extra = dict(zip(t.column("iso3").to_pylist(), t.column("name").to_pylist()))
    except (OSError, ImportError, KeyError):
        pass
    return Nations(extra)
