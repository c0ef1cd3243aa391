"""The live map's playback controls and the display choice, run with AppTest (no browser)."""
from __future__ import annotations

import datetime as dt
import time

from streamlit.testing.v1 import AppTest

from conftest import ROOT, sign_in


def run_app(page: str | None = None, **query) -> AppTest:
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120))
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


def step_slider(at):
    """The step slider (its key follows its value, see borderwatch/views/playback.py)."""
    found = [s for s in at.main.slider if s.key and s.key.startswith("bw_pb_at_")]
    assert len(found) == 1, found
    return found[0]


def warnings(at) -> str:
    return " ".join(w.value for w in at.warning).replace("\\", "")  # shown escaped (ui.md)


def metric(at, prefix) -> tuple[str, str]:
    return next((m.label, m.value) for m in at.metric if m.label.startswith(prefix))


def test_choosing_a_step_narrows_the_map_and_goes_in_the_link(app_env):
    at = run_app(window="7d")
    assert not at.exception
    whole = metric(at, "Incidents, ")
    assert whole[0] == "Incidents, last 7 days" and not at.slider
    at.selectbox(key="bw_pb_step").set_value("1d").run()
    assert not at.exception
    slider = step_slider(at)
    # the latest day of the window, cut to "now" (12:00), is shown first
    assert slider.value == dt.datetime(2026, 11, 1) and "8 steps in the window" in slider.help  # 10-25 .. 11-01
    label, value = metric(at, "Incidents, ")
    assert label == "Incidents, step 2026-11-01 00:00–12:00" and int(value.replace(",", "")) < int(whole[1].replace(",", ""))
    assert at.query_params["step"] == "1d" and at.query_params["at"] == "2026-11-01T00:00"
    assert any("a 1-day step of the last 7 days" in c.value.replace("\\", "") for c in at.caption)


def test_previous_next_and_slider_move_the_step_and_the_figures(app_env):
    at = run_app(window="7d", step="6h", at="2026-10-30T06:00")
    assert not at.exception and step_slider(at).value == dt.datetime(2026, 10, 30, 6)
    seen = {metric(at, "Incidents, ")}
    at.button(key="bw_pb_next").click().run()
    assert step_slider(at).value == dt.datetime(2026, 10, 30, 12)
    assert at.query_params["at"] == "2026-10-30T12:00"
    seen.add(metric(at, "Incidents, "))
    at.button(key="bw_pb_prev").click().run()
    at.button(key="bw_pb_prev").click().run()
    assert step_slider(at).value == dt.datetime(2026, 10, 30, 0)
    seen.add(metric(at, "Incidents, "))
    step_slider(at).set_value(dt.datetime(2026, 10, 26, 18)).run()
    assert not at.exception and at.query_params["at"] == "2026-10-26T18:00"
    seen.add(metric(at, "Incidents, "))
    assert len({label for label, _ in seen}) == 4  # every step has its own figures
    # back to the whole window: the link loses the step
    at.selectbox(key="bw_pb_step").set_value("").run()
    assert "step" not in at.query_params and "at" not in at.query_params
    assert metric(at, "Incidents, ")[0] == "Incidents, last 7 days"


def test_play_advances_a_step_per_tick(app_env):
    at = run_app(window="24h", step="1h", at="2026-11-01T08:00")
    at.button(key="bw_pb_play").click().run()
    assert not at.exception and at.session_state["bw_playing"]
    assert at.button(key="bw_pb_play").label == "Pause"
    at.session_state["bw_play_last"] = 0.0  # the interval has passed: the next run is a tick
    at.run()
    assert step_slider(at).value == dt.datetime(2026, 11, 1, 9)
    # a rerun before the interval is over (e.g. the map reporting its view) does not advance; the
    # last tick is put a minute ahead so that a slow test machine cannot make the interval pass
    at.session_state["bw_play_last"] = time.monotonic() + 60
    at.run()
    assert step_slider(at).value == dt.datetime(2026, 11, 1, 9)
    at.session_state["bw_play_last"] = 0.0
    at.run()
    assert step_slider(at).value == dt.datetime(2026, 11, 1, 10)
    at.button(key="bw_pb_play").click().run()
    assert not at.session_state["bw_playing"] and at.button(key="bw_pb_play").label == "Play"


def test_bad_step_link_gets_a_notice_never_an_exception(app_env):
    at = run_app(step="fortnight", at="2026-10-30T07:00")
    assert not at.exception
    text = warnings(at)
    assert "ignored step=fortnight" in text and "ignored at=2026" in text
    assert at.selectbox(key="bw_pb_step").value == ""
    at = run_app(window="7d", step="6h", at="2026-10-30T07:45")
    assert not at.exception and step_slider(at).value == dt.datetime(2026, 10, 30, 6)
    assert "6-hour steps start at 00, 06, 12 and 18 h UTC" in warnings(at)


def test_the_step_reaches_the_briefing_page(app_env):
    at = run_app("pages/briefing.py", window="7d", step="1d", at="2026-10-29T00:00")
    assert not at.exception
    assert any("2026-10-29 00:00Z to 2026-10-30 00:00Z (a 1-day step" in c.value.replace("\\", "") for c in at.caption)
    assert any("step=1d" in c.value and "at=2026-10-29T00" in c.value for c in at.code)
    at.sidebar.button(key="bw_clear_step").click().run()
    assert "step" not in at.query_params


def test_display_choice_is_kept_in_the_link(app_env):
    at = run_app(theme="dark")
    assert not at.exception and at.sidebar.radio(key="bw_theme").value == "dark"
    assert any("--bw-theme: dark" in h.proto.body for h in at.get("html"))
    at.sidebar.radio(key="bw_theme").set_value("light").run()
    assert "theme" not in at.query_params
    assert any("--bw-theme: light" in h.proto.body for h in at.get("html"))
    at.sidebar.radio(key="bw_theme").set_value("dark").run()
    assert at.query_params["theme"] == "dark"
    bad = run_app(theme="<b>night</b>")
    assert not bad.exception and bad.sidebar.radio(key="bw_theme").value == "light"
    assert "ignored theme=<b>night</b>" in warnings(bad) and "theme" not in bad.query_params
