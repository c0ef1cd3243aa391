"""The one Filter: what the user asked to see, as SQL (bound parameters), as words, as a URL.

Every layer, table, chart and export is computed from a ``Filter``; it turns into a SQL
predicate here and nowhere else, so access rules (what a viewer may see) have one place to go.
No user value is ever formatted into SQL text: values travel as ``$f_*`` parameters.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import math
import re
import unicodedata
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

THREAT_TYPES = (
    "illegal_crossing",
    "smuggling",
    "drug_trafficking",
    "human_trafficking",
    "weapons_trafficking",
    "document_fraud",
    "armed_incursion",
    "drone_incursion",
    "other",
)
THREAT_LABELS = {t: t.replace("_", " ").capitalize() for t in THREAT_TYPES}

SEVERITY_LABELS = {1: "low", 2: "moderate", 3: "high", 4: "critical"}
SCOPES = ("all", "internal", "external")
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30), "365d": dt.timedelta(days=365)}
WINDOW_LABELS = {"24h": "last 24 h", "7d": "last 7 days", "30d": "last 30 days", "365d": "last 365 days", "custom": "custom"}
URL_VERSION = "1"

# targets a filter can apply to, with the columns each offers
_TARGETS = {
    "incident": {"time": True, "point": True, "segment": True},
    "segment": {"time": False, "point": False, "segment": True},
    "sensor": {"time": False, "point": True, "segment": True},
    "fortification": {"time": False, "point": False, "segment": True},
}


def utcnow() -> dt.datetime:
    """Current UTC time as a naive datetime (the store's convention).

    ``BORDERWATCH_NOW`` (ISO time) pins it, to replay a store built at a fixed time."""
    pinned = os.environ.get("BORDERWATCH_NOW")
    if pinned:
        return dt.datetime.fromisoformat(pinned).replace(tzinfo=None, microsecond=0)
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclasses.dataclass(frozen=True)
class Filter:
    nations: tuple[str, ...] = ()
    agreements: tuple[str, ...] = ()
    scope: str = "all"
    threat_types: tuple[str, ...] = ()
    window: str = "30d"
    start: dt.datetime | None = None  # used when window == "custom"
    end: dt.datetime | None = None
    min_severity: int = 1
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north
    text: str = ""
    segments: tuple[str, ...] = ()  # area of interest: chosen segments
    area_wkt: str = ""  # area of interest: a drawn polygon (WKT, lon/lat)

    def __post_init__(self):
        for name in ("nations", "agreements", "threat_types", "segments"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(sorted(set(value))))
        object.__setattr__(self, "nations", tuple(n.upper() for n in self.nations))
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {self.scope!r}")
        if self.window not in WINDOWS and self.window != "custom":
            raise ValueError(f"window must be one of {', '.join([*WINDOWS, 'custom'])}, not {self.window!r}")
        if self.window == "custom" and (self.start is None or self.end is None):
            raise ValueError("a custom window needs both a start and an end")
        for name in ("start", "end"):  # times are naive UTC in the store: convert aware ones
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                object.__setattr__(self, name, value.astimezone(dt.timezone.utc).replace(tzinfo=None))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
                raise ValueError(f"the window's {name} must lie in the years {MIN_YEAR} to {MAX_YEAR}")
        if self.start and self.end and self.start >= self.end:
            raise ValueError("the window's start must be before its end")
        unknown = [t for t in self.threat_types if t not in THREAT_TYPES]
        if unknown:
            raise ValueError(f"unknown threat type(s): {', '.join(unknown)}")
        if self.min_severity not in SEVERITY_LABELS:
            raise ValueError(f"min_severity must be 1-4, not {self.min_severity!r}")
        if self.bbox is not None:
            w, s, e, n = (float(v) for v in self.bbox)
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError(f"bbox out of range or crossing the antimeridian (west must be < east): {self.bbox}")
            object.__setattr__(self, "bbox", (w, s, e, n))
        if self.area_wkt:
            object.__setattr__(self, "area_wkt", _valid_area(self.area_wkt))

    # -- time ---------------------------------------------------------------------------
    def time_range(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        if self.window == "custom":
            return self.start, self.end
        now = now or utcnow()
        return now - WINDOWS[self.window], now

    def previous_range(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """The period of the same length just before this filter's window."""
        start, end = self.time_range(now)
        return start - (end - start), start

    def replace(self, **changes) -> "Filter":
        return dataclasses.replace(self, **changes)

    # -- SQL ----------------------------------------------------------------------------
    def sql(self, target: str = "incident", alias: str = "", now: dt.datetime | None = None,
            time: bool = True) -> tuple[str, dict[str, Any]]:
        """A predicate for ``target`` rows (``alias`` qualifies columns) and its parameters.

        Nations and agreements select border segments (an incident also matches on its
        reporting nation); ``time=False`` leaves the window out (for baselines and trends).
        """
        if target not in _TARGETS:
            raise ValueError(f"unknown filter target {target!r}")
        caps = _TARGETS[target]
        col = (alias + ".") if alias else ""
        clauses: list[str] = []
        params: dict[str, Any] = {}

        if self.nations:
            params["f_nations"] = list(self.nations)
            if target in ("segment", "incident"):
                parts = [f"list_contains($f_nations, {col}nation_a)", f"list_contains($f_nations, {col}nation_b)"]
                if target == "incident":
                    parts.append(f"list_contains($f_nations, {col}reporting_nation)")
                clauses.append("(" + " OR ".join(parts) + ")")
            else:
                clauses.append(
                    f"(list_contains($f_nations, {col}nation) OR {col}segment_id IN "
                    "(SELECT segment_id FROM segments WHERE list_contains($f_nations, nation_a) "
                    "OR list_contains($f_nations, nation_b)))"
                )
        if self.agreements:
            params["f_agreements"] = list(self.agreements)
            scope_sql = ""
            if self.scope != "all":
                params["f_scope"] = self.scope
                scope_sql = " AND scope = $f_scope"
            clauses.append(
                f"{col}segment_id IN (SELECT segment_id FROM segment_agreements "
                f"WHERE list_contains($f_agreements, agreement_id){scope_sql})"
            )
        if self.segments and caps["segment"]:
            params["f_segments"] = list(self.segments)
            clauses.append(f"list_contains($f_segments, {col}segment_id)")
        if target == "incident":
            if self.threat_types:
                params["f_threats"] = list(self.threat_types)
                clauses.append(f"list_contains($f_threats, {col}threat_type)")
            if self.min_severity > 1:
                params["f_min_severity"] = self.min_severity
                clauses.append(f"{col}severity >= $f_min_severity")
            if time:
                start, end = self.time_range(now)
                params["f_start"], params["f_end"] = start, end
                clauses.append(f"{col}occurred_at >= $f_start AND {col}occurred_at < $f_end")
            if self.text.strip():
                params["f_text"] = "%" + _escape_like(self.text.strip()) + "%"
                clauses.append(f"{col}description ILIKE $f_text ESCAPE '\\'")
        if caps["point"]:
            if self.bbox:
                params["f_w"], params["f_s"], params["f_e"], params["f_n"] = self.bbox
                clauses.append(f"{col}lon BETWEEN $f_w AND $f_e AND {col}lat BETWEEN $f_s AND $f_n")
            if self.area_wkt:
                params["f_area"] = self.area_wkt
                clauses.append(f"ST_Intersects(ST_GeomFromText($f_area), ST_Point({col}lon, {col}lat))")
        return (" AND ".join(clauses) or "TRUE"), params

    # -- words --------------------------------------------------------------------------
    def describe(self, now: dt.datetime | None = None, names: Mapping[str, str] | None = None) -> str:
        """The filter as a sentence, for captions, briefings and export metadata."""
        names = names or {}
        start, end = self.time_range(now)
        if self.window == "custom":
            when = f"{start:%Y-%m-%d %H:%MZ} to {end:%Y-%m-%d %H:%MZ}"
        else:
            when = f"{WINDOW_LABELS[self.window]} ({start:%Y-%m-%d %H:%MZ} to {end:%Y-%m-%d %H:%MZ})"
        parts = [f"Incidents {when}"]
        parts.append(
            "threat types: " + (", ".join(THREAT_LABELS[t].lower() for t in self.threat_types) if self.threat_types else "all")
        )
        if self.min_severity > 1:
            parts.append(f"severity {SEVERITY_LABELS[self.min_severity]} or above")
        parts.append("nations: " + (", ".join(names.get(n, n) for n in self.nations) if self.nations else "all"))
        if self.agreements:
            scope = {"all": "all borders of members", "internal": "internal borders", "external": "external borders"}[self.scope]
            parts.append("agreements: " + ", ".join(names.get(a, a) for a in self.agreements) + f" ({scope})")
        if self.segments:
            parts.append("segments: " + ", ".join(self.segments))
        if self.area_wkt:
            box = area_box(self.area_wkt)
            parts.append(f"area of interest: the box {_box_words(box)}" if box
                         else "area of interest: a polygon")
        if self.bbox:
            parts.append(f"within the box {_box_words(self.bbox)}")
        if self.text.strip():
            parts.append(f'description contains "{self.text.strip()}"')
        return "; ".join(parts) + "."

    def slug(self) -> str:
        """A short file-name-safe summary, e.g. for export names."""
        bits = [self.window if self.window != "custom" else f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"]
        if self.nations:
            bits.append("+".join(self.nations[:4]) + ("+more" if len(self.nations) > 4 else ""))
        if self.agreements:
            bits.append("+".join(self.agreements[:3]) + (f"-{self.scope}" if self.scope != "all" else ""))
        if self.threat_types:
            bits.append("+".join(t.split("_")[0] for t in self.threat_types[:3]))
        if self.min_severity > 1:
            bits.append(f"sev{self.min_severity}")
        if self.segments:
            bits.append("+".join(self.segments[:2]))
        if self.text.strip() or self.area_wkt or self.bbox:
            bits.append("area" if (self.area_wkt or self.bbox) else "text")
        return re.sub(r"[^A-Za-z0-9_+.-]+", "-", "_".join(bits)).strip("-") or "all"

    # -- URL ----------------------------------------------------------------------------
    def to_params(self) -> dict[str, str]:
        """Query-string parameters (only those that differ from the default)."""
        default = Filter()
        out = {"v": URL_VERSION}
        if self.nations:
            out["nations"] = ",".join(self.nations)
        if self.agreements:
            out["agreements"] = ",".join(self.agreements)
        if self.scope != default.scope:
            out["scope"] = self.scope
        if self.threat_types:
            out["threats"] = ",".join(self.threat_types)
        if self.window != default.window:
            out["window"] = self.window
        if self.window == "custom":
            out["start"] = self.start.strftime("%Y-%m-%dT%H:%M")
            out["end"] = self.end.strftime("%Y-%m-%dT%H:%M")
        if self.min_severity != 1:
            out["severity"] = str(self.min_severity)
        if self.bbox:
            out["bbox"] = ",".join(f"{v:.4f}" for v in self.bbox)
        if self.text.strip():
            out["q"] = self.text.strip()
        if self.segments:
            out["segments"] = ",".join(self.segments)
        if self.area_wkt:
            out["area"] = self.area_wkt
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, str] | str, **known) -> "Filter":
        """Rebuild from query parameters (see ``from_url``), dropping the notices."""
        return cls.from_url(params, **known)[0]

    @classmethod
    def from_url(cls, params: Mapping[str, str] | str, *, nations: Iterable[str] | None = None,
                 agreements: Iterable[str] | None = None, segments: Iterable[str] | None = None,
                 ) -> tuple["Filter", list[str]]:
        """The one reader of links: the Filter a query string asks for, and one notice per value
        it ignored or corrected (``ignored nations=US: not a known ISO 3166 alpha-3 code``).

        ``params`` is a mapping or a query string (a whole URL works too). ``nations``,
        ``agreements`` and ``segments`` are the codes the store knows; without them codes are
        only checked for their form. Never raises: whatever the link holds, a valid Filter comes
        back, and every way it differs from the link is said in a notice."""
        return _UrlReader(params, nations, agreements, segments).read()


