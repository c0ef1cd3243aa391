"""Shared Streamlit pieces: the filter sidebar kept in the URL, the map view in the URL, notices
about link values, and ``md`` — the one way user or data text enters Markdown."""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
import time

import streamlit as st

import queries
from borderwatch.domain import SEVERITY_LABELS, THREAT_LABELS, THREAT_TYPES
from borderwatch.filters import SCOPES, WINDOW_LABELS, Filter, utcnow
from borderwatch.links import (DISPLAY_KEYS, SYMBOLS_KEY, VIEW_KEYS, symbols_from_url, symbols_param,
                               theme_from_url, view_from_url)
from borderwatch.store import default_store

SYNTHETIC_NOTE = ("**Synthetic scenario** — fortifications, sensors and incidents marked *scenario* are invented "
                  "for demonstration; borders are real (Natural Earth).")
# widget keys of the filter sidebar; their state starts from the URL and is written back to it
WIDGETS = ("bw_nations", "bw_agreements", "bw_scope", "bw_threats", "bw_window", "bw_start_date", "bw_start_time",
           "bw_end_date", "bw_end_time", "bw_severity", "bw_text")
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
_MARKDOWN_CHARS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
# where a GitHub-style autolink would start: a scheme's "://", "mailto:" / "xmpp:", "www.", an "@"
_AUTOLINK = re.compile(r"(?=://)|(?i:(?<=mailto)|(?<=xmpp))(?=:)|(?i:(?<=\bwww))(?=\.)|(?=@)")
_WORD_JOINER = "\u2060"


def md(text) -> str:
    """Text from a user or from data, made safe to put inside Markdown (``st.markdown``,
    ``st.caption``, ``st.info``, labels...): every ASCII punctuation character is backslash-escaped
    — which CommonMark defines as "show this character literally" — so links, emphasis, code,
    headings, tables, HTML, Streamlit's ``:color[...]`` / ``:icon:`` directives and ``$`` maths
    all show as the characters typed. Escapes do not stop GitHub-style autolinks (``http://…``,
    ``www.…``, ``name@host``), so an invisible word joiner (U+2060) breaks those. Line breaks
    become spaces."""
    text = re.sub(r"[\r\n]+", " ", str(text))
    text = _AUTOLINK.sub(_WORD_JOINER, text)
    return _MARKDOWN_CHARS.sub(r"\\\1", text)


@functools.lru_cache(maxsize=4)
def _choices(store_path: str, count: int, segment_count: int):
    store = default_store()
    nations = dict(queries.rows("nation_names", store=store))
    agreements = dict(queries.rows("agreement_names", store=store))
    segments = tuple(r[0] for r in queries.rows("segment_choices", Filter(), store=store))
    return nations, agreements, segments


def _all_choices() -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    store = default_store()
    count = queries.scalar("count_rows", store=store, cache=True, idents={"table": "nations"})
    segment_count = queries.scalar("count_rows", store=store, cache=True, idents={"table": "segments"})
    return _choices(str(store.path), count, segment_count)


def choices() -> tuple[dict[str, str], dict[str, str]]:
    nations, agreements, _ = _all_choices()
    return nations, agreements


def names() -> dict[str, str]:
    nations, agreements = choices()
    return {**nations, **agreements}


def _filter_part(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in VIEW_KEYS and k not in DISPLAY_KEYS and k != SYMBOLS_KEY}


def read_link() -> None:
    """Set the filter widgets from the URL when the URL's filter changed from outside — a link
    opened, Back or Forward, an edited address — or when the widgets' state is gone (after a page
    without the filter sidebar). Keeps the notices about what the link asked for but did not get."""
    state = st.session_state
    params = st.query_params.to_dict()
    if state.get("bw_url_filter") == _filter_part(params) and all(k in state for k in WIDGETS):
        return
    nations, agreements, segments = _all_choices()
    flt, notices = Filter.from_url(params, nations=nations, agreements=agreements, segments=segments)
    notices += view_from_url(params)[1] + theme_from_url(params)[1] + symbols_from_url(params)[1]
    start, end = flt.window_range() if flt.window == "custom" else (utcnow() - dt.timedelta(days=7), utcnow())
    start, end = start.replace(second=0), end.replace(second=0)
    state.update({
        "bw_nations": list(flt.nations), "bw_agreements": list(flt.agreements), "bw_scope": flt.scope,
        "bw_threats": list(flt.threat_types), "bw_window": flt.window,
        "bw_start_date": start.date(), "bw_start_time": start.time(),
        "bw_end_date": end.date(), "bw_end_time": end.time(),
        "bw_severity": flt.min_severity, "bw_text": flt.text,
        "bw_segments": list(flt.segments), "bw_area": flt.area_wkt, "bw_bbox": flt.bbox,
        "bw_step": flt.step, "bw_step_at": flt.step_at,
    })
    if state.get("bw_url_filter") != _filter_part(params):
        state["bw_link"] = (flt, notices)
    state["bw_url_filter"] = _filter_part(params)


