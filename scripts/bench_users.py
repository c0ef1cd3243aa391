"""Concurrent users on the live map: N real browser sessions against one or two app replicas.

Each session is a Playwright browser context in Debian's chromium, opened on the live map (sessions
spread over the replicas round-robin, as the proxy's sticky cookie would) and then, every few
seconds, changes the nation filter in the sidebar or pans the map. For each action the time from
the action to the map updated in the browser is measured (the last change to Leaflet's panes once
the app has finished its rerun). Server CPU per rerun is the replicas' CPU time over the measured
period divided by the actions completed; memory per session is the replicas' resident memory
growth while the sessions are open, divided by N.

    .venv/bin/python scripts/bench_users.py                    # builds a 1M-incident store first
    .venv/bin/python scripts/bench_users.py --store var/bench1m --users 1,5,10,20 --replicas 1,2

The store may be embedded or on a PostgreSQL catalog (BORDERWATCH_CATALOG/DATA_PATH are passed
through to the replicas). With ``--urls`` the sessions run against replicas already running
elsewhere (started with ``BORDERWATCH_REFRESH_SECONDS=0`` on a store with the bench account, see
``--prepare``), so the browsers do not share the replicas' cores; server CPU is then not measured
here.

    .venv/bin/python scripts/bench_users.py --store var/bench1m --prepare       # on the app machine
    .venv/bin/python scripts/bench_users.py --urls http://app-1:8501,http://app-2:8501 --users 10 The live refresh is switched off so only the users' actions cause reruns.
Baseline in the same run: one session alone on one replica (N = 1).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402  (the test harness: streamlit servers, chromium, offline guard)

NOW = dt.datetime(2026, 11, 1, 12, 0)
ANALYST, PASSWORD = "bench-analyst", "bench-password-2026"  # signs every session in, as its users do
NATIONS = ["Poland", "Greece", "Finland", "Mexico", "Hungary", "Bulgaria", "Turkey", "Spain"]
TICKS = os.sysconf("SC_CLK_TCK")

OBSERVE = """() => {
  if (window.bwObs) return true;
  const root = document.querySelector('.leaflet-map-pane');
  if (!root) return false;
  window.bwLastMut = Date.now();
  window.bwObs = new MutationObserver(() => { window.bwLastMut = Date.now(); });
  window.bwObs.observe(root, {childList: true, subtree: true, attributes: true});
  return true;
}"""


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def tree_cpu_seconds(root: int) -> float:
    """CPU time of every live process below ``root`` (the browsers and the replicas)."""
    parents: dict[int, int] = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    total = 0.0
    for pid in parents:
        p = pid
        while p in parents and p != root and p > 1:
            p = parents[p]
        if p == root and pid != root:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
    return total


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def ensure_store(path: pathlib.Path, incidents: int) -> None:
    from borderwatch import demo
    from borderwatch.store import Store

    store = Store(path)
    if demo.scenario_present(store):
        ensure_account(store)
        n = store.cursor().execute("SELECT count(*) FROM incidents").fetchone()[0]
        print(f"store {path}: {n:,} incidents", flush=True)
        return
    t0 = time.monotonic()
    demo.build_demo(store, seed=7, incidents=incidents, now=NOW, show_progress=False)
    print(f"store {path}: built {incidents:,} incidents in {time.monotonic() - t0:.0f} s", flush=True)
    ensure_account(store)
    store.close()


def ensure_account(store) -> None:
    """An analyst account (POL) for the sessions: every rerun then pays for its session look-up and
    its releasability, as a signed-in user's does."""
    from borderwatch import auth

    if auth.get(ANALYST, store) is None:
        auth.add_user(ANALYST, "POL", "analyst", by="bench", store=store)
    auth.change_password(ANALYST, PASSWORD, store=store)


async def sign_in(page) -> None:
    await page.get_by_role("heading", name="Borderwatch — sign in").wait_for(timeout=180_000)
    await page.get_by_role("textbox", name="Account name").fill(ANALYST)
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text(f"Signed in as {ANALYST}").wait_for(timeout=180_000)


async def map_frame(page):
    handle = await page.wait_for_selector(browser.FOLIUM_IFRAME, timeout=180_000)
    frame = await handle.content_frame()
    await frame.wait_for_function(OBSERVE, timeout=180_000)
    return frame


