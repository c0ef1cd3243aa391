"""Fortifications: barrier lines styled by kind, posts / checkpoints / towers as distinct symbols."""
from __future__ import annotations

import json

import folium
import pandas as pd

from layers import milsym, style
from layers.base import MAX_FORTIFICATIONS, Built, MapContext, feature_collection, text
from layers.incidents import known
from layers.elements import SymbolPoints, GeoJsonLayer

KEY = "fortifications"
TITLE = "Fortifications"
POINT_MIN_ZOOM = 5  # towers and other point works are drawn from this zoom in; crossings always


def rows(ctx: MapContext):
    return ctx.q("fortifications_in_view", tolerance=round(ctx.view.tolerance, 4), max_rows=MAX_FORTIFICATIONS,
                 **ctx.extent.params())


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    df = rows(ctx)
    lines, points = [], []
    for r in df.itertuples(index=False):
        kind = r.kind if r.kind in style.FORTIFICATION_STYLE else "other"
        colour, dash, weight, _ = style.FORTIFICATION_STYLE[kind]
        label = f"{style.FORTIFICATION_LABELS[kind].capitalize()}: {text(known(r.name) or r.fortification_id)}"
        built = "year unknown" if pd.isna(r.year_built) else f"built {int(r.year_built)}"
        detail = f"{label}<br>condition {text(known(r.condition, 'unknown'))}; {built}"
        if r.synthetic:
            detail += "<br><i>synthetic scenario</i>"
        geom = json.loads(r.geojson)
        if geom["type"] in ("Point", "MultiPoint"):
            if ctx.view.zoom < POINT_MIN_ZOOM and kind not in ("checkpoint", "border_post", "gate"):
                continue
            coords = geom["coordinates"] if geom["type"] == "Point" else geom["coordinates"][0]
            points.append([round(coords[1], 5), round(coords[0], 5), kind, detail])
        else:
            lines.append({"type": "Feature", "geometry": geom, "properties": {
                "detail": detail,
                "style": {"color": colour, "weight": weight, "dashArray": dash, "opacity": 0.95, "lineCap": "butt"},
            }})
    if points and ctx.military:
        fg.add_child(milsym.points_element([(p[0], p[1], milsym.fortification_sidc(p[2]), p[3], "") for p in points],
                                           "fortifications", milsym.fortification_labels()))
    elif points:
        fg.add_child(SymbolPoints(points, {k: style.symbol_svg(k) for k in {p[2] for p in points}}))
    if lines:
        fg.add_child(GeoJsonLayer(feature_collection(lines)))
    return Built(fg)
