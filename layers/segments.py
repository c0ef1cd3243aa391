"""Border segments coloured by impact level, with the figures commanders ask for in the tooltip."""
from __future__ import annotations

import json
import math

import folium

import queries
from layers import MapContext, feature_collection, style

KEY = "segments"
TITLE = "Border segments (impact level)"


def shapes(ctx: MapContext) -> dict[str, dict]:
    tol = round(ctx.view.tolerance, 4)
    df = queries.df("segment_shapes", store=ctx.store, cache=True, tolerance=tol, **ctx.view.padded().params())
    return {sid: json.loads(g) for sid, g in zip(df.segment_id, df.geojson)}


def features(ctx: MapContext) -> list[dict]:
    stats = ctx.segment_stats
    geoms = shapes(ctx)
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
                "nations": f"{row.nation_a} – {row.nation_b}",
                "length": f"{row.length_km:,.0f} km",
                "incidents": f"{int(row.n):,} (prev. {int(row.n_prev):,}, {trend})",
                "impact": row.impact,
                "coverage": f"{row.coverage_pct:.0f}% under online sensors",
                "fortifications": row.fortifications,
                "style": {"color": style.IMPACT_COLORS[row.impact], "weight": style.IMPACT_WEIGHT[row.impact],
                          "opacity": 0.9},
            },
        })
    return out


def build(ctx: MapContext) -> folium.FeatureGroup:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    feats = features(ctx)
    if feats:
        folium.GeoJson(
            feature_collection(feats),
            name=TITLE,
            tooltip=folium.GeoJsonTooltip(
                fields=["nations", "impact", "incidents", "length", "coverage", "fortifications"],
                aliases=["Segment", "Impact", "Incidents in window", "Length", "Coverage", "Fortifications"],
                sticky=True),
        ).add_to(fg)
    return fg
