"""What a commander waits for, measured in a real browser (Debian's chromium through Playwright).

Starts the app on a free loopback port against a store (build one with
``BORDERWATCH_STORE=DIR borderwatch demo --incidents 1000000``), then, for each run, in a fresh
browser context (empty cache) at 1600x1000:

- *first draw*: navigation to the first drawn map feature, with the steps in between (document
  loaded, app connected, first script run done, map frame attached, Leaflet started, first
  feature, basemap drawn) and the largest downloads with their times;
- *filter change*: choosing another time window in the sidebar to the map showing the new layers,
  with the bytes the server sent for it;
- the same first draw for a page without the map (the app frame and the sidebar only), as the
  floor that the map's own costs sit on.

Prints a table per measure (median, min, max over the runs) and the machine's load average at
the start and the end: on a shared machine, figures move with the load.

    .venv/bin/python scripts/bench_browser.py --store /path/to/store --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import textwrap
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import browser  # noqa: E402  (tests/browser.py: server start-up and chromium with the network cut)

FIRST_FEATURE = """() => {
  const c = document.querySelector('.leaflet-container');
  return !!c && !!c.querySelector('.leaflet-overlay-pane path.leaflet-interactive, .leaflet-pane path.leaflet-interactive');
}"""
MARK_OLD = """() => { document.querySelectorAll('path.leaflet-interactive').forEach(p => p.dataset.bwOld = '1'); }"""
NEW_SEGMENTS = """() => {
  const pane = document.querySelector('.leaflet-bwSegments-pane');
  return !!pane && !!pane.querySelector('path.leaflet-interactive:not([data-bw-old])');
}"""
RESOURCES = """() => performance.getEntriesByType('resource').map(r => ({
  name: r.name.split('?')[0].split('/').slice(-2).join('/'), start: r.startTime, end: r.responseEnd,
  bytes: r.transferSize || r.encodedBodySize || 0}))"""

BARE_PAGE = textwrap.dedent('''
    import streamlit as st
    from borderwatch import app_setup
    from borderwatch.views import ui
    app_setup.prepare()
    st.set_page_config(page_title="Borderwatch", layout="wide")
    st.session_state["bw_filter"] = ui.filter_sidebar()
    st.title("Borderwatch")
    st.caption("the app frame and sidebar, no map")
''')


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def first_draw(b, url: str, viewport) -> dict:
    """One cold first draw: the steps in seconds from navigation."""
    with browser.browser_page(None, browser=b, viewport=viewport, timeout_ms=300_000) as s:
        page = s.page
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        steps = {"document": time.perf_counter() - t0}
        page.wait_for_selector(f"{browser.APP_ROOT}[data-test-connection-state='CONNECTED']", timeout=300_000)
        steps["app connected"] = time.perf_counter() - t0
        iframe = page.locator(browser.FOLIUM_IFRAME).first
        iframe.wait_for(state="attached", timeout=300_000)
        steps["map frame attached"] = time.perf_counter() - t0
        frame = iframe.element_handle().content_frame()
        frame.wait_for_selector(".leaflet-container", timeout=300_000)
        steps["Leaflet started"] = time.perf_counter() - t0
        frame.wait_for_function(FIRST_FEATURE, timeout=300_000, polling=50)
        steps["first feature drawn"] = time.perf_counter() - t0
        frame.wait_for_function("window.bwBasemapLoaded === true", timeout=300_000, polling=50)
        steps["basemap drawn"] = time.perf_counter() - t0
        browser.wait_for_app(page, 300_000)
        steps["script runs done"] = time.perf_counter() - t0
        res = page.evaluate(RESOURCES) + frame.evaluate(RESOURCES)
        problems = s.problems()
    return {"steps": steps, "resources": res, "problems": problems}


def filter_change(b, url: str, viewport, runs: int) -> list[dict]:
    """Time-window changes in one open page: choice made -> new layers drawn, and bytes received."""
    out = []
    with browser.browser_page(None, browser=b, viewport=viewport, timeout_ms=300_000) as s:
        page = s.page
        received = [0]
        page.on("websocket", lambda ws: ws.on("framereceived", lambda data: received.__setitem__(
            0, received[0] + (len(data) if isinstance(data, (bytes, str)) else 0))))
        page.goto(url)
        browser.wait_for_app(page, 300_000)
        frame = browser.map_frame(page, 300_000)
        frame.wait_for_function("window.bwBasemapLoaded === true", timeout=300_000)
        time.sleep(1.0)
        browser.wait_for_app(page, 300_000)
        for i in range(runs):
            label = ("last 7 days", "last 30 days")[i % 2]
            frame.evaluate(MARK_OLD)
            received[0] = 0
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click(timeout=60_000)
            option = page.get_by_role("option", name=label, exact=True)
            option.wait_for(timeout=60_000)
            t0 = time.perf_counter()
            option.click()
            frame.wait_for_function(NEW_SEGMENTS, timeout=300_000, polling=20)
            took = time.perf_counter() - t0
            browser.wait_for_app(page, 300_000)
            out.append({"seconds": took, "bytes": received[0]})
            time.sleep(0.5)
        out[-1]["problems"] = s.problems()
    return out


def bare_first_draw(b, url: str, viewport) -> float:
    with browser.browser_page(None, browser=b, viewport=viewport, timeout_ms=300_000) as s:
        t0 = time.perf_counter()
        s.page.goto(url, wait_until="domcontentloaded")
        s.page.wait_for_selector("h1", timeout=300_000)
        return time.perf_counter() - t0


def stats(values) -> str:
    values = list(values)
    return f"{statistics.median(values):6.2f} s  ({min(values):.2f} – {max(values):.2f})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=os.environ.get("BORDERWATCH_STORE", str(ROOT / "var" / "store")))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--viewport", default="1600x1000")
    ap.add_argument("--json", help="also write the raw figures to this file")
    args = ap.parse_args(argv)
    viewport = tuple(int(v) for v in args.viewport.split("x"))
    env = {"BORDERWATCH_STORE": str(pathlib.Path(args.store).resolve()), "BORDERWATCH_REFRESH_SECONDS": "0"}
    start_load = load()
    raw: dict = {"store": args.store, "runs": args.runs, "load_start": start_load}
    with tempfile.TemporaryDirectory() as tmp:
        bare = pathlib.Path(tmp) / "bare.py"
        bare.write_text(BARE_PAGE)
        with browser.start_streamlit(ROOT / "app.py", env=env, timeout=300) as url, \
                browser.start_streamlit(bare, env=env, timeout=300) as bare_url, browser.launch_chromium() as b:
            first_draw(b, url + "/", viewport)  # warm the server's query cache once, as a running site has
            draws = [first_draw(b, url + "/", viewport) for _ in range(args.runs)]
            changes = filter_change(b, url + "/", viewport, args.runs)
            floors = [bare_first_draw(b, bare_url + "/", viewport) for _ in range(args.runs)]
    raw.update(draws=draws, changes=changes, floors=floors, load_end=load())

    print(f"store {args.store}; {args.runs} runs; viewport {args.viewport}; chromium {browser.chromium_path()}")
    print(f"load average (1, 5, 15 min): {start_load} at start, {raw['load_end']} at end\n")
    print("first draw, navigation to ...            median  (min – max)")
    for step in draws[0]["steps"]:
        print(f"  {step:<38} {stats(d['steps'][step] for d in draws)}")
    print(f"  {'(app frame without the map: title)':<38} {stats(floors)}")
    print("\nlargest downloads of the first draw (last run):")
    for r in sorted(draws[-1]["resources"], key=lambda r: -r["bytes"])[:8]:
        print(f"  {r['name']:<48} {r['bytes'] / 1e6:6.2f} MB  {r['start'] / 1000:5.2f} → {r['end'] / 1000:5.2f} s")
    print("\nfilter change (time window), choice → new segments drawn:")
    print(f"  {'seconds':<38} {stats(c['seconds'] for c in changes)}")
    print(f"  {'bytes from the server':<38} {statistics.median(c['bytes'] for c in changes) / 1e6:6.2f} MB (median)")
    problems = [d["problems"] for d in draws if d["problems"]] + [changes[-1].get("problems") or {}]
    problems = [p for p in problems if p]
    print("\nbrowser problems (blocked / failed requests, console errors):", problems or "none")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    main()
