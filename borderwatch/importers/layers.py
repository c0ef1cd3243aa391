"""Validating rows for each Borderwatch layer, and writing accepted records to the store.

Every builder takes the mapped values (``Context``) and WGS 84 geometries and returns the
normalised records plus, per row, every reason it cannot be imported. Writing happens in
``write``, inside one store transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import Geod

import queries
from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.filters import THREAT_TYPES

GEOD = Geod(ellps="WGS84")
MAX_RANGE_M = 500_000.0
EARLIEST_BUILT = 1800


@dataclasses.dataclass
class Context:
    layer: str
    n: int
    values: dict[str, list[Any]]  # target -> value per row (None = missing)
    labels: dict[str, str]  # target -> column (or preset rule) named in errors
    geoms: np.ndarray  # WGS 84 shapely geometries (None where missing or rejected)
    attrs: pd.DataFrame  # the file's columns (OSM tags etc.)
    nations: vals.Nations
    precision: list[str | None] | None = None  # from a preset
    threat_map: dict[str, str] | None = None
    date_format: str | None = None
    date_order: tuple[str | None, str | None] | None = None  # file-wide reading of a/b/yyyy dates
    now: dt.datetime | None = None
    source: str = ""
    errors: list[tuple[int, str | None, str, Any]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    failed: set[int] = dataclasses.field(default_factory=set)
    # counted observations, summed over chunks and worded once by ``messages``
    tally: dict[str, int] = dataclasses.field(default_factory=dict)
    samples: dict[str, set] = dataclasses.field(default_factory=dict)

    def count(self, key: str, n: int, values: Iterable[Any] = ()) -> None:
        if n:
            self.tally[key] = self.tally.get(key, 0) + int(n)
        found = {v for v in values if v}
        if found:
            self.samples.setdefault(key, set()).update(found)

    def get(self, target: str) -> list[Any]:
        return self.values.get(target) or [None] * self.n

    def has(self, target: str) -> bool:
        return target in self.values

    def label(self, target: str) -> str:
        return self.labels.get(target, target)

    def fail(self, pos: int, target: str | None, reason: str, value: Any = None) -> None:
        field = self.label(target) if target else None
        self.errors.append((pos, field, reason, value))
        self.failed.add(pos)

    def require(self, target: str) -> bool:
        if self.has(target):
            return True
        self.errors.append((-1, target, f"no column gives {target} (map one with --map {target}=COLUMN or set one "
                                        f"value for all rows with --set {target}=VALUE)", None))
        return False


def _short(value: Any) -> str | None:
    s = vals._text(value)
    return None if s is None else (s if len(s) <= 80 else s[:77] + "...")


# -- shared field parsers -------------------------------------------------------------------
def nation_codes(ctx: Context, target: str) -> list[str | None]:
    out = []
    for i, v in enumerate(ctx.get(target)):
        if vals._text(v) is None:
            out.append(None)
            continue
        code = ctx.nations.code(v)
        if code is None:
            ctx.fail(i, target, f"unknown nation code {vals._text(v)!r} (use ISO 3166-1 alpha-3 such as FRA, "
                                "alpha-2, numeric, or the English name)", v)
        out.append(code)
    return out


def texts(ctx: Context, target: str, default: str | None = None) -> list[str | None]:
    return [vals._text(v) or default for v in ctx.get(target)]


def points(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """lon / lat of point rows; other geometry types are rejected."""
    lon = np.full(ctx.n, np.nan)
    lat = np.full(ctx.n, np.nan)
    for i, g in enumerate(ctx.geoms):
        if g is None:
            continue
        kind = g.geom_type
        if kind == "MultiPoint" and len(g.geoms) == 1:
            g = g.geoms[0]
            kind = "Point"
        if kind == "GeometryCollection" and len(g.geoms) == 1 and g.geoms[0].geom_type == "Point":
            g = g.geoms[0]
            kind = "Point"
        if kind != "Point":
            what = f"{len(g.geoms)} points" if kind == "MultiPoint" else kind
            ctx.fail(i, "geometry", f"{ctx.layer} are points; this row has a {what}", kind)
            continue
        lon[i], lat[i] = g.x, g.y
    return lon, lat


# -- incidents ------------------------------------------------------------------------------
def build_incidents(ctx: Context) -> pd.DataFrame:
    lon, lat = points(ctx)
    have_date = ctx.require("occurred_at")
    have_threat = ctx.require("threat_type")
    n = ctx.n
    occurred = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    precision = np.full(n, None, dtype=object)
    if have_date:
        raw = ctx.get("occurred_at")
        parsed = vals.parse_dates(raw, date_format=ctx.date_format, now=ctx.now, order=ctx.date_order)
        for i, reason in parsed.errors.items():
            ctx.fail(i, "occurred_at", reason, raw[i])
        for i in np.flatnonzero(np.isnat(parsed.values)):
            if i not in parsed.errors:
                ctx.fail(int(i), "occurred_at", "missing date (required)")
        occurred, precision = parsed.values, parsed.precision
        ctx.count("naive_times", parsed.naive)
    if ctx.precision is not None:  # a preset knows the source's own precision
        precision = np.array([p or q for p, q in zip(ctx.precision, precision)], dtype=object)
    if ctx.has("time_precision"):
        for i, v in enumerate(ctx.get("time_precision")):
            s = vals._text(v)
            if s is None:
                continue
            p = s.lower()
            if p not in vals.PRECISIONS:
                ctx.fail(i, "time_precision", f"time precision {s!r} is not one of {', '.join(vals.PRECISIONS)}", v)
            elif precision[i] and vals.PRECISIONS.index(p) < vals.PRECISIONS.index(precision[i]):
                ctx.fail(i, "time_precision", f"time precision {p!r} is finer than the date gives ({precision[i]})", v)
            else:
                precision[i] = p
    occurred = _truncate(occurred, precision)
    threats: list[str | None] = [None] * n
    if have_threat:
        raw = ctx.get("threat_type")
        found = vals.lookup(raw, mp.THREATS, ctx.threat_map)
        for i, (v, t) in enumerate(zip(raw, found)):
            if vals._text(v) is None:
                ctx.fail(i, "threat_type", "missing threat type (required)")
            elif t is None or t not in THREAT_TYPES:
                ctx.fail(i, "threat_type", f"unknown threat type {vals._text(v)!r} (Borderwatch types: "
                                           f"{', '.join(THREAT_TYPES)}; map values with --threat VALUE=TYPE)", v)
            threats[i] = t
    severity = _severity(ctx)
    confidence = _confidence(ctx)
    err_m, errs = vals.parse_numbers(ctx.get("location_error_m"), what="distance in metres")
    for i, r in errs.items():
        ctx.fail(i, "location_error_m", r, ctx.get("location_error_m")[i])
    for i in np.flatnonzero(err_m < 0):
        ctx.fail(int(i), "location_error_m", "location error cannot be negative", err_m[i])
    return pd.DataFrame({
        "_pos": np.arange(n),
        "occurred_at": occurred,
        "time_precision": precision,
        "threat_type": threats,
        "severity": severity,
        "confidence": confidence,
        "reporting_nation": nation_codes(ctx, "reporting_nation"),
        "source": texts(ctx, "source", ctx.source),
        "description": [s or "" for s in texts(ctx, "description")],
        "lon": lon,
        "lat": lat,
        "location_error_m": err_m,
    })


def _truncate(stamps: np.ndarray, precision: np.ndarray) -> np.ndarray:
    out = stamps.copy()
    for unit, p in (("D", "day"), ("M", "month"), ("Y", "year")):
        m = precision == p
        if m.any():
            out[m] = stamps[m].astype(f"datetime64[{unit}]").astype("datetime64[us]")
    return out


def _severity(ctx: Context) -> np.ndarray:
    out = np.full(ctx.n, 2, dtype=np.int8)
    if not ctx.has("severity"):
        return out
    for i, v in enumerate(ctx.get("severity")):
        s = vals._text(v)
        if s is None:
            continue
        word = vals.norm_word(s)
        if word in mp.SEVERITY_WORDS:
            out[i] = mp.SEVERITY_WORDS[word]
            continue
        try:
            x = float(s)
        except ValueError:
            x = None
        if x is None or not x.is_integer() or not 1 <= x <= 4:
            ctx.fail(i, "severity", f"severity {s!r} is not 1-4 or low / moderate / high / critical", v)
        else:
            out[i] = int(x)
    return out


def _confidence(ctx: Context) -> np.ndarray:
    out = np.full(ctx.n, 0.5, dtype=np.float32)
    if not ctx.has("confidence"):
        return out
    for i, v in enumerate(ctx.get("confidence")):
        s = vals._text(v)
        if s is None:
            continue
        pct = s.endswith("%")
        try:
            x = float(s.rstrip("%").strip())
        except ValueError:
            x = float("nan")
        if pct:
            x /= 100
        if not 0 <= x <= 1:
            ctx.fail(i, "confidence", f"confidence {s!r} is not between 0 and 1 (or a percentage such as 80%)", v)
        else:
            out[i] = x
    return out


# -- fortifications -------------------------------------------------------------------------
def build_fortifications(ctx: Context) -> pd.DataFrame:
    kinds = _fortification_kinds(ctx)
    names = texts(ctx, "name")
    conditions = vals.lookup(ctx.get("condition"), mp.CONDITIONS)
    odd = [vals._text(v) for v, c in zip(ctx.get("condition"), conditions) if c is None and vals._text(v)]
    ctx.count("odd_condition", len(odd), odd)
    years = _years(ctx)
    nations = nation_codes(ctx, "nation")
    rows = []
    for i, g in enumerate(ctx.geoms):
        if g is None:
            continue
        parts = list(g.geoms) if g.geom_type == "GeometryCollection" else [g]
        bad = [p.geom_type for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
        if bad:
            ctx.fail(i, "geometry", f"a {bad[0]} is not a fortification: draw walls and fences as lines and posts, "
                                    "gates and towers as points", bad[0])
            continue
        for k, part in enumerate(parts):
            if part.geom_type in ("LineString", "MultiLineString") and not part.is_valid:
                ctx.fail(i, "geometry", f"{part.geom_type} has zero length or fewer than two distinct points")
                break
            rows.append({"_pos": i, "_part": k + 1 if len(parts) > 1 else 0, "kind": kinds[i], "name": names[i],
                         "condition": conditions[i], "year_built": years[i], "nation": nations[i], "geometry": part})
    return pd.DataFrame(rows, columns=["_pos", "_part", "kind", "name", "condition", "year_built", "nation", "geometry"])


def _attr(ctx: Context, name: str) -> list[Any]:
    col = next((c for c in ctx.attrs.columns if str(c).lower() == name), None)
    return [None] * ctx.n if col is None else ctx.attrs[col].tolist()


def _fortification_kinds(ctx: Context) -> list[str]:
    given = vals.lookup(ctx.get("kind"), mp.KINDS)
    tags = {key: [vals._text(v) for v in _attr(ctx, key)] for key, _, _ in mp.OSM_KIND_RULES}
    vehicle = [[vals._text(v) for v in _attr(ctx, key)] for key in mp.OSM_VEHICLE_TAGS]
    kinds, unknown_values, unknown_rows = [], set(), 0
    osm_used = 0
    for i in range(ctx.n):
        kind = given[i]
        if kind is None:
            for key, values_, target in mp.OSM_KIND_RULES:
                if (tags[key][i] or "").lower() in values_:
                    kind = target
                    osm_used += 1
                    break
            if kind == "fence" and any((v[i] or "").lower() == "vehicle" for v in vehicle):
                kind = "vehicle_barrier"
        if kind is None:
            raw = vals._text(ctx.get("kind")[i])
            if raw:
                unknown_values.add(raw)
            unknown_rows += 1
            kind = "other"
        kinds.append(kind)
    ctx.count("osm_kind", osm_used)
    ctx.count("no_kind", unknown_rows, unknown_values)
    return kinds


def _years(ctx: Context) -> list[int | None]:
    out: list[int | None] = []
    this_year = (ctx.now or dt.datetime.now()).year
    for i, v in enumerate(ctx.get("year_built")):
        s = vals._text(v)
        if s is None:
            out.append(None)
            continue
        m = re.match(r"^\s*~?(\d{4})", s)
        year = int(m.group(1)) if m else None
        if year is None or not EARLIEST_BUILT <= year <= this_year + 1:
            ctx.fail(i, "year_built", f"year built {s!r} is not a year between {EARLIEST_BUILT} and {this_year + 1}", v)
            out.append(None)
        else:
            out.append(year)
    return out


# -- sensors --------------------------------------------------------------------------------
def build_sensors(ctx: Context) -> pd.DataFrame:
    from borderwatch.scenario import SENSOR_TYPES as TYPE_DEFAULTS

    lon, lat = points(ctx)
    n = ctx.n
    raw_types = ctx.get("sensor_type")
    found = vals.lookup(raw_types, mp.SENSOR_TYPES)
    odd = [vals._text(v) for v, t in zip(raw_types, found) if t is None and vals._text(v)]
    missing_type = sum(1 for v in raw_types if vals._text(v) is None)
    types = [t or "other" for t in found]
    ctx.count("no_sensor_type", len(odd) + missing_type, odd)
    rng_m, e1 = vals.parse_distances(ctx.get("range_m"), 1.0)
    rng_km, e2 = vals.parse_distances(ctx.get("range_km"), 1000.0)
    for i, r in e1.items():
        ctx.fail(i, "range_m", r, ctx.get("range_m")[i])
    for i, r in e2.items():
        ctx.fail(i, "range_km", r, ctx.get("range_km")[i])
    rng = np.where(np.isnan(rng_m), rng_km, rng_m)
    defaulted = 0
    for i in range(n):
        if np.isnan(rng[i]) and i not in e1 and i not in e2:
            spec = TYPE_DEFAULTS.get(types[i])
            if spec is None:
                ctx.fail(i, "range_m", "no range: give range_m or range_km (the type does not imply one)")
                continue
            rng[i] = (spec[1][0] + spec[1][1]) / 2
            defaulted += 1
        elif not np.isnan(rng[i]) and not 0 < rng[i] <= MAX_RANGE_M:
            target = "range_m" if not np.isnan(rng_m[i]) else "range_km"
            ctx.fail(i, target, f"range {rng[i]:,.0f} m is not between 0 and {MAX_RANGE_M / 1000:.0f} km", rng[i])
    ctx.count("range_default", defaulted)
    if ctx.has("range_m") and not ctx.has("range_km") and ctx.label("range_m").lower() in ("range", "radius"):
        plain = rng_m[~np.isnan(rng_m)]
        ctx.count("plain_ranges", len(plain))
        ctx.count("plain_ranges_over_100m", int((plain >= 100).sum()))
    az, e3 = vals.parse_numbers(ctx.get("azimuth_deg"), what="bearing in degrees")
    for i, r in e3.items():
        ctx.fail(i, "azimuth_deg", r, ctx.get("azimuth_deg")[i])
    for i in np.flatnonzero(np.abs(np.nan_to_num(az)) > 360):
        ctx.fail(int(i), "azimuth_deg", f"azimuth {az[i]:g} is not between -360 and 360 degrees", az[i])
    az = np.where(np.isnan(az), 0.0, np.mod(az, 360.0))
    fov, e4 = vals.parse_numbers(ctx.get("fov_deg"), what="angle in degrees")
    for i, r in e4.items():
        ctx.fail(i, "fov_deg", r, ctx.get("fov_deg")[i])
    for i in range(n):
        if np.isnan(fov[i]):
            spec = TYPE_DEFAULTS.get(types[i])
            fov[i] = (spec[2] or 360.0) if spec else 360.0
        elif fov[i] == 0:
            fov[i] = 360.0
        elif not 0 < fov[i] <= 360:
            ctx.fail(i, "fov_deg", f"field of view {fov[i]:g} is not between 0 and 360 degrees (0 or 360 = all round)",
                     fov[i])
    statuses = vals.lookup(ctx.get("status"), mp.STATUSES)
    no_status = 0
    for i, (v, s) in enumerate(zip(ctx.get("status"), statuses)):
        if vals._text(v) is None:
            statuses[i] = "online"
            no_status += 1
        elif s is None:
            ctx.fail(i, "status", f"unknown status {vals._text(v)!r} (online, degraded or offline)", v)
    ctx.count("no_status", no_status)
    return pd.DataFrame({
        "_pos": np.arange(n), "sensor_type": types, "name": texts(ctx, "name"), "status": statuses,
        "lon": lon, "lat": lat, "range_m": rng, "azimuth_deg": az, "fov_deg": fov,
        "nation": nation_codes(ctx, "nation"),
    })


# -- borders --------------------------------------------------------------------------------
_PAIR_SEPARATORS = (r"\s*[/|;,–—]\s*", r"\s+-\s+", r"\s+and\s+", r"\s*-\s*")


def _pair(ctx: Context, value: Any) -> tuple[str, str] | None:
    s = vals._text(value)
    if s is None:
        return None
    for sep in _PAIR_SEPARATORS:
        parts = [p for p in re.split(sep, s) if p]
        if len(parts) == 2:
            a, b = ctx.nations.code(parts[0]), ctx.nations.code(parts[1])
            if a and b:
                return a, b
    return None


def build_borders(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    a_codes = nation_codes(ctx, "nation_a") if ctx.has("nation_a") else [None] * ctx.n
    b_codes = nation_codes(ctx, "nation_b") if ctx.has("nation_b") else [None] * ctx.n
    own = nation_codes(ctx, "nation") if ctx.has("nation") else [None] * ctx.n
    names = texts(ctx, "name")
    pairs = ctx.get("pair")
    lines, polys = [], []
    repaired = []
    for i, g in enumerate(ctx.geoms):
        if g is None:
            continue
        parts = list(g.geoms) if g.geom_type == "GeometryCollection" else [g]
        types = {p.geom_type.replace("Multi", "") for p in parts}
        if "Point" in types:
            ctx.fail(i, "geometry", "points cannot be borders: give lines (a border between two nations) or polygons "
                                    "(a nation's outline)", g.geom_type)
            continue
        if types == {"LineString"}:
            a, b = a_codes[i], b_codes[i]
            if (a is None or b is None) and ctx.has("pair"):
                found = _pair(ctx, pairs[i])
                if found:
                    a, b = found
                elif vals._text(pairs[i]):
                    ctx.fail(i, "pair", f"{vals._text(pairs[i])!r} does not name two known nations (e.g. 'MEX-USA')",
                             pairs[i])
                    continue
            if a is None or b is None:
                if i in ctx.failed:
                    continue  # an unknown code was already reported
                ctx.fail(i, "nation_a", "a border line needs the nations on both sides (map nation_a and nation_b, or a "
                                        "pair column such as 'MEX-USA')")
                continue
            if a == b:
                ctx.fail(i, "nation_b", f"both sides of the border are {a}", b)
                continue
            line = shapely.line_merge(shapely.union_all(parts)) if len(parts) > 1 else g
            if line.is_empty or not line.is_valid or shapely.length(line) == 0:
                ctx.fail(i, "geometry", "line has zero length or fewer than two distinct points")
                continue
            lo, hi = sorted((a, b))
            lines.append({"_pos": i, "segment_id": f"{lo}-{hi}", "nation_a": lo, "nation_b": hi, "geometry": line})
        elif types == {"Polygon"}:
            code = own[i] or (a_codes[i] if not ctx.has("nation") and not ctx.has("nation_b") else None)
            if code is None:
                if i not in ctx.failed:
                    ctx.fail(i, "nation", "a nation outline needs its nation code (map a column with --map nation=COLUMN)")
                continue
            poly = shapely.union_all(parts) if len(parts) > 1 else g
            if not poly.is_valid:
                fixed = shapely.make_valid(poly, method="structure", keep_collapsed=False)
                fixed = _polygonal(fixed)
                if fixed is None or fixed.is_empty:
                    ctx.fail(i, "geometry", f"invalid polygon ({shapely.is_valid_reason(poly)}) that cannot be repaired "
                                            "without losing its area")
                    continue
                repaired.append(i)
                poly = fixed
            polys.append({"_pos": i, "iso3": code, "name": names[i], "geometry": poly})
        else:
            ctx.fail(i, "geometry", f"mixes {' and '.join(sorted(types))}: give lines and polygons as separate features")
    ctx.count("repaired", len(repaired))
    cols_l = ["_pos", "segment_id", "nation_a", "nation_b", "geometry"]
    cols_p = ["_pos", "iso3", "name", "geometry"]
    return pd.DataFrame(lines, columns=cols_l), pd.DataFrame(polys, columns=cols_p)


def _values_text(values: set) -> str:
    return f" (values {', '.join(sorted(map(repr, values))[:10])})" if values else ""


def messages(tally: dict[str, int], samples: dict[str, set]) -> tuple[list[str], dict[str, str]]:
    """Warnings and details worded once for the whole file from the chunks' tallies."""
    t = lambda key: tally.get(key, 0)  # noqa: E731
    warnings, details = [], {}
    if t("naive_times"):
        warnings.append(f"{t('naive_times'):,} time(s) had no time zone and were read as UTC")
    if t("odd_condition"):
        warnings.append(f"{t('odd_condition'):,} condition value(s) not understood, recorded as unknown"
                        f"{_values_text(samples.get('odd_condition', set()))}")
    if t("osm_kind"):
        details["kind from OpenStreetMap tags"] = f"{t('osm_kind'):,} row(s)"
    if t("no_kind"):
        warnings.append(f"{t('no_kind'):,} row(s) have no recognisable fortification kind"
                        f"{_values_text(samples.get('no_kind', set()))}: recorded as 'other' "
                        "(set one with --set kind=fence or map a column with --map kind=COLUMN)")
    if t("no_sensor_type"):
        warnings.append(f"{t('no_sensor_type'):,} sensor(s) have no recognisable type"
                        f"{_values_text(samples.get('no_sensor_type', set()))}: recorded as 'other'")
    if t("range_default"):
        warnings.append(f"{t('range_default'):,} sensor(s) without a range got their type's typical range")
    if t("plain_ranges") and not t("plain_ranges_over_100m"):
        warnings.append("every range is under 100 m: plain 'range' numbers are metres; if they are kilometres "
                        "map the column as range_km")
    if t("no_status"):
        warnings.append(f"{t('no_status'):,} sensor(s) without a status were recorded as online")
    if t("repaired"):
        warnings.append(f"{t('repaired'):,} invalid polygon(s) were repaired (self-intersections resolved without "
                        "dropping area)")
    return warnings, details


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [p for p in geom.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts) if parts else None
    return None


