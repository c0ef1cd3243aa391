"""Assembling the live map from the Filter and the map view (no Streamlit calls except the view)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import dataclasses
import datetime as dt
import html
import os

import folium

from borderwatch.domain import THREAT_LABELS
from borderwatch.filters import Filter, utcnow
from borderwatch.situation import Headline
from borderwatch.words import plural
from borderwatch.store import default_store
from layers import basemap, registry
from layers.base import Built, MapContext, View

if TYPE_CHECKING:
    from borderwatch import locate

REFRESH_ENV = "BORDERWATCH_REFRESH_SECONDS"
DEFAULT_REFRESH = 30
NEW_MARGIN = dt.timedelta(seconds=5)
MAP_HEIGHT = 640  # the map frame's height before the page's CSS fits it to the window
FIRST_VIEW_PX = (1600, 1000)  # the map size assumed before the frame reports its view (drawn with DRAW_MARGIN)
REUSE_SECONDS = 10  # a view report this soon after a draw, inside it, reuses the drawn layers
DRAW_MARGIN = 0.25  # the layers are drawn this share of the view beyond each edge: a small pan needs no redraw
HEADER_PX = 180  # where the map starts, until the map frame has measured it (layers.basemap.FullScreen)


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
    # only a centre and zoom are known: draw for a large screen, so that the view the map frame
    # then reports lies inside what was drawn (see Drawn.covers)
    return View.around(lat, lon, zoom, *FIRST_VIEW_PX), (lat, lon), zoom


def context(flt: Filter, state: dict | None, url_view: tuple[float, float, int],
            last_refresh: dt.datetime | None, refresh_s: int | None = None,
            symbols: str = "plain") -> tuple[MapContext, tuple[float, float], int]:
    view, center, zoom = view_from_state(state, url_view)
    now = utcnow()
    # first draw: nothing is "new" yet; later, look back a little before the last refresh, since
    # a feed stamps ingested_at just before its commit becomes visible
    since = last_refresh - NEW_MARGIN if last_refresh else None
    return (MapContext(flt, view, now, since=since, store=default_store(), symbols=symbols,
                       drawn_extent=view.padded(DRAW_MARGIN)), center, zoom)


def frame_view(told: tuple[tuple[float, float], int] | None, center: tuple[float, float], zoom: int,
               move: bool) -> tuple[tuple[float, float], int]:
    """The centre and zoom to hand the map frame on this rerun.

    streamlit-folium moves the map whenever the centre or zoom it is given differs from the last
    one given. Handing back the view the frame itself reported moves it once more: a second full
    redraw of every line after each pan, and a jump back to the reported view if the user has
    panned on meanwhile. So the frame is told the same centre and zoom as before unless the page
    means to move the map (``move``: the search box, or the first draw); a move to the very
    centre told last time is nudged by a hair so that it is still carried out."""
    if told is None or move:
        if told is not None and told == (center, zoom):
            center = (center[0] + 1e-9, center[1])
        return center, zoom
    return told


@dataclasses.dataclass(frozen=True)
class Drawn:
    """What the map frame shows: the layers drawn for a filter, an extent and a time.

    The layers are drawn for the view plus a margin (``DRAW_MARGIN``). When the map frame then
    reports a view inside that extent (right after the first draw, or after a small pan), the page
    draws the same extent and time again: every query hits the cache and the layers' script is
    identical, so streamlit-folium leaves the drawn layers in place and the browser redraws
    nothing."""
    filter: Filter
    extent: View
    now: dt.datetime
    since: dt.datetime | None
    symbols: str = "plain"

    def covers(self, ctx: MapContext, refresh_s: int) -> bool:
        """True when ``ctx`` may show what was drawn: same filter and zoom, a view inside the
        drawn extent, drawn moments ago (well within a refresh interval)."""
        v, d = ctx.view, self.extent
        fresh = (ctx.now - self.now).total_seconds() < (min(REUSE_SECONDS, refresh_s / 2) if refresh_s else REUSE_SECONDS)
        return (fresh and ctx.filter == self.filter and ctx.symbols == self.symbols and v.zoom == d.zoom and v.west >= d.west and v.east <= d.east
                and v.south >= d.south and v.north <= d.north)


def base_map(ctx: MapContext, initial: tuple[tuple[float, float], int] | None = None) -> folium.Map:
    """The same base map on every rerun (so the browser keeps its iframe, zoom and position)."""
    from layers import maptools

    center, zoom = initial or ((30.0, 20.0), 2)
    m = basemap.base_map(ctx.store, center, zoom, fullscreen=True)
    if maptools.available():
        m.add_child(maptools.Measure())
    return m


def layers_for(ctx: MapContext) -> list[Built]:
    return registry.build_all(ctx)


def layer_control() -> folium.LayerControl:
    return basemap.LayerToggles(collapsed=True)


def caption(ctx: MapContext, built: list[Built]) -> str:
    return registry.caption(built, ctx.situation, updated=ctx.now)


@dataclasses.dataclass(frozen=True)
class Figure:
    label: str
    value: str
    delta: str | None = None  # only for values that are changes
    help: str | None = None


def headline_figures(head: Headline, now: dt.datetime) -> list[Figure]:
    """The live map's headline figures for the chosen window, with its comparison period."""
    change = None if head.change_pct is None else f"{head.change_pct:+.0f}% vs {head.previous_window}"
    return [
        Figure(f"Incidents, {head.window}", f"{head.incidents:,}", change,
               f"{plural(head.previous, 'incident')} in the {head.previous_window}"),
        Figure("High / critical segments", f"{head.hot_segments:,} ({head.critical_segments:,} critical)",
               help="impact level of each segment in the window, against its own baseline"),
        Figure("Border under online sensors", f"{head.coverage_pct:.1f}%",
               help=f"of {head.border_km:,.0f} km of border shown"),
        Figure("Last updated (UTC)", f"{now:%H:%M:%S}", help=f"{now:%Y-%m-%d}"),
    ]


