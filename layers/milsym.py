"""Military symbols (MIL-STD-2525C / APP-6 letter codes) for the map's points.

With ``MapContext.symbols == "military"`` the incident, sensor, fortification and patrol points
are drawn as 2525 symbols instead of plain circles and pictograms. The symbol identification
code (SIDC) is chosen here, from the threat type, the sensor type and status, the kind of
fortification, or a patrol's CoT type (whose letters are the 2525 hierarchy); the browser draws
the SVG with ``milsymbol`` (npm, fetched at setup, see ``borderwatch.npm_assets``). The library
is loaded only when a layer first draws military symbols, and each point costs a few bytes (its
code is an index into the layer's short list of codes), so the payload stays bounded by the
layers' own point limits.
"""
from __future__ import annotations

from borderwatch.domain import THREAT_LABELS
from layers.elements import DataElement
from branca.element import Template

MODES = ("plain", "military")
URL_VALUE = {"plain": None, "military": "2525"}  # what ``symbols=`` holds in a link
MILSYMBOL_JS = "milsymbol/milsymbol.js"  # below static/vendor
SIZE = 18

# affiliation (2nd letter): H hostile, S suspect, F friend, U unknown; dimension (3rd): G ground, A air
THREAT_SIDC = {
    "illegal_crossing": "OSIP--------",   # stability operations: individual
    "smuggling": "OSGP--------",          # stability operations: group / organisation
    "drug_trafficking": "OSOPU-------",   # stability operations: drug-related operation
    "human_trafficking": "OSOPK-------",  # stability operations: kidnapping / abduction
    "weapons_trafficking": "OHGP--------",  # hostile group
    "document_fraud": "OSOPE-------",     # stability operations: extortion / fraud
    "armed_incursion": "SHGPUCI-----",    # hostile ground unit: infantry
    "drone_incursion": "SHAPMFQ-----",    # hostile air: unmanned aerial vehicle
    "other": "SUGP--------",              # unknown ground track
}
SENSOR_SIDC = {
    "radar": "SFGPESR-----",          # friendly ground equipment: radar
    "thermal_camera": "SFGPES------",  # sensor
    "optical_camera": "SFGPES------",
    "seismic_sensor": "SFGPESE-----",  # emplaced sensor
    "uav_orbit": "SFAPMFQ-----",       # friendly UAV
    "aerostat": "SFAPML------",        # friendly lighter-than-air
    "other": "SFGPES------",
}
FORTIFICATION_SIDC = {
    "border_post": "SFGPIG----H-",  # friendly installation: government
    "checkpoint": "SFGPIG----H-",
    "gate": "SFGPI-----H-",
    "watchtower": "SFGPI-----H-",
    "other": "SFGPI-----H-",
}
SENSOR_LABELS = {"radar": "Radar", "thermal_camera": "Camera (sensor)", "optical_camera": "Camera (sensor)",
                 "seismic_sensor": "Emplaced sensor", "uav_orbit": "UAV", "aerostat": "Aerostat", "other": "Sensor"}
_COT_AFFILIATIONS = set("fhnusapjk")
_COT_DIMENSIONS = set("PAGSUFX")


def with_status(sidc: str, status: str) -> str:
    """The code with its status letter: present (P) or damaged (D, degraded or offline sensors)."""
    return sidc[:3] + ("D" if status in ("degraded", "offline") else "P") + sidc[4:]


def threat_sidc(threat_type: str) -> str:
    return THREAT_SIDC.get(threat_type, THREAT_SIDC["other"])


def sensor_sidc(sensor_type: str, status: str = "online") -> str:
    return with_status(SENSOR_SIDC.get(sensor_type, SENSOR_SIDC["other"]), status)


def fortification_sidc(kind: str) -> str:
    return FORTIFICATION_SIDC.get(kind, FORTIFICATION_SIDC["other"])


def cot_sidc(cot_type: str | None) -> str:
    """A CoT atom type (``a-f-G-U-C-I``) as a 2525 code (``SFGPUCI-----``): CoT's letters after the
    affiliation and battle dimension are the 2525 function; anything else is a friendly ground unit."""
    parts = (cot_type or "").split("-")
    if len(parts) < 3 or parts[0] != "a" or parts[1] not in _COT_AFFILIATIONS or parts[2] not in _COT_DIMENSIONS:
        return "SFGPU-------"
    function = "".join(p for p in parts[3:] if len(p) == 1 and p.isalpha()).upper()[:6]
    return ("S" + parts[1].upper() + parts[2] + "P" + function).ljust(10, "-") + "--"


