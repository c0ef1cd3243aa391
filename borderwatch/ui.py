"""Shared Streamlit pieces: the filter sidebar (kept in the URL), the map view in the URL, labels."""
from __future__ import annotations

import datetime as dt
import functools
import json

import streamlit as st

import queries
from borderwatch.filters import SCOPES, SEVERITY_LABELS, THREAT_LABELS, THREAT_TYPES, WINDOW_LABELS, Filter, utcnow
from borderwatch.store import default_store

VIEW_KEYS = ("lat", "lon", "z")
SYNTHETIC_NOTE = ("**Synthetic scenario** — fortifications, sensors and incidents marked *scenario* are invented "
                  "for demonstration; borders are real (Natural Earth).")


@functools.lru_cache(maxsize=4)
def _choices(store_path: str, count: int) -> tuple[dict[str, str], dict[str, str]]:
    store = default_store()
    nations = dict(queries.rows("nation_names", store=store))
    agreements = dict(queries.rows("agreement_names", store=store))
    return nations, agreements


def choices() -> tuple[dict[str, str], dict[str, str]]:
    store = default_store()
    count = queries.scalar("count_rows", store=store, idents={"table": "nations"})
    return _choices(str(store.path), count)


def names() -> dict[str, str]:
    nations, agreements = choices()
    return {**nations, **agreements}


def filter_sidebar() -> Filter:
    """The filter widgets; their state starts from the URL and is written back to it."""
    nations, agreements = choices()
    if "bw_filter_init" not in st.session_state:
        f0 = Filter.from_params(st.query_params.to_dict())
        st.session_state.update({
            "bw_nations": [n for n in f0.nations if n in nations],
            "bw_agreements": [a for a in f0.agreements if a in agreements],
            "bw_scope": f0.scope, "bw_threats": list(f0.threat_types), "bw_window": f0.window,
            "bw_start": (f0.start or utcnow() - dt.timedelta(days=7)).date(),
            "bw_end": (f0.end or utcnow()).date(), "bw_severity": f0.min_severity, "bw_text": f0.text,
            "bw_segments": list(f0.segments), "bw_area": f0.area_wkt,
        })
        st.session_state.bw_filter_init = True
    sb = st.sidebar
    sb.markdown("### Filters")
    sb.multiselect("Nations", options=sorted(nations), key="bw_nations",
                   format_func=lambda c: f"{nations.get(c, c)} ({c})", placeholder="All nations")
    sb.multiselect("Agreements", options=sorted(agreements), key="bw_agreements",
                   format_func=lambda a: agreements.get(a, a), placeholder="Any agreement")
    sb.radio("Agreement borders", SCOPES, key="bw_scope", horizontal=True,
             format_func={"all": "all", "internal": "internal", "external": "external"}.get,
             help="internal: both nations are members; external: exactly one is; all: either",
             disabled=not st.session_state.bw_agreements)
    sb.multiselect("Threat types", THREAT_TYPES, key="bw_threats", format_func=THREAT_LABELS.get,
                   placeholder="All threat types")
    sb.selectbox("Time window", list(WINDOW_LABELS), key="bw_window", format_func=WINDOW_LABELS.get)
    start = end = None
    if st.session_state.bw_window == "custom":
        c1, c2 = sb.columns(2)
        c1.date_input("From (UTC)", key="bw_start")
        c2.date_input("To (UTC, inclusive)", key="bw_end")
        start = dt.datetime.combine(st.session_state.bw_start, dt.time())
        end = dt.datetime.combine(st.session_state.bw_end, dt.time()) + dt.timedelta(days=1)
        if start >= end:
            sb.error("The window's start must be before its end.")
            start, end = end - dt.timedelta(days=1), end
    sb.select_slider("Minimum severity", options=list(SEVERITY_LABELS), key="bw_severity",
                     format_func=SEVERITY_LABELS.get)
    sb.text_input("Description contains", key="bw_text", placeholder="e.g. tunnel, drone, kg")
    flt = Filter(
        nations=tuple(st.session_state.bw_nations), agreements=tuple(st.session_state.bw_agreements),
        scope=st.session_state.bw_scope if st.session_state.bw_agreements else "all",
        threat_types=tuple(st.session_state.bw_threats), window=st.session_state.bw_window,
        start=start, end=end, min_severity=int(st.session_state.bw_severity), text=st.session_state.bw_text,
        segments=tuple(st.session_state.get("bw_segments", ())), area_wkt=st.session_state.get("bw_area", ""),
    )
    write_url(flt)
    return flt


def page_filter() -> Filter:
    """The Filter for a page of the frame (``app.py`` puts it in the session).

    A ``pages/`` folder beside the main script makes a freshly started Streamlit treat it as a
    legacy multipage app until ``st.navigation`` first runs, so a deep link (``/analysis``) as a
    server's first request (or any AppTest run after the first) runs the page without the
    frame; rerun it through the frame."""
    if not st.session_state.get("bw_in_frame"):
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()
    return st.session_state["bw_filter"]


def write_url(flt: Filter, view: dict | None = None) -> None:
    """Put the filter (and the map view, if given) in the URL, keeping the other's keys."""
    current = st.query_params.to_dict()
    wanted = flt.to_params()
    keep_view = {k: current[k] for k in VIEW_KEYS if k in current}
    if view:
        keep_view = {"lat": f"{view['lat']:.4f}", "lon": f"{view['lon']:.4f}", "z": str(int(view['z']))}
    wanted.update(keep_view)
    if wanted != current:
        st.query_params.from_dict(wanted)


def url_view(default=(30.0, 20.0, 2)) -> tuple[float, float, int]:
    qp = st.query_params
    try:
        return float(qp.get("lat", default[0])), float(qp.get("lon", default[1])), int(float(qp.get("z", default[2])))
    except ValueError:
        return default


def scenario_summary() -> dict | None:
    value = queries.scalar("meta", store=default_store(), key="scenario")
    return json.loads(value) if value else None
