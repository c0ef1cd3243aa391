"""Borderwatch: the navigation frame and the shared sidebar; pages live in pages/."""
from __future__ import annotations

import streamlit as st

from borderwatch import app_setup, signin, ui

app_setup.prepare()
st.set_page_config(page_title="Borderwatch", page_icon=str(app_setup.ICON), layout="wide")
signin.gate()  # sign-in form until someone is signed in; every query then sees what they may

pages = [
    st.Page("pages/live_map.py", title="Live map", icon=":material/map:", default=True),
]
for path, title, icon, slug in app_setup.OPTIONAL_PAGES:
    if app_setup.page_exists(path):
        pages.append(signin.page(path, title=title, icon=icon, url_path=slug))  # refusal if the role lacks it
page = st.navigation(pages)
st.session_state["bw_filter"] = ui.filter_sidebar()
st.session_state["bw_in_frame"] = True  # pages check this (see ui.page_filter)
try:
    page.run()
finally:
    st.session_state["bw_in_frame"] = False
