"""Reading links: the query string of a shared address into a Filter and a map view, with one
notice per value that was ignored or corrected. ``Filter.from_url`` is the entry point.

Whatever a link holds — empty, very long, NaN or infinite numbers, unknown or look-alike codes,
SQL, Markdown — reading it never raises and never widens what is shown without a notice saying so.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from borderwatch.filters import (
    MAX_YEAR, MIN_YEAR, SCOPES, SEVERITY_LABELS, THREAT_TYPES, URL_VERSION, WINDOW_LABELS, WINDOWS, Filter,
    valid_area,
)
from borderwatch import playback
from borderwatch.playback import STEP_ALIGN, STEP_NAMES, STEPS


DEFAULT_VIEW = (30.0, 20.0, 2)
MIN_ZOOM, MAX_ZOOM = 0, 18
VIEW_KEYS = ("lat", "lon", "z")
FILTER_KEYS = ("v", "nations", "agreements", "scope", "threats", "window", "start", "end", "severity", "bbox", "q",
               "segments", "area", "step", "at")
SYMBOLS_KEY = "symbols"  # how the map draws points: absent (plain) or 2525 (military symbols)
SYMBOLS = {"2525": "military"}
DISPLAY_KEYS = ("theme",)  # how the screen looks, not what it shows
THEMES = ("light", "dark")
URL_KEYS = FILTER_KEYS + VIEW_KEYS + DISPLAY_KEYS + (SYMBOLS_KEY,)
MAX_TEXT = 200  # characters of a text search
MAX_AREA_CHARS = 100_000
_SHOWN = 60  # characters of a value repeated in a notice
_ISO3 = re.compile(r"^[A-Z]{3}$")
_SEGMENT = re.compile(r"^[A-Z]{3}-[A-Z]{3}$")
_AGREEMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def read(params: Mapping[str, str] | str, *, nations: Iterable[str] | None = None,
         agreements: Iterable[str] | None = None, segments: Iterable[str] | None = None) -> tuple[Filter, list[str]]:
    """See ``Filter.from_url``."""
    return _UrlReader(params, nations, agreements, segments).read()


def read_for_store(params: Mapping[str, str] | str, store) -> tuple[Filter, tuple[float, float, int] | None, list[str]]:
    """A link read against the codes ``store`` knows: its Filter, its map view and every notice.
    The command line's reader (``export``, ``brief``); the app reads links the same way."""
    import queries

    nations = [code for code, _ in queries.rows("nation_names", store=store)]
    agreements = [code for code, _ in queries.rows("agreement_names", store=store)]
    segments = [row[0] for row in queries.rows("segment_choices", Filter(), store=store)]
    flt, notices = read(params, nations=nations, agreements=agreements, segments=segments)
    view, view_notices = view_from_url(params)
    return flt, view, notices + view_notices


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
            notices.append(_ignored(key, raw, "not a finite number"))
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


def symbols_from_url(params: Mapping[str, str] | str) -> tuple[str, list[str]]:
    """How the link asks the map to draw points: "plain" or "military" (``symbols=2525``)."""
    raw = _as_params(params).get(SYMBOLS_KEY)
    if raw is None:
        return "plain", []
    if raw.strip().upper() in ("2525", "APP6", "APP-6", "MIL"):
        return "military", []
    return "plain", [_ignored(SYMBOLS_KEY, raw, "not 2525 (military symbols); showing plain symbols")]


def symbols_param(mode: str) -> dict[str, str]:
    """The link's parameter for a symbol mode (none for plain symbols)."""
    return {SYMBOLS_KEY: "2525"} if mode == "military" else {}


def theme_from_url(params: Mapping[str, str] | str) -> tuple[str, list[str]]:
    """The display theme a link asks for ("light" when none), with a notice for a value ignored."""
    raw = _as_params(params).get("theme")
    if raw is None or raw in THEMES:
        return raw or THEMES[0], []
    return THEMES[0], [_ignored("theme", raw, f"not one of {', '.join(THEMES)}; showing the light display")]


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
        self.step()
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
            self.kwargs["area_wkt"] = valid_area(raw)
        except ValueError as exc:
            self.note(_ignored("area", raw, f"{exc}; showing everywhere"))

    def step(self):
        """Playback step (``step=6h``) and the step shown (``at=2026-12-01T06:00``, its start)."""
        p = self.params
        raw, at_raw = p.get("step"), p.get("at")
        if raw is not None and raw not in STEPS:
            self.note(_ignored("step", raw, f"not one of {', '.join(STEPS)}; showing the whole window"))
            raw = None
        if raw is None:
            if at_raw is not None:
                self.note(_ignored("at", at_raw, "only used with a step (step=1h, 6h or 1d)"))
            return
        self.kwargs["step"] = raw
        if at_raw is None:
            return
        at, reason = _parse_time(at_raw)
        if at is None:
            self.note(_ignored("at", at_raw, f"{reason}; showing the latest step"))
            return
        start = playback.floor(at, raw)
        if start != at:
            self.note(_corrected("at", at_raw, f"{start:%Y-%m-%dT%H:%M}",
                                 f"{STEP_NAMES[raw]} steps start {STEP_ALIGN[raw]}"))
        self.kwargs["step_at"] = start

    def step_outside(self, flt: Filter) -> Filter:
        """A step time the window no longer holds (a relative window has moved on): the latest step."""
        if flt.step_at is None or playback.inside(flt.step_at, flt.window_range(), flt.step):
            return flt
        self.note(_ignored("at", self.params["at"], f"outside the {WINDOW_LABELS[flt.window]} window; "
                                                    "showing the latest step"))
        return flt.replace(step_at=None)

    def build(self) -> tuple[Filter, list[str]]:
        try:
            return self.step_outside(Filter(**self.kwargs)), self.notices
        except (ValueError, TypeError) as exc:  # a combination the pieces did not foresee
            self.note(f"ignored the whole link: {exc}")
            return Filter(), self.notices
