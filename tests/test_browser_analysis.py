"""One analyst path in a real browser, offline: filter from the URL → table → select a row (the
small map draws) → drill down to its segment → download the CSV export and read it back."""
from __future__ import annotations

import io
import json
import os
import pathlib
import zipfile

import pandas as pd
import pytest

import browser
import queries
from borderwatch.filters import Filter
from conftest import NOW, ROOT

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BORDERWATCH_SCREENSHOTS")  # a directory: keep screenshots of each step


def shot(page, name: str) -> None:
    if SHOTS:
        pathlib.Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(pathlib.Path(SHOTS) / f"analysis-{name}.png"), full_page=True)


def click_first_row(page) -> None:
    """Tick the row marker of the table's first data row (the grid is drawn on a canvas)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(state="visible")
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)


def drawn_paths(page) -> int:
    """Shapes on the page's map; 0 while a rerun replaces its frame (the map reports its first view
    and may be drawn again just after the frame was found)."""
    try:
        return browser.map_frame(page).locator("path.leaflet-interactive").count()
    except Exception as exc:  # the frame went away between finding it and reading it
        if "detached" not in str(exc):
            raise
        return 0


def test_filter_table_drill_down_export(streamlit_app, small_store_env, page_factory, small_store):
    base = streamlit_app(ROOT / "app.py", env=small_store_env)
    session = page_factory(f"{base}/analysis?window=365d&nations=USA", viewport=(1400, 1600))
    page = session.page
    browser.wait_for_app(page)
    page.get_by_role("heading", name="Incident analysis").wait_for()
    page.get_by_text("nations: United States of America", exact=False).first.wait_for()
    page.get_by_text("Matching incidents").wait_for()
    browser.wait_for_app(page)
    flt = Filter(window="365d", nations=("USA",))
    total = len(queries.rows("incident_ids", flt, store=small_store, now=NOW))
    assert f"{total:,}" in page.locator('[data-testid="stMetric"]').first.inner_text()
    shot(page, "1-table")

    # select a row: the incident's small map draws, with its details
    click_first_row(page)
    browser.wait_for_app(page)
    browser.wait_until(lambda: drawn_paths(page) >= 1, what="the incident's map drawn")
    drill = page.get_by_role("button", name="Drill down to segment")
    drill.wait_for()
    segment = drill.inner_text().rsplit(" ", 1)[-1].strip()
    assert segment in ("MEX-USA", "CAN-USA")
    shot(page, "2-selected")

    # drill down to the incident's segment: the filter (and the URL) carry it
    drill.click()
    browser.wait_for_app(page)
    page.get_by_text(f"Showing incidents of segment(s) {segment}").wait_for()
    page.wait_for_function("s => location.search.includes('segments=' + s)", arg=segment)
    drilled = flt.replace(segments=(segment,))
    want = {r[0] for r in queries.rows("incident_ids", drilled, store=small_store, now=NOW)}
    assert 0 < len(want) < total
    assert f"{len(want):,}" in page.locator('[data-testid="stMetric"]').first.inner_text()
    shot(page, "3-drilled")

    # the other tabs render (Altair charts included) without fetching anything off-site
    for tab in ("Trends", "Breakdowns", "Hotspots"):
        page.get_by_role("tab", name=tab).click()
        browser.wait_for_app(page)
        if tab == "Trends":
            page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').first.wait_for()
        shot(page, f"4-{tab.lower()}")

    # export exactly the drilled-down incidents as CSV
    page.get_by_role("tab", name="Export").click()
    browser.wait_for_app(page)
    button = page.get_by_role("button", name="CSV (zip)")
    button.wait_for()
    shot(page, "5-export")
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"borderwatch_incidents_{drilled.slug()}_20261101T1200Z.csv.zip"
    with zipfile.ZipFile(io.BytesIO(pathlib.Path(download.path()).read_bytes())) as zf:
        meta = json.loads(zf.read("metadata.json"))
        df = pd.read_csv(zf.open(meta["data_file"]))
    assert set(df.incident_id) == want and len(df) == len(want)
    assert Filter.from_params(meta["filter"]["params"]) == drilled

    assert browser.app_exceptions(page) == []
    assert session.blocked == [], f"off-site requests: {session.blocked}"
