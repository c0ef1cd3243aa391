"""Live map for commanders: refreshes on its own, keeps the user's view, highlights what is new."""
from __future__ import annotations

import dataclasses
import datetime as dt

import streamlit as st
from streamlit_folium import st_folium

from borderwatch import app_setup
from borderwatch.views import live_map, playback, ui
from layers import maptools

flt = ui.page_filter()
app_setup.refresh_basemap()  # nation outlines may have been replaced by a borders import
st.sidebar.number_input("Refresh every (seconds, 0 = off)", min_value=0, max_value=3600, step=5,
                        key="bw_refresh", value=live_map.default_refresh())
refresh = st.session_state.bw_refresh
if "bw_milsym" not in st.session_state or (st.session_state.get("bw_milsym_url") != ui.url_symbols()
                                           and not ui.just_changed("bw_milsym")):
    st.session_state["bw_milsym"] = ui.url_symbols() == "military"  # a link opened, Back or Forward
st.sidebar.toggle("Military symbols (MIL-STD-2525)", key="bw_milsym", disabled=not maptools.available("milsymbol"),
                  on_change=ui.mark_changed, args=("bw_milsym",),
                  help="Incidents, sensors, fortifications and patrols as MIL-STD-2525 / APP-6 symbols "
                       "(affiliation, dimension and function from the threat, sensor or CoT type), with a legend "
                       "on the map; off: plain symbols. Kept in the link." + (
                           "" if maptools.available("milsymbol") else " " + maptools.missing_notice()))
symbols = "military" if st.session_state.bw_milsym and maptools.available("milsymbol") else "plain"
ui.write_symbols(symbols)
st.session_state["bw_milsym_url"] = symbols
with st.sidebar.form("bw_go", border=False):
    st.text_input("Go to", key="bw_go_text", placeholder="place, nation, 31.76 -106.44, MGRS, MEX-USA, incident id",
                  help="A place (populated places of 15,000 or more), a nation (name or ISO code: the map fits its "
                       "mainland), a coordinate in decimal degrees or degrees-minutes-seconds, an MGRS reference, "
                       "a border segment or an incident id.")
    if st.form_submit_button("Go", icon=":material/travel_explore:"):
        target, message = live_map.fly_to(st.session_state.bw_go_text)
        st.session_state["bw_go_message"] = (target is not None, message)
        if target is not None:
            st.session_state["bw_fly"] = target
if st.session_state.get("bw_go_message"):
    found, message = st.session_state["bw_go_message"]
    (st.sidebar.caption if found else st.sidebar.error)(ui.md(message))
st.markdown(live_map.page_css(), unsafe_allow_html=True)


tick = playback.interval() if playback.playing() else refresh  # playing: the next step on each tick


@st.fragment(run_every=dt.timedelta(seconds=tick) if tick else None)
def live() -> None:
    # one header row: title, headline figures, alerts, and the time step (its slider row appears only while
    # stepping), so the map starts high on a wall screen
    top = st.columns([2.3, 1.1, 1.1, 1.1, 0.9, 1.0, 1.0], vertical_alignment="top")
    flt = playback.controls(st.session_state["bw_filter"], live_map.utcnow(), top[6])  # the step narrows the window
    st.session_state["bw_filter"] = flt
    # the symbol mode and display this session shows: a rerun of this fragment may bring the URL from before them
    theme = st.session_state.get("bw_theme_url")
    ui.write_url(flt, symbols=symbols, theme=theme)
    fly = st.session_state.pop("bw_fly", None)  # the search box's target replaces the map's own view
    ctx, center, zoom = live_map.context(flt, None if fly else st.session_state.get("live_map"),
                                        (fly.lat, fly.lon, fly.zoom) if fly else ui.url_view(),
                                        st.session_state.get("bw_last_refresh"), refresh, symbols)
    drawn = st.session_state.get("bw_drawn")
    reuse = drawn is not None and drawn.covers(ctx, refresh)
    if reuse:  # the frame reported the view it already shows: same layers, same figures
        ctx = dataclasses.replace(ctx, drawn_extent=drawn.extent, now=drawn.now, since=drawn.since)
    head = ctx.situation.headline()
    cols = top
    cols[0].markdown(live_map.title_html(bool(ui.scenario_summary())), unsafe_allow_html=True,
                     help=ui.SYNTHETIC_NOTE if ui.scenario_summary() else None)
    cols[0].caption(ui.md(flt.describe(names=ui.names())))
    n_alerts, alert_words = live_map.alerts_line(ctx)
    if n_alerts:  # beside the figures, not below them: the map keeps its height
        with cols[5].container(key="bw_alerts_link"):
            st.page_link("pages/alerts.py", label=alert_words, icon=":material/notifications_active:")
    else:
        cols[5].caption(alert_words)
    for col, fig in zip(cols[1:5], live_map.headline_figures(head, ctx.now)):
        col.metric(fig.label, fig.value, fig.delta, delta_color="inverse", help=fig.help)
    if "bw_initial_view" not in st.session_state:
        st.session_state["bw_initial_view"] = (center, zoom)
    m = live_map.base_map(ctx, st.session_state["bw_initial_view"])
    built = live_map.layers_for(ctx)
    if not reuse:
        st.session_state["bw_drawn"] = live_map.Drawn(flt, ctx.extent, ctx.now, ctx.since, symbols)
    told = st.session_state["bw_frame_view"] = live_map.frame_view(st.session_state.get("bw_frame_view"), center, zoom,
                                                                   move=fly is not None)
    out = st_folium(m, key="live_map", height=live_map.MAP_HEIGHT, width="stretch", center=told[0], zoom=told[1],
                    feature_group_to_add=[b.group for b in built], layer_control=live_map.layer_control(),
                    returned_objects=["bounds", "zoom", "center"])
    st.caption(ui.md(live_map.caption(ctx, built)))
    level, line = live_map.feed_status(ctx.store)
    st.caption({"ok": ":green[●] ", "warn": ":orange[●] ", "down": ":gray[●] "}[level] + ui.md(line))
    with st.expander(f"Incidents by threat, {head.window} and {head.previous_window}"):
        st.html(live_map.threat_table_html(head))
    if fly:  # the link carries where the map flew (the frame reports its new view on the next move)
        ui.write_url(flt, {"lat": fly.lat, "lon": fly.lon, "z": fly.zoom}, symbols, theme)
    else:
        live_map.remember_view(out, symbols, theme)
    st.session_state["bw_last_refresh"] = st.session_state["bw_drawn"].now
    st.session_state["bw_map_context"] = ctx


live()
