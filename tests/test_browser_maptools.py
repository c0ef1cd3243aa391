"""Map tools in a real browser, offline: draw a rectangle (the analysis follows it, the link carries
it), measure a distance (a plausible km figure), switch the live map to military symbols (SVG
symbols from milsymbol and their legend) and back."""
from __future__ import annotations

import math
import os
import pathlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from playwright.sync_api import Error as PlaywrightError

import browser
import queries
from borderwatch.filters import Filter
from conftest import NOW, ROOT

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BORDERWATCH_SCREENSHOTS")


def shot(page, name: str) -> None:
    if SHOTS:
        pathlib.Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(pathlib.Path(SHOTS) / f"maptools-{name}.png"), full_page=False)


def area_frame(page):
    """The area map's frame once its drawing tools are there (the map has no data to wait for)."""
    iframe = page.locator(browser.FOLIUM_IFRAME).first
    iframe.wait_for(state="visible", timeout=60_000)
    frame = iframe.element_handle().content_frame()
    frame.wait_for_selector("a.leaflet-draw-draw-rectangle", timeout=60_000)
    frame.wait_for_function("window.bwBasemapLoaded === true", timeout=60_000)
    return frame


def frame_box(page, index: int = 0) -> dict:
    return page.locator(browser.FOLIUM_IFRAME).nth(index).bounding_box()


def lat_lng_at(frame, x: float, y: float) -> tuple[float, float]:
    ll = frame.evaluate("([x, y]) => { const p = window.map.containerPointToLatLng([x, y]); return [p.lat, p.lng]; }",
                        [x, y])
    return ll[0], ll[1]


def haversine_km(a, b) -> float:
    r = 6378.137
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def test_draw_area_and_measure(streamlit_app, small_store_env, page_factory, small_store):
    base = streamlit_app(ROOT / "app.py", env=small_store_env)
    s = page_factory(f"{base}/analysis?window=365d&nations=USA&lat=31&lon=-106&z=5", viewport=(1400, 1300))
    page = s.page
    browser.wait_for_app(page)
    page.get_by_role("tab", name="Area of interest").click()
    browser.wait_for_app(page)
    frame = area_frame(page)
    browser.wait_for_app(page)
    time.sleep(1.5)  # the map reports its first view (a rerun) before it is used
    box = frame_box(page)

    # draw a rectangle over the USA–Mexico border around El Paso
    start, end = (box["width"] / 2 - 160, box["height"] / 2 - 90), (box["width"] / 2 + 160, box["height"] / 2 + 90)
    corners = lat_lng_at(frame, *start), lat_lng_at(frame, *end)
    frame.click("a.leaflet-draw-draw-rectangle")
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (start[0] + end[0]) / 2, box["y"] + (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=5)
    page.mouse.up()
    page.get_by_text("area of interest: the box", exact=False).first.wait_for(timeout=90_000)
    shot(page, "1-drawn")
    browser.wait_until(lambda: "area" in parse_qs(urlsplit(browser.address(page)).query), timeout=90)
    browser.wait_for_app(page)
    area = parse_qs(urlsplit(browser.address(page)).query)["area"][0]
    flt = Filter(window="365d", nations=("USA",), area_wkt=area)
    w, s_, e, n = shapely.from_wkt(area).bounds
    assert abs(w - corners[0][1]) < 0.05 and abs(e - corners[1][1]) < 0.05, (area, corners)
    assert abs(n - corners[0][0]) < 0.05 and abs(s_ - corners[1][0]) < 0.05, (area, corners)

    # the analysis follows: the Incidents tab counts exactly the incidents inside the drawn box
    inside = len(queries.rows("incident_ids", flt, store=small_store, now=NOW))
    everywhere = len(queries.rows("incident_ids", flt.replace(area_wkt=""), store=small_store, now=NOW))
    assert 0 < inside < everywhere
    page.get_by_role("tab", name="Incidents").click()
    browser.wait_for_app(page)
    metric = page.locator('[data-testid="stMetric"]').first
    browser.wait_until(lambda: f"{inside:,}" in metric.inner_text())
    shot(page, "2-analysis")

    # map -> table: click a point of the page map; it is ringed and its details are shown
    frame = browser.map_frame(page)
    assert frame.locator("path.bw-selected").count() == 0
    browser.wait_for_app(page)
    time.sleep(2)  # streamlit-folium binds its click handlers once the map has started
    drill = page.get_by_role("button", name="Drill down to segment")
    frame.locator(".leaflet-container").scroll_into_view_if_needed()
    for n in (5, 0, 10):  # a point another one covers may take the click: the next one is tried
        frame = browser.map_frame(page)  # a rerun may have drawn the map in a new frame
        pbox = frame.locator("path.bw-row").nth(n).bounding_box()
        page.mouse.click(pbox["x"] + pbox["width"] / 2, pbox["y"] + pbox["height"] / 2)
        time.sleep(1)
        if drill.count() or browser.map_frame(page).evaluate("window.__GLOBAL_DATA__.last_object_clicked_tooltip"):
            break
    try:
        drill.wait_for(timeout=90_000)
    except Exception:
        shot(page, "2b-failed")
        raise AssertionError(browser.map_frame(page).evaluate(
            "JSON.stringify(window.__GLOBAL_DATA__.last_object_clicked_tooltip)"))
    frame = browser.map_frame(page)
    browser.wait_until(lambda: frame.locator("path.bw-selected").count() == 1)
    chosen = frame.locator("path.bw-selected").get_attribute("d")
    shot(page, "2b-point-selected")
    # table -> map: tick the first row; the ring moves to that incident
    grid = page.locator('[data-testid="stDataFrame"]').first
    gbox = grid.bounding_box()
    page.mouse.click(gbox["x"] + 18, gbox["y"] + 35 + 17)
    browser.wait_for_app(page)

    def ring_moved():
        try:
            ring = browser.map_frame(page).locator("path.bw-selected")
            return ring.count() == 1 and ring.get_attribute("d") != chosen
        except PlaywrightError:  # the map frame is being replaced by the redrawn map
            return False
    browser.wait_until(ring_moved)
    shot(page, "2c-row-selected")

    # measure a distance on the area map: two clicks, then the last point again to finish
    page.get_by_role("tab", name="Area of interest").click()
    browser.wait_for_app(page)
    frame = area_frame(page)
    box = frame_box(page)
    a, b = (box["width"] / 2 - 200, box["height"] / 2 + 120), (box["width"] / 2 + 150, box["height"] / 2 - 100)
    ends = lat_lng_at(frame, *a), lat_lng_at(frame, *b)
    frame.click('a[title="Measure a distance"]')
    for x, y in (a, b, b):
        page.mouse.click(box["x"] + x, box["y"] + y)
        time.sleep(0.4)
    label = frame.locator(".bw-measure-result").first
    label.wait_for()
    text = label.inner_text()
    km = float(text.replace(",", "").split()[0])
    expected = haversine_km(*ends)
    assert 50 < expected < 3000 and abs(km - expected) / expected < 0.01, (text, expected)
    assert "area" in parse_qs(urlsplit(browser.address(page)).query)  # measuring changes no filter
    shot(page, "3-measured")
    assert not s.blocked, s.blocked


