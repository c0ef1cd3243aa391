"""Live map for commanders: refreshes on its own, keeps the user's view, highlights what is new."""
from __future__ import annotations

import datetime as dt

import folium
import streamlit as st
from streamlit_folium import st_folium

from borderwatch import app_setup, figures, livemap, ui
from borderwatch.filters import THREAT_LABELS, utcnow

flt = ui.page_filter()
app_setup.refresh_basemap()  # nation outlines may have been replaced by a borders import
st.sidebar.number_input("Refresh every (seconds, 0 = off)", min_value=0, max_value=3600, step=5,
                        key="bw_refresh", value=livemap.default_refresh())
refresh = st.session_state.bw_refresh


@st.fragment(run_every=dt.timedelta(seconds=refresh) if refresh else None)
def live() -> None:
    ctx, center, zoom = livemap.context(flt, st.session_state.get("live_map"), ui.url_view(),
                                        st.session_state.get("bw_last_refresh"), refresh)
    head = figures.headline(ctx)
    c = st.columns([1.2, 1.2, 1.2, 1.4, 2.2])
    c[0].metric("Incidents, last 24 h", f"{head.last_24h:,}",
                None if head.change_pct is None else f"{head.change_pct:+.0f}% vs previous 24 h", delta_color="inverse")
    c[1].metric("Segments at high / critical", f"{head.hot_segments}", f"{head.critical_segments} critical",
                delta_color="off")
    c[2].metric("Border under online sensors", f"{head.coverage_pct:.1f}%", f"of {head.border_km:,.0f} km", delta_color="off")
    c[3].metric("Last updated (UTC)", f"{ctx.now:%H:%M:%S}", f"{ctx.now:%Y-%m-%d}", delta_color="off")
    if len(head.by_threat):
        c[4].dataframe(
            head.by_threat.assign(threat=head.by_threat.threat_type.map(THREAT_LABELS))[["threat", "last_24h", "prev_24h"]],
            hide_index=True, height=140, width="stretch",
            column_config={"threat": "Threat (last 24 h)", "last_24h": "24 h", "prev_24h": "prev. 24 h"})
    if "bw_initial_view" not in st.session_state:
        st.session_state["bw_initial_view"] = (center, zoom)
    m = livemap.base_map(ctx, st.session_state["bw_initial_view"])
    groups = livemap.layers_for(ctx)
    out = st_folium(m, key="live_map", height=640, width="stretch", center=center, zoom=zoom,
                    feature_group_to_add=groups, layer_control=folium.LayerControl(collapsed=True),
                    returned_objects=["bounds", "zoom", "center"])
    st.caption(ui.md(livemap.caption(ctx)))
    level, line = livemap.feed_status(ctx.store)
    st.caption({"ok": ":green[●] ", "warn": ":orange[●] ", "down": ":gray[●] "}[level] + ui.md(line))
    livemap.remember_view(out)
    st.session_state["bw_last_refresh"] = ctx.now
    st.session_state["bw_map_context"] = ctx


st.title("Borderwatch — live map")
st.caption(ui.md(flt.describe(names=ui.names())))
if ui.scenario_summary():
    st.info(ui.SYNTHETIC_NOTE, icon=":material/science:")
live()
