"""Live map for commanders: refreshes on its own, keeps the user's view, highlights what is new."""
from __future__ import annotations

import dataclasses
import datetime as dt

import streamlit as st
from streamlit_folium import st_folium

from borderwatch import app_setup, livemap, ui

flt = ui.page_filter()
app_setup.refresh_basemap()  # nation outlines may have been replaced by a borders import
st.sidebar.number_input("Refresh every (seconds, 0 = off)", min_value=0, max_value=3600, step=5,
                        key="bw_refresh", value=livemap.default_refresh())
refresh = st.session_state.bw_refresh
with st.sidebar.form("bw_go", border=False):
    st.text_input("Go to", key="bw_go_text", placeholder="place, 31.76 -106.44, MGRS, MEX-USA, incident id",
                  help="A place (populated places of 15,000 or more), a coordinate in decimal degrees or "
                       "degrees-minutes-seconds, an MGRS reference, a border segment or an incident id.")
    if st.form_submit_button("Go", icon=":material/travel_explore:"):
        target, message = livemap.fly_to(st.session_state.bw_go_text)
        st.session_state["bw_go_message"] = (target is not None, message)
        if target is not None:
            st.session_state["bw_fly"] = target
if st.session_state.get("bw_go_message"):
    found, message = st.session_state["bw_go_message"]
    (st.sidebar.caption if found else st.sidebar.error)(ui.md(message))
st.markdown(livemap.page_css(), unsafe_allow_html=True)


@st.fragment(run_every=dt.timedelta(seconds=refresh) if refresh else None)
def live() -> None:
    fly = st.session_state.pop("bw_fly", None)  # the search box's target replaces the map's own view
    ctx, center, zoom = livemap.context(flt, None if fly else st.session_state.get("live_map"),
                                        (fly.lat, fly.lon, fly.zoom) if fly else ui.url_view(),
                                        st.session_state.get("bw_last_refresh"), refresh)
    drawn = st.session_state.get("bw_drawn")
    reuse = drawn is not None and drawn.covers(ctx, refresh)
    if reuse:  # the frame reported the view it already shows: same layers, same figures
        ctx = dataclasses.replace(ctx, view=drawn.view, now=drawn.now, since=drawn.since)
    head = ctx.situation.headline()
    cols = st.columns([2.3, 1.1, 1.1, 1.1, 0.9, 1.0], vertical_alignment="top")
    cols[0].markdown(livemap.title_html(bool(ui.scenario_summary())), unsafe_allow_html=True,
                     help=ui.SYNTHETIC_NOTE if ui.scenario_summary() else None)
    cols[0].caption(ui.md(flt.describe(names=ui.names())))
    n_alerts, alert_words = livemap.alerts_line(ctx)
    if n_alerts:  # beside the figures, not below them: the map keeps its height
        with cols[5].container(key="bw_alerts_link"):
            st.page_link("pages/alerts.py", label=alert_words, icon=":material/notifications_active:")
    else:
        cols[5].caption(alert_words)
    for col, fig in zip(cols[1:5], livemap.headline_figures(head, ctx.now)):
        col.metric(fig.label, fig.value, fig.delta, delta_color="inverse", help=fig.help)
    if "bw_initial_view" not in st.session_state:
        st.session_state["bw_initial_view"] = (center, zoom)
    m = livemap.base_map(ctx, st.session_state["bw_initial_view"])
    built = livemap.layers_for(ctx)
    if not reuse:
        st.session_state["bw_drawn"] = livemap.Drawn(flt, ctx.view, ctx.now, ctx.since)
    out = st_folium(m, key="live_map", height=livemap.MAP_HEIGHT, width="stretch", center=center, zoom=zoom,
                    feature_group_to_add=[b.group for b in built], layer_control=livemap.layer_control(),
                    returned_objects=["bounds", "zoom", "center"])
    st.caption(ui.md(livemap.caption(ctx, built)))
    level, line = livemap.feed_status(ctx.store)
    st.caption({"ok": ":green[●] ", "warn": ":orange[●] ", "down": ":gray[●] "}[level] + ui.md(line))
    with st.expander(f"Incidents by threat, {head.window} and {head.previous_window}"):
        st.html(livemap.threat_table_html(head))
    if fly:  # the link carries where the map flew (the frame reports its new view on the next move)
        ui.write_url(flt, {"lat": fly.lat, "lon": fly.lon, "z": fly.zoom})
    else:
        livemap.remember_view(out)
    st.session_state["bw_last_refresh"] = st.session_state["bw_drawn"].now
    st.session_state["bw_map_context"] = ctx


live()
