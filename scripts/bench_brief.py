"""Time the briefing exports (PNG, PDF, offline HTML) on a large store; target: under 10 s each.

    .venv/bin/python scripts/bench_brief.py                      # builds a 1M-incident store in a temp dir
    .venv/bin/python scripts/bench_brief.py --store var/bench1m  # reuses (or builds) that store

Two measurements per view:

- *in the app*: one process with the store open and chromium warm (what a click on the
  Briefing exports page costs), the median of ``--repeat`` runs per format;
- *command line*: ``borderwatch brief --format all`` in a fresh process (store opened, chromium
  started, all three files written), as a scheduled briefing runs it.

"Now" is pinned to the scenario's reference time so every run sees the same data.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VIEWS = {
    "world, 30 days": "window=30d&lat=30&lon=20&z=2",
    "USA-Mexico, 7 days": "window=7d&nations=USA,MEX&lat=31.5&lon=-106&z=5",
    "Schengen external, 30 days": "window=30d&agreements=schengen&scope=external&lat=50&lon=20&z=4",
    "Aegean, 24 h": "window=24h&lat=41&lon=26.5&z=8",
}
TARGET_S = 10.0


def ensure_store(path: pathlib.Path, incidents: int) -> dt.datetime:
    from borderwatch import demo
    from borderwatch.store import Store
    import queries

    store = Store(path)
    meta = queries.scalar("meta", store=store, key="scenario") if demo.scenario_present(store) else None
    if meta and json.loads(meta).get("incidents") == incidents:
        now = dt.datetime.fromisoformat(json.loads(meta)["now"].rstrip("Z"))
        print(f"store {path}: {incidents:,} incidents at {now:%Y-%m-%d %H:%M}")
        return now
    print(f"building a {incidents:,}-incident store in {path} ...", flush=True)
    t0 = time.monotonic()
    summary = demo.build_demo(store, incidents=incidents, now=dt.datetime(2026, 11, 1, 12, 0))
    print(f"  built in {time.monotonic() - t0:.0f} s")
    return dt.datetime.fromisoformat(summary["now"].rstrip("Z"))


def bench_in_process(store_path: pathlib.Path, now: dt.datetime, repeat: int) -> dict:
    from borderwatch.exports import briefing, render
    from borderwatch.exports.snapshot import ExportSpec
    from borderwatch.store import Store

    store = Store(store_path)
    t0 = time.monotonic()
    store.cursor().execute("SELECT count(*) FROM incidents").fetchone()
    print(f"store opened in {time.monotonic() - t0:.1f} s (once per process)")
    warm = ExportSpec.from_params("window=24h&lat=30&lon=20&z=2", now=now)
    t0 = time.monotonic()
    for fmt in briefing.FORMATS:
        briefing.export(warm, fmt, store=store)
    print(f"warm-up (chromium start, first queries, fonts): {time.monotonic() - t0:.1f} s")
    results = {}
    for name, url in VIEWS.items():
        spec = ExportSpec.from_params(url, now=now)
        row = {}
        for fmt in briefing.FORMATS:
            times, size = [], 0
            for _ in range(repeat):
                t0 = time.monotonic()
                data = briefing.export(spec, fmt, store=store)
                times.append(time.monotonic() - t0)
                size = len(data)
            row[fmt] = (statistics.median(times), max(times), size)
        results[name] = row
    render.shutdown()
    return results


def bench_cli(store_path: pathlib.Path, now: dt.datetime) -> dict:
    env = dict(os.environ, BORDERWATCH_STORE=str(store_path), BORDERWATCH_NOW=now.isoformat())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in VIEWS.items():
            t0 = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "borderwatch.cli", "brief", "--format", "all",
                                   "--out", tmp, "--filter-url", url], env=env, capture_output=True, text=True)
            out[name] = (time.monotonic() - t0, done.returncode, done.stderr.strip().splitlines())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", help="store directory (default: a temporary one, built and removed)")
    p.add_argument("--incidents", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3, help="runs per view and format in the app process")
    p.add_argument("--no-cli", action="store_true", help="skip the fresh-process command-line runs")
    args = p.parse_args()

    tmp = None
    if args.store:
        store_path = pathlib.Path(args.store)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bw-bench-brief-")
        store_path = pathlib.Path(tmp.name) / "store"
    now = ensure_store(store_path, args.incidents)
    os.environ["BORDERWATCH_NOW"] = now.isoformat()
    try:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{os.cpu_count()} CPUs, load average {load:.1f}\n")
        results = bench_in_process(store_path, now, args.repeat)
        print(f"\nIn the app (store open, chromium warm), median of {args.repeat} (max), seconds:")
        print(f"{'view':<28} {'PNG':>14} {'PDF':>14} {'HTML':>14}")
        worst = 0.0
        for name, row in results.items():
            cells = []
            for fmt in ("png", "pdf", "html"):
                med, mx, size = row[fmt]
                worst = max(worst, mx)
                cells.append(f"{med:5.2f} ({mx:4.1f})")
            print(f"{name:<28} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14}")
        sizes = {fmt: max(r[fmt][2] for r in results.values()) for fmt in ("png", "pdf", "html")}
        print("largest files: " + ", ".join(f"{k.upper()} {v / 1e6:.1f} MB" for k, v in sizes.items()))
        if not args.no_cli:
            print("\nCommand line, fresh process, all three files (store open + chromium start included):")
            for name, (secs, rc, lines) in bench_cli(store_path, now).items():
                detail = "; ".join(line.strip() for line in lines if line.strip().startswith(("png", "pdf", "html")))
                print(f"{name:<28} {secs:6.1f} s  exit {rc}  [{detail}]")
        verdict = "within" if worst < TARGET_S else "OVER"
        print(f"\nslowest single export in the app: {worst:.2f} s ({verdict} the {TARGET_S:.0f} s target)")
        return 0 if worst < TARGET_S else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
