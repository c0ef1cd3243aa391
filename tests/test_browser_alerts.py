"""Alerts and data age on the live map in a real browser: the silent-feed banner comes and goes
with the feed, the header's unacknowledged-alert link opens the Alerts page."""
from __future__ import annotations

import threading
import time

import pytest

import browser
from conftest import ROOT
from test_alerts import SENSORS_CSV

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def alert_store(tmp_path_factory):
    """Reference data, three sensors on the US-Mexico border, an offline-sensor rule and its alert."""
    from borderwatch import access, importer, reference
    import borderwatch.alerts as alerts
    from borderwatch.store import Store

    mp = pytest.MonkeyPatch()
    mp.delenv("BORDERWATCH_NOW", raising=False)  # the feed status is in real time
    store = Store(tmp_path_factory.mktemp("alert-browser"))
    reference.load_into(store)
    csv = tmp_path_factory.mktemp("f") / "sensors.csv"
    csv.write_text(SENSORS_CSV)
    assert importer.import_file("sensors", csv, store).written == 3
    alerts.add_rule("sensor_status", {"status": "offline"}, nation="USA", viewer=access.SYSTEM, store=store)
    assert len(alerts.evaluate(store)) == 1
    store.close()
    yield store
    mp.undo()


class Heartbeat:
    """Writes a running feed service's status every second, as the service does; ``last_event``
    is when its one source (json-tcp) last accepted an event."""

    def __init__(self, store, last_event: float):
        self.store, self.last_event, self.stop = store, last_event, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from borderwatch.feeds.status import now_iso, write_status

        while not self.stop.is_set():
            t = time.time()
            write_status(self.store, {"state": "running", "started_at": now_iso(t - 7200), "updated_at": now_iso(t),
                                      "listeners": [{"name": "json-tcp", "last_event_at": now_iso(self.last_event)}]})
            self.stop.wait(1.0)


def test_silent_feed_banner_and_alert_link(streamlit_app, page_factory, alert_store, monkeypatch):
    monkeypatch.delenv("BORDERWATCH_NOW", raising=False)
    beat = Heartbeat(alert_store, time.time() - 30 * 60)
    beat.thread.start()
    try:
        url = streamlit_app(ROOT / "app.py", env={"BORDERWATCH_STORE": str(alert_store.path), "BORDERWATCH_AUTH": "off",
                                                  "BORDERWATCH_REFRESH_SECONDS": "3", "BORDERWATCH_FEED_SILENT_MINUTES": "10"})
        s = page_factory(f"{url}/?window=7d&lat=31.5&lon=-107.5&z=7", viewport=(1400, 1000))
        page = s.page
        browser.wait_for_app(page, 120_000)
        frame = browser.map_frame(page, 120_000)
        banner = frame.locator(".bw-feed-banner")
        banner.wait_for(state="visible", timeout=60_000)
        assert "Live feed silent" in banner.inner_text() and "json-tcp silent for 30 min" in banner.inner_text()
        beat.last_event = time.time()  # the feed speaks again: the next refresh takes the banner off the map
        banner.wait_for(state="detached", timeout=60_000)
        # the alerted segment's halo flashes: its opacity moves while nobody has acknowledged the alert
        flashing = """() => [...document.querySelectorAll('path.bw-alert-halo')].some(
            p => getComputedStyle(p).animationName === 'bw-alert-flash')"""
        browser.wait_until(lambda: browser.map_frame(page).evaluate(flashing), timeout=60, what="a flashing halo")
        link = page.get_by_role("link", name="1 unacknowledged alert on 1 segment")
        link.click()
        page.get_by_role("heading", name="Alerts").wait_for(timeout=60_000)
        page.get_by_text("Antelope Wells sensor offline").first.wait_for(timeout=60_000)
        assert not s.blocked and not s.console_errors, (s.blocked, s.console_errors)
    finally:
        beat.stop.set()
