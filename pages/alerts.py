"""Alerts: the alert list (acknowledge, assign, comment, close) and the rules that raise them."""
from __future__ import annotations

import streamlit as st

from borderwatch.views import signin, ui
from borderwatch.views import alerts as view

ui.page_filter()  # the frame must have run (see ui.page_filter)
me = signin.require("live_map")
st.title("Alerts")
list_tab, rules_tab = st.tabs(["Alerts", "Rules"])
with list_tab:
    view.alert_list(me)
with rules_tab:
    view.rules_tab(me)
