"""Assembling the live map from the Filter and the map view (no Streamlit calls except the view)."""
from __future__ import annotations

import datetime as dt
import os

import folium

import layers
from borderwatch.filters import Filter, utcnow
from borderwatch.store import default_store
from layers import MapContext, View, basemap

REFRESH_ENV = "BORDERWATCH_REFRESH_SECONDS"
DEFAULT_REFRESH = 30
NEW_MARGIN = dt.timedelta(seconds=5)


def default_refresh() -> int:
    try:
        return max(0, int(os.environ.get(REFRESH_ENV, DEFAULT_REFRESH)))
    except ValueError:
        return DEFAULT_REFRESH


def view_from_state(state: dict | None, fallback: tuple[float, float, int]) -> tuple[View, tuple[float, float], int]:
    """The map view from streamlit-folium's last returned state, else from the URL."""
    lat, lon, zoom = fallback
    if state and state.get("bounds") and state["bounds"].get("_southWest") and state.get("zoom") is not None:
        b = state["bounds"]
        sw, ne = b["_southWest"], b["_northEast"]
        if None not in (sw.get("lat"), sw.get("lng"), ne.get("lat"), ne.get("lng")):
            zoom = int(state["zoom"])
            c = state.get("center") or {}
            lat, lon = c.get("lat", lat), c.get("lng", lon)
            return View(sw["lng"], sw["lat"], ne["lng"], ne["lat"], zoom).clamped(), (lat, lon), zoom
    return View.around(lat, lon, zoom), (lat, lon), zoom


def context(flt: Filter, state: dict | None, url_view: tuple[float, float, int],
            last_refresh: dt.datetime | None, refresh_s: int | None = None) -> tuple[MapContext, tuple[float, float], int]:
    view, center, zoom = view_from_state(state, url_view)
    now = utcnow()
    # first draw: nothing is "new" yet; later, look back a little before the last refresh, since
    # a feed stamps ingested_at just before its commit becomes visible
    since = last_refresh - NEW_MARGIN if last_refresh else None
    return MapContext(flt, view, now, since=since, store=default_store()), center, zoom


_initial_view: dict[int, tuple[tuple[float, float], int]] = {}


def base_map(ctx: MapContext, initial: tuple[tuple[float, float], int] | None = None) -> folium.Map:
    """The same base map on every rerun (so the browser keeps its iframe, zoom and position)."""
    center, zoom = initial or ((30.0, 20.0), 2)
    return basemap.base_map(ctx.store, center, zoom)


def layers_for(ctx: MapContext) -> list[folium.FeatureGroup]:
    return layers.build_all(ctx)


def caption(ctx: MapContext) -> str:
    parts = [f"Last updated {ctx.now:%Y-%m-%d %H:%M:%S} UTC"]
    res = getattr(ctx, "density_resolution", None)
    if res is not None:
        breaks = getattr(ctx, "density_breaks", [])
        parts.append(f"density: H3 resolution {res}" + (f", classes up to {', '.join(f'{b:,.0f}' for b in breaks)} incidents per hexagon" if breaks else ""))
    n = getattr(ctx, "incidents_in_view", None)
    if n is not None:
        parts.append(f"{n:,} incidents in view" + ("" if n <= layers.MAX_POINTS else f" (points drawn below {layers.MAX_POINTS:,})"))
    new = getattr(ctx, "new_incidents", 0)
    if new:
        parts.append(f"{new} new since the last refresh (ringed)")
    parts.append("impact: " + ctx.segment_stats.baseline.iloc[0] if len(ctx.segment_stats) else "no segments match")
    return " · ".join(parts)


def feed_status(store) -> tuple[str, str]:
    """(level, line) on the live-feed service for the commander: level is ok / warn / down."""
    from borderwatch.feeds import describe, read_status

    return describe(read_status(store))


def remember_view(out: dict | None) -> None:
    """Keep the map view in the URL so a copied link reopens it."""
    import streamlit as st

    from borderwatch import ui

    if not out or not out.get("center") or out.get("zoom") is None:
        return
    c = out["center"]
    ui.write_url(st.session_state["bw_filter"], {"lat": c["lat"], "lon": c["lng"], "z": out["zoom"]})
