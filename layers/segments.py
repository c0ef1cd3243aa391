"""Border segments coloured by impact level: a short tooltip on hover, and on click a popup with
the figures commanders ask for and a link to the analysis of that segment."""
from __future__ import annotations

import json
import math
from urllib.parse import urlencode

import folium

import queries
from borderwatch.words import plural
from layers import style
from layers.base import LINE_MARGIN, Built, MapContext, feature_collection, text
from layers.elements import GeoJsonLayer

KEY = "segments"
TITLE = "Border segments (impact level)"
PANE = "bwSegments"
# the analysis page, from inside streamlit-folium's map frame (<root>/component/<name>/index.html)
ANALYSIS_URL = "../../analysis"


def shapes(ctx: MapContext) -> dict[str, dict]:
    tol = round(ctx.view.tolerance, 4)
    df = queries.df("segment_shapes", store=ctx.store, cache=True, tolerance=tol, **ctx.extent.padded(LINE_MARGIN).params())
    return {sid: json.loads(g) for sid, g in zip(df.segment_id, df.geojson)}


def sparkline(values: list[int], colour: str, width: int = 120, height: int = 22) -> str:
    """A small inline-SVG line of counts (oldest left)."""
    if not values:
        return ""
    top = max(max(values), 1)
    step = width / max(len(values) - 1, 1)
    pts = " ".join(f"{i * step:.0f},{height - 2 - v / top * (height - 4):.0f}" for i, v in enumerate(values))
    return (f'<svg class="bw-spark" width="{width}" height="{height}">'
            f'<polyline points="{pts}" stroke="{colour}"/></svg>')


def trend_words(n: int, n_prev: int, trend_pct: float) -> str:
    if n_prev == 0:
        return "none in the previous window" if n == 0 else f"previous window {plural(0, 'incident')}"
    if isinstance(trend_pct, float) and math.isnan(trend_pct):
        return f"previous window {plural(n_prev, 'incident')}"
    return f"previous window {plural(n_prev, 'incident')}, {trend_pct:+.0f}%"


def analysis_link(ctx: MapContext, segment_id: str) -> str:
    params = ctx.filter.replace(segments=(segment_id,), bbox=None, area_wkt="").to_params()
    return f"{ANALYSIS_URL}?{urlencode(params)}"


def popup(ctx: MapContext, row, names: dict[str, str], trend: list[int]) -> str:
    colour = style.IMPACT_COLORS[row.impact]
    rows = [
        ("Nations", f"{text(names.get(row.nation_a, row.nation_a))} – {text(names.get(row.nation_b, row.nation_b))}"),
        ("Impact", f"<b style=color:{colour}>{row.impact}</b><br><small>{text(row.reason)}</small>"),
        ("Incidents", f"{plural(row.n, 'incident')} in the window<br><small>"
                      f"{trend_words(int(row.n), int(row.n_prev), row.trend_pct)}</small>"
                      + (f"<br>{sparkline(trend, colour)}" if trend and sum(trend) else "")),
        ("Length", f"{row.length_km:,.0f} km"),
        ("Coverage", f"{row.coverage_pct:.0f}% under online sensors"),
        ("Fortifications", text(row.fortifications)),
    ]
    # a new tab: the map frame may not navigate the page (sandbox), and the live map stays open
    link = (f"<a href=\"{text(analysis_link(ctx, row.segment_id))}\" target=\"_blank\" rel=\"noopener\" "
            f"class=bw-analysis-link>Analyse this segment in a new tab &rarr;</a>")
    return f"<div class=bw-seg><b>{text(row.segment_id)}</b>" + table(rows) + link + "</div>"


def table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def features(ctx: MapContext) -> list[dict]:
    stats = ctx.situation.segment_stats
    geoms = shapes(ctx)
    shown = [r for r in stats.itertuples(index=False) if r.segment_id in geoms]
    if not shown:
        return []
    names = nation_names(ctx.store)
    trends = ctx.situation.segment_trend
    out = []
    for row in shown:
        out.append({
            "type": "Feature",
            "geometry": geoms[row.segment_id],
            "properties": {
                "segment": row.segment_id,
                "detail": (f"{text(names.get(row.nation_a, row.nation_a))} – {text(names.get(row.nation_b, row.nation_b))}: "
                           f"<b>{row.impact}</b> impact, {plural(row.n, 'incident')}<br><small>click for details</small>"),
                "popup": popup(ctx, row, names, trends.get(row.segment_id, [])),
                "style": {"color": style.IMPACT_COLORS[row.impact], "weight": style.IMPACT_WEIGHT[row.impact],
                          "opacity": 0.9},
            },
        })
    return out


def nation_names(store) -> dict[str, str]:
    df = queries.df("nation_names", store=store, cache=True)
    return dict(zip(df.iso3, df["name"]))


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    feats = features(ctx)
    if feats:
        fg.add_child(GeoJsonLayer(feature_collection(feats), pane=PANE))
    return Built(fg)