def _clear_bbox() -> None:
    st.session_state["bw_bbox"] = None


def _clear_step() -> None:
    st.session_state.update(bw_step="", bw_step_at=None, bw_playing=False)


def filter_sidebar(show: bool = True, step_note: bool = True) -> Filter:
    """The filter widgets (``show=False``: none, the filter as the link gives it); ``step_note``
    says so when a playback step narrows the window (pages without the live map's controls)."""
    state = st.session_state
    read_link()
    if not show:
        return state.get("bw_filter") or state["bw_link"][0]
    nations, agreements = choices()
    sb = st.sidebar
    sb.markdown("### Filters")
    sb.multiselect("Nations", options=sorted(nations), key="bw_nations",
                   format_func=lambda c: f"{nations.get(c, c)} ({c})", placeholder="All nations")
    sb.multiselect("Agreements", options=sorted(agreements), key="bw_agreements",
                   format_func=lambda a: agreements.get(a, a), placeholder="Any agreement")
    sb.radio("Agreement borders", SCOPES, key="bw_scope", horizontal=True,
             help="internal: both nations are members; external: exactly one is; all: either",
             disabled=not state.bw_agreements)
    sb.multiselect("Threat types", THREAT_TYPES, key="bw_threats", format_func=THREAT_LABELS.get,
                   placeholder="All threat types")
    sb.selectbox("Time window", list(WINDOW_LABELS), key="bw_window", format_func=WINDOW_LABELS.get)
    start = end = None
    if state.bw_window == "custom":
        c1, c2 = sb.columns([3, 2])
        c1.date_input("From (UTC)", key="bw_start_date", min_value=FIRST_DAY, max_value=LAST_DAY)
        c2.time_input("at", key="bw_start_time", step=60)
        c1.date_input("Until (UTC, not included)", key="bw_end_date", min_value=FIRST_DAY, max_value=LAST_DAY)
        c2.time_input("at ", key="bw_end_time", step=60)
        start = dt.datetime.combine(state.bw_start_date, state.bw_start_time).replace(second=0, microsecond=0)
        end = dt.datetime.combine(state.bw_end_date, state.bw_end_time).replace(second=0, microsecond=0)
        if start >= end:
            start = end - dt.timedelta(days=1)
            sb.error(f"The window's start must be before its end: showing the 24 h before the end "
                     f"({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) instead.")
    sb.select_slider("Minimum severity", options=list(SEVERITY_LABELS), key="bw_severity",
                     format_func=SEVERITY_LABELS.get)
    sb.text_input("Description contains", key="bw_text", placeholder="e.g. tunnel, drone, kg", max_chars=200)
    if state.get("bw_bbox"):
        w, s, e, n = state.bw_bbox
        sb.caption(md(f"Map box from the link: west {w:g}, south {s:g}, east {e:g}, north {n:g}."))
        sb.button("Show everywhere (drop the box)", on_click=_clear_bbox, key="bw_clear_bbox")
    flt = Filter(
        nations=tuple(state.bw_nations), agreements=tuple(state.bw_agreements),
        scope=state.bw_scope if state.bw_agreements else "all",
        threat_types=tuple(state.bw_threats), window=state.bw_window,
        start=start, end=end, min_severity=int(state.bw_severity), text=state.bw_text,
        segments=tuple(state.get("bw_segments", ())), area_wkt=state.get("bw_area", ""), bbox=state.get("bw_bbox"),
        step=state.get("bw_step") or "", step_at=state.get("bw_step_at") if state.get("bw_step") else None,
    )
    if flt.step and step_note:
        from borderwatch.playback import STEP_NAMES, label

        sb.caption(md(f"Time playback: the {STEP_NAMES[flt.step]} step {label(*flt.time_range())} UTC "
                      "(set on the live map)."))
        sb.button("Show the whole window", on_click=_clear_step, key="bw_clear_step")
    write_url(flt)
    return flt


