"""Map tools on the base map: measuring distances and areas, drawing the area of interest.

Both use Leaflet.draw (``borderwatch.npm_assets``: fetched at setup, served from the app's own
static files). Measuring never leaves the map: its shapes are kept out of Leaflet.draw's
"created" event, so the page does not rerun for a measurement. Drawing the area of interest is a
rectangle or polygon tool whose one shape lives in ``window.drawnItems``, the group
streamlit-folium reports back as ``all_drawings`` / ``last_active_drawing``.

Distances are the sum of great-circle legs (Leaflet's ``distanceTo``, on the sphere of radius
6,378,137 m) and areas Leaflet.draw's spherical ``geodesicArea``: within 0.5 % of the WGS84
ellipsoid, never degrees.
"""
from __future__ import annotations

from branca.element import MacroElement, Template
from folium.elements import JSCSSMixin

DRAW_JS = ("leaflet_draw_js", "leaflet.draw/leaflet.draw.js")  # (name, path below static/vendor)
DRAW_CSS = ("leaflet_draw_css", "leaflet.draw/leaflet.draw.css")
MEASURE_STYLE = {"color": "#d81b60", "weight": 3, "opacity": 0.9, "fillOpacity": 0.12, "dashArray": "6 4"}
AREA_STYLE = {"color": "#1565c0", "weight": 2, "fillColor": "#1565c0", "fillOpacity": 0.08}

_CSS = """
<style>
  .bw-measure a { font: bold 15px/30px sans-serif; text-align: center; cursor: pointer; color: #333; }
  .leaflet-tooltip.bw-measure-result { font: bold 12px sans-serif; color: #880e4f; background: rgba(255,255,255,.92);
      border: 1px solid #d81b60; }
</style>
"""


class Measure(JSCSSMixin, MacroElement):
    """Buttons to measure a distance (a line of any number of legs) or an area on the map; each
    result stays on the map as a labelled shape until "Clear measurements"."""

    default_js = [DRAW_JS]
    default_css = [DRAW_CSS]
    _template = Template("""
    {% macro header(this, kwargs) %}""" + _CSS + """{% endmacro %}
    {% macro script(this, kwargs) %}
    (function(map) {
        if (typeof L.Draw === "undefined") { return; }
        var look = {{ this.look|tojson }};
        var results = L.featureGroup().addTo(map);
        function km(m) { return (m / 1000).toLocaleString("en", {maximumFractionDigits: m < 100000 ? 1 : 0}) + " km"; }
        function km2(a) { return (a / 1e6).toLocaleString("en", {maximumFractionDigits: a < 1e8 ? 1 : 0}) + " km²"; }
        function length(ll) { var d = 0; for (var i = 1; i < ll.length; i++) { d += ll[i - 1].distanceTo(ll[i]); } return d; }
        function show(layer, text) {
            layer.addTo(results).bindTooltip(text, {permanent: true, direction: "center", className: "bw-measure-result"});
            window.bwLastMeasure = text;
        }
        var Line = L.Draw.Polyline.extend({_fireCreatedEvent: function() {
            var ll = this._poly.getLatLngs();
            show(L.polyline(ll, look), km(length(ll)));
        }});
        var Area = L.Draw.Polygon.extend({_fireCreatedEvent: function() {
            var ll = this._poly.getLatLngs();
            show(L.polygon(ll, look), km2(L.GeometryUtil.geodesicArea(ll)) + " · perimeter " + km(length(ll.concat([ll[0]]))));
        }});
        var active = null;
        function start(Handler, extra) {
            if (active) { active.disable(); }
            active = new Handler(map, L.extend({shapeOptions: look, metric: true, showLength: true, feet: false}, extra));
            active.enable();
        }
        var Control = L.Control.extend({
            options: {position: "topleft"},
            onAdd: function() {
                var box = L.DomUtil.create("div", "leaflet-bar bw-measure");
                function button(title, html, action) {
                    var a = L.DomUtil.create("a", "", box);
                    a.href = "#"; a.title = title; a.setAttribute("role", "button"); a.innerHTML = html;
                    L.DomEvent.on(a, "click", function(e) { L.DomEvent.stop(e); action(); });
                    L.DomEvent.disableClickPropagation(a);
                }
                button("Measure a distance", "&#8596;", function() { start(Line, {}); });
                button("Measure an area", "&#9649;", function() { start(Area, {showArea: true, allowIntersection: false}); });
                button("Clear measurements", "&#215;", function() { if (active) { active.disable(); } results.clearLayers(); });
                return box;
            }
        });
        new Control().addTo(map);
    })({{ this._parent.get_name() }});
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "Measure"
        self.look = MEASURE_STYLE


class AreaDraw(JSCSSMixin, MacroElement):
    """Leaflet.draw's toolbar with a rectangle and a polygon tool, editing and deleting; one shape
    at a time (a new one replaces the last). ``area`` (GeoJSON geometry) is the current area of
    interest, shown as the editable shape."""

    default_js = [DRAW_JS]
    default_css = [DRAW_CSS]
    _template = Template("""
    {% macro script(this, kwargs) %}
    (function(map) {
        if (typeof L.Draw === "undefined") { return; }
        var look = {{ this.look|tojson }};
        var drawn = window.drawnItems = new L.FeatureGroup().addTo(map);
        var area = {{ this.area|tojson }};
        if (area) {
            L.geoJson(area, {style: function() { return look; }}).eachLayer(function(l) {
                (l.getLayers ? l.getLayers() : [l]).forEach(function(p) { drawn.addLayer(p); });
            });
        }
        new L.Control.Draw({
            position: "topleft",
            draw: {polyline: false, circle: false, marker: false, circlemarker: false,
                   rectangle: {shapeOptions: look, showArea: false},
                   polygon: {shapeOptions: look, allowIntersection: false, showArea: false}},
            edit: {featureGroup: drawn, remove: true}
        }).addTo(map);
        map.on(L.Draw.Event.CREATED, function(e) { drawn.clearLayers(); drawn.addLayer(e.layer); });
    })({{ this._parent.get_name() }});
    {% endmacro %}
    """)

    def __init__(self, area: dict | None = None):
        super().__init__()
        self._name = "AreaDraw"
        self.area = area
        self.look = AREA_STYLE


def available(package: str = "leaflet-draw") -> bool:
    """True when setup put the npm package in the app's static files (the app never fetches it)."""
    from borderwatch import app_setup, npm_assets

    return npm_assets.is_installed(npm_assets.BY_NAME[package], app_setup.STATIC_DIR)


def missing_notice() -> str:
    """What the page says when the map tools are left out."""
    from borderwatch import app_setup, npm_assets

    gone = npm_assets.missing(app_setup.STATIC_DIR)
    return (f"Map tools unavailable: {', '.join(gone)} not installed in the app's static files; run "
            "`make setup` (needs npm) and restart the app." if gone else "")
