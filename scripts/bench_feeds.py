"""Load benchmark of the live-feed service: sustained CoT events per second accepted with zero loss,
while an app-like reader rebuilds the live map from the same store.

    .venv/bin/python scripts/bench_feeds.py                      # temporary store, default rates
    .venv/bin/python scripts/bench_feeds.py --rates 500,2000,8000 --seconds 10 --scenario 100000

What it does:
1. builds a temporary store (reference data + a synthetic scenario of --scenario incidents), or
   uses --store;
2. starts `borderwatch feeds` on free ports as a subprocess, and an "app" subprocess that does
   the server-side work of a live-map refresh (density, points, segment figures, headline) in a
   loop, as the Streamlit page does every refresh interval;
3. for each rate: sends that many CoT events per second over --connections TCP connections for
   --seconds, then waits until everything sent is in the store; meanwhile a probe event is sent
   every 0.5 s on its own connection and timed until the store shows it (ingest latency);
4. checks zero loss and zero duplicates (every event sent is stored exactly once), prints a table.

A rate is *sustained* when the service accepts (journals) events as fast as they are sent and the
store catches up within a few commit cycles of the end of sending, with nothing lost.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BORDER_POINTS = [(31.7619, -106.4850), (32.5422, -117.0295), (41.2700, 26.6000), (52.1000, 23.6500),
                 (60.9000, 27.9500), (35.8900, -5.3100), (46.1700, 19.6600)]


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_event(uid: str, i: int) -> bytes:
    lat, lon = BORDER_POINTS[i % len(BORDER_POINTS)]
    lat += ((i * 7919) % 1000 - 500) / 20000
    lon += ((i * 104729) % 1000 - 500) / 20000
    t = iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=5))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><event version="2.0" uid="{uid}" '
            f'type="a-h-G" how="h-e" time="{t}" start="{t}" stale="{t}"><point lat="{lat:.6f}" lon="{lon:.6f}" '
            f'hae="0" ce="25" le="9999999"/><detail><contact callsign="BENCH-{i % 50}"/>'
            f'<remarks>benchmark event {i}</remarks></detail></event>').encode()


# -- the app-like reader (subprocess) --------------------------------------------------------------
def reader_main(interval: float) -> None:
    from borderwatch import livemap
    from borderwatch.filters import Filter, utcnow

    flt = Filter(window="24h")
    last = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            ctx, _, _ = livemap.context(flt, None, (35.0, 0.0, 3), last)
            built = livemap.layers_for(ctx)
            ctx.situation.headline()
            new = sum(b.notes.get("new_incidents", 0) for b in built)
            ok = True
        except Exception as exc:  # the app's modules change under us: report, keep reading
            new, ok = 0, False
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        last = utcnow()
        took = time.perf_counter() - t0
        if ok:
            print(json.dumps({"t": time.time(), "rerun_s": round(took, 3), "new": int(new)}), flush=True)
        stop.wait(max(0.0, interval - took))


# -- the benchmark ---------------------------------------------------------------------------------
class Probe(threading.Thread):
    """Every 0.5 s: one event on its own connection, timed until the store shows it."""

    def __init__(self, port: int, store):
        super().__init__(daemon=True)
        self.port, self.store = port, store
        self.latencies: list[float] = []
        self.ids: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import queries

        n = 0
        while not self.stop.is_set():
            uid = f"probe-{uuid.uuid4().hex[:12]}"
            n += 1
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(make_event(uid, n))
            self.ids.append(f"cot:{uid}")
            while not self.stop.is_set() and time.monotonic() - t0 < 60:
                if queries.rows("feed_incidents", store=self.store, ids=[f"cot:{uid}"]):
                    self.latencies.append(time.monotonic() - t0)
                    break
                time.sleep(0.02)
            self.stop.wait(max(0.0, 0.5 - (time.monotonic() - t0)))


def send_at_rate(port: int, rate: float, seconds: float, connections: int, start_index: int) -> tuple[int, float]:
    """Send ``rate`` events/s for ``seconds`` over ``connections`` sockets; returns (sent, elapsed)."""
    total = int(rate * seconds)
    per_conn = [total // connections + (1 if k < total % connections else 0) for k in range(connections)]
    sent = [0] * connections
    ready = threading.Barrier(connections + 1)

    def worker(k: int) -> None:
        n = per_conn[k]
        base = start_index + sum(per_conn[:k])
        events = [make_event(f"bench-{base + j}-{uuid.uuid4().hex[:8]}", base + j) for j in range(n)]
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            ready.wait()
            t0 = time.monotonic()
            tick = 0.02
            j = 0
            while j < n:
                due = min(n, int((time.monotonic() - t0 + tick) * rate / connections))
                if due > j:
                    s.sendall(b"".join(events[j:due]))
                    j = due
                else:
                    time.sleep(tick / 2)
        sent[k] = n

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    ready.wait()  # events are generated before the clock starts
    t0 = time.monotonic()
    for t in threads:
        t.join()
    return sum(sent), time.monotonic() - t0


def status(store) -> dict:
    from borderwatch.feeds import read_status

    return read_status(store)


def wait_running(store, proc, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(store)
        if st.get("pid") == proc.pid and st["state"] == "running":
            return st
        if proc.poll() is not None:
            raise SystemExit("the feed service exited: " + proc.stderr.read().decode(errors="replace")[-2000:])
        time.sleep(0.1)
    raise SystemExit("the feed service did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", help="use this store (default: a temporary one, deleted afterwards)")
    ap.add_argument("--scenario", type=int, default=50_000, help="synthetic incidents in the temporary store")
    ap.add_argument("--rates", default="250,500,1000,2000,4000,8000", help="events per second to try, in order")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of sending per rate")
    ap.add_argument("--connections", type=int, default=4, help="TCP connections sending")
    ap.add_argument("--batch-ms", type=int, default=250)
    ap.add_argument("--app-interval", type=float, default=2.0, help="seconds between app refreshes (0 = no app)")
    ap.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        reader_main(args.app_interval)
        return 0

    import queries
    from borderwatch import demo
    from borderwatch.store import Store

    tmp = None
    if args.store:
        store_path = pathlib.Path(args.store)
    else:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="bw-bench-feeds-"))
        store_path = tmp / "store"
    store = Store(store_path)
    print(f"store: {store_path}", flush=True)
    if not args.store:
        t0 = time.monotonic()
        demo.build_demo(store, seed=11, incidents=args.scenario, show_progress=False)
        print(f"built a scenario of {args.scenario:,} incidents in {time.monotonic() - t0:.0f} s", flush=True)
    env = dict(os.environ, BORDERWATCH_STORE=str(store_path), PYTHONPATH=str(ROOT))
    env.pop("BORDERWATCH_NOW", None)
    svc = subprocess.Popen([sys.executable, "-m", "borderwatch.cli", "feeds", "--cot-tcp", "0", "--cot-udp", "off",
                            "--json-tcp", "off", "--no-watch", "--batch-ms", str(args.batch_ms), "--log-level", "WARNING"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    app = None
    reruns: list[dict] = []
    results = []
    try:
        st = wait_running(store, svc)
        port = next(l["port"] for l in st["listeners"] if l["name"] == "cot-tcp")
        if args.app_interval > 0:
            app = subprocess.Popen([sys.executable, __file__, "--reader", "--app-interval", str(args.app_interval)],
                                   cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

            def collect():
                for line in app.stdout:
                    try:
                        reruns.append(json.loads(line))
                    except ValueError:
                        pass

            threading.Thread(target=collect, daemon=True).start()
            time.sleep(args.app_interval + 1)
        base = queries.rows("feed_incident_count", store=store)[0][0]
        sent_total = 0
        index = 0
        print(f"{'rate/s':>7} {'sent':>7} {'send s':>7} {'accept/s':>9} {'drain s':>8} {'stored/s':>9} "
              f"{'lat p50':>8} {'lat p95':>8} {'app p50':>8} {'app max':>8} {'lost':>5} {'dup':>4}  verdict", flush=True)
        for rate in [float(r) for r in args.rates.split(",")]:
            probe = Probe(port, store)
            acc0 = status(store)["counts"]["accepted"]
            r0 = len(reruns)
            probe.start()
            sent, send_s = send_at_rate(port, rate, args.seconds, args.connections, index)
            index += sent
            t_end = time.monotonic()
            # accepted (journalled) during sending, from the service's own counters
            accepted_at_end = status(store)["counts"]["accepted"] - acc0
            deadline = t_end + max(120.0, args.seconds * 6)
            stored = 0
            while time.monotonic() < deadline:
                n, distinct = queries.rows("feed_incident_count", store=store)[0]
                stored = n - base - len(probe.ids)
                if stored >= sent_total + sent:
                    break
                time.sleep(0.05)
            drain_s = time.monotonic() - t_end
            probe.stop.set()
            probe.join(5)
            expected = sent_total + sent + len(probe.ids)
            settle_by = time.monotonic() + 30  # the last probe may still be in its commit cycle
            while True:
                n, distinct = queries.rows("feed_incident_count", store=store)[0]
                if distinct - base >= expected or time.monotonic() > settle_by:
                    break
                time.sleep(0.05)
            lost = expected - (distinct - base)
            dup = n - distinct
            sent_total += sent
            base += len(probe.ids)
            lat = sorted(probe.latencies)
            runs = [r["rerun_s"] for r in reruns[r0:] if "rerun_s" in r]
            p50 = statistics.median(lat) if lat else float("nan")
            p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else float("nan")
            # kept up: accepted as fast as sent, and the store caught up within a few commit cycles
            sustained = (lost == 0 and dup == 0 and accepted_at_end >= 0.9 * sent
                         and drain_s <= max(3.0, 8 * args.batch_ms / 1000))
            row = {"rate": rate, "sent": sent, "send_s": round(send_s, 2),
                   "accepted_per_s": round(accepted_at_end / send_s, 1), "drain_s": round(drain_s, 2),
                   "stored_per_s": round(sent / (send_s + drain_s), 1), "latency_p50_s": round(p50, 3),
                   "latency_p95_s": round(p95, 3), "app_rerun_p50_s": round(statistics.median(runs), 3) if runs else None,
                   "app_rerun_max_s": round(max(runs), 3) if runs else None, "lost": lost, "duplicates": dup,
                   "sustained": sustained}
            results.append(row)
            print(f"{rate:7.0f} {sent:7d} {send_s:7.1f} {row['accepted_per_s']:9.0f} {drain_s:8.1f} "
                  f"{row['stored_per_s']:9.0f} {p50:8.2f} {p95:8.2f} "
                  f"{(row['app_rerun_p50_s'] or float('nan')):8.2f} {(row['app_rerun_max_s'] or float('nan')):8.2f} "
                  f"{lost:5d} {dup:4d}  {'sustained' if sustained else 'NOT sustained'}", flush=True)
            if lost:
                print("LOSS DETECTED", flush=True)
            if not sustained and drain_s > 3.0 * 4:
                break  # far past saturation
        final = status(store)
        print(json.dumps({"results": results, "service_counts": final["counts"],
                          "app_errors": [r["error"] for r in reruns if "error" in r][:3],
                          "best_sustained_rate": max([r["rate"] for r in results if r["sustained"]], default=None)},
                         indent=1), flush=True)
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(20)
            except subprocess.TimeoutExpired:
                app.kill()
        svc.send_signal(signal.SIGTERM)
        try:
            svc.wait(60)
        except subprocess.TimeoutExpired:
            svc.kill()
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
