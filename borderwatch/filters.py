"""The one Filter: what the user asked to see, as SQL (bound parameters), as words, as a URL.

Every layer, table, chart and export is computed from a ``Filter``; it turns into a SQL
predicate here and nowhere else, so access rules (what a viewer may see) have one place to go.
No user value is ever formatted into SQL text: values travel as ``$f_*`` parameters.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from typing import Any, Iterable, Mapping

from borderwatch.domain import SEVERITY_LABELS, THREAT_LABELS, THREAT_TYPES  # noqa: F401  (words the Filter checks)

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
    step: str = ""  # time playback: "", "1h", "6h" or "1d" (borderwatch/playback.py)
    step_at: dt.datetime | None = None  # start of the step shown (aligned); None: the latest step

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
            object.__setattr__(self, "area_wkt", valid_area(self.area_wkt))
        self._check_step()

    def _check_step(self) -> None:
        from borderwatch import playback

        if self.step:
            playback.check_step(self.step)
        if self.step_at is None:
            return
        if not self.step:
            raise ValueError("a step time needs a step (1h, 6h or 1d)")
        at = self.step_at
        if at.tzinfo is not None:
            at = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if not MIN_YEAR <= at.year <= MAX_YEAR:
            raise ValueError(f"the step time must lie in the years {MIN_YEAR} to {MAX_YEAR}")
        if not playback.aligned(at, self.step):
            raise ValueError(f"a {self.step} step starts at {playback.floor(at, self.step):%Y-%m-%d %H:%M}, "
                             f"not {at:%Y-%m-%d %H:%M}")
        object.__setattr__(self, "step_at", at)

    # -- time ---------------------------------------------------------------------------
    def time_range(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """The time the filter shows: its window, narrowed to the playback step if there is one."""
        window = self.window_range(now)
        if not self.step:
            return window
        from borderwatch import playback

        return playback.step_range(self.step_at, window, self.step)

    def window_range(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """The whole window, whatever the step."""
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
        start, end = self.window_range(now)
        if self.window == "custom":
            when = f"{start:%Y-%m-%d %H:%MZ} to {end:%Y-%m-%d %H:%MZ}"
        else:
            when = f"{WINDOW_LABELS[self.window]} ({start:%Y-%m-%d %H:%MZ} to {end:%Y-%m-%d %H:%MZ})"
        if self.step:
            from borderwatch.playback import STEP_NAMES

            s0, s1 = self.time_range(now)
            when = f"{s0:%Y-%m-%d %H:%MZ} to {s1:%Y-%m-%d %H:%MZ} (a {STEP_NAMES[self.step]} step of the {when})"
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
        if self.step:
            bits.append(f"step{self.step}" + (f"-{self.step_at:%Y%m%dT%H%M}" if self.step_at else ""))
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
        if self.step:
            out["step"] = self.step
        if self.step_at is not None:
            out["at"] = self.step_at.strftime("%Y-%m-%dT%H:%M")
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
        from borderwatch import links

        return links.read(params, nations=nations, agreements=agreements, segments=segments)


MIN_YEAR, MAX_YEAR = 1900, 2200  # times outside are refused (and date arithmetic never overflows)
MAX_AREA_VERTICES = 2000


def valid_area(wkt: str) -> str:
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
