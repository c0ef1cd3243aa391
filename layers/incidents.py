"""Individual incidents (clustered, with details) when few enough are in view; new ones highlighted."""
from __future__ import annotations

import folium
from folium.plugins import MarkerCluster

from borderwatch.filters import SEVERITY_LABELS, THREAT_LABELS
from layers import MAX_POINTS, MapContext, style, text
from layers.elements import CirclePoints

KEY = "incidents"
TITLE = "Incidents (points)"
NEW_TITLE = "New since last refresh"


def popup_html(r) -> str:
    synthetic = "<br><i>synthetic scenario</i>" if getattr(r, "synthetic", False) else ""
    return (f"<b>{text(THREAT_LABELS.get(r.threat_type, r.threat_type))}</b> — severity "
            f"{SEVERITY_LABELS.get(int(r.severity), r.severity)}<br>{r.occurred_at:%Y-%m-%d %H:%MZ} · "
            f"{text(r.source)} · {text(r.segment_id or 'no segment')}<br>"
            f"{text(r.description)}<br><small>{text(r.incident_id)}</small>{synthetic}")


def build(ctx: MapContext) -> folium.FeatureGroup:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    count = int(ctx.q("incident_count_in_view", **ctx.view.params()).iloc[0, 0])
    ctx.incidents_in_view = count
    if 0 < count <= MAX_POINTS:
        cluster = MarkerCluster(options={"disableClusteringAtZoom": 11, "maxClusterRadius": 45}).add_to(fg)
        pts = [[round(r.lat, 5), round(r.lon, 5), 4 + int(r.severity), style.THREAT_COLORS.get(r.threat_type, "#757575"),
                "#222", 1, popup_html(r)]
               for r in ctx.q("incidents_in_view", max_rows=MAX_POINTS, **ctx.view.params()).itertuples(index=False)]
        cluster.add_child(CirclePoints(pts))
    if ctx.since is not None:
        new = ctx.q("new_incidents", since=ctx.since, max_rows=200)
        ctx.new_incidents = len(new)
        if len(new):
            fg.add_child(CirclePoints(
                [[round(r.lat, 5), round(r.lon, 5), 11, style.THREAT_COLORS.get(r.threat_type, "#757575"),
                  style.NEW_INCIDENT_COLOR, 3, "<b>NEW</b> " + popup_html(r)] for r in new.itertuples(index=False)],
                class_name="bw-new"))
    return fg
