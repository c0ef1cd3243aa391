"""Sensor coverage by type and status (offline visibly different), and the coverage gaps of segments."""
from __future__ import annotations

import json

import folium

from borderwatch.words import age_words
from layers import age, milsym, style
from layers.base import MAX_SENSORS, Built, MapContext, feature_collection, text
from layers.elements import CirclePoints, GeoJsonLayer
from layers.incidents import known

KEY = "sensors"
TITLE = "Sensor coverage"
GAPS_TITLE = "Coverage gaps"
SYMBOL_MIN_ZOOM = 6  # military symbols for sensor sites from this zoom in (a bounded, readable number)


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    tol = ctx.view.tolerance
    df = ctx.q("sensors_in_view", max_rows=MAX_SENSORS, grid=round(tol / 4, 6), tolerance=round(tol, 6), **ctx.extent.params())
    feats, sites = [], []
    stale_after, stale_n = age.stale_after(), 0
    for r in df.itertuples(index=False):
        colour = style.SENSOR_COLORS.get(r.sensor_type, style.SENSOR_COLORS["other"])
        fill, dash, outline = style.SENSOR_STATUS_STYLE.get(r.status, style.SENSOR_STATUS_STYLE["offline"])
        heard, stale = heard_text(r.last_heard_at, ctx.now, stale_after)
        stale_n += stale
        fade = age.FADE if stale else 1.0
        detail = detail_html(r, heard)
        geom = json.loads(r.geojson)
        if geom["type"] not in ("Polygon", "MultiPolygon") or not geom["coordinates"] or r.range_m < tol * 111_000 * 2:
            sites.append([round(r.lat, 4), round(r.lon, 4), 3, colour, outline or colour, 1, detail, fade])
            continue
        feats.append({"type": "Feature", "geometry": geom, "properties": {
            "detail": detail,
            "style": {"color": outline or colour, "weight": 1.2, "dashArray": dash, "fillColor": colour,
                      "fillOpacity": round(fill * fade, 3), "opacity": round(0.8 * fade, 3)},
        }})
    if feats:
        fg.add_child(GeoJsonLayer(feature_collection(feats), pane="bwSensors"))
    if ctx.military and ctx.view.zoom >= SYMBOL_MIN_ZOOM:  # every site as a symbol, over its coverage
        fg.add_child(milsym.points_element(
            [(r.lat, r.lon, milsym.sensor_sidc(r.sensor_type, r.status),
              detail_html(r, heard_text(r.last_heard_at, ctx.now, stale_after)[0]), "")
             for r in df.itertuples(index=False)], "sensors", milsym.sensor_labels()))
    elif sites:
        fg.add_child(CirclePoints(sites, class_name="bw-sensor", pane="bwSensors"))
    gaps = gap_features(ctx)
    if gaps:  # drawn over the segments, but not in the way of their hover and click
        fg.add_child(GeoJsonLayer(feature_collection(gaps), interactive=False, pane="bwSegments"))
    return Built(fg, {"stale_sensors": stale_n})


def heard_text(last_heard, now, stale_after) -> tuple[str, bool]:
    """("last heard 12 min ago (…)", stale?) for a sensor's popup; never heard counts as stale."""
    if last_heard is None or str(last_heard) == "NaT":
        return "<b>never heard from</b>", True
    seconds = (now - last_heard).total_seconds()
    stale = seconds > stale_after.total_seconds()
    words = f"last heard {age_words(seconds)} ago ({last_heard:%Y-%m-%d %H:%M} UTC)"
    return (f"<b>{words} · OLD</b>" if stale else words), stale


def detail_html(r, heard: str = "") -> str:
    """A sensor's popup: type, status, name, range, field of view, when it was last heard."""
    detail = (f"{text(r.sensor_type.replace('_', ' '))} — {text(r.status)}<br>{text(known(r.name, 'unnamed sensor'))}<br>"
              f"range {r.range_m / 1000:.1f} km, field of view {r.fov_deg:.0f}°" + (f"<br>{heard}" if heard else ""))
    return detail + ("<br><i>synthetic scenario</i>" if r.synthetic else "")


def gap_features(ctx: MapContext) -> list[dict]:
    """Uncovered stretches of segments that have sensors (segments with none are all gap)."""
    cov = ctx.coverage
    shown = set(ctx.situation.segment_stats.segment_id)
    out = []
    for r in cov.itertuples(index=False):
        if r.segment_id not in shown or not isinstance(r.gaps, str):
            continue
        geom = json.loads(r.gaps)
        if not geom.get("coordinates") and not geom.get("geometries"):
            continue
        pct = 100 * min(r.covered_km, r.length_km) / max(r.length_km, 0.001)
        out.append({"type": "Feature", "geometry": geom, "properties": {
            "detail": f"Coverage gap on {r.segment_id}: {max(r.length_km - r.covered_km, 0):,.0f} km uncovered ({pct:.0f}% covered)",
            "style": {"color": style.GAP_COLOR, "weight": 3, "dashArray": style.GAP_DASH, "opacity": 0.9},
        }})
    return out
