"""One selected incident shared by the analysis table and its map (no Streamlit here).

The map shows the incidents of the table's current page (at most the page size, so the payload is
bounded); clicking a point selects that incident, and so does ticking a row. The selected one is
ringed on the map, highlighted in the table, and its details are shown below.
"""
from __future__ import annotations

import json
import math

import pandas as pd

from borderwatch.domain import THREAT_LABELS
from borderwatch.store import Store
from layers import style
from layers.base import text

SELECTED_ROW_CSS = "background-color: #fff3cd; font-weight: 600"
SELECTED_RING = "#ff6f00"


def point_label(incident_id: str, threat_type: str) -> str:
    """The point's tooltip; it carries the id, which is how a click names its incident."""
    return f"{incident_id} — {THREAT_LABELS.get(threat_type, threat_type)}"


def clicked_incident(page: pd.DataFrame, clicked: dict | None, tooltip: str | None) -> str | None:
    """The incident of the page a map click chose: by the point's tooltip, else the nearest point."""
    if page.empty or not clicked:
        return None
    ids = set(page.incident_id)
    if tooltip:
        head = str(tooltip).strip().split(" — ", 1)[0].strip()
        if head in ids:
            return head
    try:
        lat, lon = float(clicked["lat"]), float(clicked["lng"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    d = (page.lat - lat) ** 2 + ((page.lon - lon) * math.cos(math.radians(lat))) ** 2
    return str(page.incident_id.iloc[int(d.values.argmin())])


def highlight(table: pd.DataFrame, selected: str | None):
    """The table with the selected incident's row highlighted (a pandas Styler)."""
    def row_style(row):
        return [SELECTED_ROW_CSS if row.incident_id == selected else "" for _ in row]

    return table.style.apply(row_style, axis=1)


def page_map(page: pd.DataFrame, selected: dict | None, *, store: Store):
    """The page's incidents on a map, fitted to them; the selected one ringed with its segment and
    its location uncertainty."""
    import folium

    from layers import basemap

    if page.empty:
        return basemap.base_map(store, legend=False)
    m = basemap.base_map(store, (float(page.lat.mean()), float(page.lon.mean())), 5, legend=False)
    if selected and selected.get("segment_geojson"):
        folium.GeoJson(json.loads(selected["segment_geojson"]), name="segment",
                       style_function=lambda _f: {"color": SELECTED_RING, "weight": 4, "opacity": 0.8}).add_to(m)
    for r in page.itertuples(index=False):
        chosen = selected is not None and r.incident_id == selected["incident_id"]
        folium.CircleMarker(
            [round(r.lat, 5), round(r.lon, 5)], radius=(9 if chosen else 4) + int(r.severity) // 2,
            color=SELECTED_RING if chosen else "#212121", weight=4 if chosen else 1, fill=True, fill_opacity=0.9,
            fill_color=style.THREAT_COLORS.get(r.threat_type, "#757575"),
            tooltip=text(point_label(r.incident_id, r.threat_type)), class_name="bw-selected" if chosen else "bw-row",
        ).add_to(m)
    if selected is not None:
        err = selected.get("location_error_m")
        if err is not None and not pd.isna(err) and float(err) > 0:
            folium.Circle([selected["lat"], selected["lon"]], radius=float(err), color="#424242", weight=1,
                          fill=False, dash_array="3 3").add_to(m)
    w, s, e, n = page.lon.min(), page.lat.min(), page.lon.max(), page.lat.max()
    pad = 0.05
    m.fit_bounds([[s - pad, w - pad], [n + pad, e + pad]], padding=(20, 20), max_zoom=11)
    return m
