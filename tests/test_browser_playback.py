"""Time playback and the operations-room display in a real browser (Debian chromium), every
off-site request blocked: stepping through time changes the density hexagons in place (the map
frame is never reloaded), a copied link reopens the same step, playing moves on by itself, and
the dark display darkens the page and the map without a reload."""
from __future__ import annotations

import os
import urllib.parse

import pytest

import browser
from conftest import ROOT
from layers import style
from borderwatch.views import display

pytestmark = pytest.mark.browser

# every density hexagon as (colour, outline): what the commander sees of the density layer
HEXAGONS = """(ramp) => {
  const wanted = ramp.map(c => c.toLowerCase());
  const out = [];
  for (const p of document.querySelectorAll('.leaflet-container path')) {
    const f = (p.getAttribute('fill') || '').toLowerCase();
    if (wanted.includes(f)) out.push(f + ' ' + p.getAttribute('d'));
  }
  return out.sort().join('|');
}"""
SHOTS = os.environ.get("BORDERWATCH_SHOTS")  # keep the screenshots here (else the test's tmp dir)


def rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def headline(page) -> list[str]:
    """The headline figures but the clock: incidents in the step, high / critical segments, coverage."""
    return page.locator('[data-testid="stMetric"]').all_inner_texts()[:3]


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def step_label(page) -> str:
    return page.locator('[data-testid="stMain"] [data-testid="stSlider"] [data-testid="stWidgetLabel"]').first.inner_text()


def settled(page, frame, before: str | None = None) -> str:
    """The hexagons once the page is idle and they differ from ``before`` (if given)."""
    browser.wait_for_app(page, 120_000)
    return browser.wait_until(lambda: (h := frame.evaluate(HEXAGONS, list(style.DENSITY_RAMP))) and h != before and h,
                      timeout=60)


def test_stepping_playing_sharing_and_dark_display(streamlit_app, page_factory, small_store_env, tmp_path):
    shots = SHOTS or str(tmp_path)
    env = {k: small_store_env[k] for k in ("BORDERWATCH_STORE", "BORDERWATCH_NOW", "BORDERWATCH_AUTH")}
    url = streamlit_app(ROOT / "app.py", env={**env, "BORDERWATCH_REFRESH_SECONDS": "0"})
    s = page_factory(f"{url}/?window=7d&lat=30&lon=10&z=3", viewport=(1500, 1000))
    page = s.page
    browser.wait_for_app(page, 120_000)
    frame = browser.map_frame(page, 120_000)
    whole = settled(page, frame)
    frame.evaluate("window.bwProbe = 42")  # gone if the map frame is ever reloaded

    # a step of one day: the latest day of the window, fewer hexagons than the whole week
    choose(page, "Time step", "per day")
    latest = settled(page, frame, whole)
    assert step_label(page).startswith("Step shown (UTC): 2026-11-01 00:00")
    browser.wait_until(lambda: "step=1d" in (link := urllib.parse.unquote(browser.address(page)))
                       and "at=2026-11-01T00:00" in link, timeout=30, what="the step in the URL")

    # step back through time: every day draws its own hexagons, in the same frame
    seen = {latest}
    for _ in range(3):
        before = frame.evaluate(HEXAGONS, list(style.DENSITY_RAMP))
        page.locator(".st-key-bw_pb_prev button:visible").click()
        seen.add(settled(page, frame, before))
    assert len(seen) == 4
    assert step_label(page).startswith("Step shown (UTC): 2026-10-29 00:00")
    assert frame.evaluate("window.bwProbe") == 42, "the map frame was reloaded"
    page.screenshot(path=f"{shots}/playback-step.png")
    figures = headline(page)

    # the copied link reopens the same step, with the same hexagons
    link = browser.address(page)
    assert "at=2026-10-29T00" in link
    other = page_factory(link, viewport=(1500, 1000)).page
    browser.wait_for_app(other, 120_000)
    other_frame = browser.map_frame(other, 120_000)
    assert settled(other, other_frame)
    assert headline(other) == figures  # same step: same incidents, same impact levels
    assert step_label(other).startswith("Step shown (UTC): 2026-10-29 00:00")
    other.close()

    # play: the steps move on by themselves, still in the same frame
    choose(page, "Speed", "1 s a step")
    browser.wait_for_app(page, 60_000)
    page.locator(".st-key-bw_pb_play button:visible").filter(has_text="Play").click()
    labels = {step_label(page)}
    browser.wait_until(lambda: labels.add(step_label(page)) or len(labels) >= 3, timeout=60, every=0.3)
    page.locator(".st-key-bw_pb_play button:visible").filter(has_text="Pause").click()
    browser.wait_for_app(page, 60_000)
    assert frame.evaluate("window.bwProbe") == 42, "playing reloaded the map frame"

    # the operations-room display: dark page, dark map, large figures, no reload
    page.get_by_text("Operations room (dark, large figures)").click()
    browser.wait_for_app(page, 60_000)
    browser.wait_until(lambda: "theme=dark" in browser.address(page), timeout=30, what="the display in the URL")
    browser.wait_until(lambda: frame.evaluate("document.documentElement.classList.contains('bw-dark')"), timeout=10)
    sea = frame.evaluate("getComputedStyle(document.querySelector('.leaflet-container')).backgroundColor")
    land = frame.evaluate("getComputedStyle(document.querySelector('path.bw-land')).fill")
    assert (sea, land) == (rgb(style.DARK_SEA), rgb(style.DARK_LAND))
    app_bg = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    assert app_bg == rgb(display.BG)
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-testid=stMetricValue]')).fontSize)")
    assert size >= 30, f"headline figures are {size}px"
    assert frame.evaluate("window.bwProbe") == 42, "the display change reloaded the map frame"
    page.screenshot(path=f"{shots}/playback-dark.png")

    assert browser.app_exceptions(page) == []

    # the wall screen's bookmark: the dark link opens dark, and full screen shows the dark map alone
    wall = page_factory(browser.address(page), viewport=(1500, 1000)).page
    browser.wait_for_app(wall, 120_000)
    wall_frame = browser.map_frame(wall, 120_000)
    browser.wait_until(lambda: wall_frame.evaluate("document.documentElement.classList.contains('bw-dark')"), timeout=10)
    browser.wait_until(lambda: wall_frame.evaluate("window.bwBasemapLoaded === true"), timeout=60)
    wall_frame.click(".bw-fullscreen a")
    browser.wait_until(lambda: wall_frame.evaluate("!!document.fullscreenElement"), timeout=30)
    browser.wait_until(lambda: wall_frame.evaluate("(() => { const r = document.querySelector('.leaflet-container')"
                                           ".getBoundingClientRect(); return r.top === 0 && "
                                           "r.height >= window.innerHeight - 1; })()"), timeout=30)
    assert wall_frame.evaluate("getComputedStyle(document.querySelector('.leaflet-container')).backgroundColor") == sea
    assert wall_frame.evaluate("getComputedStyle(document.querySelector('path.bw-land')).fill") == land
    wall.screenshot(path=f"{shots}/playback-dark-fullscreen.png")
    wall.keyboard.press("Escape")
    assert s.blocked == [], f"requests left localhost: {s.blocked}"
    assert s.failed == [], s.failed