def view_from_url(params: Mapping[str, str] | str) -> tuple[tuple[float, float, int] | None, list[str]]:
    """The map view (lat, lon, zoom) a link asks for, or None, with notices for what was ignored."""
    params = _as_params(params)
    notices: list[str] = []
    got: dict[str, float] = {}
    for key, low, high in (("lat", -85.0, 85.0), ("lon", -180.0, 180.0), ("z", float(MIN_ZOOM), float(MAX_ZOOM))):
        raw = params.get(key)
        if raw is None:
            continue
        value = _number(raw)
        if value is None:
            notices.append(_ignored(key, raw, "not a number"))
        elif not low <= value <= high:
            clamped = min(max(value, low), high)
            notices.append(_corrected(key, raw, _fmt_num(clamped), f"outside {_fmt_num(low)} to {_fmt_num(high)}"))
            got[key] = clamped
        else:
            got[key] = value
    if ("lat" in got) != ("lon" in got):
        key = "lat" if "lat" in got else "lon"
        notices.append(_ignored(key, params[key], "a map centre needs both lat and lon"))
        got.pop(key)
    if "lat" not in got and "z" not in got:
        return None, notices
    lat, lon = (got["lat"], got["lon"]) if "lat" in got else DEFAULT_VIEW[:2]
    z = int(round(got["z"])) if "z" in got else DEFAULT_VIEW[2]
    return (lat, lon, z), notices


