"""Shared style definitions: the live map and every export draw from these, never from copies."""
from __future__ import annotations

IMPACT_LEVELS = ("low", "medium", "high", "critical")
IMPACT_COLORS = {"low": "#2e7d32", "medium": "#f9a825", "high": "#ef6c00", "critical": "#c62828"}
IMPACT_WEIGHT = {"low": 2.0, "medium": 3.0, "high": 4.5, "critical": 6.0}

# Impact level rule (EUROSUR-style grading, computed per segment for the filter window).
#   expected = the segment's own baseline daily rate x window length in days
#   ratio    = (incidents in window + 1) / (expected + 1)
#   z        = (incidents in window - expected) / sqrt(expected + 1)
# critical: ratio >= 3, z >= 3, n >= 8 | high: ratio >= 1.75, z >= 2, n >= 4 |
# medium: ratio >= 1.25, z >= 1, n >= 2 | else low   (the minimum counts keep single events from
# turning a quiet border red)
IMPACT_RULE = (
    ("critical", 3.0, 3.0, 8),
    ("high", 1.75, 2.0, 4),
    ("medium", 1.25, 1.0, 2),
)
IMPACT_RULE_TEXT = (
    "Impact level = incidents in the window against the segment's own baseline "
    "(its daily rate over the preceding period, up to 28 days): "
    "critical ≥ 3× baseline (z ≥ 3, ≥ 8 incidents); high ≥ 1.75× (z ≥ 2, ≥ 4); "
    "medium ≥ 1.25× (z ≥ 1, ≥ 2); otherwise low."
)

FORTIFICATION_STYLE = {
    # kind: (colour, line dash or None, line weight, point symbol)
    "wall": ("#37474f", None, 5, "square"),
    "fence": ("#6d4c41", "6 4", 3, "square"),
    "vehicle_barrier": ("#8d6e63", "2 4", 3, "square"),
    "patrol_road": ("#a1887f", "10 6", 2, "square"),
    "border_post": ("#1a237e", None, 2, "triangle"),
    "checkpoint": ("#0d47a1", None, 2, "square"),
    "gate": ("#4a148c", None, 2, "diamond"),
    "watchtower": ("#263238", None, 2, "tower"),
    "other": ("#616161", None, 2, "circle"),
}
FORTIFICATION_LABELS = {k: k.replace("_", " ") for k in FORTIFICATION_STYLE}

SENSOR_COLORS = {
    "radar": "#1565c0",
    "thermal_camera": "#d84315",
    "optical_camera": "#6a1b9a",
    "seismic_sensor": "#00838f",
    "uav_orbit": "#2e7d32",
    "aerostat": "#9e9d24",
    "other": "#546e7a",
}
SENSOR_STATUS_STYLE = {
    # status: (fill opacity, outline dash, outline colour override)
    "online": (0.18, None, None),
    "degraded": (0.10, "4 3", None),
    "offline": (0.05, "2 4", "#757575"),
}
GAP_COLOR = "#d50000"
ALERT_COLOR = "#d500f9"  # halo of segments with unacknowledged alerts
GAP_DASH = "1 6"

# incident density: sequential ramp (light yellow -> dark red), classes by count quantiles
DENSITY_RAMP = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
NEW_INCIDENT_COLOR = "#00e5ff"

THREAT_COLORS = {
    "illegal_crossing": "#1e88e5",
    "smuggling": "#8e24aa",
    "drug_trafficking": "#43a047",
    "human_trafficking": "#e53935",
    "weapons_trafficking": "#6d4c41",
    "document_fraud": "#fdd835",
    "armed_incursion": "#b71c1c",
    "drone_incursion": "#fb8c00",
    "other": "#757575",
}

BASEMAP_LAND = "#eef0ea"
BASEMAP_BORDER = "#b0b6ad"
BASEMAP_SEA = "#c9dbe6"
# the operations-room (dark) display: the same map, darkened (borderwatch/views/display.py)
DARK_LAND = "#1f2a33"
DARK_BORDER = "#4c5d6b"
DARK_SEA = "#0a1118"


def impact_level(count: float, expected: float) -> str:
    ratio = (count + 1.0) / (expected + 1.0)
    z = (count - expected) / (expected + 1.0) ** 0.5
    for level, min_ratio, min_z, min_count in IMPACT_RULE:
        if ratio >= min_ratio and z >= min_z and count >= min_count:
            return level
    return "low"


def density_color(value: float, breaks: list[float]) -> str:
    """Colour of a density class; ``breaks`` are ascending upper bounds of the first classes."""
    for i, b in enumerate(breaks):
        if value <= b:
            return DENSITY_RAMP[min(i, len(DENSITY_RAMP) - 1)]
    return DENSITY_RAMP[-1]


def density_breaks(values) -> list[float]:
    """Class upper bounds for density counts: quantiles, de-duplicated, at most len(ramp)-1."""
    vals = sorted(float(v) for v in values)
    if not vals:
        return []
    qs = [0.3, 0.55, 0.75, 0.9, 0.97]
    out: list[float] = []
    for q in qs[: len(DENSITY_RAMP) - 1]:
        v = vals[min(len(vals) - 1, int(q * (len(vals) - 1)))]
        if not out or v > out[-1]:
            out.append(v)
    return out


SYMBOL_SVG = {
    "square": '<rect x="3" y="3" width="10" height="10" fill="{c}" stroke="#fff" stroke-width="1.5"/>',
    "triangle": '<polygon points="8,2 14,14 2,14" fill="{c}" stroke="#fff" stroke-width="1.5"/>',
    "diamond": '<polygon points="8,1 15,8 8,15 1,8" fill="{c}" stroke="#fff" stroke-width="1.5"/>',
    "tower": '<rect x="6" y="4" width="4" height="10" fill="{c}"/><polygon points="3,5 13,5 8,1" fill="{c}" stroke="#fff" stroke-width="1"/>',
    "circle": '<circle cx="8" cy="8" r="5.5" fill="{c}" stroke="#fff" stroke-width="1.5"/>',
}


def symbol_svg(kind: str, size: int = 16) -> str:
    colour, _, _, symbol = FORTIFICATION_STYLE.get(kind, FORTIFICATION_STYLE["other"])
    return (f'<svg width="{size}" height="{size}" viewBox="0 0 16 16">'
            + SYMBOL_SVG[symbol].format(c=colour) + "</svg>")
