"""Briefing snapshots: the live map's folium map, rebuilt for an export.

A snapshot is built exactly like the live map (``layers.basemap.base_map`` + ``layers.registry.build_all``
+ a layer control), from an :class:`ExportSpec` (filter, view, time, title, marking), so every
export shares the live map's layers, colours and symbols. On top of that it gets what a printed
map needs: a north arrow (the scale bar comes from the base map), and, for the PNG and the
offline HTML, classification banners and a title box. Everything is inlined: the HTML refers
to no URL, so it opens offline and renders in a browser with the network switched off.

Three *modes*:

- ``png``  -- banners, title box, north arrow; zoom and layer controls hidden;
- ``pdf``  -- the map image of the PDF pack (the page carries title and marking): north arrow,
  no banners, controls hidden;
- ``html`` -- banners, title box, north arrow, interactive controls; fits the live extent to
  whatever window it is opened in.

When the map has finished drawing (Leaflet loaded, basemap drawn, two animation frames after
the document's ``load``) the page sets ``window.bwReady = true``; the renderer waits for that.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html
import json
import math
import os
from typing import Mapping
from urllib.parse import urlencode

import folium
import numpy as np
import shapely
from branca.element import Element, MacroElement, Template

import queries
from borderwatch import offline
from borderwatch.filters import Filter, utcnow
from borderwatch.links import view_from_url
from borderwatch.store import Store, default_store
from layers import adapter, basemap, registry, style
from layers.base import MapContext, View
from layers.elements import BasemapNations

DEFAULT_TITLE = "Border situation briefing"
MARKING_ENV = "BORDERWATCH_MARKING"  # the site's default classification marking
DEFAULT_MARKING = "UNCLASSIFIED"
BASE_URL_ENV = "BORDERWATCH_BASE_URL"  # where the app is served, for the link that reopens a view
DEFAULT_BASE_URL = "http://localhost:8501"
LIVE_PAGE = ""  # the live map is the app's default page, served at the root

#: The live map's size in CSS pixels when only a centre and zoom are known (URL, command line).
LIVE_MAP_PX = (1200, 640)
PNG_SIZE = (1600, 1000)
BANNER_PX = 24
LEGEND_PANEL_PX = 250  # the PDF's map image has its legend beside the map
ZOOM_SNAP = 0.25
MAX_ZOOM = 14
MODES = ("png", "pdf", "html")
SYNTHETIC_TEXT = ("SYNTHETIC SCENARIO: fortifications, sensors and incidents marked as scenario data are "
                  "invented for demonstration; borders are real (Natural Earth).")

WORLD_TOLERANCE = 0.01  # degrees, as the live map's basemap

# Banner colours of common classification levels (first match wins); others get the last one.
_MARKING_COLOURS = (
    ("TOP SECRET", "#ff8c00", "#000000"),
    ("SECRET", "#c8102e", "#ffffff"),
    ("CONFIDENTIAL", "#0033a0", "#ffffff"),
    ("RESTRICTED", "#0033a0", "#ffffff"),
    ("", "#007a33", "#ffffff"),
)


def default_marking() -> str:
    return os.environ.get(MARKING_ENV, "").strip() or DEFAULT_MARKING


def base_url() -> str:
    return (os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL).rstrip("/")


def marking_colours(marking: str) -> tuple[str, str]:
    """Banner background and text colour for a marking (by its classification level)."""
    text = marking.upper()
    for level, bg, fg in _MARKING_COLOURS:
        if level in text:
            return bg, fg
    return _MARKING_COLOURS[-1][1:]


def dtg(when: dt.datetime) -> str:
    """Date-time group in military format, UTC: ``011200Z NOV 26``."""
    return f"{when:%d%H%M}Z {when:%b %y}".upper()


# --------------------------------------------------------------------------------------------
# What to export
# --------------------------------------------------------------------------------------------

def _merc(lat: float) -> float:
    lat = max(min(lat, 85.0511), -85.0511)
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def _unmerc(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)


def view_center(view: View) -> tuple[float, float]:
    """Centre (lat, lon) of a view, in Web Mercator (as the map draws it)."""
    v = view.clamped()
    return _unmerc((_merc(v.north) + _merc(v.south)) / 2), (v.west + v.east) / 2


def fit(view: View, width_px: int, height_px: int, snap: float = ZOOM_SNAP) -> tuple[float, float, float]:
    """Centre and (snapped down) zoom at which a map of the given size shows all of ``view``."""
    v = view.clamped()
    lat, lon = view_center(v)
    dx = max(v.east - v.west, 1e-9)
    dy = max(_merc(v.north) - _merc(v.south), 1e-9)
    zoom = min(math.log2(width_px * 360.0 / (256 * dx)), math.log2(height_px * 2 * math.pi / (256 * dy)))
    zoom = math.floor(zoom / snap + 1e-9) * snap if snap else zoom
    return lat, lon, max(0.0, min(zoom, MAX_ZOOM))


@dataclasses.dataclass(frozen=True)
class ExportSpec:
    """One briefing export: the filter, the map extent (the live map's view), time and labels."""
    filter: Filter
    view: View
    now: dt.datetime
    title: str = DEFAULT_TITLE
    marking: str = DEFAULT_MARKING
    center: tuple[float, float] | None = None  # the live map's centre (lat, lon), for the link
    zoom: float | None = None

    @classmethod
    def create(cls, flt: Filter, view: View | None = None, *, now: dt.datetime | None = None,
               title: str | None = None, marking: str | None = None,
               center: tuple[float, float] | None = None, zoom: float | None = None) -> "ExportSpec":
        """A spec from a view (the live map's last extent) or a centre and zoom (the URL)."""
        if view is None:
            lat, lon = center or (30.0, 20.0)
            zoom = 2 if zoom is None else zoom
            view = View.around(lat, lon, zoom, *LIVE_MAP_PX)
        return cls(flt, view, (now or utcnow()).replace(microsecond=0),
                   (title or "").strip() or DEFAULT_TITLE, (marking or "").strip() or default_marking(),
                   center, zoom)

    @classmethod
    def from_params(cls, params: Mapping[str, str] | str, **kw) -> "ExportSpec":
        """A spec from the live map's URL (or its query string): filter keys plus lat/lon/z."""
        flt = Filter.from_url(params)[0]
        view = view_from_url(params)[0]
        center = view[:2] if view else None
        zoom = min(view[2], MAX_ZOOM) if view else None
        return cls.create(flt, None, center=center, zoom=zoom, **kw)

    # -- derived ----------------------------------------------------------------------------
    @property
    def dtg(self) -> str:
        return dtg(self.now)

    @property
    def iso_time(self) -> str:
        return f"{self.now:%Y-%m-%d %H:%M} UTC"

    def view_params(self) -> dict[str, str]:
        lat, lon = self.center or view_center(self.view)
        zoom = self.zoom if self.zoom is not None else self.view.zoom
        return {"lat": f"{lat:.4f}", "lon": f"{lon:.4f}", "z": str(int(round(zoom)))}

    def link(self, base: str | None = None) -> str:
        """The address that reopens this view (filter and map position) in the app."""
        params = {**self.filter.to_params(), **self.view_params()}
        return f"{(base or base_url()).rstrip('/')}/{LIVE_PAGE}?{urlencode(params)}"

    def basename(self) -> str:
        """File name stem: the filter's slug and the DTG, e.g. ``borderwatch_24h_USA_011200ZNOV26``."""
        return f"borderwatch_{self.filter.slug()}_{self.dtg.replace(' ', '')}"

    def filename(self, fmt: str) -> str:
        return f"{self.basename()}.{fmt}"


# --------------------------------------------------------------------------------------------
# Facts shown with the map
# --------------------------------------------------------------------------------------------

def names(store: Store) -> dict[str, str]:
    """Display names of nations and agreements, for the filter sentence."""
    return {**dict(queries.rows("nation_names", store=store)), **dict(queries.rows("agreement_names", store=store))}


def shown_datasets(ctx: MapContext):
    """Rows matching the filter per layer and dataset (``layer, dataset, synthetic, n``)."""
    return ctx.q("briefing_sources")


def shows_synthetic(datasets) -> bool:
    return bool(len(datasets)) and bool(datasets.synthetic.fillna(False).any())


# --------------------------------------------------------------------------------------------
# Map elements added for exports
# --------------------------------------------------------------------------------------------

NORTH_ARROW_SVG = (
    '<svg width="34" height="50" viewBox="0 0 34 50" role="img" aria-label="North">'
    '<text x="17" y="12" text-anchor="middle" font-family="sans-serif" font-size="13" font-weight="bold" '
    'fill="#222">N</text>'
    '<polygon points="17,15 27,45 17,38" fill="#222"/>'
    '<polygon points="17,15 7,45 17,38" fill="#fff" stroke="#222" stroke-width="1.2"/>'
    '</svg>'
)


def js_string(text: str) -> str:
    """A JavaScript string literal for ``text`` that is also inert as template text: branca
    compiles each element's rendered script as a Jinja template again, so user text (a title,
    a marking, a search term) must not carry ``{{``, ``{%`` or ``{#`` into it."""
    literal = json.dumps(text).replace("{", "\\u007b").replace("}", "\\u007d")
    return literal.replace("<", "\\u003c").replace(">", "\\u003e")


class _Control(MacroElement):
    """A Leaflet control holding static HTML."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var ctl = L.control({position: {{ this.position|tojson }}});
        ctl.onAdd = function() {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.innerHTML = {{ this.content_js }};
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        ctl.addTo({{ this._parent.get_name() }});
    })();
    {% endmacro %}
    """)

    def __init__(self, content: str, position: str, css_class: str):
        super().__init__()
        self._name = "BwControl"
        self.content, self.position, self.css_class = content, position, css_class
        self.content_js = js_string(content)


