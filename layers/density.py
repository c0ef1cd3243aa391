"""Incident density as H3 hexagons aggregated in DuckDB; resolution follows zoom and viewport."""
from __future__ import annotations

import folium

from borderwatch import hexgrid
from borderwatch.domain import THREAT_LABELS
from borderwatch.words import plural
from layers.elements import GeoJsonLayer
from layers import style
from layers.base import MAX_HEX_CELLS, Built, MapContext, feature_collection

KEY = "density"
TITLE = "Incident density (hexagons)"


def cells(ctx: MapContext):
    """Cells for the view; if the chosen resolution overflows the cap, step to a coarser one."""
    res = hexgrid.resolution_for_zoom(ctx.view.zoom)
    while True:
        df = ctx.q("incident_density", res=res, max_cells=MAX_HEX_CELLS + 1, **ctx.extent.params())
        if len(df) <= MAX_HEX_CELLS or res <= 1:
            return res, df.head(MAX_HEX_CELLS)
        res -= 1


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    res, df = cells(ctx)
    breaks = style.density_breaks(df.n) if len(df) else []
    feats = []
    for r in df.itertuples(index=False):
        feats.append({"type": "Feature",
                      "geometry": {"type": "Polygon", "coordinates": [[[round(x, 4), round(y, 4)] for x, y in hexgrid.boundary(r.cell)]]},
                      "properties": {
                          "detail": f"{plural(r.n, 'incident')}; mostly {THREAT_LABELS.get(r.top_threat, r.top_threat).lower()}; last {r.last_at:%Y-%m-%d %H:%MZ}",
                          "style": {"color": "#7f0000", "weight": 0.4, "fillColor": style.density_color(r.n, breaks),
                                    "fillOpacity": 0.62, "opacity": 0.5},
                      }})
    if feats:
        fg.add_child(GeoJsonLayer(feature_collection(feats), pane="bwDensity"))
    return Built(fg, {"density_resolution": res, "density_breaks": breaks})
