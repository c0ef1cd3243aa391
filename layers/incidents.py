"""Individual incidents (clustered, with details) when few enough are in view; new ones highlighted."""
from __future__ import annotations

import folium
import pandas as pd
from folium.plugins import MarkerCluster

from borderwatch.domain import SEVERITY_LABELS, THREAT_LABELS
from layers import milsym, style
from layers.base import MAX_POINTS, Built, MapContext, text
from layers.elements import CirclePoints

KEY = "incidents"
TITLE = "Incidents (points)"
NEW_TITLE = "New since last refresh"
PANE = "bwPoints"


def known(value, default: str = "") -> str:
    """A value from the data as text, or ``default`` where it is missing (no "nan" / "None")."""
    return default if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def popup_html(r) -> str:
    synthetic = "<br><i>synthetic scenario</i>" if getattr(r, "synthetic", False) else ""
    description = known(r.description)
    return (f"<b>{text(THREAT_LABELS.get(r.threat_type, r.threat_type))}</b> — severity "
            f"{SEVERITY_LABELS.get(int(r.severity), r.severity)}<br>{r.occurred_at:%Y-%m-%d %H:%MZ} · "
            f"{text(known(r.source, 'source not given'))} · {text(known(r.segment_id, 'no segment'))}<br>"
            + (f"{text(description)}<br>" if description else "")
            + f"<small>{text(r.incident_id)}</small>{synthetic}")


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    count = int(ctx.q("incident_count_in_view", **ctx.extent.params()).iloc[0, 0])  # what would be drawn
    in_view = count if ctx.extent == ctx.view else int(ctx.q("incident_count_in_view", **ctx.view.params()).iloc[0, 0])
    notes = {"incidents_in_view": in_view}
    if 0 < count <= MAX_POINTS:
        cluster = MarkerCluster(options={"disableClusteringAtZoom": 11, "maxClusterRadius": 45}).add_to(fg)
        rows = ctx.q("incidents_in_view", max_rows=MAX_POINTS, **ctx.extent.params())
        if ctx.military:
            cluster.add_child(milsym.points_element(
                [(r.lat, r.lon, milsym.threat_sidc(r.threat_type), text(THREAT_LABELS.get(r.threat_type, r.threat_type)),
                  popup_html(r)) for r in rows.itertuples(index=False)], "incidents", milsym.threat_labels()))
            rows = rows.iloc[:0]
        pts = [[round(r.lat, 5), round(r.lon, 5), 4 + int(r.severity), style.THREAT_COLORS.get(r.threat_type, "#757575"),
                "#222", 1, popup_html(r)]
               for r in rows.itertuples(index=False)]
        if pts:
            cluster.add_child(CirclePoints(pts, pane=PANE))
    if not ctx.military:
        fg.add_child(milsym.MilLegendOff())
    if ctx.since is not None:
        new = ctx.q("new_incidents", since=ctx.since, max_rows=200)
        notes["new_incidents"] = len(new)
        if len(new):
            fg.add_child(CirclePoints(
                [[round(r.lat, 5), round(r.lon, 5), 11, style.THREAT_COLORS.get(r.threat_type, "#757575"),
                  style.NEW_INCIDENT_COLOR, 3, "<b>NEW</b> " + popup_html(r)] for r in new.itertuples(index=False)],
                class_name="bw-new", pane=PANE))
    return Built(fg, notes)