DEFAULT_VIEW = (30.0, 20.0, 2)
MIN_ZOOM, MAX_ZOOM = 0, 18
VIEW_KEYS = ("lat", "lon", "z")
FILTER_KEYS = ("v", "nations", "agreements", "scope", "threats", "window", "start", "end", "severity", "bbox", "q",
               "segments", "area")
URL_KEYS = FILTER_KEYS + VIEW_KEYS
MAX_TEXT = 200  # characters of a text search
MAX_AREA_CHARS = 100_000
MAX_AREA_VERTICES = 2000
MIN_YEAR, MAX_YEAR = 1900, 2200  # times outside are refused (and date arithmetic never overflows)
_SHOWN = 60  # characters of a value repeated in a notice
_ISO3 = re.compile(r"^[A-Z]{3}$")
_SEGMENT = re.compile(r"^[A-Z]{3}-[A-Z]{3}$")
_AGREEMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _as_params(params: Mapping[str, str] | str) -> dict[str, str]:
    if isinstance(params, str):
        text = params.strip()
        query = urlsplit(text).query if "?" in text else text
        return dict(parse_qsl(query, keep_blank_values=True))
    return {str(k): ("" if v is None else str(v)) for k, v in params.items()}


def _shown(value: str) -> str:
    value = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)
    return value if len(value) <= _SHOWN else value[:_SHOWN] + f"… ({len(value):,} characters)"


