"""Map layers: one module per layer, each built from the shared Filter, listed in ``REGISTRY``.

A layer module defines ``KEY``, ``TITLE`` and ``build(ctx) -> folium.FeatureGroup``; the
``MapContext`` carries the Filter, the map view, the reference time and shared per-segment
figures so that every layer (and the headline figures) agree.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html
import json
import math
from typing import Any

import pandas as pd

import queries
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store, default_store
from layers import style

MAX_HEX_CELLS = 3000
MAX_POINTS = 1500
MAX_SENSORS = 1200
MAX_FORTIFICATIONS = 2000
BASELINE_MAX_DAYS = 28
BASELINE_MIN_DAYS = 7


@dataclasses.dataclass(frozen=True)
class View:
    """The visible map area and zoom."""
    west: float = -180.0
    south: float = -60.0
    east: float = 180.0
    north: float = 80.0
    zoom: float = 2.0

    @classmethod
    def around(cls, lat: float, lon: float, zoom: float, width_px: int = 1200, height_px: int = 650) -> "View":
        """The view a map of the given pixel size shows at a centre and zoom (Web Mercator)."""
        deg_per_px = 360.0 / (256 * 2 ** zoom)
        half_w = width_px / 2 * deg_per_px
        y = math.log(math.tan(math.pi / 4 + math.radians(max(min(lat, 85), -85)) / 2))
        half_h = height_px / 2 * deg_per_px * math.pi / 180
        north = math.degrees(2 * math.atan(math.exp(y + half_h)) - math.pi / 2)
        south = math.degrees(2 * math.atan(math.exp(y - half_h)) - math.pi / 2)
        return cls(lon - half_w, south, lon + half_w, north, zoom).clamped()

    def clamped(self) -> "View":
        w, e = self.west, self.east
        if e - w >= 360:
            w, e = -180.0, 180.0
        else:
            w, e = max(w, -180.0), min(e, 180.0)
        return View(w, max(self.south, -90.0), e, min(self.north, 90.0), self.zoom)

    def params(self) -> dict[str, float]:
        v = self.clamped()
        return {"vw": v.west, "vs": v.south, "ve": v.east, "vn": v.north}

    def padded(self, share: float = 0.5) -> "View":
        """The view grown by ``share`` of its size on each side (lines drawn just off-screen)."""
        dx, dy = (self.east - self.west) * share, (self.north - self.south) * share
        return View(self.west - dx, self.south - dy, self.east + dx, self.north + dy, self.zoom).clamped()

    @property
    def tolerance(self) -> float:
        """Simplification tolerance in degrees: about one screen pixel at this zoom."""
        return 360.0 / (256 * 2 ** max(self.zoom, 0)) * 0.8


@dataclasses.dataclass
class MapContext:
    filter: Filter
    view: View = dataclasses.field(default_factory=View)
    now: dt.datetime = dataclasses.field(default_factory=utcnow)
    since: dt.datetime | None = None  # incidents ingested after this are "new"
    store: Store = dataclasses.field(default_factory=default_store)

    def q(self, name: str, **params) -> pd.DataFrame:
        """Run a named query for this map; results are reused until the store changes."""
        return queries.df(name, self.filter, store=self.store, now=self.now, cache=True, **params)

    @functools.cached_property
    def data_range(self) -> tuple[Any, Any, Any, int]:
        return tuple(queries.df("data_time_range", store=self.store, cache=True).iloc[0])

    @functools.cached_property
    def segment_stats(self) -> pd.DataFrame:
        """Per filtered segment: counts, trend, impact level, coverage %, fortifications."""
        start, end = self.filter.time_range(self.now)
        window = end - start
        prev_start = start - window
        base_len = min(max(window * 4, dt.timedelta(days=BASELINE_MIN_DAYS)), dt.timedelta(days=BASELINE_MAX_DAYS))
        data_start = self.data_range[0]
        base_start = max(start - base_len, data_start) if data_start is not None else start - base_len
        df = self.q("segment_activity", win_start=start, win_end=end, prev_start=prev_start, base_start=base_start)
        base_days = max((start - base_start).total_seconds() / 86400, 0.0)
        win_days = window.total_seconds() / 86400
        if base_days >= 1:
            df["expected"] = df.n_base / base_days * win_days
            df["baseline"] = f"{base_days:.0f}-day baseline"
        else:  # no history before the window: compare with the average density of the shown borders
            per_km = df.n.sum() / max(df.length_km.sum(), 1)
            df["expected"] = per_km * df.length_km
            df["baseline"] = "average density of shown borders"
        df["impact"] = [style.impact_level(n, e) for n, e in zip(df.n, df.expected)]
        df["trend_pct"] = (df.n - df.n_prev) / df.n_prev.where(df.n_prev > 0) * 100
        df["per_100km"] = df.n / df.length_km.clip(lower=1) * 100
        cov = self.coverage
        df = df.merge(cov[["segment_id", "covered_km"]], on="segment_id", how="left")
        df["covered_km"] = df.covered_km.fillna(0.0).clip(upper=df.length_km)
        df["coverage_pct"] = (df.covered_km / df.length_km.clip(lower=0.001) * 100).round(1)
        forts = segment_fortifications(self.store)
        df["fortifications"] = [forts.get(s, "none") for s in df.segment_id]
        return df

    @functools.cached_property
    def coverage(self) -> pd.DataFrame:
        from borderwatch import access  # an unrestricted viewer reads the derived table (fast)

        name = "segment_coverage_all" if access.current().unrestricted else "segment_coverage"
        return queries.df(name, store=self.store, cache=True, tolerance=round(self.view.tolerance, 4),
                          **self.view.padded().params())


def segment_fortifications(store: Store) -> dict[str, str]:
    df = queries.df("segment_fortifications", store=store, cache=True)
    out: dict[str, str] = {}
    for sid, grp in df.groupby("segment_id"):
        out[sid] = ", ".join(f"{n} {style.FORTIFICATION_LABELS.get(k, k)}" for k, n in zip(grp.kind, grp.n))
    return out


def text(value) -> str:
    """Data text (names, descriptions, ids) made safe for the map document: HTML-escaped, and
    with braces as entities, because folium compiles each element's rendered script once more
    as a Jinja template — a description like ``{{ ... }}`` must never be evaluated."""
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;").replace("%", "&#37;")


def geojson(geom_json: str) -> dict:
    return json.loads(geom_json)


def feature_collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


from layers import density, fortifications, incidents, patrols, segments, sensors  # noqa: E402

REGISTRY = (segments, fortifications, sensors, density, incidents, patrols)


def build_all(ctx: MapContext) -> list:
    """Every registered layer as a folium FeatureGroup, in drawing order."""
    return [module.build(ctx) for module in REGISTRY]
