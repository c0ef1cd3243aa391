"""Shared links in a real browser, offline: what only a browser shows. A deep link as a fresh
server's first request runs inside the frame; a custom-window link reopened gives the same window
to the minute; the sidebar's page links carry the filter (open in a new tab keeps it); Back
restores the previous filter; Markdown in a link shows as typed; hostile values show a notice,
never a traceback."""
from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

import browser
from conftest import ROOT

pytestmark = pytest.mark.browser
SEARCH = "() => Object.fromEntries(new URLSearchParams(location.search))"


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def params(page) -> dict:
    return page.evaluate(SEARCH)


def test_link_reopens_same_window_nav_links_keep_filters_and_back_restores(
        streamlit_app, small_store_env, page_factory):
    base = streamlit_app(ROOT / "app.py", env=small_store_env)
    link = {"v": "1", "nations": "USA", "window": "custom", "start": "2026-10-01T06:30", "end": "2026-10-02T00:00"}
    session = page_factory(f"{base}/analysis?{urlencode(link)}", viewport=(1400, 1200))
    page = session.page
    browser.wait_for_app(page)
    # a deep link as the server's first request still gets the frame (sidebar filter and links)
    page.get_by_role("heading", name="Incident analysis").wait_for()
    sidebar(page).get_by_text("Time window").wait_for()

    for _ in range(3):  # copy the address, open it again: the same window each time
        assert params(page) == link
        page.goto(browser.address(page))
        browser.wait_for_app(page)
        page.get_by_role("heading", name="Incident analysis").wait_for()
    assert params(page) == link
    times = sidebar(page).locator('[data-testid="stTimeInput"] input[type="hidden"]')
    browser.wait_until(lambda: times.count() == 2, 60, what="the window's two time fields")  # both drawn
    assert [times.nth(i).get_attribute("value") for i in range(times.count())] == ["06:30:00", "00:00:00"]
    page.get_by_text("2026-10-01 06:30Z to 2026-10-02 00:00Z", exact=False).first.wait_for()

    # the sidebar's page links carry the filter: open the live map in a new tab
    live = sidebar(page).locator('[data-testid="stPageLink-NavLink"]').filter(has_text="Live map")
    href = live.get_attribute("href")
    assert "nations=USA" in href and "start=2026-10-01T06" in href, href
    other = page.context.new_page()
    other.goto(href if href.startswith("http") else base + href)
    browser.wait_for_app(other)
    other.get_by_text("Borderwatch — live map").wait_for()
    assert params(other) == link
    other.get_by_text("2026-10-01 06:30Z to 2026-10-02 00:00Z", exact=False).first.wait_for()
    other.close()

    # change the window in the sidebar, then Back: the previous filter comes back
    sidebar(page).locator('[data-testid="stSelectbox"]').filter(has_text="Time window").click()
    page.get_by_role("option", name="last 7 days").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('window') === '7d'")
    browser.wait_for_app(page)
    page.go_back()
    page.wait_for_function("() => new URLSearchParams(location.search).get('window') === 'custom'")
    browser.wait_for_app(page)
    page.get_by_text("2026-10-01 06:30Z to 2026-10-02 00:00Z", exact=False).first.wait_for()
    sidebar(page).get_by_text("From (UTC)").wait_for()  # the custom window's inputs are back
    assert params(page) == link
    assert browser.app_exceptions(page) == []
    assert session.blocked == [], f"off-site requests: {session.blocked}"


MARKDOWN = "[click](http://127.0.0.1:9/md) **bold** _%_% \\ <b>html</b> `code` ~~x~~ www.example.com a@b.org"


def test_markdown_in_a_link_shows_as_typed_and_hostile_values_show_no_traceback(
        streamlit_app, small_store_env, page_factory):
    base = streamlit_app(ROOT / "app.py", env=small_store_env)
    query = "window=365d&z=inf&lat=nan&lon=nan&nations=" + quote("USА,US") + "&q=" + quote(MARKDOWN)
    session = page_factory(f"{base}/?{query}", viewport=(1400, 1200))
    page = session.page
    browser.wait_for_app(page)
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="description contains").first
    caption.wait_for()
    assert f'description contains "{MARKDOWN}"' in caption.inner_text().replace("\u2060", "")
    assert caption.locator("a, strong, em, b, code, del").count() == 0
    notice = page.locator('[data-testid="stAlert"]').filter(has_text="not shown exactly as written")
    notice.wait_for()
    text = notice.inner_text().replace("\u2060", "")
    for said in ("ignored nations=USА", "U+0410", "ignored nations=US:", "ignored z=inf", "ignored lat=nan"):
        assert said in text, text
    assert notice.locator("a").count() == 0
    browser.map_frame(page)  # the map still draws
    assert browser.app_exceptions(page) == []
    assert "Traceback" not in page.inner_text("body")
    assert session.blocked == [], f"off-site requests: {session.blocked}"
