"""The live map in a real browser (Debian chromium), with every off-site request blocked."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import browser
from conftest import ROOT
from layers import style

pytestmark = pytest.mark.browser

SEGMENT_COLOURS = list(style.IMPACT_COLORS.values())
DENSITY_COLOURS = list(style.DENSITY_RAMP)
SENSOR_COLOURS = [c for k, c in style.SENSOR_COLORS.items() if k != "other"]

INSERT = textwrap.dedent("""
    import sys, datetime as dt, pandas as pd
    from borderwatch.store import Store
    from borderwatch import incident_store
    store = Store(sys.argv[1])
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [{"incident_id": "live-test-1", "occurred_at": now, "threat_type": "armed_incursion", "severity": 4,
             "lon": 26.30, "lat": 41.70, "description": "live test incident"}]
    print(incident_store.insert_incidents(store, incident_store.prepare_incidents(pd.DataFrame(rows), store, dataset="feed:test")))
""")


@pytest.fixture(scope="module")
def live_store(tmp_path_factory):
    """A store built at the real current time (the live test adds an incident 'now')."""
    from borderwatch import demo
    from borderwatch.store import Store

    store = Store(tmp_path_factory.mktemp("live"))
    demo.build_demo(store, seed=5, incidents=4000, show_progress=False)
    store.close()
    return store


def test_live_map_draws_updates_and_stays_offline(streamlit_app, page_factory, live_store, tmp_path, monkeypatch):
    monkeypatch.delenv("BORDERWATCH_NOW", raising=False)  # this store lives at the real current time
    url = streamlit_app(ROOT / "app.py", env={"BORDERWATCH_STORE": str(live_store.path), "BORDERWATCH_AUTH": "off",
                                              "BORDERWATCH_REFRESH_SECONDS": "3"})
    s = page_factory(f"{url}/?window=365d&lat=41.5&lon=26.5&z=7", viewport=(1400, 1000))
    page = s.page
    browser.wait_for_app(page, 120_000)
    frame = browser.map_frame(page, 120_000)
    segments = browser.wait_until(lambda: browser.count_by_colour(frame, SEGMENT_COLOURS))
    browser.wait_until(lambda: browser.count_by_colour(frame, DENSITY_COLOURS))
    browser.wait_until(lambda: browser.count_by_colour(frame, SENSOR_COLOURS))
    browser.wait_until(lambda: frame.evaluate("window.bwBasemapLoaded === true"))
    page.screenshot(path=str(tmp_path / "live-1.png"))

    # the live refresh adds a new incident without reloading the map or losing the view
    frame.evaluate("window.bwProbe = 42")
    zoom_before = frame.evaluate("map_div.getZoom()")
    out = subprocess.run([sys.executable, "-c", INSERT, str(live_store.path)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert out.returncode == 0 and out.stdout.split()[-1] == "1", out.stderr
    browser.wait_until(lambda: browser.count_by_colour(frame, [style.NEW_INCIDENT_COLOR]), timeout=60)
    assert frame.evaluate("window.bwProbe") == 42, "the map iframe was reloaded"
    assert frame.evaluate("map_div.getZoom()") == zoom_before
    page.screenshot(path=str(tmp_path / "live-2.png"))

    # a filter change redraws the layers: only Poland's borders remain
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
    browser.choose_in_multiselect(page, box, "Poland", "Poland")
    browser.wait_for_app(page, 120_000)
    browser.wait_until(lambda: browser.count_by_colour(frame, SEGMENT_COLOURS) != segments, timeout=90)
    browser.wait_until(lambda: "nations=POL" in browser.address(page), timeout=30, what="the filter in the URL")
    page.screenshot(path=str(tmp_path / "live-3.png"))
    assert browser.app_exceptions(page) == []
    assert s.blocked == [], f"requests left localhost: {s.blocked}"
    assert s.failed == [], s.failed
