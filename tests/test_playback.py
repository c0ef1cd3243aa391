"""Time playback: the step arithmetic, the step in the Filter (time range, SQL, words) and in links
(round trip, hostile values), the dark display's CSS and map colours."""
from __future__ import annotations

import datetime as dt

import pytest

from borderwatch import playback
from borderwatch.views import display
from borderwatch.filters import Filter
from borderwatch.links import theme_from_url
from conftest import NOW

D = dt.datetime


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch):
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())  # links are read against "now"


WINDOW = (D(2026, 10, 2, 12, 30), D(2026, 11, 1, 12, 0))  # "last 30 days" at 12:00 ... starting mid-hour


# -- arithmetic ----------------------------------------------------------------------------------
@pytest.mark.parametrize("at, step, start", [
    (D(2026, 11, 1, 7, 59), "1h", D(2026, 11, 1, 7)),
    (D(2026, 11, 1, 7, 0), "1h", D(2026, 11, 1, 7)),
    (D(2026, 11, 1, 5, 59, 59), "6h", D(2026, 11, 1, 0)),
    (D(2026, 11, 1, 6, 0), "6h", D(2026, 11, 1, 6)),
    (D(2026, 11, 1, 23, 59), "1d", D(2026, 11, 1)),
    (D(1969, 12, 31, 23, 0), "6h", D(1969, 12, 31, 18)),  # before the epoch too
])
def test_floor_aligns_on_utc_boundaries(at, step, start):
    assert playback.floor(at, step) == start
    assert playback.aligned(start, step) and (at == start) == playback.aligned(at, step)


def test_steps_cover_the_window_with_clipped_ends():
    starts = playback.starts(WINDOW, "1d")
    assert starts[0] == D(2026, 10, 2) and starts[-1] == D(2026, 11, 1) and len(starts) == 31
    assert playback.count(WINDOW, "1d") == 31 and playback.count(WINDOW, "1h") == 30 * 24
    assert playback.count(WINDOW, "6h") == len(playback.starts(WINDOW, "6h")) == 120
    # the first and last step are cut to the window; the ranges tile it exactly
    ranges = [playback.step_range(s, WINDOW, "1d") for s in starts]
    assert ranges[0] == (D(2026, 10, 2, 12, 30), D(2026, 10, 3)) and ranges[-1] == (D(2026, 11, 1), D(2026, 11, 1, 12))
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


def test_window_ending_on_a_boundary_has_no_empty_last_step():
    window = (D(2026, 11, 1), D(2026, 11, 2))
    assert playback.count(window, "6h") == 4 and playback.first_last(window, "6h")[1] == D(2026, 11, 1, 18)
    assert playback.step_range(None, window, "6h") == (D(2026, 11, 1, 18), D(2026, 11, 2))


def test_clamp_and_neighbours():
    assert playback.clamp(None, WINDOW, "6h") == D(2026, 11, 1, 6) == playback.first_last(WINDOW, "6h")[1]
    assert playback.clamp(D(2020, 1, 1), WINDOW, "6h") == D(2026, 10, 2, 12)
    assert playback.clamp(D(2030, 1, 1), WINDOW, "6h") == D(2026, 11, 1, 6)
    last, first = playback.first_last(WINDOW, "1h")[::-1]
    assert playback.neighbour(last, WINDOW, "1h", 1) == first  # playing loops
    assert playback.neighbour(last, WINDOW, "1h", 1, wrap=False) == last  # "next" stops at the end
    assert playback.neighbour(first, WINDOW, "1h", -1, wrap=False) == first
    assert playback.neighbour(D(2026, 10, 20, 5, 10), WINDOW, "1h", 3) == D(2026, 10, 20, 8)


def test_unknown_step_is_refused():
    for bad in ("", "2h", "1H", None):
        with pytest.raises(ValueError, match="step must be one of"):
            playback.floor(D(2026, 1, 1), bad)


# -- in the Filter -------------------------------------------------------------------------------
def test_step_narrows_the_time_range_and_its_sql():
    flt = Filter(window="30d", step="6h", step_at=D(2026, 10, 20, 6))
    assert flt.window_range(NOW) == (NOW - dt.timedelta(days=30), NOW)
    assert flt.time_range(NOW) == (D(2026, 10, 20, 6), D(2026, 10, 20, 12))
    assert flt.previous_range(NOW) == (D(2026, 10, 20, 0), D(2026, 10, 20, 6))
    _, params = flt.sql("incident", now=NOW)
    assert (params["f_start"], params["f_end"]) == (D(2026, 10, 20, 6), D(2026, 10, 20, 12))
    assert "2026-10-20 06:00Z to 2026-10-20 12:00Z (a 6-hour step of the last 30 days" in flt.describe(NOW)
    assert Filter(window="30d", step="1h").time_range(NOW) == (D(2026, 11, 1, 11), NOW)  # latest, cut to now