# Runs inside the page (Playwright polls it there every 100 ms): no round trip from this script per
# poll, which with 20 sessions would itself load the machine. The map frame is same-origin, so the
# page reads its Leaflet panes directly; a replaced frame gets a new observer.
SETTLED = """(t0) => {
  const f = document.querySelector('iframe[title="streamlit_folium.st_folium"]');
  const w = f && f.contentWindow;
  if (!w || !w.document) return false;
  if (!w.bwObs) {
    const root = w.document.querySelector('.leaflet-map-pane');
    if (!root) return false;
    w.bwLastMut = 0;
    w.bwObs = new w.MutationObserver(() => { w.bwLastMut = Date.now(); });
    w.bwObs.observe(root, {childList: true, subtree: true, attributes: true});
  }
  const idle = !document.querySelector("[data-test-script-state='running']");
  const last = w.bwLastMut;
  return (last > t0 && idle && Date.now() - last > 300) ? last - t0 : false;
}"""


async def settled(page, frame, t0: float, timeout: float = 30.0) -> float | None:
    """Milliseconds from t0 (epoch ms) to the map's last change once the rerun is over."""
    try:
        handle = await page.wait_for_function(SETTLED, arg=t0, polling=100, timeout=timeout * 1000)
        return float(await handle.json_value())
    except Exception:  # not drawn in time (or the page went away): reported as a failed action
        return None


async def user(k: int, context, url: str, clock: dict, results: list, errors: list, ready: asyncio.Event,
               go: asyncio.Event) -> None:
    rnd = random.Random(k)
    try:
        page = await context.new_page()
        await page.goto(f"{url}/?window=30d&lat=48&lon=20&z=5", timeout=180_000)
        await page.wait_for_selector("[data-test-connection-state='CONNECTED']", timeout=180_000)
        await sign_in(page)
        frame = await map_frame(page)
        await asyncio.sleep(1.0)
    except Exception as exc:  # a session whose map never drew is reported, not measured
        errors.append(f"session {k}: map not drawn on opening ({type(exc).__name__})")
        ready.set()
        return
    ready.set()
    await go.wait()
    await asyncio.sleep(rnd.uniform(0, 3))
    step = 0
    while time.monotonic() < clock["stop_at"]:
        t0 = await page.evaluate("Date.now()")
        try:
            if step % 2 == 0:  # change the filter: add a nation, or take the last one away
                box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').first
                await box.click()
                if step % 4 == 0:
                    await page.keyboard.type(rnd.choice(NATIONS))
                    await page.keyboard.press("Enter")
                else:
                    await page.keyboard.press("Backspace")
                await page.keyboard.press("Escape")
                kind = "filter"
            else:  # pan the map by dragging it
                box = await (await page.query_selector(browser.FOLIUM_IFRAME)).bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                await page.mouse.move(x, y)
                await page.mouse.down()
                await page.mouse.move(x + rnd.choice((-1, 1)) * 120, y + rnd.choice((-1, 1)) * 60, steps=5)
                await page.mouse.up()
                kind = "pan"
            ms = await settled(page, frame, t0)
            if ms is None:
                errors.append(f"session {k}: {kind} not drawn within 30 s")
            else:
                results.append((kind, ms))
        except Exception as exc:  # a failed action is reported, the session goes on
            errors.append(f"session {k}: {type(exc).__name__}: {str(exc)[:120]}")
        step += 1
        await asyncio.sleep(rnd.uniform(2.0, 4.0))


