"""Segments with unacknowledged alerts: a wide halo under the segment line, the alerts as its
tooltip (the viewer's nation's alerts only, see borderwatch/alerts)."""
from __future__ import annotations

import folium

from layers import style
from layers.base import Built, MapContext, feature_collection, text
from layers.elements import GeoJsonLayer
from layers.segments import shapes

KEY = "alerts"
TITLE = "Alerted segments (unacknowledged)"
MAX_LISTED = 5


def alerted(ctx: MapContext) -> dict[str, list[str]]:
    """Segment id -> titles of its unacknowledged alerts, newest first."""
    frame = ctx.new_alerts
    out: dict[str, list[str]] = {}
    for seg, title in zip(frame.segment_id, frame.title):
        if isinstance(seg, str):
            out.setdefault(seg, []).append(title)
    return out


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    found = alerted(ctx)
    geoms = shapes(ctx) if found else {}
    feats = []
    for seg, titles in sorted(found.items()):
        if seg not in geoms:
            continue
        listed = "<br>".join(text(t) for t in titles[:MAX_LISTED])
        more = f"<br>and {len(titles) - MAX_LISTED} more" if len(titles) > MAX_LISTED else ""
        feats.append({"type": "Feature", "geometry": geoms[seg], "properties": {
            "segment": seg,
            "detail": f"<b>{len(titles)} unacknowledged alert{'s' if len(titles) != 1 else ''} on {text(seg)}</b>"
                      f"<br>{listed}{more}",
            "style": {"color": style.ALERT_COLOR, "weight": 11, "opacity": 0.45, "lineCap": "round",
                      "className": "bw-alert-halo"},  # flashes (the map's stylesheet) until acknowledged
        }})
    if feats:  # under the segment lines (their hover and click stay on top)
        fg.add_child(GeoJsonLayer(feature_collection(feats), pane="bwSensors"))
    return Built(fg, {"alerted_segments": len(feats)})