@pytest.mark.parametrize("kwargs, message", [
    (dict(step="2h"), "step must be one of"),
    (dict(step_at=D(2026, 10, 20)), "needs a step"),
    (dict(step="6h", step_at=D(2026, 10, 20, 7)), "6h step starts at 2026-10-20 06:00"),
    (dict(step="1d", step_at=D(1800, 1, 1)), "years"),
])
def test_filter_refuses_a_bad_step(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Filter(**kwargs)


# -- in links ------------------------------------------------------------------------------------
def test_step_link_round_trip():
    flt = Filter(window="30d", nations=("USA",), step="1h", step_at=D(2026, 10, 31, 23))
    params = flt.to_params()
    assert params["step"] == "1h" and params["at"] == "2026-10-31T23:00"
    assert Filter.from_url(params) == (flt, [])
    back, notices = Filter.from_url("https://x/?window=30d&nations=USA&step=1h&at=2026-10-31T23%3A00")
    assert (back, notices) == (flt, [])


@pytest.mark.parametrize("link, notice", [
    ("step=banana", "ignored step=banana: not one of 1h, 6h, 1d; showing the whole window"),
    ("step=6H", "ignored step=6H"),
    ("step=", "ignored step=: not one of"),
    ("step=1h%00", "ignored step=1h\\u0000"),
    ("at=2026-10-20T06:00", "ignored at=2026-10-20T06:00: only used with a step"),
    ("step=6h&at=yesterday", "ignored at=yesterday: not a date-time like 2026-11-01T06:30; showing the latest step"),
    ("step=6h&at=2026-02-30T00:00", "ignored at=2026-02-30T00:00"),
    ("step=6h&at=9999-01-01T00:00", "outside the years 1900 to 2200"),
    ("step=6h&at=" + "9" * 5000, "(5,000 characters)"),
    ("step=6h&at=2026-10-20T07:45", "read at=2026-10-20T07:45 as 2026-10-20T06:00: 6-hour steps start at 00, 06"),
    ("window=custom&start=2026-10-01T00:00&end=2026-10-02T00:00&step=1h&at=2026-10-05T00:00",
     "ignored at=2026-10-05T00:00: outside the custom window; showing the latest step"),
])
def test_hostile_step_values_get_a_notice_and_a_valid_filter(link, notice):
    flt, notices = Filter.from_url(link)
    assert any(notice in n for n in notices), notices
    assert isinstance(flt, Filter) and Filter.from_url(flt.to_params()) == (flt, [])
    if flt.step:  # whatever the link held, the step shown lies in the window
        start, end = flt.time_range()
        w0, w1 = flt.window_range()
        assert w0 <= start < end <= w1


def test_step_with_zone_is_read_in_utc():
    flt, notices = Filter.from_url("step=1h&at=2026-10-20T10:00%2B02:00&window=custom&start=2026-10-19T00:00"
                                   "&end=2026-10-21T00:00")
    assert flt.step_at == D(2026, 10, 20, 8) and notices == []


# -- the display ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, theme, noticed", [
    (None, "light", False), ("dark", "dark", False), ("light", "light", False),
    ("DARK", "light", True), ("<style>", "light", True), ("", "light", True)])
def test_theme_from_url(raw, theme, noticed):
    params = {} if raw is None else {"theme": raw}
    got, notices = theme_from_url(params)
    assert got == theme and bool(notices) == noticed
    assert not noticed or notices[0].startswith(f"ignored theme={raw}")


def test_dark_display_css_and_map_colours():
    from layers import basemap, style

    dark = display.page_css("dark")
    assert "--bw-theme: dark" in dark and "stMetricValue" in dark and "1.9rem" in dark
    assert display.page_css("light") == "<style>:root { --bw-theme: light; }</style>"
    element = basemap.DisplayTheme("dark")
    assert (element.sea, element.land) == (style.DARK_SEA, style.DARK_LAND)


def test_scheduled_briefing_refuses_a_bad_step():
    from borderwatch.cli.brief import check_params

    assert check_params({"window": "7d", "step": "1d", "at": "2026-10-30T00:00"}, store=None) == []
    problems = check_params({"step": "fortnight"}, store=None) + check_params({"step": "6h", "at": "x"}, store=None)
    assert problems[0].startswith("ignored step=fortnight") and problems[1].startswith("ignored at=x")
