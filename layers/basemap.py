"""The base map: offline vector land and nations (or a configured tile server), legend, scale bar.

It depends on nothing that changes between refreshes, so streamlit-folium keeps its iframe and
only the layers are replaced in place.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib

import folium
import folium.plugins
from branca.element import MacroElement, Template
from folium.elements import JSCSSMixin

import queries
from borderwatch.fileio import write_atomic
from borderwatch.domain import FORTIFICATION_LINES, FORTIFICATION_POINTS, THREAT_LABELS
from borderwatch.store import Store
from layers import style
from layers.elements import BasemapNations

TILES_ENV = "BORDERWATCH_TILES"  # e.g. http://tiles.local/{z}/{x}/{y}.png on sites with a tile server
TILES_ATTRIBUTION_ENV = "BORDERWATCH_TILES_ATTRIBUTION"
BASEMAP_TOLERANCE = 0.01
MIN_ZOOM, MAX_ZOOM = 2, 14

# Map panes, bottom to top (Leaflet's own: tiles 200, overlayPane 400, markers 600, tooltips 650,
# popups 700). Segments sit above the density hexagons and the sensor coverage so that they
# answer hover and click wherever they run; incident points sit above the segments.
PANES = (("bwBasemap", 250), ("bwDensity", 350), ("bwSensors", 370), ("bwSegments", 420), ("bwPoints", 440))


def nations_version(store: Store) -> str:
    """Changes whenever the nations' polygons change (cache key for everything drawn from them)."""
    value = queries.df("nations_fingerprint", store=store, cache=True).iloc[0, 0]
    return f"{BASEMAP_TOLERANCE}:{value}"


@functools.lru_cache(maxsize=4)
def nations_geojson(store_path: str, version: str = "") -> str:
    df = queries.df("basemap_nations", store=Store(store_path), tolerance=BASEMAP_TOLERANCE)
    feats = [{"type": "Feature", "properties": {}, "geometry": json.loads(g)} for g in df.geojson]
    return json.dumps({"type": "FeatureCollection", "features": feats}, separators=(",", ":"))


BASEMAP_FILE = "basemap/nations.geojson"  # under the app's static directory
STATIC_URL_PREFIX = "../../app/static"  # resolved from inside streamlit-folium's iframe


def write_static_basemap(store: Store, static_dir) -> pathlib.Path:
    """Write the basemap GeoJSON where Streamlit serves static files (at setup / app start)."""
    target = pathlib.Path(static_dir) / BASEMAP_FILE
    stamp = target.with_suffix(".version")
    target.parent.mkdir(parents=True, exist_ok=True)
    version = nations_version(store)
    if target.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == version:
        return target
    write_atomic(target, nations_geojson(str(store.path), version))
    write_atomic(stamp, version)
    return target


def base_map(store: Store, center: tuple[float, float] = (30.0, 20.0), zoom: float = 2, *,
             legend: bool = True, embed_basemap: bool = False, fullscreen: bool = False,
             theme: str = "light") -> folium.Map:
    """The base map. ``embed_basemap`` puts the nations in the document (standalone exports);
    otherwise the browser fetches them once from the app's static files. ``fullscreen`` adds
    the full-screen button (live map). ``theme`` is the display it starts in; inside the app it
    follows the page's display without a reload (``DisplayTheme``)."""
    tiles = os.environ.get(TILES_ENV, "").strip()
    m = folium.Map(location=list(center), zoom_start=zoom, tiles=None, control_scale=True,
                   world_copy_jump=False)
    # folium drops min/max zoom when there is no tile layer; marker clusters need maxZoom
    m.options["min_zoom"], m.options["max_zoom"] = MIN_ZOOM, MAX_ZOOM
    m.get_root().header.add_child(folium.Element(
        f"<style>.leaflet-container{{background:{style.BASEMAP_SEA};}} .bw-symbol{{background:none;border:none;}}"
        ".bw-seg th{text-align:left;vertical-align:top;padding-right:6px}"
        ".bw-spark polyline{fill:none;stroke-width:1.5}"
        # a clicked segment keeps no focus rectangle around its whole extent
        "path.leaflet-interactive:focus{outline:none}"
        # the halo of a segment with unacknowledged alerts flashes until someone acknowledges them
        "@keyframes bw-alert-flash{0%,100%{stroke-opacity:.15}50%{stroke-opacity:.7}}"
        ".bw-alert-halo{animation:bw-alert-flash 1.6s ease-in-out infinite}"
        "@media (prefers-reduced-motion: reduce){.bw-alert-halo{animation:none}}</style>"))
    m.add_child(MapPanes())
    m.add_child(PluginAssets())
    m.add_child(DisplayTheme(theme))
    if tiles:
        folium.TileLayer(tiles=tiles, attr=os.environ.get(TILES_ATTRIBUTION_ENV, "local tile server"),
                         name="Tiles", control=False).add_to(m)
    else:
        if embed_basemap:
            m.add_child(BasemapNations(data=nations_geojson(str(store.path), nations_version(store))))
        else:
            version = hashlib.sha1(nations_version(store).encode()).hexdigest()[:12]
            m.add_child(BasemapNations(url=f"{STATIC_URL_PREFIX}/{BASEMAP_FILE}?v={version}"))
    if legend:
        m.add_child(Legend())
    if fullscreen:
        m.add_child(FullScreen())
    return m