class MilSymbols(DataElement):
    """Points [lat, lon, code index, tooltip, popup] drawn as 2525 symbols by milsymbol, added to
    the parent (a feature group or a marker cluster); ``legend`` names each code for the legend."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var target = {{ this._parent.get_name() }};
        var codes = {{ this.codes|tojson }}, pts = {{ this.points|tojson }};
        var part = {{ this.part|tojson }}, legend = {{ this.legend|tojson }};
        {{ this.loader }}
        window.bwMilsymbol(function() {
            var made = {}, markers = [];
            codes.forEach(function(c, i) {
                var s = new ms.Symbol(c, {size: {{ this.size }}}), a = s.getAnchor(), z = s.getSize();
                made[i] = L.divIcon({html: s.asSVG(), className: "bw-mil", iconSize: [z.width, z.height],
                                     iconAnchor: [a.x, a.y]});
            });
            pts.forEach(function(p) {
                var m = L.marker([p[0], p[1]], {icon: made[p[2]], pane: "bwPoints"});
                if (p[3]) { m.bindTooltip(p[3]); }
                if (p[4]) { m.bindPopup(p[4], {maxWidth: 320}); }
                markers.push(m);
            });
            if (target.addLayers) { target.addLayers(markers); } else { markers.forEach(function(m) { m.addTo(target); }); }
            window.bwMilLegend(part, legend);
        });
    })();
    {% endmacro %}
    """)

    def __init__(self, points: list[list], codes: list[str], part: str, legend: dict[str, str]):
        super().__init__()
        self._name = "MilSymbols"
        self.points, self.codes, self.part, self.legend = points, codes, part, legend
        self.size, self.loader = SIZE, loader_js()


class MilLegendOff(DataElement):
    """Removes the military-symbol legend (plain symbols chosen again)."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() { if (window.bwMilLegendControl) { window.bwMilLegendControl.remove(); window.bwMilLegendControl = null; }
                  window.bwMilLegendParts = {}; })();
    {% endmacro %}
    """)


def loader_js() -> str:
    """Defines ``bwMilsymbol(callback)`` (loads milsymbol once, from the app's static files) and
    ``bwMilLegend(part, entries)`` (the map's legend of the symbols drawn) in the map frame."""
    from borderwatch import offline

    src = f"{offline.local_assets_prefix() or offline.STREAMLIT_URL_PREFIX}/{MILSYMBOL_JS}"
    return """
        if (!window.bwMilsymbol) {
            window.bwMilsymbol = function(done) {
                if (window.ms) { done(); return; }
                var queue = window.bwMilQueue = window.bwMilQueue || [];
                queue.push(done);
                if (queue.length > 1) { return; }
                var s = document.createElement("script");
                s.src = %s;
                s.onload = function() { queue.splice(0).forEach(function(f) { f(); }); };
                document.head.appendChild(s);
            };
            window.bwMilLegend = function(part, entries) {
                var parts = window.bwMilLegendParts = window.bwMilLegendParts || {};
                parts[part] = entries;
                var map = window.map || null;
                if (!map) { return; }
                if (!window.bwMilLegendControl) {
                    var C = L.Control.extend({options: {position: "bottomleft"}, onAdd: function() {
                        var d = L.DomUtil.create("div", "bw-mil-legend");
                        d.style.cssText = "background:rgba(255,255,255,.93);padding:4px 8px;border-radius:6px;" +
                            "font:11px/1.3 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-height:40vh;overflow:auto";
                        return d; }});
                    window.bwMilLegendControl = new C().addTo(map);
                }
                var rows = [], seen = {};
                Object.keys(parts).sort().forEach(function(k) {
                    Object.keys(parts[k]).forEach(function(code) {
                        var label = parts[k][code];
                        if (seen[label]) { return; }
                        seen[label] = 1;
                        var svg = new ms.Symbol(code, {size: 14}).asSVG();
                        var row = document.createElement("div");
                        var text = document.createElement("span");
                        text.textContent = " " + label;
                        row.innerHTML = svg; row.appendChild(text);
                        rows.push(row);
                    });
                });
                var box = window.bwMilLegendControl.getContainer();
                box.innerHTML = "<b>Military symbols (MIL-STD-2525)</b>";
                rows.forEach(function(r) { box.appendChild(r); });
            };
        }""" % _js_string(src)


def _js_string(value: str) -> str:
    import json

    return json.dumps(value)


def points_element(rows: list[tuple[float, float, str, str, str]], part: str, labels: dict[str, str]) -> MilSymbols:
    """Rows (lat, lon, sidc, tooltip html, popup html) as one element with a de-duplicated code list."""
    codes: list[str] = []
    index: dict[str, int] = {}
    points = []
    for lat, lon, sidc, tip, popup in rows:
        if sidc not in index:
            index[sidc] = len(codes)
            codes.append(sidc)
        points.append([round(lat, 5), round(lon, 5), index[sidc], tip, popup])
    return MilSymbols(points, codes, part, {c: labels.get(c, c) for c in codes})


def threat_labels() -> dict[str, str]:
    return {sidc: THREAT_LABELS.get(t, t) for t, sidc in THREAT_SIDC.items()}


def fortification_labels() -> dict[str, str]:
    return {"SFGPIG----H-": "Border post / checkpoint", "SFGPI-----H-": "Gate / watchtower"}


def sensor_labels() -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, sidc in SENSOR_SIDC.items():
        out.setdefault(with_status(sidc, "online"), SENSOR_LABELS[kind])
        out.setdefault(with_status(sidc, "offline"), SENSOR_LABELS[kind] + " (degraded or offline)")
    return out
