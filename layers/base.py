"""What every layer is built from and what it returns.

A layer module defines ``KEY``, ``TITLE`` and ``build(ctx: MapContext) -> Built``; it is listed
in ``layers.registry``. Layers read the shared per-segment figures from ``ctx.situation``
(never compute their own) and report what the reader needs to know about the drawing (e.g. the
hexagon resolution, how many incidents are in view) in ``Built.notes``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import math
from typing import Any

import folium
import pandas as pd

import queries
from borderwatch import access, lazy
from borderwatch.filters import Filter, utcnow
from borderwatch.situation import Situation
from borderwatch.store import Store, default_store

MAX_HEX_CELLS = 3000
MAX_POINTS = 1500
MAX_SENSORS = 1200
MAX_FORTIFICATIONS = 2000
LINE_MARGIN = 0.25  # lines (segments, coverage gaps) are fetched this share beyond the drawn extent


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
    """One map drawing: the Filter, the view, "now", what counts as new, and the store.

    ``view`` is what the screen shows; the layers draw for ``extent`` (by default the view). The
    live map draws for the view with a margin around it, so that a small pan shows what was already
    drawn instead of a redraw (see ``borderwatch.views.live_map.Drawn``)."""
    filter: Filter
    view: View = dataclasses.field(default_factory=View)
    now: dt.datetime = dataclasses.field(default_factory=utcnow)
    since: dt.datetime | None = None  # incidents ingested after this are "new"
    store: Store = dataclasses.field(default_factory=default_store)
    symbols: str = "plain"  # "military": points as MIL-STD-2525 symbols (layers.milsym)
    drawn_extent: View | None = None  # the area the layers are drawn for, when larger than the view

    @property
    def extent(self) -> View:
        """The area the layers draw for: the view, or the larger drawn extent that holds it."""
        return self.drawn_extent or self.view

    @property
    def military(self) -> bool:
        return self.symbols == "military"

    def q(self, name: str, **params) -> pd.DataFrame:
        """Run a named query for this map; results are reused until the store changes."""
        return queries.df(name, self.filter, store=self.store, now=self.now, cache=True, **params)

    @lazy.cached_property
    def situation(self) -> Situation:
        """The view-independent figures shared by every layer, the headline and the exports."""
        return Situation(self.filter, self.now, self.store)

    @lazy.cached_property
    def new_alerts(self) -> pd.DataFrame:
        """The viewer's unacknowledged alerts (header count and segment halo: one query per drawing)."""
        import borderwatch.alerts as alerts

        return alerts.alerts_frame(store=self.store, state="new", limit=1000)

    @lazy.cached_property
    def coverage(self) -> pd.DataFrame:
        """Coverage per segment with its gaps near the view, simplified for drawing."""
        name = "segment_coverage_all" if access.current().unrestricted else "segment_coverage"  # see access.py
        return queries.df(name, store=self.store, cache=True, tolerance=round(self.view.tolerance, 4),
                          **self.extent.padded(LINE_MARGIN).params())


@dataclasses.dataclass
class Built:
    """A built layer: its feature group and what it tells the reader about the drawing."""
    group: folium.FeatureGroup
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)


def text(value) -> str:
    """Data text (names, descriptions, ids) made safe for the map document: HTML-escaped, and
    with braces as entities, because folium compiles each element's rendered script once more
    as a Jinja template — a description like ``{{ ... }}`` must never be evaluated."""
    return html.escape(str(value)).replace("{", "&#123;").replace("}", "&#125;").replace("%", "&#37;")


def geojson(geom_json: str) -> dict:
    return json.loads(geom_json)


def feature_collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}