def threat_rows(head: Headline):
    """The threat table: only threats with incidents in the window or the one before."""
    df = head.by_threat.assign(threat=head.by_threat.threat_type.map(lambda t: THREAT_LABELS.get(t, t)))
    return df[["threat", "current", "previous"]]


def threat_table_html(head: Headline) -> str:
    """The threat table as plain HTML (the live page stays free of the heavier data-grid code,
    which the browser would otherwise load and start before the map)."""
    rows = threat_rows(head)
    if not len(rows):
        return "<p>No incidents in either period.</p>"
    body = "".join(f"<tr><td>{html.escape(str(r.threat))}</td><td style='text-align:right'>{int(r.current):,}</td>"
                   f"<td style='text-align:right'>{int(r.previous):,}</td></tr>" for r in rows.itertuples(index=False))
    return (f"<table class='bw-threats'><thead><tr><th>Threat</th><th>{html.escape(head.window)}</th>"
            f"<th>{html.escape(head.previous_window)}</th></tr></thead><tbody>{body}</tbody></table>")


def page_css(full_height: bool = True) -> str:
    """Operations-room layout: compact header, the map frame filling the rest of the window."""
    css = """
    <style>
      .block-container { padding-top: 2.9rem !important; padding-bottom: 0.5rem !important;
                         padding-left: 1.5rem !important; padding-right: 1.5rem !important; }
      [data-testid="stMetric"] { padding: 0 !important; }
      [data-testid="stMetricValue"] { font-size: 1.35rem !important; line-height: 1.2 !important; }
      [data-testid="stMetricLabel"] p { font-size: 0.8rem !important; }
      /* a narrow window wraps a figure's label and value rather than cutting them ("Incidents, las…") */
      [data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div,
      [data-testid="stMetricValue"] div { white-space: normal !important; overflow: visible !important;
                                          text-overflow: clip !important; overflow-wrap: normal; }
      [data-testid="stMetricDelta"] { font-size: 0.75rem !important; }
      .bw-title { font-size: 1.15rem; font-weight: 700; margin: 0 !important; line-height: 1.3; }
      .bw-synthetic { font-size: 0.75rem; font-weight: 600; color: #6a1b9a; border: 1px solid #ce93d8;
                      border-radius: 4px; padding: 0 4px; margin-left: 6px; vertical-align: middle; }
      [data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] { margin-bottom: -0.4rem; }
      .st-key-bw_alerts_link a { background: #aa00ff; padding: 0 6px !important; min-height: 0 !important; }
      .st-key-bw_alerts_link a p { color: #fff !important; font-weight: 700; font-size: 0.85rem !important; }
    """
    if full_height:
        css += f"""
      iframe[title="streamlit_folium.st_folium"] {{
          height: max(420px, calc(100vh - var(--bw-map-top, {HEADER_PX}px))) !important; }}
    """
    return css + "</style>"


def title_html(synthetic: bool) -> str:
    badge = '<span class="bw-synthetic">SYNTHETIC SCENARIO</span>' if synthetic else ""
    return f'<p class="bw-title">Borderwatch — live map{badge}</p>'


def alerts_line(ctx: MapContext) -> tuple[int, str]:
    """The header's alert line: (how many of the viewer's alerts nobody has acknowledged, words).
    The page links it to the Alerts page; the alerted segments are haloed on the map (layers/alerts.py)."""
    frame = ctx.new_alerts
    n, segments = len(frame), set(frame.segment_id.dropna())
    if not n:
        return 0, "No unacknowledged alerts"
    where = f" on {plural(len(segments), 'segment')}" if segments else ""
    return n, f"{plural(n, 'unacknowledged alert')}{where}"


def feed_status(store) -> tuple[str, str]:
    """(level, line) on the live-feed service for the commander: level is ok / warn / down; its
    figures count only the feed reports the signed-in viewer may see (feeds.status.for_viewer)."""
    from borderwatch.feeds import describe, read_status
    from borderwatch.feeds.status import for_viewer

    return describe(for_viewer(read_status(store), store=store))


def fly_to(text: str, store=None) -> tuple["locate.Target | None", str]:
    """(target, sentence) for the search box: where the map flies, or why it cannot."""
    from borderwatch import locate

    try:
        found = locate.candidates(text, store=store or default_store(), limit=4)
    except locate.LocateError as exc:
        return None, str(exc)
    target, others = found[0], [t.label for t in found[1:]]
    return target, f"Showing {target.label}." + (f" Other matches: {'; '.join(others)}." if others else "")


def remember_view(out: dict | None, symbols: str | None = None, theme: str | None = None) -> None:
    """Keep the map view (and the symbol mode and display shown) in the URL so a copied link reopens it."""
    import streamlit as st

    from borderwatch.views import ui

    if not out or not out.get("center") or out.get("zoom") is None:
        return
    c = out["center"]
    ui.write_url(st.session_state["bw_filter"], {"lat": c["lat"], "lon": c["lng"], "z": out["zoom"]}, symbols, theme)
