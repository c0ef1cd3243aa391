"""The live map used like a commander would, in a real browser (Debian chromium, 1600x1000, network
cut to localhost): open at the default view, wheel-zoom into El Paso, pan, change a filter, switch a
layer off, read a segment's popup and follow its link, collapse the legend, go full screen."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest

import browser
from conftest import ROOT
from layers import style

pytestmark = pytest.mark.browser

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
EL_PASO = (31.76, -106.44)
VIEWPORT = (1600, 1000)
DENSITY_TITLE = "Incident density (hexagons)"

POINTS = "document.querySelectorAll('path.bw-point, .marker-cluster').length"
# a spot on a segment line where the segment itself is the topmost thing under the mouse
SEGMENT_SPOT = """() => {
  const pane = map_div.getPane('bwSegments');
  for (const path of pane.querySelectorAll('path.leaflet-interactive')) {
    const len = path.getTotalLength();
    for (let f = 0.05; f < 1; f += 0.05) {
      const p = path.getPointAtLength(len * f), m = path.getScreenCTM();
      const x = p.x * m.a + p.y * m.c + m.e, y = p.x * m.b + p.y * m.d + m.f;
      if (x < 60 || y < 60 || x > window.innerWidth - 60 || y > window.innerHeight - 60) continue;
      if (document.elementFromPoint(x, y) === path) return [x, y];
    }
  }
  return null;
}"""


@pytest.fixture(scope="module")
def el_paso_store(tmp_path_factory):
    """A small scenario at a fixed time, plus a handful of incidents around El Paso."""
    from borderwatch import demo, incident_store
    from borderwatch.store import Store

    store = Store(tmp_path_factory.mktemp("elpaso"))
    demo.build_demo(store, seed=5, incidents=4000, now=NOW, show_progress=False)
    rows = [{"incident_id": f"elp-{i}", "occurred_at": NOW - dt.timedelta(days=1 + i % 9, hours=i),
             "threat_type": ("illegal_crossing", "smuggling", "drug_trafficking")[i % 3], "severity": 1 + i % 4,
             "lon": EL_PASO[1] + (i % 5 - 2) * 0.012, "lat": EL_PASO[0] - 0.02 + (i // 5) * 0.01,
             "description": "", "source": "patrol"} for i in range(15)]
    incident_store.insert_incidents(store, incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset="feed:test",
                                                            owner="USA"))
    from borderwatch import auth

    auth.add_user(COMMANDER, "USA", "analyst", by="tests", store=store)  # signs in as on a real site
    auth.change_password(COMMANDER, PASSWORD, store=store)
    store.close()
    return store


COMMANDER, PASSWORD = "usa-commander", "commander test password"


def app_url(streamlit_app, store) -> str:
    """The app on ``store`` at the fixed time, with the live refresh off (only the user acts)."""
    return streamlit_app(ROOT / "app.py", env={"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_NOW": NOW.isoformat(),
                                               "BORDERWATCH_REFRESH_SECONDS": "0"})


def zoom_into(page, frame, latlon, target_zoom):
    """Wheel-zoom with the mouse over a place, as a person does."""
    box = page.locator(browser.FOLIUM_IFRAME).bounding_box()
    for _ in range(30):
        zoom = frame.evaluate("map_div.getZoom()")
        if zoom >= target_zoom:
            return
        x, y = frame.evaluate(f"(() => {{ const p = map_div.latLngToContainerPoint({list(latlon)}); return [p.x, p.y]; }})()")
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.wheel(0, -60)  # one notch: one zoom level in Leaflet
        try:  # a busy machine may drop a wheel notch while the frame redraws: then wheel again
            browser.wait_until(lambda: frame.evaluate("map_div.getZoom()") != zoom, timeout=20, every=0.2, what="zoom step")
        except AssertionError:
            continue
        time.sleep(0.3)
    assert frame.evaluate("map_div.getZoom()") >= target_zoom


def drag(page, dx, dy):
    box = page.locator(browser.FOLIUM_IFRAME).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
    page.mouse.move(x + dx, y + dy, steps=5)
    page.mouse.up()


def density_switch(frame):
    frame.hover(".leaflet-control-layers")
    label = frame.locator(".leaflet-control-layers-overlays label", has_text=DENSITY_TITLE)
    return label.locator("input")


def test_commander_session(streamlit_app, page_factory, el_paso_store, tmp_path, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    s = page_factory(f"{app_url(streamlit_app, el_paso_store)}/", viewport=VIEWPORT)
    page = s.page
    browser.sign_in(page, COMMANDER, PASSWORD)
    frame = browser.live_map(page)
    assert frame.locator(".leaflet-control-layers").count() == 1
    page.screenshot(path=str(tmp_path / "1-default.png"))

    # layout for an operations room: the map fills the window below a compact header
    box = page.locator(browser.FOLIUM_IFRAME).bounding_box()
    assert box["y"] < 200, f"the map starts {box['y']:.0f} px down"
    assert box["y"] + box["height"] <= VIEWPORT[1] + 2 and box["height"] >= 0.75 * (VIEWPORT[1] - box["y"]), box
    leaflet = frame.evaluate("(() => { const r = document.querySelector('.leaflet-container').getBoundingClientRect();"
                             " return [r.width, r.height]; })()")
    assert abs(leaflet[1] - box["height"]) < 4, (leaflet, box)  # the map itself fills its frame

    # the legend collapses and opens again
    legend_open = frame.locator("#bw-legend").bounding_box()["height"]
    frame.click("#bw-legend summary")
    assert frame.locator("#bw-legend").bounding_box()["height"] < min(40, legend_open / 3)
    frame.click("#bw-legend summary")

    # 1. wheel-zoom into El Paso: points are drawn (the clustering plugin came with the first render)
    zoom_into(page, frame, EL_PASO, 10)
    assert frame.evaluate("map_div.getZoom()") <= 12
    browser.wait_until(lambda: frame.evaluate(POINTS) > 0, what="incident points drawn at El Paso")
    browser.wait_for_app(page, 120_000)
    caption = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
    assert "incidents in view" in caption or "1 incident in view" in caption
    assert "L.markerClusterGroup" not in " ".join(s.console_errors)
    page.screenshot(path=str(tmp_path / "2-el-paso.png"))

    # 2. switch density off; it stays off after a pan, a filter change, and the layer control survives both
    switch = density_switch(frame)
    assert switch.is_checked()
    switch.click()
    browser.wait_until(lambda: browser.count_by_colour(frame, style.DENSITY_RAMP) == 0, what="density switched off")
    before = frame.evaluate("map_div.getCenter().lng")
    drag(page, -160, 40)
    browser.wait_until(lambda: abs(frame.evaluate("map_div.getCenter().lng") - before) > 1e-3, what="map panned")
    time.sleep(1.5)
    browser.wait_for_app(page, 120_000)
    browser.wait_until(lambda: frame.evaluate(POINTS) > 0 or frame.evaluate("document.querySelectorAll('path').length") > 0)
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert not density_switch(frame).is_checked()
    assert browser.count_by_colour(frame, style.DENSITY_RAMP) == 0

    drag(page, 160, -40)  # back over El Paso
    time.sleep(1.5)
    browser.wait_for_app(page, 120_000)
    page.screenshot(path=str(tmp_path / "2b-panned-back.png"))
    browser.wait_until(lambda: f"lon={frame.evaluate('map_div.getCenter().lng'):.2f}"[:9] in browser.address(page),
               what=f"the view in the URL ({browser.address(page)})")
    nations = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    browser.choose_in_multiselect(page, nations, "United States", "United States of America")
    page.locator(".bw-title").click()  # done choosing: click away
    page.screenshot(path=str(tmp_path / "2c-filter.png"))
    browser.wait_until(lambda: "nations=USA" in browser.address(page), what="filter in the URL")
    browser.wait_for_app(page, 120_000)
    browser.wait_until(lambda: browser.count_by_colour(frame, style.IMPACT_COLORS.values()) > 0, what="segments redrawn")
    assert frame.locator(".leaflet-control-layers").count() == 1
    assert not density_switch(frame).is_checked()
    assert browser.count_by_colour(frame, style.DENSITY_RAMP) == 0
    browser.wait_until(lambda: frame.evaluate(POINTS) > 0, what="points after the filter change")
    density_switch(frame).click()  # and back on
    browser.wait_until(lambda: browser.count_by_colour(frame, style.DENSITY_RAMP) > 0, what="density back on")
    page.mouse.move(5, 500)  # leave the layer control (it collapses)

    # 3. a segment answers hover and click above the density hexagons
    spot = browser.wait_until(lambda: frame.evaluate(SEGMENT_SPOT), what="a visible segment spot")
    box = page.locator(browser.FOLIUM_IFRAME).bounding_box()
    page.mouse.move(box["x"] + spot[0], box["y"] + spot[1])
    tooltip = frame.locator(".leaflet-tooltip")
    browser.wait_until(lambda: tooltip.count() > 0 and "impact" in tooltip.first.inner_text(), what="segment tooltip")
    page.mouse.click(box["x"] + spot[0], box["y"] + spot[1])
    popup = frame.locator(".leaflet-popup-content")
    popup.wait_for(timeout=30_000)
    text = popup.inner_text()
    for word in ("Nations", "Impact", "expected from the", "Incidents", "Coverage", "Fortifications",
                 "Analyse this segment"):
        assert word in text, (word, text)
    time.sleep(0.5)  # the popup fades in
    page.screenshot(path=str(tmp_path / "3-popup.png"))
    assert "nan" not in text.lower().split() and "None" not in text and " 1 incidents" not in text
    link = popup.locator("a.bw-analysis-link")
    assert link.get_attribute("target") == "_blank" and "segments=" in link.get_attribute("href")
    segment = link.get_attribute("href").split("segments=")[1].split("&")[0]

    # the popup's link opens the analysis of that segment, with the filter, in a new tab
    with page.context.expect_page(timeout=60_000) as opened:
        link.click()
    analysis = opened.value
    analysis.wait_for_load_state()
    # a new tab of the same browser keeps the sign-in (the session cookie): no password asked
    browser.wait_for_app(analysis, 120_000)
    analysis.get_by_text(f"Signed in as {COMMANDER}").wait_for(timeout=120_000)
    assert "/analysis?" in browser.address(analysis) and "nations=USA" in browser.address(analysis)
    analysis.locator('[data-testid="stAlert"]').filter(has_text=f"segment(s) {segment}").first.wait_for(timeout=120_000)
    assert browser.app_exceptions(analysis) == []

    assert browser.app_exceptions(page) == []
    assert s.console_errors == [], s.console_errors
    assert s.blocked == [], s.blocked
    assert s.failed == [], s.failed


def test_full_screen_shows_the_map_alone(streamlit_app, page_factory, el_paso_store, tmp_path):
    s = page_factory(f"{app_url(streamlit_app, el_paso_store)}/", viewport=VIEWPORT)
    page = s.page
    browser.sign_in(page, COMMANDER, PASSWORD)
    frame = browser.live_map(page)
    frame.click(".bw-fullscreen a")
    browser.wait_until(lambda: frame.evaluate("!!document.fullscreenElement"), what="full screen")
    browser.wait_until(lambda: frame.evaluate("(() => { const r = document.querySelector('.leaflet-container')"
                                      ".getBoundingClientRect(); return r.top === 0 && r.height >= window.innerHeight - 1"
                                      " && r.width >= window.innerWidth - 1; })()"), what="map fills the screen")
    page.screenshot(path=str(tmp_path / "fullscreen.png"))
    page.keyboard.press("Escape")
    frame.click(".bw-fullscreen a") if frame.evaluate("!!document.fullscreenElement") else None
    browser.wait_until(lambda: not frame.evaluate("!!document.fullscreenElement"), what="full screen left")
    assert s.console_errors == [], s.console_errors


MARK_SEGMENTS = """() => { const ps = map_div.getPane('bwSegments').querySelectorAll('path');
  ps.forEach(p => { p.bwMarked = true; }); return ps.length; }"""
MARKED_SEGMENTS = """() => [...map_div.getPane('bwSegments').querySelectorAll('path')].filter(p => p.bwMarked).length"""
COUNT_MOVES = "(() => { window.bwMoves = 0; map_div.on('moveend', () => { window.bwMoves += 1; }); return true; })()"


def test_pans_keep_what_is_drawn_and_never_jump_back(streamlit_app, page_factory, el_paso_store, tmp_path):
    """A small pan shows what was drawn around the view (no redraw: the same line elements stay) and
    the map is not moved again when the rerun comes back; two quick pans end where the user left the
    map; a pan far beyond what was drawn draws the new area."""
    s = page_factory(f"{app_url(streamlit_app, el_paso_store)}/?window=30d&lat=31.5&lon=-106&z=6", viewport=VIEWPORT)
    page = s.page
    browser.sign_in(page, COMMANDER, PASSWORD)
    frame = browser.live_map(page)
    time.sleep(1.5)  # the frame's first view report and its rerun
    browser.wait_for_app(page, 120_000)
    frame.evaluate(COUNT_MOVES)
    marked = frame.evaluate(MARK_SEGMENTS)
    assert marked > 0

    def centre():
        return frame.evaluate("[map_div.getCenter().lat, map_div.getCenter().lng]")

    def come_to_rest():
        """The map after a drag (Leaflet glides on a little), once it stands still, and the app idle
        with the view it reported in the URL."""
        last = centre()
        while True:
            time.sleep(0.5)
            now = centre()
            if now == last:
                break
            last = now
        # the address bar itself (Playwright's browser.address(page) can miss a same-document URL replacement)
        browser.wait_until(lambda: f"lon={now[1]:.4f}" in page.evaluate("location.search"),
                           what=f"the view {now} in the URL ({page.evaluate('location.search')})")
        browser.wait_for_app(page, 120_000)
        time.sleep(1.0)  # anything the rerun would do to the map has happened by now
        return now

    def pan(dx, dy):
        before = frame.evaluate("window.bwMoves")
        drag(page, dx, dy)
        at_rest = come_to_rest()
        assert centre() == pytest.approx(at_rest, abs=1e-9), "the map moved after the user left it"
        return frame.evaluate("window.bwMoves") - before

    moves = pan(-150, 60)
    assert moves == 1, f"the map moved {moves} times for one pan"
    assert frame.evaluate(MARKED_SEGMENTS) == marked, "a small pan redrew the segments"

    # two pans in quick succession: the map stays where the second one left it
    drag(page, 120, 0)
    drag(page, 120, -40)
    at_rest = come_to_rest()
    assert centre() == pytest.approx(at_rest, abs=1e-9)

    # far beyond what was drawn: the new area is drawn (new line elements), still one move per pan
    for _ in range(3):
        assert pan(-700, 0) == 1
    assert frame.evaluate(MARKED_SEGMENTS) == 0, "the layers were not drawn again for the new area"
    page.screenshot(path=str(tmp_path / "panned-far.png"))
    assert browser.app_exceptions(page) == []
    assert s.console_errors == [], s.console_errors
    assert s.blocked == [] and s.failed == []