def test_offline_html_export_plays_the_steps(small_store, page_factory, tmp_path, monkeypatch):
    """The standalone HTML of a step carries the steps up to it (capped) with a slider and a play
    button; moving through them changes the hexagons, with the network blocked."""
    from borderwatch.exports import briefing, playback_html, snapshot
    from conftest import NOW

    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    spec = snapshot.ExportSpec.from_params("window=30d&step=1d&at=2026-10-31T00:00&lat=30&lon=10&z=3", now=NOW)
    text = briefing.html_export(spec, store=small_store).decode("utf-8")
    assert f"density hexagons for {playback_html.MAX_STEPS} steps (up to the exported step; 31 in the window)" in text
    path = tmp_path / "playback.html"
    path.write_text(text, encoding="utf-8")
    session = page_factory()
    page = session.page
    page.goto(path.as_uri())
    page.wait_for_function("() => window.bwReady === true", timeout=60_000)
    assert page.evaluate("window.bwStep") == "2026-10-31 00:00–24:00"
    last = page.evaluate(HEXAGONS, list(style.DENSITY_RAMP))
    slider = page.locator(".bw-player input.bw-step")
    slider.evaluate("(e) => { e.value = 0; e.dispatchEvent(new Event('input')); }")
    assert page.evaluate("window.bwStep") == "2026-10-08 00:00–24:00"  # 24 steps: Oct 8 to Oct 31
    first = page.evaluate(HEXAGONS, list(style.DENSITY_RAMP))
    assert first and last and first != last
    page.locator(".bw-player button.bw-play").click()
    browser.wait_until(lambda: page.evaluate("window.bwStep") != "2026-10-08 00:00–24:00", timeout=10)
    page.screenshot(path=f"{SHOTS or tmp_path}/playback-html-export.png")
    assert session.blocked == [] and session.failed == [] and session.console_errors == []
