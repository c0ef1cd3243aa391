"""Compact map elements: data goes to the browser once as arrays, drawn by a few lines of JS.

folium's per-marker elements emit a block of JavaScript per point; these emit one data array
per layer, which keeps the payload (re-sent on every rerun) and the render time bounded.

They also render without branca's second template pass: a ``MacroElement`` normally wraps its
rendered script in a new ``Element``, which compiles that text as a Jinja template once more —
slow for megabytes of GeoJSON, and a template evaluation of whatever text the data carries.
"""
from __future__ import annotations

import json

from branca.element import Element, Figure, MacroElement, Template

from layers import adapter, style


class Rendered(Element):
    """Already-rendered text, emitted as is (never compiled as a template)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class DataElement(MacroElement):
    """A macro element whose rendered parts go to the page verbatim."""

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        assert isinstance(figure, Figure), "You cannot render this element if it is not in a Figure."
        module = adapter.template_macros(self)
        for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            macro = module.get(part)
            if macro is not None:
                target.add_child(Rendered(macro(self, kwargs)), name=self.get_name())
        for child in adapter.children(self):
            child.render(**kwargs)


class GeoJsonLayer(DataElement):
    """A GeoJSON FeatureCollection styled by each feature's ``style`` property, with the
    ``detail`` property (HTML, already escaped) as its tooltip and ``popup`` (HTML) as its popup,
    drawn in the map pane ``pane`` (see ``layers.basemap.PANES``)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var layer = L.geoJson({{ this.data }}, {
            style: function(f) { return f.properties.style; },
            interactive: {{ 'true' if this.interactive else 'false' }},
            {%- if this.pane %}
            pane: {{ this.pane|tojson }},
            {%- endif %}
            onEachFeature: function(f, l) {
                if (f.properties.detail) { l.bindTooltip(f.properties.detail, {sticky: true}); }
                if (f.properties.popup) { l.bindPopup(f.properties.popup, {maxWidth: 380, minWidth: 260}); }
            }
        });
        layer.addTo({{ this._parent.get_name() }});
    })();
    {% endmacro %}
    """)

    def __init__(self, collection: dict, interactive: bool = True, pane: str | None = None):
        super().__init__()
        self._name = "GeoJsonLayer"
        self.data = compact_json(collection)
        self.interactive, self.pane = interactive, pane


class BasemapNations(DataElement):
    """Nation polygons drawn under everything else: fetched from a static URL (the live app:
    downloaded once, never part of the rerun payload) or embedded (standalone exports)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var look = {{ this.look|tojson }};
        var map = {{ this._parent.get_name() }};
        function draw(data) {
            var layer = L.geoJson(data, {style: function() { return look; }, interactive: false,
                                          pane: map.getPane('bwBasemap') ? 'bwBasemap' : 'overlayPane'});
            layer.addTo(map);
            layer.bringToBack();
            window.bwBasemapLoaded = true;
        }
        {% if this.data %}
        draw({{ this.data }});
        {% else %}
        fetch({{ this.url|tojson }}).then(function(r) { return r.json(); }).then(draw);
        {% endif %}
    })();
    {% endmacro %}
    """)

    def __init__(self, *, url: str | None = None, data: str | None = None):
        super().__init__()
        self._name = "BasemapNations"
        self.url, self.data = url, data
        self.look = {"color": style.BASEMAP_BORDER, "weight": 0.6, "fillColor": style.BASEMAP_LAND,
                     "fillOpacity": 1.0, "className": "bw-land"}  # the dark display recolours .bw-land


class SymbolPoints(DataElement):
    """Points drawn as small inline-SVG symbols (one definition per kind), with a tooltip each."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var symbols = {{ this.symbols|tojson }};
        var pts = {{ this.points|tojson }};
        for (var i = 0; i < pts.length; i++) {
            var p = pts[i];
            var icon = L.divIcon({html: symbols[p[2]], className: 'bw-symbol', iconSize: [16, 16], iconAnchor: [8, 8]});
            L.marker([p[0], p[1]], {icon: icon}).bindTooltip(p[3]).addTo({{ this._parent.get_name() }});
        }
    })();
    {% endmacro %}
    """)

    def __init__(self, points: list[list], symbols: dict[str, str]):
        super().__init__()
        self._name = "SymbolPoints"
        self.points, self.symbols = points, symbols


class CirclePoints(DataElement):
    """Circle markers [lat, lon, radius, fill, outline, weight, popup html, (opacity factor)] added to
    the parent (a feature group, or a marker cluster group); the factor fades old items."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var pts = {{ this.points|tojson }};
        var target = {{ this._parent.get_name() }};
        var markers = [];
        for (var i = 0; i < pts.length; i++) {
            var p = pts[i];
            var f = p.length > 7 ? p[7] : 1;
            var m = L.circleMarker([p[0], p[1]], {radius: p[2], fillColor: p[3], color: p[4], weight: p[5],
                                                  fill: true, fillOpacity: 0.9 * f, opacity: f, className: {{ this.class_name|tojson }},
                                                  pane: {{ (this.pane or 'overlayPane')|tojson }}});
            if (p[6]) { m.bindPopup(p[6], {maxWidth: 320}); }
            markers.push(m);
        }
        if (target.addLayers) { target.addLayers(markers); } else { markers.forEach(function(m) { m.addTo(target); }); }
    })();
    {% endmacro %}
    """)

    def __init__(self, points: list[list], class_name: str = "bw-point", pane: str | None = None):
        super().__init__()
        self._name = "CirclePoints"
        self.points, self.class_name, self.pane = points, class_name, pane


def compact_json(obj) -> str:
    """JSON for a script element: compact, and safe inside <script> (no '</' sequence)."""
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")
