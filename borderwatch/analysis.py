"""Incident analysis for analysts: the paginated table, trends, period comparison, breakdowns,
hotspots and the area of interest. No Streamlit here: ``pages/analysis.py`` only lays this out.

Everything is computed in DuckDB from the one Filter through the named queries; pandas only
shapes the (small) aggregated results.

Area of interest: chosen border segments (``Filter.segments``) or a polygon (``Filter.area_wkt``)
that is typed (WKT, or ``west,south,east,north``), drawn on the map (a rectangle or polygon,
checked by ``borderwatch.drawing``) or taken from the visible view of a map (``view_area``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re

import pandas as pd
import shapely
import shapely.geometry

import queries
from borderwatch import access
from borderwatch.domain import SEVERITY_LABELS, THREAT_LABELS, THREAT_TYPES
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store, default_store
from borderwatch.situation import Situation
from layers import style
from layers.base import text

SORTS = {
    "occurred_at": "Time (UTC)",
    "threat_type": "Threat type",
    "severity": "Severity",
    "confidence": "Confidence",
    "reporting_nation": "Reporting nation",
    "source": "Source",
    "segment_id": "Segment",
    "incident_id": "Incident id",
}
DIRECTIONS = {"DESC": "descending", "ASC": "ascending"}
PAGE_SIZES = (25, 50, 100, 250, 500)
PAGE_COLUMNS = ("incident_id", "occurred_at", "threat_type", "severity", "confidence", "reporting_nation", "source",
                "segment_id", "description", "lon", "lat", "synthetic", "owner_key")
BUCKETS = {"day": "Day", "week": "Week (from Monday)", "month": "Month"}
DIMENSIONS = {
    "reporting_nation": "Reporting nation",
    "segment_id": "Border segment",
    "threat_type": "Threat type",
    "severity": "Severity",
    "source": "Source",
}
FLAG_LEVELS = ("critical", "high")
NO_VALUE = "(none)"


def _store(store: Store | None) -> Store:
    return store or default_store()


def _check(value: str, allowed, what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


# -- the incident table ------------------------------------------------------------------------
def incident_count(flt: Filter, *, store: Store | None = None, now: dt.datetime | None = None) -> int:
    return int(queries.scalar("incident_count", flt, store=_store(store), now=now or utcnow()))


def incident_page(flt: Filter, page: int = 1, page_size: int = 50, sort: str = "occurred_at",
                  direction: str = "DESC", *, store: Store | None = None, now: dt.datetime | None = None,
                  total: int | None = None) -> tuple[pd.DataFrame, int]:
    """Rows ``page`` (from 1) of the filtered incidents in the given order, and the total count.

    Sorting and paging happen in DuckDB; ties are broken by ``incident_id`` (same direction), so
    pages never overlap or skip a row. A page past the middle is read from the other end with
    the order reversed, which keeps the last pages as fast as the first ones."""
    _check(sort, SORTS, "sort")
    _check(direction, DIRECTIONS, "direction")
    if page_size < 1 or page_size > max(PAGE_SIZES):
        raise ValueError(f"page_size must be 1 to {max(PAGE_SIZES)}, not {page_size}")
    store, now = _store(store), now or utcnow()
    if total is None:
        total = incident_count(flt, store=store, now=now)
    page = min(max(int(page), 1), page_count(total, page_size))
    offset = (page - 1) * page_size
    limit = max(min(page_size, total - offset), 0)
    if limit == 0:
        return pd.DataFrame({c: [] for c in PAGE_COLUMNS}), total
    reverse = offset + limit > total - offset
    if reverse:
        other = {"ASC": "DESC", "DESC": "ASC"}[direction]
        df = queries.df("incident_page", flt, store=store, now=now, idents={"sort": sort, "direction": other},
                        limit=limit, offset=total - offset - limit)
        df = df.iloc[::-1].reset_index(drop=True)
    else:
        df = queries.df("incident_page", flt, store=store, now=now, idents={"sort": sort, "direction": direction},
                        limit=limit, offset=offset)
    return df, total


def page_count(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def incident_detail(incident_id: str, *, owner: str | None = None, store: Store | None = None) -> dict | None:
    """All recorded fields of one incident (and its segment's length and line), or None. An
    incident is its owner and its id: ``owner`` picks one owner's row (a row chosen in the table);
    without it, of two nations' rows under one id the viewer's own nation's comes first."""
    df = queries.df("incident_detail", store=_store(store), incident_id=incident_id, owner_key=owner,
                    viewer_nation=access.current().nation)
    if df.empty:
        return None
    row = df.iloc[0].to_dict()
    shared = row.get("shared_under")
    row["shared_under"] = [] if shared is None else [str(s) for s in shared]
    return row


def detail_rows(detail: dict, names: dict[str, str] | None = None) -> pd.DataFrame:
    """An incident's fields as (field, value) text rows for a details table."""
    names = names or {}
    nation = detail.get("reporting_nation")
    seg = detail.get("segment_id")
    rows = [
        ("Incident id", detail["incident_id"]),
        ("Time (UTC)", f"{detail['occurred_at']:%Y-%m-%d %H:%M:%S}Z (precision: {detail.get('time_precision') or 'unknown'})"),
        ("Threat type", THREAT_LABELS.get(detail["threat_type"], detail["threat_type"])),
        ("Severity", f"{SEVERITY_LABELS.get(int(detail['severity']), detail['severity'])} ({int(detail['severity'])})"),
        ("Confidence", "" if _missing(detail.get("confidence")) else f"{float(detail['confidence']):.2f}"),
        ("Reporting nation", f"{names.get(nation, nation)} ({nation})" if nation else NO_VALUE),
        ("Source", detail.get("source") or NO_VALUE),
        ("Description", detail.get("description") or ""),
        ("Position (lon, lat)", f"{detail['lon']:.5f}, {detail['lat']:.5f}"
         + ("" if _missing(detail.get("location_error_m")) else f" ± {float(detail['location_error_m']):,.0f} m")),
        ("Border segment", (f"{seg} ({detail['segment_length_km']:,.0f} km)"
                            if seg and not _missing(detail.get("segment_length_km")) else seg or NO_VALUE)),
        ("Shared under", ", ".join(names.get(a, a) for a in detail.get("shared_under", [])) or NO_VALUE),
        ("Dataset", f"{detail.get('dataset')}" + (" — synthetic scenario" if detail.get("synthetic") else "")),
        ("Ingested (UTC)", "" if _missing(detail.get("ingested_at")) else f"{detail['ingested_at']:%Y-%m-%d %H:%M:%S}Z"),
    ]
    return pd.DataFrame(rows, columns=["field", "value"])


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


# -- trends ------------------------------------------------------------------------------------
def trend(flt: Filter, bucket: str = "day", *, store: Store | None = None, now: dt.datetime | None = None,
          fill: bool = True) -> pd.DataFrame:
    """Incidents per ``bucket`` (day / week / month) and threat type in the filter window.

    Columns ``bucket`` (start of the bucket, UTC), ``threat_type``, ``n`` and ``partial`` (the
    bucket reaches outside the window). ``fill`` adds the zero counts (buckets with no incident of
    a type that occurs in the window), so a chart's lines drop to zero instead of skipping."""
    _check(bucket, BUCKETS, "bucket")
    now = now or utcnow()
    df = queries.df("incident_trend", flt, store=_store(store), now=now, idents={"bucket": bucket})
    df["n"] = df.n.astype("int64")
    start, end = flt.time_range(now)
    if fill and len(df):
        buckets = _bucket_starts(start, end, bucket)
        full = pd.MultiIndex.from_product([buckets, sorted(df.threat_type.unique())], names=["bucket", "threat_type"])
        df = df.set_index(["bucket", "threat_type"]).reindex(full, fill_value=0).reset_index()
    df["partial"] = [b < start or _bucket_end(b, bucket) > end for b in df.bucket]
    return df[["bucket", "threat_type", "n", "partial"]]


def _bucket_start(t: dt.datetime, bucket: str) -> dt.datetime:
    t = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        return t - dt.timedelta(days=t.weekday())
    if bucket == "month":
        return t.replace(day=1)
    return t


def _bucket_end(b: dt.datetime, bucket: str) -> dt.datetime:
    if bucket == "day":
        return b + dt.timedelta(days=1)
    if bucket == "week":
        return b + dt.timedelta(days=7)
    return (b.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _bucket_starts(start: dt.datetime, end: dt.datetime, bucket: str) -> list[dt.datetime]:
    out, b = [], _bucket_start(start, bucket)
    while b < end:
        out.append(b)
        b = _bucket_end(b, bucket)
    return out


@dataclasses.dataclass
class Comparison:
    """The filter window against the previous window of the same length."""
    current: tuple[dt.datetime, dt.datetime]
    previous: tuple[dt.datetime, dt.datetime]
    table: pd.DataFrame  # threat_type, current, previous, change, change_pct (last row: "all")

    @property
    def total(self) -> pd.Series:
        return self.table.iloc[-1]


def period_comparison(flt: Filter, *, store: Store | None = None, now: dt.datetime | None = None) -> Comparison:
    """Incidents per threat type now and in the previous period, with the absolute and % change
    (``change_pct`` is empty where the previous period had none)."""
    now = now or utcnow()
    cur_start, cur_end = flt.time_range(now)
    prev_start, _ = flt.previous_range(now)
    df = queries.df("headline_by_threat", flt, store=_store(store), now=now,
                    win_start=cur_start, win_end=cur_end, prev_start=prev_start)
    df = df.astype({"current": "int64", "previous": "int64"})
    df = df.sort_values(["current", "threat_type"], ascending=[False, True], kind="stable", ignore_index=True)
    total = pd.DataFrame({"threat_type": ["all"], "current": [int(df.current.sum())], "previous": [int(df.previous.sum())]})
    df = pd.concat([df, total], ignore_index=True)
    df["change"] = df.current - df.previous
    df["change_pct"] = (df.change / df.previous.where(df.previous > 0) * 100).astype("float64")
    return Comparison((cur_start, cur_end), (prev_start, cur_start), df)


def context(flt: Filter, *, store: Store | None = None, now: dt.datetime | None = None) -> Situation:
    """The per-segment figures of the live map (impact levels, rate per 100 km, coverage) for
    ``flt``, so the analysis and the map agree."""
    return Situation(flt, now or utcnow(), _store(store))


def flagged_segments(ctx: Situation) -> pd.DataFrame:
    """Segments whose rate rose sharply against their own baseline: the live map's impact levels
    high and critical (``layers.style.IMPACT_RULE``), with the numbers behind each flag."""
    s = ctx.segment_stats
    s = s[s.impact.isin(FLAG_LEVELS)].copy()
    s["ratio"] = (s.n + 1.0) / (s.expected + 1.0)
    s["level_order"] = s.impact.map({lvl: i for i, lvl in enumerate(FLAG_LEVELS)})
    s = s.sort_values(["level_order", "ratio", "n"], ascending=[True, False, False])
    cols = ["segment_id", "nation_a", "nation_b", "impact", "n", "expected", "ratio", "n_prev", "trend_pct",
            "per_100km", "coverage_pct", "reason"]
    return s[cols].reset_index(drop=True)


IMPACT_RULE_TEXT = style.IMPACT_RULE_TEXT


# -- breakdowns and hotspots -------------------------------------------------------------------
def breakdown(flt: Filter, dimension: str, *, store: Store | None = None, now: dt.datetime | None = None,
              names: dict[str, str] | None = None) -> pd.DataFrame:
    """Filtered incidents by ``dimension``: value, label, n, share_pct, high_or_critical, last_at."""
    _check(dimension, DIMENSIONS, "dimension")
    names = names or {}
    df = queries.df("incident_breakdown", flt, store=_store(store), now=now or utcnow(),
                    idents={"dimension": dimension})
    df = df.astype({"n": "int64", "high_or_critical": "int64"})
    df["share_pct"] = df.share_pct.astype("float64").round(2)
    df["label"] = [value_label(dimension, v, names) for v in df.value]
    return df[["value", "label", "n", "share_pct", "high_or_critical", "last_at"]]


def value_label(dimension: str, value, names: dict[str, str] | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NO_VALUE
    if dimension == "threat_type":
        return THREAT_LABELS.get(value, value)
    if dimension == "severity":
        return f"{int(value)} — {SEVERITY_LABELS.get(int(value), value)}"
    if dimension == "reporting_nation":
        return f"{(names or {}).get(value, value)} ({value})"
    return str(value)


def hotspots(ctx: Situation, limit: int = 10) -> pd.DataFrame:
    """Segments with the highest incident rate per 100 km, with sensor coverage % (as on the map)."""
    return ctx.hotspots(limit)


def segment_rates(ctx: Situation) -> pd.DataFrame:
    """Every filtered segment with at least one incident, highest rate per 100 km first
    (the choices for a drill-down)."""
    s = ctx.segment_stats
    return s[s.n > 0].sort_values(["per_100km", "n"], ascending=False)[
        ["segment_id", "nation_a", "nation_b", "n", "per_100km", "impact"]].reset_index(drop=True)


def segment_choices(flt: Filter, *, store: Store | None = None) -> pd.DataFrame:
    """Segments that can be chosen as the area of interest under the filter's nations/agreements."""
    return queries.df("segment_choices", flt.replace(segments=()), store=_store(store))


# -- area of interest --------------------------------------------------------------------------
MAX_AREA_VERTICES = 2000
_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_BBOX = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")


class AreaError(ValueError):
    pass


def parse_area(text: str) -> str:
    """A typed area of interest as polygon WKT (lon/lat): ``west,south,east,north`` or a
    ``POLYGON`` / ``MULTIPOLYGON`` in WKT. Raises ``AreaError`` with the reason otherwise."""
    text = (text or "").strip()
    if not text:
        return ""
    m = _BBOX.match(text)
    if m:
        return bbox_wkt(*(float(v) for v in m.groups()))
    try:
        geom = shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise AreaError(f"not a 'west,south,east,north' box nor valid WKT: {exc}") from None
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise AreaError(f"the area must be a POLYGON or MULTIPOLYGON, not a {geom.geom_type}")
    if shapely.get_num_coordinates(geom) > MAX_AREA_VERTICES:
        raise AreaError(f"the area has more than {MAX_AREA_VERTICES} vertices")
    w, s, e, n = geom.bounds
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise AreaError("coordinates must be longitude, latitude in degrees (WGS84)")
    if not geom.is_valid:
        raise AreaError(f"the polygon is invalid ({shapely.is_valid_reason(geom)})")
    if geom.is_empty or geom.area <= 0:
        raise AreaError("the area is empty")
    return shapely.to_wkt(geom, rounding_precision=6, trim=True)


def bbox_wkt(west: float, south: float, east: float, north: float) -> str:
    if not (-90 <= south < north <= 90):
        raise AreaError("south must be below north, both within -90..90")
    west, east = max(west, -180.0), min(east, 180.0)
    if not west < east:
        raise AreaError("west must be less than east, both within -180..180")
    return shapely.to_wkt(shapely.geometry.box(west, south, east, north), rounding_precision=6, trim=True)


def view_area(bounds: dict | None) -> str:
    """The visible map area (streamlit-folium's ``bounds``) as a rectangle WKT, or ''."""
    try:
        sw, ne = bounds["_southWest"], bounds["_northEast"]
        west, east = float(sw["lng"]), float(ne["lng"])
        while west >= 180:  # a view panned across the antimeridian reports longitudes beyond ±180
            west, east = west - 360, east - 360
        while east <= -180:
            west, east = west + 360, east + 360
        return bbox_wkt(round(west, 4), round(max(sw["lat"], -90), 4), round(east, 4), round(min(ne["lat"], 90), 4))
    except (KeyError, TypeError, ValueError):
        return ""


def area_geojson(area_wkt: str) -> dict | None:
    if not area_wkt:
        return None
    return json.loads(shapely.to_geojson(shapely.from_wkt(area_wkt)))


def segment_lines(segment_ids, *, store: Store | None = None, tolerance: float = 0.005) -> dict[str, dict]:
    """GeoJSON lines of the given segments (by id)."""
    if not segment_ids:
        return {}
    df = queries.df("segment_lines", store=_store(store), segment_ids=list(segment_ids), tolerance=tolerance)
    return {sid: json.loads(g) for sid, g in zip(df.segment_id, df.geojson)}


# -- small maps and charts (folium / Altair objects; the page only displays them) ---------------
AREA_STYLE = {"color": "#1565c0", "weight": 2, "fillColor": "#1565c0", "fillOpacity": 0.08, "dashArray": "6 4"}
SEGMENT_STYLE = {"color": "#ff6f00", "weight": 4, "opacity": 0.9}


def incident_map(detail: dict, *, store: Store | None = None, zoom: int = 7):
    """A small map of one incident: its point (threat colour, size by severity), its location
    uncertainty and its border segment."""
    import folium

    from layers import basemap

    m = basemap.base_map(_store(store), (detail["lat"], detail["lon"]), zoom, legend=False)
    if detail.get("segment_geojson"):
        folium.GeoJson(json.loads(detail["segment_geojson"]), name="segment",
                       style_function=lambda _f: SEGMENT_STYLE).add_to(m)
    err = detail.get("location_error_m")
    if not _missing(err) and float(err) > 0:
        folium.Circle([detail["lat"], detail["lon"]], radius=float(err), color="#424242", weight=1,
                      fill=False, dash_array="3 3").add_to(m)
    folium.CircleMarker(
        [detail["lat"], detail["lon"]], radius=5 + int(detail["severity"]),
        color="#212121", weight=2, fill=True, fill_opacity=0.9,
        fill_color=style.THREAT_COLORS.get(detail["threat_type"], "#757575"),
        tooltip=f"{THREAT_LABELS.get(detail['threat_type'], detail['threat_type'])} — {text(detail['incident_id'])}",
    ).add_to(m)
    return m


def area_map(area_wkt: str, segment_ids, *, store: Store | None = None,
             center: tuple[float, float] = (30.0, 20.0), zoom: int = 2, draw: bool = False):
    """The map used to choose an area: the current area and chosen segments, fitted to them;
    ``draw`` adds the tools to draw the area (and to measure)."""
    import folium

    from layers import basemap

    store = _store(store)
    m = basemap.base_map(store, center, zoom, legend=False)
    bounds = []
    lines = segment_lines(segment_ids, store=store)
    for sid, geom in lines.items():
        folium.GeoJson(geom, name=sid, style_function=lambda _f: SEGMENT_STYLE, tooltip=sid).add_to(m)
        bounds.append(shapely.geometry.shape(geom).bounds)
    area = area_geojson(area_wkt)
    from layers import maptools

    if draw and maptools.available():  # the area is the drawing tool's editable shape
        m.add_child(maptools.AreaDraw(area))
        m.add_child(maptools.Measure())
    elif area:
        folium.GeoJson(area, name="area of interest", style_function=lambda _f: AREA_STYLE).add_to(m)
    if area:
        bounds.append(shapely.geometry.shape(area).bounds)
    if bounds:
        w, s, e, n = min(b[0] for b in bounds), min(b[1] for b in bounds), max(b[2] for b in bounds), max(b[3] for b in bounds)
        m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    return m


def trend_chart(df: pd.DataFrame, bucket: str):
    import altair as alt

    data = df.assign(threat=df.threat_type.map(lambda t: THREAT_LABELS.get(t, t)))
    present = [t for t in THREAT_TYPES if t in set(df.threat_type)]
    scale = alt.Scale(domain=[THREAT_LABELS[t] for t in present], range=[style.THREAT_COLORS[t] for t in present])
    base = alt.Chart(data).encode(
        x=alt.X("bucket:T", title=f"{BUCKETS[bucket]} (UTC)"),
        y=alt.Y("n:Q", title="Incidents"),
        color=alt.Color("threat:N", title="Threat type", scale=scale),
    )
    points = base.mark_circle(size=28).encode(
        opacity=alt.condition("datum.partial", alt.value(0.3), alt.value(1.0)),
        tooltip=[alt.Tooltip("bucket:T", title="From"), alt.Tooltip("threat:N", title="Threat type"),
                 alt.Tooltip("n:Q", title="Incidents", format=","), alt.Tooltip("partial:N", title="Partial bucket")],
    )
    return (base.mark_line(strokeWidth=1.6) + points).properties(height=320)


def comparison_chart(comparison: Comparison):
    import altair as alt

    t = comparison.table[comparison.table.threat_type != "all"]
    fmt = "%Y-%m-%d %H:%MZ"
    periods = {"previous": "Previous window", "current": "This window"}
    spans = {"previous": comparison.previous, "current": comparison.current}
    data = t.melt(id_vars=["threat_type"], value_vars=["previous", "current"], var_name="period", value_name="n")
    data["threat"] = data.threat_type.map(lambda v: THREAT_LABELS.get(v, v))
    data["period_label"] = data.period.map(periods)
    data["span"] = data.period.map(lambda p: f"{spans[p][0]:{fmt}} – {spans[p][1]:{fmt}}")
    order = [periods["previous"], periods["current"]]
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("threat:N", title=None, sort=alt.EncodingSortField("n", op="max", order="descending"),
                    axis=alt.Axis(labelLimit=160)),
            yOffset=alt.YOffset("period_label:N", sort=order),
            x=alt.X("n:Q", title="Incidents"),
            color=alt.Color("period_label:N", title=None, sort=order, scale=alt.Scale(range=["#b0bec5", "#1565c0"]),
                            legend=alt.Legend(orient="bottom")),
            tooltip=[alt.Tooltip("threat:N", title="Threat type"), alt.Tooltip("period_label:N", title="Period"),
                     alt.Tooltip("span:N", title="UTC"), alt.Tooltip("n:Q", title="Incidents", format=",")],
        )
        .properties(height=alt.Step(14))
    )


def breakdown_chart(df: pd.DataFrame, top: int = 20):
    import altair as alt

    data = df.head(top)
    return (
        alt.Chart(data)
        .mark_bar(color="#1565c0")
        .encode(
            y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("n", order="descending")),
            x=alt.X("n:Q", title="Incidents"),
            tooltip=[alt.Tooltip("label:N", title="Value"), alt.Tooltip("n:Q", format=","),
                     alt.Tooltip("share_pct:Q", title="Share %", format=".1f")],
        )
        .properties(height=max(120, 22 * len(data)))
    )
