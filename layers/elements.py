"""Compact map elements: data goes to the browser once as arrays, drawn by a few lines of JS.

folium's per-marker elements emit a block of JavaScript per point; these emit one data array
per layer, which keeps the payload (re-sent on every rerun) and the render time bounded.
"""
from __future__ import annotations

import json

from branca.element import MacroElement, Template

from layers import style


class BasemapNations(MacroElement):
    """Nation polygons drawn under everything else: fetched from a static URL (the live app:
    downloaded once, never part of the rerun payload) or embedded (standalone exports)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var look = {{ this.look|tojson }};
        function draw(data) {
            var layer = L.geoJson(data, {style: function() { return look; }, interactive: false});
            layer.addTo({{ this._parent.get_name() }});
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
                     "fillOpacity": 1.0}


class SymbolPoints(MacroElement):
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


class CirclePoints(MacroElement):
    """Circle markers [lat, lon, radius, fill, outline, weight, popup html] added to the parent
    (a feature group, or a marker cluster group)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var pts = {{ this.points|tojson }};
        var target = {{ this._parent.get_name() }};
        var markers = [];
        for (var i = 0; i < pts.length; i++) {
            var p = pts[i];
            var m = L.circleMarker([p[0], p[1]], {radius: p[2], fillColor: p[3], color: p[4], weight: p[5],
                                                  fill: true, fillOpacity: 0.9, className: {{ this.class_name|tojson }}});
            if (p[6]) { m.bindPopup(p[6], {maxWidth: 320}); }
            markers.push(m);
        }
        if (target.addLayers) { target.addLayers(markers); } else { markers.forEach(function(m) { m.addTo(target); }); }
    })();
    {% endmacro %}
    """)

    def __init__(self, points: list[list], class_name: str = "bw-point"):
        super().__init__()
        self._name = "CirclePoints"
        self.points, self.class_name = points, class_name


def compact_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))