def _non_ascii(value: str) -> str:
    odd = [c for c in value if ord(c) > 126 or not c.isprintable()]
    if not odd:
        return ""
    c = odd[0]
    name = unicodedata.name(c, "")
    return f" (contains {c!r}, U+{ord(c):04X}{' ' + name if name else ''}, not a plain letter)"


def _ignored(key: str, value: str, why: str) -> str:
    return f"ignored {key}={_shown(value)}: {why}"


def _corrected(key: str, value: str, used: str, why: str) -> str:
    return f"read {key}={_shown(value)} as {_shown(used)}: {why}"


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except (ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None


def _fmt_num(value: float) -> str:
    return f"{value:g}"


def _parse_time(raw: str) -> tuple[dt.datetime | None, str]:
    """(naive UTC time, '') or (None, reason)."""
    text = raw.strip()
    if not text:
        return None, "empty"
    if text[-1:] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        reason = str(exc)
        return None, ("not a date-time like 2026-11-01T06:30" if "format" in reason or "Invalid" in reason
                      else f"not a real date-time ({reason})")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None, f"outside the years {MIN_YEAR} to {MAX_YEAR}"
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value, ""


class _UrlReader:
    """Reads one query string into Filter arguments, collecting a notice per departure."""

    def __init__(self, params, nations, agreements, segments):
        self.params = _as_params(params)
        self.known = {"nations": set(nations) if nations is not None else None,
                      "agreements": set(agreements) if agreements is not None else None,
                      "segments": set(segments) if segments is not None else None}
        self.notices: list[str] = []
        self.kwargs: dict[str, Any] = {}

    def note(self, text: str) -> None:
        self.notices.append(text)

    def read(self) -> tuple[Filter, list[str]]:
        p = self.params
        for key, value in p.items():
            if key not in URL_KEYS:
                self.note(_ignored(key, value, "not a parameter of Borderwatch links"))
        if p.get("v", URL_VERSION) != URL_VERSION:
            self.note(f"link version v={_shown(p['v'])} is not {URL_VERSION}: read as version {URL_VERSION}")
        self.codes("nations", "nations", _ISO3, "not a known ISO 3166 alpha-3 code", "all nations", upper=True)
        self.codes("agreements", "agreements", _AGREEMENT, "not a known agreement", "any agreement")
        self.codes("threats", "threat_types", None, "not a threat type (" + ", ".join(THREAT_TYPES) + ")",
                   "all threat types", allowed=set(THREAT_TYPES))
        self.codes("segments", "segments", _SEGMENT, "not a known border segment", "all segments", upper=True)
        self.scope()
        self.window()
        self.severity()
        self.bbox()
        self.text()
        self.area()
        return self.build()

    # -- pieces -------------------------------------------------------------------------------
    def codes(self, key, field, pattern, why, widest, upper=False, allowed=None):
        raw = self.params.get(key)
        if raw is None:
            return
        allowed = allowed if allowed is not None else self.known.get(key)
        kept: list[str] = []
        for item in raw.split(","):
            code = item.strip()
            if not code:
                continue
            wanted = code.upper() if upper and code.isascii() else code
            ok = (wanted in allowed) if allowed is not None else bool(pattern.match(wanted))
            if not ok:
                self.note(_ignored(key, code, why + _non_ascii(code)))
                continue
            if wanted != code:
                self.note(_corrected(key, code, wanted, "codes are upper case"))
            kept.append(wanted)
        if not kept and raw.strip():
            self.note(f"no valid value left in {key}: showing {widest}")
        elif not raw.strip():
            self.note(_ignored(key, raw, f"empty (showing {widest})"))
        self.kwargs[field] = tuple(kept)

    def scope(self):
        raw = self.params.get("scope")
        if raw is None:
            return
        if raw not in SCOPES:
            self.note(_ignored("scope", raw, f"not one of {', '.join(SCOPES)}; showing all borders of members"))
        elif raw != "all" and not self.kwargs.get("agreements"):
            self.note(_ignored("scope", raw, "only applies with an agreement"))
        else:
            self.kwargs["scope"] = raw

    def window(self):
        p = self.params
        raw = p.get("window")
        default = WINDOW_LABELS[Filter.window]
        if raw is None or raw in WINDOWS:
            if raw is not None:
                self.kwargs["window"] = raw
            for key in ("start", "end"):
                if key in p:
                    self.note(_ignored(key, p[key], "only used with window=custom"))
            return
        if raw != "custom":
            self.note(_ignored("window", raw, f"not one of {', '.join([*WINDOWS, 'custom'])}; showing the {default}"))
            return
        times = {}
        for key in ("start", "end"):
            if key not in p:
                self.note(_ignored("window", raw, f"a custom window needs {key}; showing the {default}"))
                return
            value, reason = _parse_time(p[key])
            if value is None:
                self.note(_ignored(key, p[key], f"{reason}; showing the {default}"))
                return
            if value.second or value.microsecond:
                value = value.replace(second=0, microsecond=0)
                self.note(_corrected(key, p[key], f"{value:%Y-%m-%dT%H:%M}", "windows are kept to the minute"))
            times[key] = value
        if times["start"] >= times["end"]:
            self.note(f"ignored start={_shown(p['start'])} and end={_shown(p['end'])}: the end is not after the "
                      f"start; showing the {default}")
            return
        self.kwargs.update(window="custom", start=times["start"], end=times["end"])

    def severity(self):
        raw = self.params.get("severity")
        if raw is None:
            return
        if raw.strip() in {str(k) for k in SEVERITY_LABELS}:
            self.kwargs["min_severity"] = int(raw.strip())
        else:
            self.note(_ignored("severity", raw, "not 1, 2, 3 or 4; showing every severity"))

    def bbox(self):
        raw = self.params.get("bbox")
        if raw is None:
            return
        values = [_number(v) for v in raw.split(",")]
        if len(values) != 4 or None in values:
            self.note(_ignored("bbox", raw, "not four numbers west,south,east,north; showing everywhere"))
            return
        w, s, e, n = values
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            self.note(_ignored("bbox", raw, "needs -180 <= west < east <= 180 and -90 <= south < north <= 90; "
                                            "showing everywhere"))
            return
        self.kwargs["bbox"] = (w, s, e, n)

    def text(self):
        raw = self.params.get("q")
        if raw is None:
            return
        text = "".join(c for c in raw if c.isprintable() or c == " ").strip()
        if text != raw.strip():
            self.note(_corrected("q", raw, text, "control characters removed"))
        if len(text) > MAX_TEXT:
            self.note(_corrected("q", raw, text[:MAX_TEXT], f"a text search is at most {MAX_TEXT} characters"))
            text = text[:MAX_TEXT]
        self.kwargs["text"] = text

    def area(self):
        raw = self.params.get("area")
        if raw is None:
            return
        if len(raw) > MAX_AREA_CHARS:
            self.note(_ignored("area", raw, f"longer than {MAX_AREA_CHARS:,} characters; showing everywhere"))
            return
        try:
            self.kwargs["area_wkt"] = _valid_area(raw)
        except ValueError as exc:
            self.note(_ignored("area", raw, f"{exc}; showing everywhere"))

    def build(self) -> tuple[Filter, list[str]]:
        try:
            return Filter(**self.kwargs), self.notices
        except (ValueError, TypeError) as exc:  # a combination the pieces did not foresee
            self.note(f"ignored the whole link: {exc}")
            return Filter(), self.notices


def _valid_area(wkt: str) -> str:
    """The area as normalised WKT, if it is a valid lon/lat polygon; else ValueError."""
    import shapely

    try:
        geom = shapely.from_wkt(wkt)
    except Exception as exc:  # shapely raises its own GEOSException for malformed text
        raise ValueError(f"area is not valid WKT: {exc}") from None
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValueError("area must be a polygon")
    w, s, e, n = geom.bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ValueError("area must be in longitude/latitude")
    if shapely.get_num_coordinates(geom) > MAX_AREA_VERTICES:
        raise ValueError(f"area has more than {MAX_AREA_VERTICES:,} vertices")
    if not geom.is_valid:
        raise ValueError("area polygon is not valid (self-intersecting?)")
    if geom.area <= 0:
        raise ValueError("area is empty")
    return shapely.to_wkt(geom, rounding_precision=6)


def area_box(wkt: str) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) when the area is a plain lon/lat rectangle, else None."""
    import shapely

    geom = shapely.from_wkt(wkt)
    if geom.geom_type != "Polygon" or len(geom.interiors) or len(geom.exterior.coords) != 5:
        return None
    box = geom.bounds
    return box if abs(shapely.box(*box).area - geom.area) < 1e-12 else None


def _box_words(box) -> str:
    w, s, e, n = box
    return f"west {w:g}, south {s:g}, east {e:g}, north {n:g}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
