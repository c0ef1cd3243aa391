"""The live map's time playback controls: step size, a slider over the window's steps, previous /
next, play / pause and speed. The step arithmetic is ``borderwatch.playback``; the chosen step
lives in the Filter (``step``, ``step_at``), so the map, the figures, the link and the exports
follow it.

Session state: ``bw_step`` / ``bw_step_at`` hold the step (the frame's filter sidebar reads them,
a link sets them); ``bw_playing`` / ``bw_speed`` the player. The widgets have keys of their own
(``bw_pb_*``), set from those before they are drawn, so a link, Back or the player moving on is
what they show.
"""
from __future__ import annotations

import datetime as dt
import time

import streamlit as st

from borderwatch import playback
from borderwatch.filters import Filter
from borderwatch.playback import SPEEDS, STEP_LABELS, STEP_NAMES, STEPS

DUE_SHARE = 0.75  # a tick this far into the interval advances (reruns for other reasons do not)


def playing() -> bool:
    return bool(st.session_state.get("bw_playing")) and bool(st.session_state.get("bw_step"))


def interval() -> int:
    """Seconds between steps while playing."""
    speed = st.session_state.get("bw_speed", playback.DEFAULT_SPEED)
    return speed if speed in SPEEDS else playback.DEFAULT_SPEED


def _step_changed() -> None:
    state = st.session_state
    state.update(bw_step=state.bw_pb_step or "", bw_step_at=None, bw_playing=False)


def _at_changed(key: str) -> None:
    state = st.session_state
    if key != state.get("bw_pb_key"):  # a slider already replaced (the browser may still report it)
        return
    state["bw_step_at"] = state[key]
    state["bw_playing"] = False  # the user took the slider: stop playing


def _move(window: tuple[dt.datetime, dt.datetime], step: str, by: int) -> None:
    state = st.session_state
    state["bw_step_at"] = playback.neighbour(state.get("bw_step_at"), window, step, by, wrap=False)
    state["bw_playing"] = False


def _toggle_play() -> None:
    state = st.session_state
    state["bw_playing"] = not state.get("bw_playing")
    state["bw_play_last"] = time.monotonic()
    state["bw_rerun_app"] = True  # the map's refresh timer changes with playing


def _speed_changed() -> None:
    st.session_state["bw_speed"] = st.session_state.bw_pb_speed
    st.session_state["bw_rerun_app"] = True


def _advance(at: dt.datetime, window, step: str) -> dt.datetime:
    """While playing, the next step once the interval is (nearly) over; else the same step."""
    state = st.session_state
    now = time.monotonic()
    if playing() and now - state.get("bw_play_last", 0.0) >= interval() * DUE_SHARE:
        state["bw_play_last"] = now
        return playback.neighbour(at, window, step, 1, wrap=True)
    return at


def controls(base: Filter, now: dt.datetime, slot=None) -> Filter:
    """Draw the controls; the Filter they choose (``base`` with its step and step time). The step
    choice goes in ``slot`` (a header column; default: the page), the slider row below it only
    while a step is chosen."""
    state = st.session_state
    if state.pop("bw_rerun_app", False):
        st.rerun()  # the whole page: the map's timer follows playing / speed
    step = state.get("bw_step") or ""
    state["bw_pb_step"] = step
    (slot or st).selectbox("Time step", ["", *STEPS], key="bw_pb_step", on_change=_step_changed,
                      format_func=lambda s: f"per {STEP_LABELS[s]}" if s else "whole window",
                      help="Step through the filter window an hour, 6 hours or a day at a time: the map, "
                           "impact levels and figures show one step. Kept in the page address.")
    if not step:
        state["bw_playing"] = False
        return base.replace(step="", step_at=None)
    cols = st.columns([1.3, 4.4, 0.45, 0.45, 0.9, 1.0], vertical_alignment="bottom")
    cols[0].caption(f"Time playback, {STEP_NAMES[step]} steps")
    window = base.window_range(now)
    at = _advance(playback.clamp(state.get("bw_step_at"), window, step), window, step)
    state["bw_step_at"] = at
    first, last = playback.first_last(window, step)
    flt = base.replace(step=step, step_at=at)
    span = playback.label(*flt.time_range(now))
    if first < last:
        # one slider per value: a slider whose value the server moves (playing, previous / next, a
        # link) could send its old value back and undo the move; a new key draws a new slider
        key = state["bw_pb_key"] = f"bw_pb_at_{step}_{at:%Y%m%d%H%M}"
        cols[1].slider(f"Step shown (UTC): {span}", min_value=first, max_value=last, value=at, step=STEPS[step],
                       key=key, format="YYYY-MM-DD HH:mm", on_change=_at_changed, args=(key,),
                       help=f"{playback.count(window, step):,} steps in the window; the first and last are "
                            "cut to the window")
    else:
        cols[1].caption(f"Step shown (UTC): {span} — the window holds one step")
    cols[2].button("", icon=":material/skip_previous:", key="bw_pb_prev", help="Previous step",
                   on_click=_move, args=(window, step, -1), disabled=at <= first)
    cols[3].button("", icon=":material/skip_next:", key="bw_pb_next", help="Next step",
                   on_click=_move, args=(window, step, 1), disabled=at >= last)
    cols[4].button("Pause" if playing() else "Play", key="bw_pb_play", on_click=_toggle_play,
                   icon=":material/pause:" if playing() else ":material/play_arrow:", disabled=first == last,
                   help="Play the steps one after another (from the last it starts again at the first)")
    state["bw_pb_speed"] = interval()
    cols[5].selectbox("Speed", SPEEDS, key="bw_pb_speed", on_change=_speed_changed,
                      format_func=lambda s: f"{s} s a step")
    return flt