def group_borders(lines: pd.DataFrame, polys: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One segment per nation pair (lines merged, geodesic length) and one outline per nation."""
    segs = []
    for sid, grp in lines.groupby("segment_id", sort=True):
        merged = shapely.line_merge(shapely.union_all(list(grp.geometry)))
        if merged.geom_type == "LineString":
            merged = shapely.MultiLineString([merged])
        segs.append({"segment_id": sid, "nation_a": grp.nation_a.iloc[0], "nation_b": grp.nation_b.iloc[0],
                     "length_km": GEOD.geometry_length(merged) / 1000.0, "geometry": merged, "source": source,
                     "rows": len(grp)})
    outlines = []
    for code, grp in polys.groupby("iso3", sort=True):
        geom = shapely.union_all(list(grp.geometry))
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        names = {n for n in grp.name if n}
        name = names.pop() if len(names) == 1 else None  # several names: parts of the nation, not its name
        outlines.append({"iso3": code, "name": name, "geometry": geom, "source": source, "rows": len(grp)})
    return (pd.DataFrame(segs, columns=["segment_id", "nation_a", "nation_b", "length_km", "geometry", "source", "rows"]),
            pd.DataFrame(outlines, columns=["iso3", "name", "geometry", "source", "rows"]))


# -- ids ------------------------------------------------------------------------------------
def content_hashes(records: pd.DataFrame, fields: list[str], geometries: np.ndarray | None) -> list[str]:
    """A hash of each normalised record (fields and geometry rounded to 1e-7 degrees)."""
    n = len(records)
    parts = [pd.Series([f"{f}="] * n, index=records.index, dtype=object) + _canon_series(records[f]) for f in fields]
    if geometries is not None:
        rounded = shapely.transform(np.asarray(geometries, dtype=object), lambda c: np.round(c, 7))
        parts.append(pd.Series(shapely.to_wkb(rounded, hex=True), index=records.index, dtype=object))
    if not parts:
        return [hashlib.sha1(b"").hexdigest()] * n
    joined = parts[0].str.cat(parts[1:], sep="\x1f") if len(parts) > 1 else parts[0]
    return [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in joined]


def _canon_series(col: pd.Series) -> pd.Series:
    if col.dtype.kind in "fiu":
        text = pd.Series(np.round(col.to_numpy(dtype=float), 7), index=col.index).astype(str)
        return text.where(col.notna(), "").astype(object)
    return col.astype(str).where(col.notna(), "").astype(object)


# -- writing --------------------------------------------------------------------------------
def _strings(values) -> pa.Array:
    return pa.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], pa.string())


def _stage(cur, table: pa.Table, name: str = "staged") -> None:
    cur.register(name, table)


def prepare_incidents(store, records: pd.DataFrame, dataset: str) -> pa.Table:
    """Store rows for accepted incidents (H3 cell, nearest segment, agreements: ``ingest``)."""
    from borderwatch import ingest

    cols = ["incident_id", "occurred_at", "time_precision", "threat_type", "severity", "confidence",
            "reporting_nation", "source", "description", "lon", "lat", "location_error_m"]
    frame = records[cols].copy()
    frame["location_error_m"] = frame["location_error_m"].astype("float32")
    return ingest.prepare_incidents(frame, store, dataset=dataset)


def write_incidents(store, cur, table: pa.Table, dataset: str, replace: bool) -> dict[str, int]:
    return _insert(store, cur, "incidents", "import_incidents", table, dataset, replace)


def write_fortifications(store, cur, records: pd.DataFrame, dataset: str, replace: bool, locate) -> dict[str, int]:
    from borderwatch import ingest

    geoms = np.asarray(records.geometry.values, dtype=object)
    rep = _representative(geoms)
    near = ingest.locator(store).nearest(rep[:, 0], rep[:, 1])
    loc = ingest.locator(store)
    nation = [n if isinstance(n, str) else locate(float(x), float(y)) for n, (x, y) in zip(records.nation, rep)]
    table = pa.table({
        "fortification_id": _strings(records.fortification_id),
        "kind": _strings(records.kind),
        "name": _strings(records.name),
        "condition": _strings(records.condition),
        "year_built": pa.array([None if pd.isna(y) else int(y) for y in records.year_built], pa.int32()),
        "segment_id": _strings([loc.ids[k] if k >= 0 else None for k in near]),
        "nation": _strings(nation),
        "geom_wkb": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()),
    })
    return _insert(store, cur, "fortifications", "import_fortifications", table, dataset, replace)


def write_sensors(store, cur, records: pd.DataFrame, dataset: str, replace: bool, locate) -> dict[str, int]:
    from borderwatch import ingest
    from borderwatch.scenario import coverage_polygon

    loc = ingest.locator(store)
    near = loc.nearest(records.lon.to_numpy(float), records.lat.to_numpy(float))
    coverage = [shapely.to_wkb(coverage_polygon(r.lon, r.lat, r.range_m, r.azimuth_deg, r.fov_deg))
                for r in records.itertuples()]
    nation = [n if isinstance(n, str) else locate(float(x), float(y)) for n, x, y in zip(records.nation, records.lon, records.lat)]
    table = pa.table({
        "sensor_id": _strings(records.sensor_id),
        "sensor_type": _strings(records.sensor_type),
        "name": _strings(records.name),
        "status": _strings(records.status),
        "lon": pa.array(records.lon.to_numpy(float)), "lat": pa.array(records.lat.to_numpy(float)),
        "range_m": pa.array(records.range_m.to_numpy(float)),
        "azimuth_deg": pa.array(records.azimuth_deg.to_numpy(float)),
        "fov_deg": pa.array(records.fov_deg.to_numpy(float)),
        "segment_id": _strings([loc.ids[k] if k >= 0 else None for k in near]),
        "nation": _strings(nation),
        "coverage_wkb": pa.array(coverage, pa.binary()),
    })
    counts = _insert(store, cur, "sensors", "import_sensors", table, dataset, replace)
    _refresh_coverage(store)
    return counts


def _insert(store, cur, table_name: str, query: str, table: pa.Table, dataset: str, replace: bool) -> dict[str, int]:
    removed = 0
    if replace:
        before = queries.scalar("count_rows", store=store, idents={"table": table_name})
        queries.execute("delete_dataset", store=store, idents={"table": table_name}, dataset=dataset)
        removed = int(before - queries.scalar("count_rows", store=store, idents={"table": table_name}))
    before = queries.scalar("count_rows", store=store, idents={"table": table_name})
    _stage(cur, table)
    try:
        if query == "import_incidents":
            queries.execute("insert_incidents", store=store)
        else:
            queries.execute(query, store=store, dataset=dataset)
    finally:
        cur.unregister("staged")
    after = queries.scalar("count_rows", store=store, idents={"table": table_name})
    written = int(after - before)
    return {"written": written, "already_present": int(table.num_rows - written), "replaced": removed}


def write_borders(store, cur, segments: pd.DataFrame, outlines: pd.DataFrame) -> dict[str, Any]:
    replaced_segments = replaced_nations = 0
    if len(segments):
        ids = segments.segment_id.tolist()
        replaced_segments = int(queries.scalar("import_count_segments", store=store, ids=ids))
        queries.execute("import_delete_segments", store=store, ids=ids)
        _stage(cur, pa.table({
            "segment_id": ids, "nation_a": segments.nation_a.tolist(), "nation_b": segments.nation_b.tolist(),
            "length_km": segments.length_km.to_numpy(float),
            "wkb": pa.array(shapely.to_wkb(np.asarray(segments.geometry.values, dtype=object)).tolist(), pa.binary()),
            "source": segments.source.tolist(),
        }))
        try:
            queries.execute("insert_segments", store=store)
        finally:
            cur.unregister("staged")
        queries.execute("delete_all", store=store, idents={"table": "segment_agreements"})
        queries.execute("refresh_segment_agreements", store=store)
    if len(outlines):
        codes = outlines.iso3.tolist()
        current = dict(queries.rows("nation_names", store=store))
        known = vals.reference_nations().names
        names = [n if n else current.get(c) or known.get(c, c) for c, n in zip(codes, outlines.name)]
        replaced_nations = int(queries.scalar("import_count_nations", store=store, codes=codes))
        queries.execute("import_delete_nations", store=store, codes=codes)
        _stage(cur, pa.table({
            "iso3": codes, "name": names,
            "wkb": pa.array(shapely.to_wkb(np.asarray(outlines.geometry.values, dtype=object)).tolist(), pa.binary()),
            "source": outlines.source.tolist(),
        }))
        try:
            queries.execute("insert_nations", store=store)
        finally:
            cur.unregister("staged")
    if len(segments):
        _refresh_coverage(store)
    return {"written": int(len(segments) + len(outlines) - replaced_segments - replaced_nations),
            "already_present": 0, "replaced": replaced_segments + replaced_nations}


def _refresh_coverage(store) -> None:
    """Sensor coverage per segment is derived; refresh it where the store has that table."""
    try:
        from borderwatch import coverage
    except ImportError:
        return
    from borderwatch import schema

    if "segment_coverage" in schema.TABLES:
        coverage.refresh(store)


def _representative(geoms: np.ndarray) -> np.ndarray:
    """A point on each geometry (the middle of a line) for nearest-segment and nation lookup."""
    out = np.empty((len(geoms), 2))
    for i, g in enumerate(geoms):
        if g.geom_type in ("LineString", "MultiLineString"):
            line = shapely.line_merge(g) if g.geom_type == "MultiLineString" else g
            if line.geom_type == "MultiLineString":
                line = max(line.geoms, key=lambda p: p.length)
            p = shapely.line_interpolate_point(line, 0.5, normalized=True)
        elif g.geom_type == "MultiPoint":
            p = g.geoms[0]
        else:
            p = g
        out[i] = (p.x, p.y)
    return out