def north_arrow() -> _Control:
    return _Control(NORTH_ARROW_SVG, "topright", "bw-north leaflet-bar")



def title_box(spec: ExportSpec, sentence: str, synthetic: bool, notes: str = "") -> _Control:
    parts = [f'<div class="bw-title">{html.escape(spec.title)}</div>',
             f'<div class="bw-dtg">{html.escape(spec.dtg)} &middot; {html.escape(spec.iso_time)}</div>',
             f'<div class="bw-filter">{html.escape(sentence)}</div>']
    if notes:
        parts.append(f'<div class="bw-notes">{html.escape(notes)}</div>')
    if synthetic:
        parts.append(f'<div class="bw-synthetic">{html.escape(SYNTHETIC_TEXT)}</div>')
    return _Control("".join(parts), "topleft", "bw-titlebox")


class _FitBounds(MacroElement):
    """Show the live extent whatever the window size (offline HTML)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {animate: false});
    {% endmacro %}
    """)

    def __init__(self, view: View):
        super().__init__()
        self._name = "BwFitBounds"
        v = view.clamped()
        self.bounds = [[v.south, v.west], [v.north, v.east]]


class _ReadyFlag(MacroElement):
    """Sets ``window.bwReady`` once the map has drawn (added last: every layer is on the map by
    the time this runs; the two animation frames let the browser paint them)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var map = {{ this._parent.get_name() }};
        function painted() {
            requestAnimationFrame(function() { requestAnimationFrame(function() {
                window.bwReady = !!(map._loaded && window.bwBasemapLoaded);
                if (!window.bwReady) { window.bwError = 'map or basemap did not load'; }
            }); });
        }
        if (document.readyState === 'complete') { painted(); } else { window.addEventListener('load', painted); }
    })();
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "BwReady"


def _css(mode: str, marking: str) -> str:
    bg, fg = marking_colours(marking)
    banners = mode in ("png", "html")
    rules = [
        # the sea: in a standalone document leaflet.css comes after the base map's own rule
        f".folium-map.leaflet-container{{background:{style.BASEMAP_SEA}}}",
        ".bw-north{background:rgba(255,255,255,.9);padding:2px 3px 0;line-height:0}",
        ".bw-titlebox{background:rgba(255,255,255,.93);padding:7px 10px;border-radius:6px;"
        "box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:520px;font:12px/1.35 sans-serif;color:#222}",
        ".bw-title{font-weight:bold;font-size:17px;margin-bottom:2px}",
        ".bw-dtg{font-weight:bold;font-size:12px;margin-bottom:3px}",
        ".bw-filter{font-size:11px;color:#333}",
        ".bw-notes{font-size:10px;color:#666;margin-top:2px}",
        ".bw-synthetic{margin-top:4px;padding:3px 5px;background:#fff3cd;border:1px solid #d39e00;"
        "font-size:11px;font-weight:bold;color:#5c4400}",
    ]
    if banners:
        rules += [
            f".bw-marking{{position:fixed;left:0;right:0;height:{BANNER_PX}px;line-height:{BANNER_PX}px;"
            f"background:{bg};color:{fg};font:bold 14px sans-serif;text-align:center;letter-spacing:.06em;"
            "z-index:10000;white-space:nowrap;overflow:hidden}",
            ".bw-marking.top{top:0}.bw-marking.bottom{bottom:0}",
            f".folium-map{{position:absolute !important;top:{BANNER_PX}px !important;bottom:{BANNER_PX}px !important;"
            "left:0 !important;right:0 !important;width:auto !important;height:auto !important}",
            f"#bw-legend{{bottom:{28 + BANNER_PX}px !important}}",
        ]
    if mode in ("png", "pdf"):
        rules.append(".leaflet-control-zoom,.leaflet-control-layers{display:none !important}")
        rules.append("#bw-legend{max-height:none !important}")
    if mode == "pdf":  # the legend beside the map, not over it: nothing hidden on paper
        rules += [
            f".folium-map{{position:absolute !important;top:0 !important;bottom:0 !important;left:0 !important;"
            f"right:{LEGEND_PANEL_PX}px !important;width:auto !important;height:auto !important}}",
            f"#bw-legend{{top:0 !important;right:0 !important;bottom:0 !important;width:{LEGEND_PANEL_PX}px !important;"
            "max-width:none !important;box-sizing:border-box;border-radius:0 !important;box-shadow:none !important;"
            "border-left:1px solid #bbb;background:#fff !important;overflow:hidden !important}",
        ]
    return "<style>" + "".join(rules) + "</style>"


def _banners(marking: str) -> str:
    text = html.escape(marking)
    return f'<div class="bw-marking top">{text}</div><div class="bw-marking bottom">{text}</div>'


@functools.lru_cache(maxsize=2)
def _nation_shapes(store_path: str, version: str):
    """Nation polygons of a store (full resolution) and their spatial index, read once."""
    df = queries.df("briefing_nations", store=Store(store_path))
    geoms = shapely.from_wkb([bytes(b) for b in df.wkb])
    return geoms, shapely.STRtree(geoms)


@functools.lru_cache(maxsize=2)
def _world_nations(store_path: str, version: str) -> str:
    return nations_geojson(Store(store_path), None)


def nations_geojson(store: Store, view: View | None = None, tolerance: float = WORLD_TOLERANCE,
                    pad: float = 0.1) -> str:
    """The basemap's nations as GeoJSON: the whole world at ``tolerance`` degrees, or clipped to
    ``view`` (grown by ``pad`` of its size on each side) and simplified to about half a pixel at
    its zoom, which is all a printed map needs. Plain Douglas-Peucker on the clipped parts keeps
    this well under a second even for the whole world."""
    geoms, tree = _nation_shapes(str(store.path), basemap.nations_version(store))
    if view is not None:
        v = view.clamped()
        dx, dy = (v.east - v.west) * pad, (v.north - v.south) * pad
        box = (max(v.west - dx, -180.0), max(v.south - dy, -90.0), min(v.east + dx, 180.0), min(v.north + dy, 90.0))
        geoms = shapely.clip_by_rect(geoms[tree.query(shapely.box(*box))], *box)
        tolerance = max(v.tolerance * 0.5, 0.0005)
    geoms = shapely.simplify(geoms, tolerance, preserve_topology=False)
    geoms = geoms[~shapely.is_empty(geoms)]
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, 4))
    feats = ",".join('{"type":"Feature","properties":{},"geometry":%s}' % g for g in shapely.to_geojson(geoms))
    return '{"type":"FeatureCollection","features":[' + feats + "]}"


BASEMAP_DATA_ID = "bw-basemap-data"
_BASEMAP_SLOT = "@@BW_BASEMAP_DATA@@"


class _Raw(Element):
    """Text put in the document as is (branca compiles an Element's text as a template)."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "BwRaw"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


def _embed_basemap(m: folium.Map) -> None:
    """Make the map's basemap read its nations from a JSON data block in the document.

    The data goes in after rendering (:meth:`Snapshot.html`): megabytes of coordinates are kept
    out of branca's template compilation and out of the external-URL scan (coordinates hold no
    URL; the data is checked for ``//`` on insertion). Exports always draw this vector basemap,
    even where a tile server is configured: a standalone file cannot reach it (and the renderer
    blocks the network)."""
    adapter.remove_children(m, lambda child: isinstance(child, folium.TileLayer))
    nations = [child for child in adapter.children(m) if isinstance(child, BasemapNations)]
    if not nations:
        nations = [BasemapNations(data="null")]
        m.add_child(nations[0])
    for child in nations:
        child.url, child.data = None, f"JSON.parse(document.getElementById({json.dumps(BASEMAP_DATA_ID)}).textContent)"
    m.get_root().header.add_child(
        _Raw(f'<script type="application/json" id="{BASEMAP_DATA_ID}">{_BASEMAP_SLOT}</script>'), name="bw_basemap_data")


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Snapshot:
    spec: ExportSpec
    mode: str
    size: tuple[int, int]  # the page in CSS pixels
    map: folium.Map
    ctx: MapContext
    datasets: object  # DataFrame from shown_datasets
    sentence: str
    nations: str  # basemap GeoJSON
    notes: str = ""  # how to read the drawn map (registry.caption)

    @property
    def synthetic(self) -> bool:
        return shows_synthetic(self.datasets)

    def html(self) -> str:
        """Standalone HTML: every asset inlined, no external URL (raises if there would be one)."""
        text = offline.inline_assets_html(self.map)  # raises if anything would point off-site
        if "//" in self.nations or "</" in self.nations:
            raise offline.OfflineAssetError("basemap data holds unexpected text")
        head, slot, tail = text.partition(_BASEMAP_SLOT)
        if not slot:
            raise offline.OfflineAssetError("basemap data slot missing from the rendered map")
        return head + self.nations + tail


def map_area(mode: str, size: tuple[int, int]) -> tuple[int, int]:
    """Pixels of the map itself for a page size (banners take the rest)."""
    w, h = size
    return (w, h - 2 * BANNER_PX) if mode in ("png", "html") else (w - LEGEND_PANEL_PX, h)


def build(spec: ExportSpec, mode: str = "png", size: tuple[int, int] = PNG_SIZE, *,
          store: Store | None = None, datasets=None, sentence: str | None = None) -> Snapshot:
    """The export's folium map for ``mode`` at ``size`` CSS pixels, with its MapContext."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    store = store or default_store()
    w, h = map_area(mode, size)
    lat, lon, zoom = fit(spec.view, w, h)
    view = View.around(lat, lon, zoom, w, h)
    ctx = MapContext(spec.filter, view, spec.now, since=None, store=store)
    if datasets is None:
        datasets = shown_datasets(ctx)
    if sentence is None:
        sentence = spec.filter.describe(spec.now, names(store))

    m = basemap.base_map(store, (lat, lon), zoom, legend=True, embed_basemap=False)
    _embed_basemap(m)
    # the offline HTML can be panned and zoomed out: it gets the whole world, like the live map
    nations = _world_nations(str(store.path), basemap.nations_version(store)) if mode == "html" else nations_geojson(store, view)
    m.options.update(zoom=zoom, zoom_snap=ZOOM_SNAP, zoom_delta=1, min_zoom=0, max_zoom=MAX_ZOOM)
    root = m.get_root()
    root.header.add_child(_Raw(_css(mode, spec.marking)), name="bw_export_css")
    root.title = html.escape(f"{spec.title} {spec.dtg}")
    built = registry.build_all(ctx)
    for layer in built:
        m.add_child(layer.group)
    notes = registry.caption(built, ctx.situation)
    if mode == "html" and spec.filter.step:  # time playback: per-step density with a slider
        from borderwatch.exports import playback_html

        notes += playback_html.add_player(m, ctx, built)
    folium.LayerControl(collapsed=True).add_to(m)
    m.add_child(north_arrow())
    if mode in ("png", "html"):
        root.html.add_child(_Raw(_banners(spec.marking)), name="bw_marking")
        m.add_child(title_box(spec, sentence, shows_synthetic(datasets), notes))
    if mode == "html":
        m.add_child(_FitBounds(spec.view))
    m.add_child(_ReadyFlag())
    return Snapshot(spec, mode, size, m, ctx, datasets, sentence, nations, notes)

