"""The navigation frame every page runs in: pages, the shared sidebar (filter and navigation
links that carry it), notices about the opened link.

``app.py`` calls ``run()``. A page file opened before any navigation has run on a fresh server
(a deep link such as ``/analysis`` as the first request — Streamlit then treats the ``pages/``
folder as a classic multipage app and runs the file alone) calls ``run()`` itself through
``ui.page_filter()``; ``st.navigation`` then takes over and runs the page inside the frame.
"""
from __future__ import annotations

import contextvars

import streamlit as st

from borderwatch import app_setup
from borderwatch.views import display, signin, ui

_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("borderwatch_frame", default=False)
LIVE_MAP = ("pages/live_map.py", "Live map", ":material/map:", "")
NO_FILTER = {"data", "admin", "alerts"}  # url paths of pages the filter does not apply to (no filter sidebar there)


def inside() -> bool:
    """True while a page runs inside the frame."""
    return _inside.get()


def pages() -> tuple[list, list]:
    """Every page of the frame, and those the viewer may open (a page the role lacks answers its
    address with a refusal and gets no link, see ``signin.page``)."""
    out, visible = [], []
    for path, title, icon, slug in (LIVE_MAP, *app_setup.OPTIONAL_PAGES):
        if not app_setup.page_exists(path):
            continue
        if slug:
            out.append(signin.page(path, title=title, icon=icon, url_path=slug))
            if signin.allowed(signin.PAGE_CAPABILITY.get(slug, "live_map")):
                visible.append(out[-1])
        else:
            out.append(st.Page(path, title=title, icon=icon, default=True))
            visible.append(out[-1])
    return out, visible


def run() -> None:
    app_setup.prepare()
    st.set_page_config(page_title="Borderwatch", page_icon=str(app_setup.ICON), layout="wide")
    signin.gate()  # the sign-in form until someone is signed in; every query then sees what they may
    all_pages, visible = pages()
    page = st.navigation(all_pages, position="hidden")  # our own links below carry the filter
    nav = st.sidebar.container()
    st.session_state["bw_filter"] = ui.filter_sidebar(show=page.url_path not in NO_FILTER,
                                                      step_note=page.url_path != LIVE_MAP[3])
    display.inject(display.choose())
    if page.url_path not in NO_FILTER:
        ui.show_link_notices()
    token = _inside.set(True)
    try:
        page.run()
    finally:
        _inside.reset(token)
        navigation_links(nav, visible)


def navigation_links(container, all_pages) -> None:
    """One link per page carrying the current URL parameters (filter and map view), so opening a
    page in a new tab, or bookmarking the link, keeps them."""
    params = st.query_params.to_dict()
    with container:
        for p in all_pages:
            st.page_link(p, label=p.title, icon=p.icon, query_params=params or None, width="stretch")
        st.divider()
