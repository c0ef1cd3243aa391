"""Patrols: friendly units' last known positions and short tracks, from live position reports.

Each unit (CoT uid) is drawn at its last reported position with a short track of its previous
ones; a unit whose report is past its stale time is drawn faded (dashed track, pale marker), and
one not heard from for ``BORDERWATCH_PATROL_REMOVE_MINUTES`` (default 60) is left out. Filtered
by nation and agreement like sensors: the unit's nation, or the border segment it is nearest.
The popup gives the age of the position relative to the map's time (a briefing's time for
briefings), so an old position is never mistaken for a current one.
"""
from __future__ import annotations

import datetime as dt
import os

import folium
import pandas as pd

import queries
from borderwatch.words import age_words
from layers import milsym
from layers.base import Built, MapContext, text

KEY = "patrols"
TITLE = "Patrols (friendly positions)"
MAX_PATROLS = 500
TRACK_POINTS = 20
COLOR = "#1565c0"  # friendly blue (MIL-STD-2525 friend)
STALE_COLOR = "#90a4ae"
DEFAULT_REMOVE_MINUTES = 60.0


def remove_after() -> dt.timedelta:
    """How long a unit stays on the map after its last report (env BORDERWATCH_PATROL_REMOVE_MINUTES)."""
    try:
        minutes = float(os.environ.get("BORDERWATCH_PATROL_REMOVE_MINUTES", DEFAULT_REMOVE_MINUTES))
    except ValueError:
        minutes = DEFAULT_REMOVE_MINUTES
    return dt.timedelta(minutes=max(minutes, 1.0))


def positions(ctx: MapContext):
    """(last positions, tracks by uid) of the units shown in the view at ``ctx.now``."""
    since = ctx.now - remove_after()
    if not queries.scalar("count_rows", store=ctx.store, cache=True, idents={"table": "patrols"}):
        # a store that has never had a patrol report (no TAK network): DuckLake scans a table that
        # never held a row slowly (about 3 ms per column, 60 ms here), the count is cached per snapshot
        return pd.DataFrame(), {}
    latest = ctx.q("patrols_latest", since=since, until=ctx.now, max_rows=MAX_PATROLS, **ctx.extent.padded(0.2).params())
    tracks: dict[str, list] = {}
    if len(latest):
        df = ctx.q("patrol_tracks", since=since, until=ctx.now, uids=list(latest.uid), track_points=TRACK_POINTS)
        for r in df.itertuples(index=False):
            tracks.setdefault(r.uid, []).append([round(r.lat, 5), round(r.lon, 5)])
    return latest, tracks


def is_stale(r, now: dt.datetime) -> bool:
    """Past the stale time its unit gave, or older than the map's stale age (layers.age)."""
    from layers import age

    return r.stale_at < now or now - r.reported_at > age.stale_after()


def popup_html(r, now: dt.datetime) -> str:
    age = (now - r.reported_at).total_seconds()
    stale = is_stale(r, now)
    parts = [f"<b>{text(r.callsign)}</b>" + (f" · {text(r.team)}" if r.team else "")
             + (f" ({text(r.role)})" if r.role else "")]
    parts.append(f"{text(r.nation or 'nation not stated')} · {text(r.platform or r.cot_type)}")
    moving = []
    if r.speed_mps == r.speed_mps and r.speed_mps is not None:
        moving.append(f"{r.speed_mps * 3.6:.0f} km/h")
    if r.course_deg == r.course_deg and r.course_deg is not None:
        moving.append(f"course {r.course_deg:.0f}°")
    if moving:
        parts.append(", ".join(moving))
    parts.append(f"position of {r.reported_at:%Y-%m-%d %H:%MZ} — {age_words(age)} old"
                 + (" · <b>STALE</b>" if stale else ""))
    parts.append(f"<small>{text(r.uid)} · {text(r.segment_id or 'no segment')}</small>")
    return "<br>".join(parts)


def build(ctx: MapContext) -> Built:
    fg = folium.FeatureGroup(name=TITLE, show=True)
    latest, tracks = positions(ctx)
    symbols = []
    for r in latest.itertuples(index=False):
        stale = is_stale(r, ctx.now)
        colour = STALE_COLOR if stale else COLOR
        track = tracks.get(r.uid, [])
        if len(track) > 1:
            folium.PolyLine(track, color=colour, weight=2, opacity=0.35 if stale else 0.8,
                            dash_array="4 6" if stale else None, pane="bwPoints").add_to(fg)
        if ctx.military:
            symbols.append((r.lat, r.lon, milsym.cot_sidc(r.cot_type), text(r.callsign) + (" (stale)" if stale else ""),
                            popup_html(r, ctx.now)))
            continue
        folium.CircleMarker(
            [round(r.lat, 5), round(r.lon, 5)], radius=6, color="#0d2c54" if not stale else STALE_COLOR,
            weight=2, fill=True, fill_color=colour, fill_opacity=0.35 if stale else 0.95,
            opacity=0.5 if stale else 1.0, popup=folium.Popup(popup_html(r, ctx.now), max_width=320),
            tooltip=text(r.callsign) + (f" (stale, {age_words((ctx.now - r.reported_at).total_seconds())} old)"
                                        if stale else ""), pane="bwPoints",
        ).add_to(fg)
    if symbols:
        fg.add_child(milsym.points_element(symbols, "patrols", {s[2]: "Patrol (from its CoT type)" for s in symbols}))
    return Built(fg, {"patrols_in_view": len(latest)})
