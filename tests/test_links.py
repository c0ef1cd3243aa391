"""Hostile links: every URL parameter the app reads, with values a link should never hold, on
every page. Nothing raises, nothing reaches the page as Markdown, every value that is ignored or
corrected is named in a notice, valid values are honoured, and a custom window reopens exactly."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from streamlit.testing.v1 import AppTest

from borderwatch.filters import Filter
from borderwatch.links import URL_KEYS, VIEW_KEYS, symbols_from_url, theme_from_url, view_from_url
from borderwatch.views.ui import md
from conftest import NOW, ROOT, sign_in

MARKDOWN = "[click](http://127.0.0.1:9/md) **bold** _%_% \\ `code` <b>x</b> # h | t ~s~ :red[r] $x$ &amp;"
HOSTILE = {
    "empty": "",
    "very long": "A" * 5000,
    "nan": "NaN",
    "inf": "inf",
    "huge": "1e400",
    "1e308": "-1e308",
    "wrong type": "[1,2]",
    "unknown code": "XYZ",
    "homoglyph nation": "USА",  # Cyrillic А
    "homoglyph threat": "ѕmuggling",  # Cyrillic ѕ
    "sql": "USA' OR '1'='1",
    "markdown": MARKDOWN,
    "control": "a\x00b\nc",
}
PAGES = {"live map": None, "analysis": "pages/analysis.py", "briefing": "pages/briefing.py",
         "import": "pages/data.py"}
KNOWN = dict(nations={"USA", "MEX", "CAN", "POL"}, agreements={"schengen", "us-mex"}, segments={"MEX-USA", "CAN-USA"})


def accepted(key: str, value: str, params: dict) -> bool:
    """Did the reader take ``value`` for ``key`` exactly as written?"""
    if key == "theme":
        return theme_from_url(params)[0] == value
    if key in VIEW_KEYS:
        view, _ = view_from_url(params)
        return False if view is None else f"{dict(zip(VIEW_KEYS, view))[key]:g}" == value
    out = Filter.from_url(params, **KNOWN)[0].to_params()
    if key == "q":  # free text: an empty search is no search; surrounding spaces do not count
        return out.get(key, "") == value.strip()
    return out.get(key) == value


# -- the escaping function ----------------------------------------------------------------------
@pytest.mark.parametrize("char", list("[]()*_\\`<>#|~!$:&=+-.{}\"'"))
def test_md_escapes_every_markdown_character(char):
    assert md(char) == "\\" + char
    assert md(f"a{char}b") == f"a\\{char}b"


def test_md_leaves_no_character_unescaped():
    text = md(MARKDOWN + "\nsecond line")
    assert "\n" not in text
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", text)  # remove every escaped pair...
    assert not re.search(r"[!-/:-@\[-`{-~]", bare), bare  # ...and no punctuation is left bare
    assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "") == MARKDOWN + " second line"


@pytest.mark.parametrize("text", ["http://127.0.0.1:9/md", "HTTPS://x.y", "www.example.com", "user@example.com",
                                  "mailto:x@y.z"])
def test_md_breaks_autolinks_invisibly(text):
    out = md(text)
    assert "\u2060" in out and re.sub(r"\\(.)", r"\1", out).replace("\u2060", "") == text


# -- the reader, every parameter x every hostile value ------------------------------------------
@pytest.mark.parametrize("key", URL_KEYS)
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_every_parameter_with_every_hostile_value(key, kind):
    value = HOSTILE[kind]
    params = {key: value}
    if key in ("start", "end"):
        params = {"window": "custom", "start": "2026-10-01T00:00", "end": "2026-10-02T00:00", key: value}
    flt, notices = Filter.from_url(params, **KNOWN)
    view, view_notices = view_from_url(params)
    assert isinstance(flt, Filter)
    assert Filter.from_url(flt.to_params(), **KNOWN) == (flt, []), "what is kept reopens the same"
    if not accepted(key, value, params):
        said = notices + view_notices + theme_from_url(params)[1] + symbols_from_url(params)[1]
        assert any(f"{key}=" in n for n in said), f"{key}={value!r} changed without a notice: {said}"


@pytest.mark.parametrize("link, notice", [
    ("nations=USA' OR '1'='1", "ignored nations=USA' OR '1'='1: not a known ISO 3166 alpha-3 code"),
    ("nations=USА", "U+0410 CYRILLIC CAPITAL LETTER A"),
    ("nations=US", "ignored nations=US: not a known ISO 3166 alpha-3 code"),
    ("nations=840", "ignored nations=840"),
    ("threats=ѕmuggling", "U+0455 CYRILLIC SMALL LETTER DZE"),
    ("severity=NaN", "ignored severity=NaN"),
    ("scope=everything", "ignored scope=everything"),
    ("window=custom&start=2026-11-02T00:00&end=2026-11-01T00:00", "the end is not after the start"),
    ("window=custom&start=2024-02-30&end=2024-03-02", "ignored start=2024-02-30"),
    ("window=custom&start=2026-11-01&end=9999-12-31T23:59:59Z", "ignored end=9999-12-31T23:59:59Z"),
    ("window=forever", "ignored window=forever"),
    ("bbox=1,2,x", "ignored bbox=1,2,x"),
    ("area=POLYGON((1 2", "ignored area=POLYGON((1 2"),
    ("colour=red", "ignored colour=red"),
])
def test_the_issue_links_are_named(link, notice):
    flt, notices = Filter.from_url(link, **KNOWN)
    assert any(notice in n for n in notices), notices
    widest = "all nations" if "nations" in link else ""
    assert not widest or any(widest in n for n in notices), "a link that falls back to everything says so"


def test_valid_values_are_honoured():
    flt, notices = Filter.from_url("bbox=-107,31,-105,33&nations=usa&severity=3", **KNOWN)
    assert flt.bbox == (-107.0, 31.0, -105.0, 33.0) and flt.min_severity == 3 and flt.nations == ("USA",)
    assert notices == ["read nations=usa as USA: codes are upper case"]
    assert "within the box west -107, south 31, east -105, north 33" in flt.describe(now=NOW)


@pytest.mark.parametrize("link, view", [
    ("z=inf", None), ("z=1e400", None), ("lat=nan&lon=nan", None),
    ("lat=1e308&lon=-1e308", (85.0, -180.0, 2)), ("lat=31.5&lon=-108&z=6", (31.5, -108.0, 6)),
    ("lat=31.5", None), ("z=99", (30.0, 20.0, 18)),
])
def test_map_view_values(link, view):
    got, notices = view_from_url(link)
    assert got == view
    assert bool(notices) == (link != "lat=31.5&lon=-108&z=6")


def test_custom_window_round_trips_to_the_minute():
    link = "window=custom&start=2026-11-01T06:30&end=2026-11-02T00:00&nations=USA"
    flt, notices = Filter.from_url(link, **KNOWN)
    assert notices == [] and flt.time_range() == (dt.datetime(2026, 11, 1, 6, 30), dt.datetime(2026, 11, 2))
    assert flt.to_params() == {"v": "1", "nations": "USA", "window": "custom", "start": "2026-11-01T06:30",
                               "end": "2026-11-02T00:00"}
    zoned, notices = Filter.from_url("window=custom&start=2026-11-01T06:30:45%2B02:00&end=2026-11-02T00:00Z")
    assert zoned.start == dt.datetime(2026, 11, 1, 4, 30) and "kept to the minute" in notices[0]


def test_describe_says_box_not_drawn_area():
    box = Filter(area_wkt="POLYGON ((-112 30, -104 30, -104 33, -112 33, -112 30))").describe(now=NOW)
    assert "area of interest: the box west -112, south 30, east -104, north 33" in box and "drawn" not in box
    poly = Filter(area_wkt="POLYGON ((-112 30, -104 30, -108 33, -112 30))").describe(now=NOW)
    assert "area of interest: a polygon" in poly


# -- every page, under AppTest ------------------------------------------------------------------
@pytest.fixture
def app_env(small_store, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_STORE", str(small_store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.setenv("BORDERWATCH_REFRESH_SECONDS", "0")
    monkeypatch.chdir(ROOT)


def open_link(params: dict, page: str | None) -> AppTest:
    """A link opened on a page (a deep link: the page is chosen before the first run)."""
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180))  # an admin: every page opens
    for key, value in params.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")


def shown_text(at: AppTest) -> list[str]:
    out = []
    for kind in MARKDOWN_ELEMENTS:
        out += [str(e.value) for e in getattr(at, kind)]
    out += [str(e.value) for e in at.sidebar.markdown] + [str(e.value) for e in at.sidebar.caption]
    out += [e.label for e in at.metric] + [e.label for e in at.button]
    return out


def hostile_link(value: str) -> dict:
    params = {k: value for k in URL_KEYS}
    params["window"] = "custom"
    return params


def assert_no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    for text in shown_text(at):
        assert "Traceback" not in text and "/site-packages/" not in text and str(ROOT) not in text


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_link_on_every_page(app_env, monkeypatch, page, kind):
    monkeypatch.setenv("BORDERWATCH_CHROMIUM", "/nonexistent/chromium")  # no PNG rendering in this matrix
    params = hostile_link(HOSTILE[kind])
    at = open_link(params, PAGES[page])
    assert_no_traceback(at)
    texts = shown_text(at)
    raw = HOSTILE[kind]
    if re.search(r"[!-/:-@\[-`{-~]", raw):  # with Markdown characters: shown only escaped
        assert not any(raw in t.replace(md(raw), "") for t in texts), "raw Markdown reached the page"
    if page == "import":
        assert not at.sidebar.multiselect, "no filter sidebar on the import page"
        return
    notice = "\n".join(w.value for w in at.warning if "not shown exactly as written" in w.value)
    assert notice, "no notice for a hostile link"
    for key in params:
        if not accepted(key, params[key], params) and key not in ("start", "end", "window"):
            assert md(f"{key}=") in notice, f"{key} not named in the notice"
    assert not set(at.query_params) - set(URL_KEYS)


@pytest.mark.parametrize("page", ["live map", "briefing", "analysis"])
@pytest.mark.parametrize("link", ["z=inf", "z=1e400", "lat=nan&lon=nan", "lat=1e308&lon=-1e308",
                                  "window=custom&start=2026-10-01T00:00&end=9999-12-31T23:59:59Z"])
def test_issue_view_values_on_every_map_page(app_env, page, link):
    params = dict(p.split("=", 1) for p in link.split("&"))
    at = open_link(params, PAGES[page])
    assert_no_traceback(at)
    assert any("not shown exactly as written" in w.value for w in at.warning)


@pytest.mark.parametrize("page", ["live map", "analysis", "briefing"])
def test_markdown_in_the_text_search_is_shown_as_typed(app_env, monkeypatch, page):
    monkeypatch.setenv("BORDERWATCH_CHROMIUM", "/nonexistent/chromium")
    at = open_link({"window": "365d", "q": "[click](http://127.0.0.1:9/md) **bold** _%_% \\"}, PAGES[page])
    assert_no_traceback(at)
    assert any(md('description contains "[click](http://127.0.0.1:9/md) **bold** _%_% \\"') in c.value
               for c in list(at.caption) + list(at.markdown))


def test_custom_window_link_reopens_the_same_window(app_env):
    link = {"v": "1", "nations": "USA", "window": "custom", "start": "2026-11-01T06:30", "end": "2026-11-02T00:00"}
    params = dict(link)
    for _ in range(3):  # open, copy the address, open it again...
        at = open_link(params, "pages/analysis.py")
        assert_no_traceback(at)
        params = at.query_params.to_dict() if hasattr(at.query_params, "to_dict") else dict(at.query_params)
        params = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
        assert params == link
    assert at.sidebar.time_input(key="bw_start_time").value == dt.time(6, 30)
    assert at.sidebar.date_input(key="bw_end_date").value == dt.date(2026, 11, 2)
    assert "2026-11-01 06:30Z to 2026-11-02 00:00Z" in md_plain(at.caption[0].value)


def md_plain(text: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace("\u2060", "")


def test_time_inputs_change_the_window_to_the_minute(app_env):
    at = open_link({"window": "custom", "start": "2026-10-01T00:00", "end": "2026-10-02T00:00"}, None)
    at.sidebar.time_input(key="bw_start_time").set_value(dt.time(7, 45)).run()
    assert_no_traceback(at)
    assert at.query_params["start"] == "2026-10-01T07:45" and at.query_params["end"] == "2026-10-02T00:00"
    at.sidebar.date_input(key="bw_end_date").set_value(dt.date(2026, 9, 1)).run()  # end before start
    assert_no_traceback(at)
    assert any("start must be before its end" in e.value for e in at.sidebar.error)


def test_url_changed_from_outside_resets_the_filters(app_env):
    """Back / Forward / an edited address: the filters follow the URL, not the session."""
    at = open_link({"nations": "USA", "window": "7d"}, None)
    at.sidebar.multiselect(key="bw_nations").set_value(["POL"]).run()
    assert at.query_params["nations"] == "POL"
    at.query_params["nations"] = "USA"  # what Back does: the previous address, then a rerun
    at.run()
    assert_no_traceback(at)
    assert at.sidebar.multiselect(key="bw_nations").value == ["USA"]
    assert at.session_state["bw_filter"].nations == ("USA",)


def test_import_page_has_no_filter_sidebar_and_keeps_the_filter(app_env):
    at = open_link({"nations": "USA", "window": "7d"}, None)
    at.switch_page("pages/data.py").run()
    assert_no_traceback(at)
    assert not at.sidebar.multiselect and at.query_params["nations"] == "USA"
    at.switch_page("pages/live_map.py").run()
    assert at.sidebar.multiselect(key="bw_nations").value == ["USA"]


def test_page_number_past_the_end_shows_the_last_page(app_env):
    at = open_link({"nations": "USA", "window": "365d"}, "pages/analysis.py")
    box = at.number_input(key="an_page")
    box.set_value(99999).run()
    assert_no_traceback(at)
    last = at.number_input(key="an_page").value
    assert 1 < last < 99999
    assert f"page {last:,} of {last:,}" in at.metric[0].proto.delta


# -- configuration and the command line ---------------------------------------------------------
def test_exception_details_stay_on_the_server():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


def test_export_command_names_what_it_ignored(small_store_env, tmp_path):
    import subprocess
    import sys

    link = "http://localhost:8501/analysis?nations=US,USA&severity=NaN&window=365d"
    done = subprocess.run([sys.executable, "-m", "borderwatch.cli", "export", "csv", "--filter-url", link,
                           "-o", str(tmp_path), "-q"], env=small_store_env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "filter URL: ignored nations=US: not a known ISO 3166 alpha-3 code" in done.stderr
    assert "filter URL: ignored severity=NaN" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["borderwatch_incidents_365d_USA_20261101T1200Z.csv.zip"]