class MapPanes(MacroElement):
    """Creates the map panes of ``PANES`` once, when the base map is drawn."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function(map) {
        {{ this.panes|tojson }}.forEach(function(p) {
            if (!map.getPane(p[0])) { map.createPane(p[0]).style.zIndex = p[1]; }
        });
        // A press on the map focuses it for the arrow keys. Leaflet's plain focus() scrolls the page
        // when the map reaches below the window, and a scroll between the press and the release
        // moves the map under the pointer: the click (a segment's popup) would be lost.
        if (map.keyboard && map.keyboard.enabled()) {
            map.keyboard.disable();
            map.keyboard._onMouseDown = function() {
                if (!this._focused) { this._map.getContainer().focus({preventScroll: true}); }
            };
            map.keyboard.enable();
        }
    })({{ this._parent.get_name() }});
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "MapPanes"
        self.panes = [list(p) for p in PANES]


class DisplayTheme(MacroElement):
    """The map's dark colours, switched by the ``bw-dark`` class on the frame's document. Inside
    the app the frame follows the page's display (its ``--bw-theme`` CSS variable, checked twice
    a second) so switching the display recolours the map in place, with no reload; CSS wins over
    the colours Leaflet writes as SVG attributes. Standalone, it keeps the theme it was made with."""

    _template = Template("""
    {% macro header(this, kwargs) %}
    <style>
      .bw-dark .leaflet-container { background: {{ this.sea }} !important; }
      .bw-dark path.bw-land { fill: {{ this.land }}; stroke: {{ this.border }}; }
      .bw-dark #bw-legend { background: rgba(19,27,36,.93) !important; color: #dde6ee; }
      .bw-dark #bw-legend div { color: #93a4b4 !important; }
      .bw-dark .leaflet-bar a, .bw-dark .leaflet-control-layers { background: #1b2630; color: #dde6ee; }
      .bw-dark .leaflet-control-layers-expanded { color: #dde6ee; }
      .bw-dark .leaflet-control-scale-line { background: rgba(19,27,36,.8); color: #dde6ee; border-color: #93a4b4; }
      .bw-dark .leaflet-control-attribution { background: rgba(19,27,36,.8) !important; color: #93a4b4; }
      .bw-dark .bw-fullscreen svg { stroke: #dde6ee; }
    </style>
    {% endmacro %}
    {% macro script(this, kwargs) %}
    (function() {
        var start = {{ this.theme|tojson }};
        function apply() {
            var theme = start;
            try {
                var v = window.parent !== window && window.parent.getComputedStyle(
                    window.parent.document.documentElement).getPropertyValue("--bw-theme").trim();
                if (v) { theme = v; }
            } catch (e) { /* standalone: keep the theme it was made with */ }
            document.documentElement.classList.toggle("bw-dark", theme === "dark");
            window.bwTheme = theme;
        }
        apply();
        if (window.parent !== window) { setInterval(apply, 500); }
    })();
    {% endmacro %}
    """)

    def __init__(self, theme: str = "light"):
        super().__init__()
        self._name = "DisplayTheme"
        self.theme = theme
        self.sea, self.land, self.border = style.DARK_SEA, style.DARK_LAND, style.DARK_BORDER


class PluginAssets(JSCSSMixin, MacroElement):
    """Loads every Leaflet plugin a layer may need with the base map's first render.

    streamlit-folium loads scripts only when its map frame starts; a layer that arrives later
    through a partial update (``feature_group_to_add``) runs inside that frame, so a plugin first
    needed then (marker clustering, when the user zooms in far enough for points) would be
    undefined there. The asset lists are read when the element is made, i.e. after
    ``borderwatch.offline.use_local_assets`` pointed them at the app's own copies."""

    _template = Template("")

    def __init__(self):
        super().__init__()
        self._name = "PluginAssets"
        from borderwatch import offline

        if offline.local_assets_prefix() is None:  # an export built before anything pointed them home
            offline.use_local_assets()
        self.default_js = list(folium.plugins.MarkerCluster.default_js)
        self.default_css = list(folium.plugins.MarkerCluster.default_css)


class LayerToggles(folium.LayerControl):
    """folium's layer control, remembering which layers the user switched off.

    The live map replaces its layers on every refresh, filter change or move; the switched-off
    names are kept in the map frame (``window.bwHiddenLayers``) and switched off again on each
    replacement, so a toggle survives every update."""

    _template = Template("""
    {% macro script(this, kwargs) %}
        var {{ this.get_name() }}_layers = {
            base_layers : {
                {%- for key, val in this.base_layers.items() %}
                {{ key|tojson }} : {{ val }},
                {%- endfor %}
            },
            overlays : {
                {%- for key, val in this.overlays.items() %}
                {{ key|tojson }} : {{ val }},
                {%- endfor %}
            },
        };
        var {{ this.get_name() }} = L.control.layers(
            {{ this.get_name() }}_layers.base_layers,
            {{ this.get_name() }}_layers.overlays,
            {{ this.options|tojson }}
        ).addTo({{ this._parent.get_name() }});
        (function(map, control, overlays) {
            var hidden = window.bwHiddenLayers = window.bwHiddenLayers || {};
            Object.keys(overlays).forEach(function(name) {
                if (hidden[name] && map.hasLayer(overlays[name])) { map.removeLayer(overlays[name]); }
            });
            control.getContainer().addEventListener("change", function() {
                Object.keys(overlays).forEach(function(name) { hidden[name] = !map.hasLayer(overlays[name]); });
            });
        })({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.get_name() }}_layers.overlays);
    {% endmacro %}
    """)


class FullScreen(MacroElement):
    """A map button that shows the map alone on the whole screen (Esc or the button again leaves)."""

    _template = Template("""
    {% macro header(this, kwargs) %}
    <style>
      #map_div { height: 100vh !important; }  /* the live page sizes the frame to its window */
      :fullscreen .folium-map, :fullscreen #map_div, :fullscreen .leaflet-container {
          width: 100vw !important; height: 100vh !important; }
      .bw-fullscreen a { text-align: center; cursor: pointer; }
    </style>
    {% endmacro %}
    {% macro script(this, kwargs) %}
    (function(map) {
        var Button = L.Control.extend({
            options: {position: "topleft"},
            onAdd: function() {
                var box = L.DomUtil.create("div", "leaflet-bar bw-fullscreen");
                var a = L.DomUtil.create("a", "", box);
                a.href = "#"; a.title = "Full screen (Esc to leave)"; a.setAttribute("role", "button");
                a.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="margin-top:7px" fill="none" '
                    + 'stroke="#333" stroke-width="2"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5"/></svg>';
                L.DomEvent.on(a, "click", function(e) {
                    L.DomEvent.preventDefault(e); L.DomEvent.stopPropagation(e);
                    if (document.fullscreenElement) { document.exitFullscreen(); }
                    else if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen(); }
                });
                return box;
            }
        });
        new Button().addTo(map);
        // the page's CSS sizes this frame to the window below it: tell it where the frame starts
        function fit() {
            try {
                var frame = window.frameElement, root = window.parent.document.documentElement;
                if (!frame) { return; }
                var main = window.parent.document.querySelector('[data-testid="stMain"]');
                var top = frame.getBoundingClientRect().top + (main ? main.scrollTop : 0);
                var value = Math.round(top + 10) + "px";
                if (root.style.getPropertyValue("--bw-map-top") !== value) { root.style.setProperty("--bw-map-top", value); }
            } catch (e) { /* not inside the app page: nothing to fit */ }
        }
        fit();
        try {  // again whenever the window or the header above the map changes height
            window.parent.addEventListener("resize", fit);
            var watch = new window.parent.ResizeObserver(fit);
            watch.observe(window.parent.document.body);
            var block = window.parent.document.querySelector('[data-testid="stMainBlockContainer"]');
            if (block) { watch.observe(block); }
        } catch (e) {}
        document.addEventListener("fullscreenchange", function() {
            document.body.classList.toggle("bw-is-fullscreen", !!document.fullscreenElement);
            setTimeout(function() { map.invalidateSize(); }, 50);
        });
    })({{ this._parent.get_name() }});
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "FullScreen"


class Legend(MacroElement):
    """A static legend drawn with HTML/CSS only (no image or font from the internet)."""

    _template = Template("""
    {% macro html(this, kwargs) %}
    <details id="bw-legend" {{ "open" if this.open else "" }} style="position:absolute; bottom:28px; right:10px; z-index:9999;
         background:rgba(255,255,255,.93); padding:4px 8px; border-radius:6px; font:11px/1.3 sans-serif;
         box-shadow:0 1px 4px rgba(0,0,0,.3); max-width:230px; max-height:55%; overflow:auto;">
      <summary style="cursor:pointer;font-weight:bold" title="Show or hide the legend">Legend</summary>
      {{ this.body }}
    </details>
    {% endmacro %}
    """)

    def __init__(self, open: bool = True):
        super().__init__()
        self._name = "Legend"
        self.body = legend_html()
        self.open = open


def legend_html() -> str:
    def line(colour, width=4, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        return (f'<svg width="26" height="10"><line x1="1" y1="5" x2="25" y2="5" stroke="{colour}" '
                f'stroke-width="{width}"{d}/></svg>')

    def box(colour, opacity=0.6, outline=None, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        return (f'<svg width="14" height="12"><rect x="1" y="1" width="12" height="10" fill="{colour}" '
                f'fill-opacity="{opacity}" stroke="{outline or colour}"{d}/></svg>')

    parts = ['<b>Border impact level</b><br>']
    parts += [f'{line(style.IMPACT_COLORS[l], style.IMPACT_WEIGHT[l])} {l}<br>' for l in style.IMPACT_LEVELS]
    parts.append(f'<div style="color:#555;font-size:10px;margin:2px 0 4px">{style.IMPACT_RULE_TEXT}</div>')
    parts.append('<b>Incident density</b><br>' + "".join(box(c, 0.75) for c in style.DENSITY_RAMP) + ' fewer → more<br>')
    parts.append(f'<svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="#fff" stroke="{style.NEW_INCIDENT_COLOR}" stroke-width="3"/></svg> new since last refresh<br>')
    parts.append('<b>Sensors</b><br>')
    parts += [f'{box(c, 0.35)} {t.replace("_", " ")} ' for t, c in style.SENSOR_COLORS.items() if t != "other"]
    parts.append('<br>' + box("#1565c0", 0.18) + ' online ' + box("#1565c0", 0.10, dash="4 3") + ' degraded '
                 + box("#1565c0", 0.05, "#757575", "2 4") + ' offline<br>')
    parts.append(f'{line(style.GAP_COLOR, 3, style.GAP_DASH)} coverage gap<br>')
    parts.append('<b>Fortifications</b><br>')
    for kind in FORTIFICATION_LINES:
        colour, dash, weight, _ = style.FORTIFICATION_STYLE[kind]
        parts.append(f'{line(colour, weight, dash)} {style.FORTIFICATION_LABELS[kind]} ')
    parts.append("<br>")
    for kind in FORTIFICATION_POINTS:
        parts.append(f'{style.symbol_svg(kind, 12)} {style.FORTIFICATION_LABELS[kind]} ')
    parts.append('<br><b>Incident points</b><br>' + " ".join(
        f'<span style="color:{c}">●</span>{THREAT_LABELS[t].lower()}' for t, c in style.THREAT_COLORS.items() if t != "other"))
    return "".join(parts)
