"""One selected incident shared by the analysis table and its map (no Streamlit here).

The map shows the incidents of the table's current page (at most the page size, so the payload is
bounded); clicking a point selects that incident, and so does ticking a row. The selected one is
ringed on the map, highlighted in the table, and its details are shown below. An incident is its
id and its owner nation (``identity``): two nations' rows under one id stay two rows.
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


def clicked_row(page: pd.DataFrame, clicked: dict | None, tooltip: str | None):
    """The page's row a map click chose: the point whose tooltip names its id (the nearest of them
    when two nations' rows share the id), else the nearest point; None when the click says nothing."""
    if page.empty or not clicked:
        return None
    candidates = page
    if tooltip:
        head = str(tooltip).strip().split(" — ", 1)[0].strip()
        if head in set(page.incident_id):
            candidates = page[page.incident_id == head]
    try:
        lat, lon = float(clicked["lat"]), float(clicked["lng"])
    except (KeyError, TypeError, ValueError):
        lat = lon = math.nan
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return candidates.iloc[0] if candidates is not page else None
    d = (candidates.lat - lat) ** 2 + ((candidates.lon - lon) * math.cos(math.radians(lat))) ** 2
    return candidates.iloc[int(d.values.argmin())]


def identity(row) -> tuple[str, str | None]:
    """A page row's incident: its id and its owner (two nations may use one id)."""
    owner = getattr(row, "owner_key", None)
    return str(row.incident_id), owner if isinstance(owner, str) else None


def is_selected(row, selected: str | None, owner: str | None = None) -> bool:
    """Whether a page row is the selected incident: its id and, when known, its owner."""
    ident, own = identity(row)
    return selected is not None and ident == selected and (owner is None or own == owner)


def highlight(table: pd.DataFrame, selected: str | None, owner: str | None = None):
    """The table with the selected incident's row highlighted (a pandas Styler)."""
    def row_style(row):
        return [SELECTED_ROW_CSS if is_selected(row, selected, owner) else "" for _ in row]

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
        chosen = selected is not None and is_selected(r, selected["incident_id"], selected.get("owner_nation"))
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