def test_military_symbols_toggle(streamlit_app, small_store_env, page_factory):
    base = streamlit_app(ROOT / "app.py", env=small_store_env)
    s = page_factory(f"{base}/?window=365d&lat=31.8&lon=-106.5&z=9", viewport=(1400, 1000))
    page = s.page
    browser.wait_for_app(page, 120_000)
    frame = browser.map_frame(page, 120_000)
    assert frame.locator(".bw-mil svg").count() == 0
    page.get_by_text("Military symbols (MIL-STD-2525)").click()
    browser.wait_for_app(page)
    browser.wait_until(lambda: parse_qs(urlsplit(browser.address(page)).query).get("symbols") == ["2525"])
    browser.wait_until(lambda: browser.map_frame(page).locator(".bw-mil svg").count() > 0)  # the map may redraw in a new frame
    frame = browser.map_frame(page)
    legend = frame.locator(".bw-mil-legend")
    legend.wait_for()
    assert "Military symbols" in legend.inner_text() and legend.locator("svg").count() >= 1
    shot(page, "4-military")

    # a reload keeps the choice from the link; switching off brings plain symbols back
    page.reload()
    browser.wait_for_app(page, 120_000)
    frame = browser.map_frame(page, 120_000)
    browser.wait_until(lambda: frame.locator(".bw-mil svg").count() > 0)
    page.get_by_text("Military symbols (MIL-STD-2525)").click()
    browser.wait_for_app(page)
    browser.wait_until(lambda: "symbols" not in parse_qs(urlsplit(browser.address(page)).query))
    browser.wait_until(lambda: (lambda f: f.locator(".bw-mil svg").count() == 0 and f.locator(".bw-mil-legend").count() == 0)(
        browser.map_frame(page)))
    shot(page, "5-plain")
    assert not s.blocked, s.blocked