def link_notices() -> list[str]:
    """What the opened link asked for but did not get, while the filter is still the link's."""
    flt, notices = st.session_state.get("bw_link", (None, []))
    current = st.session_state.get("bw_filter")
    if not notices or (current is not None and current != flt):
        return []
    return notices


def show_link_notices() -> None:
    notices = link_notices()
    if notices:
        st.warning("**This link was not shown exactly as written:**\n\n"
                   + "\n".join(f"- {md(n)}" for n in notices), icon=":material/link_off:")


def page_filter() -> Filter:
    """The Filter for a page; runs the whole frame first when a page is opened without it (a
    deep link that reaches a fresh server before any navigation has run)."""
    from borderwatch.views import frame

    if not frame.inside():
        frame.run()
        st.stop()
    return st.session_state["bw_filter"]


def write_url(flt: Filter, view: dict | None = None, symbols: str | None = None, theme: str | None = None) -> None:
    """Put the filter (and the map view, if given) in the URL, keeping the other's keys. A
    change of filter adds a browser history entry, so Back returns to the previous filter.
    ``symbols``, ``theme``: the map's symbol mode and the display shown, when the caller knows
    them (a rerun the map asked for may bring the browser's URL from before they were written)."""
    current = st.query_params.to_dict()
    wanted = flt.to_params()
    keep_view = {k: current[k] for k in VIEW_KEYS if k in current}
    keep_display = {k: current[k] for k in DISPLAY_KEYS if k in current and theme_from_url(current)[1] == []}
    view_now, view_notices = view_from_url(keep_view)
    if view_notices:  # a broken view in the URL: keep it corrected (or drop it)
        keep_view = {} if view_now is None else dict(zip(VIEW_KEYS, (f"{view_now[0]:.4f}", f"{view_now[1]:.4f}",
                                                                      str(view_now[2]))))
    if view:
        keep_view = {"lat": f"{view['lat']:.4f}", "lon": f"{view['lon']:.4f}", "z": str(int(view['z']))}
    wanted.update(keep_view)
    if symbols is not None:
        wanted.update(symbols_param(symbols))
    elif SYMBOLS_KEY in current:
        wanted.update(symbols_param(symbols_from_url(current)[0]))
    if theme is not None:
        keep_display = {"theme": theme} if theme != "light" else {}
    wanted.update(keep_display)
    if wanted != current:
        st.query_params.from_dict(wanted)
    st.session_state["bw_url_filter"] = _filter_part(wanted)


def url_view(default=(30.0, 20.0, 2)) -> tuple[float, float, int]:
    """The map view the URL asks for (corrected values; the notices are shown by the frame)."""
    view, _ = view_from_url(st.query_params.to_dict())
    return view or default


USER_CHANGE_S = 3.0  # a rerun this soon after a user's change may still carry the URL from before it


def mark_changed(key: str) -> None:
    """``on_change`` of a control kept in the URL: the user changed it now."""
    st.session_state[f"{key}_changed_at"] = time.monotonic()


def just_changed(key: str) -> bool:
    """Whether the user changed the control a moment ago: a URL that disagrees with it then is the
    browser's URL from before the change (a rerun asked for meanwhile), not a link or Back."""
    return time.monotonic() - st.session_state.get(f"{key}_changed_at", -1e9) < USER_CHANGE_S


def url_symbols() -> str:
    """How the URL asks the map to draw points: "plain" or "military"."""
    return symbols_from_url(st.query_params.to_dict())[0]


def write_symbols(mode: str) -> None:
    """Record the symbol mode in the URL (no parameter for plain symbols)."""
    params = {k: v for k, v in st.query_params.to_dict().items() if k != SYMBOLS_KEY}
    params.update(symbols_param(mode))
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def scenario_summary() -> dict | None:
    value = queries.scalar("meta", store=default_store(), cache=True, key="scenario")
    return json.loads(value) if value else None
