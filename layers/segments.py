"""Border segments coloured by impact level, with the figures commanders ask for in the tooltip."""
from __future__ import annotations

import json
import math

import folium

import queries
from layers import MapContext, feature_collection, style, text
from layers.elements import GeoJsonLayer

KEY = "segments"
TITLE = "Border segments (impact level)"


def shapes(ctx: MapContext) -> dict[str, dict]:
    tol = round(ctx.view.tolerance, 4)
    df = queries.df("segment_shapes", store=ctx.store, cache=True, tolerance=tol, **ctx.view.padded().params())
    return {sid: json.loads(g) for sid, g in zip(df.segment_id, df.geojson)}


def features(ctx: MapContext) -> list[dict]:
    stats = ctx.segment_stats
    geoms = shapes(ctx)
    names = nation_names(ctx.store)
    out = []
    for row in stats.itertuples(index=False):
        geom = geoms.get(row.segment_id)
        if geom is None:
            continue
        trend = "n/a" if row.trend_pct is None or (isinstance(row.trend_pct, float) and math.isnan(row.trend_pct)) else f"{row.trend_pct:+.0f}%"
        out.append({
            "type": "Feature",
            "geometry": geom,
            "properties": {
                "segment": row.segment_id,
                "detail": tooltip([
                    ("Segment", f"{text(names.get(row.nation_a, row.nation_a))} – {text(names.get(row.nation_b, row.nation_b))} ({text(row.segment_id)})"),
                    ("Impact", f"<b style='color:{style.IMPACT_COLORS[row.impact]}'>{row.impact}</b>"),
                    ("Incidents in window", f"{int(row.n):,} (previous {int(row.n_prev):,}, {trend})"),
                    ("Length", f"{row.length_km:,.0f} km"),
                    ("Coverage", f"{row.coverage_pct:.0f}% under online sensors"),
                    ("Fortifications", text(row.fortifications)),
                ]),
                "style": {"color": style.IMPACT_COLORS[row.impact], "weight": style.IMPACT_WEIGHT[row.impact],
                          "opacity": 0.9},
            },
        })
    return out


def tooltip(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th style='text-align:left;padding-right:6px'>{k}</th><td>{v}</td></tr>"
                               for k, v in rows) + "</table>"


def nation_names(store) -> dict[str, str]:
    df = queries.df("nation_names", store=store, cache=True)
    return dict(zip(df.iso3, df["name"]))


def build(ctx: MapContext) -> folium.FeatureGroup:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    feats = features(ctx)
    if feats:
        fg.add_child(GeoJsonLayer(feature_collection(feats)))
    return fg