async def run_sessions(urls: list[str], n: int, seconds: float, pids: list[int]) -> dict:
    from playwright.async_api import async_playwright

    results: list[tuple[str, float]] = []
    errors: list[str] = []
    rss0 = sum(rss_mb(p) for p in pids)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=browser.chromium_path(), args=list(browser.CHROMIUM_ARGS))
        readies = [asyncio.Event() for _ in range(n)]
        go = asyncio.Event()
        clock = {"stop_at": float("inf")}  # set once every session is open
        tasks, contexts = [], []
        for k in range(n):
            context = await chromium.new_context(viewport={"width": 1280, "height": 900})
            contexts.append(context)
            await context.route("**/*", lambda route: route.continue_() if browser.is_local_url(route.request.url)
                                else route.abort())
            tasks.append(asyncio.ensure_future(
                user(k, context, urls[k % len(urls)], clock, results, errors, readies[k], go)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=600)
        rss1 = sum(rss_mb(p) for p in pids)
        cpu0 = sum(cpu_seconds(p) for p in pids)
        tree0 = tree_cpu_seconds(os.getpid())
        t0 = time.monotonic()
        clock["stop_at"] = t0 + seconds
        go.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        cpu1 = sum(cpu_seconds(p) for p in pids)
        browsers = tree_cpu_seconds(os.getpid()) - tree0 - (cpu1 - cpu0)  # before any browser process ends
        elapsed = time.monotonic() - t0
        for context in contexts:
            await context.close()
        await chromium.close()
    times = sorted(ms for _, ms in results)
    q = (lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))] / 1000) if times else (lambda p: float("nan"))
    return {"n": n, "actions": len(times), "errors": errors, "p50": q(0.5), "p95": q(0.95),
            "cpu_per_rerun": (cpu1 - cpu0) / max(1, len(times)), "cpu_share": (cpu1 - cpu0) / elapsed,
            "browser_per_action": browsers / max(1, len(times)), "browser_share": browsers / elapsed,
            "mem_per_session": (rss1 - rss0) / n, "elapsed": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="store directory (built with --incidents if it holds no scenario)")
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--users", default="1,5,10,20")
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--seconds", type=float, default=45.0, help="measured period per run")
    parser.add_argument("--urls", help="comma-separated URLs of replicas running elsewhere (no replica is started)")
    parser.add_argument("--prepare", action="store_true", help="only build the store and the bench account")
    args = parser.parse_args()
    if args.urls:
        return remote(args)
    tmp = None
    if args.store:
        store_dir = pathlib.Path(args.store).resolve()
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-users-")
        store_dir = pathlib.Path(tmp.name) / "store"
    ensure_store(store_dir, args.incidents)
    if args.prepare:
        return 0
    print(f"load before: {uptime()}", flush=True)
    rows = []
    for replicas in [int(r) for r in args.replicas.split(",")]:
        env = {"BORDERWATCH_STORE": str(store_dir), "BORDERWATCH_NOW": NOW.isoformat(),
               "BORDERWATCH_REFRESH_SECONDS": "0"}
        with contextlib.ExitStack() as stack:
            urls = [stack.enter_context(browser.start_streamlit(ROOT / "app.py", env=env, timeout=300))
                    for _ in range(replicas)]
            pids = [u.process.pid for u in urls]
            # warm-up (not reported): the first session on each replica fills its caches
            asyncio.run(run_sessions(urls, replicas, 5.0, pids))
            for n in [int(u) for u in args.users.split(",")]:
                result = asyncio.run(run_sessions(urls, n, args.seconds, pids))
                result.update(replicas=replicas, load=uptime().split("load average:")[1].strip())
                rows.append(result)
                print(f"replicas {replicas} sessions {n:>2}: {result['actions']:>4} actions, "
                      f"p50 {result['p50']:.2f} s, p95 {result['p95']:.2f} s, "
                      f"CPU/rerun {result['cpu_per_rerun']:.2f} s, replicas busy {result['cpu_share']:.2f} cores, "
                      f"browsers {result['browser_per_action']:.2f} s/action ({result['browser_share']:.2f} cores), "
                      f"memory/session {result['mem_per_session']:.0f} MB, errors {len(result['errors'])}; "
                      f"load {result['load']}", flush=True)
                for e in result["errors"][:5]:
                    print("   ", e, flush=True)
    table(rows)
    if tmp:
        tmp.cleanup()
    return 0


def remote(args) -> int:
    """Sessions against replicas running elsewhere: browser figures only."""
    urls = [u.strip().rstrip("/") for u in args.urls.split(",") if u.strip()]
    print(f"load before: {uptime()}", flush=True)
    rows = []
    asyncio.run(run_sessions(urls, len(urls), 5.0, []))  # warm-up, not reported
    for n in [int(u) for u in args.users.split(",")]:
        result = asyncio.run(run_sessions(urls, n, args.seconds, []))
        result.update(replicas=len(urls), load=uptime().split("load average:")[1].strip())
        rows.append(result)
        print(f"replicas {len(urls)} (elsewhere) sessions {n:>2}: {result['actions']:>4} actions, "
              f"p50 {result['p50']:.2f} s, p95 {result['p95']:.2f} s, "
              f"browsers {result['browser_per_action']:.2f} s/action ({result['browser_share']:.2f} cores), "
              f"errors {len(result['errors'])}; load here {result['load']}", flush=True)
        for e in result["errors"][:5]:
            print("   ", e, flush=True)
    table(rows, server=False)
    return 0


def table(rows: list[dict], server: bool = True) -> None:
    print("\n| replicas | sessions | actions | p50 filter/pan → map | p95 | server CPU per rerun | "
          "browser CPU per action | memory per session | failed | load (1/5/15 min) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        cpu = f"{r['cpu_per_rerun']:.2f} s" if server else "not measured"
        mem = f"{r['mem_per_session']:.0f} MB" if server else "not measured"
        print(f"| {r['replicas']} | {r['n']} | {r['actions']} | {r['p50']:.2f} s | {r['p95']:.2f} s | "
              f"{cpu} | {r['browser_per_action']:.2f} s | {mem} | {len(r['errors'])} | {r['load']} |")


if __name__ == "__main__":
    sys.exit(main())
