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
4. checks zero loss and zero duplicates (every event sent is stored exactly once), prints a table;
5. with --udp-rate: sends CoT over UDP at that rate and reports kernel drops (the socket's drop
   counter in /proc/net/udp) separately from events the service received but did not store;
6. with --baseline REF: runs the same rates first against the service as it was at git REF
   (exported to a temporary directory), so the figures sit side by side in one run.

Latency is send → queryable: probe events are sent every 0.1 s on their own connection and one
poller queries the store for all outstanding probes every 50 ms (p50 / p95 / p99 over the run).

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


_TEMPLATE = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><event version="2.0" uid="%s" '
             'type="a-h-G" how="h-e" time="%s" start="%s" stale="%s"><point lat="%.6f" lon="%.6f" '
             'hae="0" ce="25" le="9999999"/><detail><contact callsign="BENCH-%d"/>'
             '<remarks>benchmark event %d</remarks></detail></event>')


def make_event(uid: str, i: int, t: str | None = None) -> bytes:
    lat, lon = BORDER_POINTS[i % len(BORDER_POINTS)]
    lat += ((i * 7919) % 1000 - 500) / 20000
    lon += ((i * 104729) % 1000 - 500) / 20000
    t = t or iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=5))
    return (_TEMPLATE % (uid, t, t, t, lat, lon, i % 50, i)).encode()


# -- the app-like reader (subprocess) --------------------------------------------------------------
def reader_main(interval: float) -> None:
    from borderwatch.views import live_map
    from borderwatch.filters import Filter, utcnow

    flt = Filter(window="24h")
    last = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            ctx, _, _ = live_map.context(flt, None, (35.0, 0.0, 3), last)
            built = live_map.layers_for(ctx)
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
    """Every 0.1 s: one event on its own connection; one poller checks every 50 ms which probes
    the store shows (send → queryable latency)."""

    def __init__(self, port: int, store):
        super().__init__(daemon=True)
        self.port, self.store = port, store
        self.latencies: list[float] = []
        self.ids: list[str] = []
        self.sent_at: dict[str, float] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        poller = threading.Thread(target=self.poll, daemon=True)
        poller.start()
        n = 0
        while not self.stop.is_set():
            uid = f"probe-{uuid.uuid4().hex[:12]}"
            n += 1
            t0 = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                    s.sendall(make_event(uid, n))
            except OSError:
                continue
            with self.lock:
                self.ids.append(f"cot:{uid}")
                self.sent_at[f"cot:{uid}"] = t0
            self.stop.wait(max(0.0, 0.1 - (time.monotonic() - t0)))
        poller.join(70)

    def poll(self) -> None:
        import queries

        while True:
            with self.lock:
                waiting = dict(self.sent_at)
            if not waiting and self.stop.is_set():
                return
            if waiting:
                now = time.monotonic()
                seen = {r[0] for r in queries.rows("feed_incidents", store=self.store, ids=list(waiting))}
                with self.lock:
                    for i in seen:
                        self.latencies.append(now - self.sent_at.pop(i))
                    for i, t in list(self.sent_at.items()):
                        if now - t > 60:  # never showed up: counted as lost by the totals
                            self.sent_at.pop(i)
            time.sleep(0.05)


def send_at_rate(port: int, rate: float, seconds: float, connections: int, start_index: int) -> tuple[int, float]:
    """Send ``rate`` events/s for ``seconds`` over ``connections`` sockets; returns (sent, elapsed).
    Against a service slower than ``rate`` (TCP backpressure), sending stops after 2 × ``seconds``."""
    total = int(rate * seconds)
    per_conn = [total // connections + (1 if k < total % connections else 0) for k in range(connections)]
    sent = [0] * connections
    ready = threading.Barrier(connections + 1)

    def worker(k: int) -> None:
        n = per_conn[k]
        base = start_index + sum(per_conn[:k])
        tag = uuid.uuid4().hex[:8]
        # TCP backpressure from a saturated service blocks the sender: that is allowed, not a failure
        with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
            ready.wait()
            t0 = time.monotonic()
            tick = 0.02
            j = 0
            while j < n and time.monotonic() - t0 < 2 * seconds:  # a saturated service: stop at twice the time
                # at most 0.1 s of events per write: after backpressure, no single huge write
                due = min(n, int((time.monotonic() - t0 + tick) * rate / connections), j + max(1, int(rate / connections / 10)))
                if due > j:  # events are made as they are due (one time stamp per chunk)
                    t = iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=5))
                    s.sendall(b"".join(make_event(f"bench-{base + i}-{tag}", base + i, t) for i in range(j, due)))
                    j = due
                    sent[k] = j  # counted as it goes: a failure later still leaves a true count
                else:
                    time.sleep(tick / 2)

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


def udp_drops(port: int) -> int | None:
    """The kernel's drop counter of the UDP socket bound to ``port`` (Linux /proc/net/udp)."""
    total = None
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = pathlib.Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) >= 13 and int(f[1].rsplit(":", 1)[1], 16) == port:
                total = (total or 0) + int(f[-1])
    return total


def send_udp_at_rate(port: int, rate: float, seconds: float, start_index: int) -> tuple[list[str], float]:
    ids = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        n = int(rate * seconds)
        t0 = time.monotonic()
        j = 0
        tag = uuid.uuid4().hex[:8]
        while j < n:
            due = min(n, int((time.monotonic() - t0 + 0.01) * rate))
            if due > j:
                t = iso(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=5))
                for i in range(j, due):
                    uid = f"udp-{start_index + i}-{tag}"
                    s.sendto(make_event(uid, start_index + i, t), ("127.0.0.1", port))
                    ids.append(f"cot:{uid}")
                j = due
            else:
                time.sleep(0.005)
    return ids, time.monotonic() - t0


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc), whatever the load."""
    total = 0.0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def service_pids(store, svc) -> list[int]:
    return [svc.pid] + [p["pid"] for p in status(store).get("processes", [])[1:] if p.get("pid")]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def run_rates(label: str, root: pathlib.Path, store, store_path: pathlib.Path, args, reruns_all: list) -> list[dict]:
    """Start the service from ``root`` (and the app loop), run every rate, stop them."""
    import queries

    env = dict(os.environ, BORDERWATCH_STORE=str(store_path), PYTHONPATH=str(root))
    env.pop("BORDERWATCH_NOW", None)
    udp = "0" if args.udp_rate else "off"
    procs = args.listener_processes if label == "current" else args.baseline_listener_processes
    extra = ["--listener-processes", str(procs)] if procs > 1 else []
    svc = subprocess.Popen([sys.executable, "-m", "borderwatch.cli", "feeds", "--cot-tcp", "0", "--cot-udp", udp,
                            "--json-tcp", "off", "--no-watch", "--batch-ms", str(args.batch_ms), "--log-level", "WARNING",
                            *extra],
                           cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    app = None
    reruns: list[dict] = []
    results = []
    try:
        st = wait_running(store, svc)
        port = next(l["port"] for l in st["listeners"] if l["name"] == "cot-tcp")
        udp_port = next((l["port"] for l in st["listeners"] if l["name"] == "cot-udp"), None)
        if args.app_interval > 0:
            app = subprocess.Popen([sys.executable, __file__, "--reader", "--app-interval", str(args.app_interval)],
                                   cwd=ROOT, env=dict(env, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)

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
        print(f"\n[{label}] service from {root} {' '.join(extra)}; processes: "
              f"{[(p['name'], p['pid']) for p in status(store).get('processes', [])] or 'one'}; "
              f"UDP receive buffer {status(store).get('udp_receive_buffer') or 'as before'}", flush=True)
        print(f"{'rate/s':>7} {'sent':>8} {'send s':>7} {'accept/s':>9} {'drain s':>8} {'stored/s':>9} "
              f"{'lat p50':>8} {'p95':>6} {'p99':>6} {'app p50':>8} {'app max':>8} {'lost':>5} {'dup':>4}  load  verdict",
              flush=True)
        for rate in [float(r) for r in args.rates.split(",")]:
            probe = Probe(port, store)
            acc0 = status(store)["counts"]["accepted"]
            pids = service_pids(store, svc)
            cpu0 = cpu_seconds(pids)
            own0 = cpu_seconds([svc.pid])  # the service process alone (journal, store writer)
            r0 = len(reruns)
            probe.start()
            sent, send_s = send_at_rate(port, rate, args.seconds, args.connections, index)
            index += sent
            t_end = time.monotonic()
            probe.stop.set()  # probes time the sending period; no new ones while draining
            load_during = load()
            accepted_at_end = status(store)["counts"]["accepted"] - acc0
            deadline = t_end + max(120.0, args.seconds * 3)
            while time.monotonic() < deadline:
                n, distinct = queries.rows("feed_incident_count", store=store)[0]
                if n - base - len(probe.ids) >= sent_total + sent:
                    break
                time.sleep(0.05)
            drain_s = time.monotonic() - t_end
            cpu_us = (cpu_seconds(pids) - cpu0) / max(sent, 1) * 1e6  # service CPU per event, all processes
            own_us = (cpu_seconds([svc.pid]) - own0) / max(sent, 1) * 1e6
            probe.join(75)
            expected = sent_total + sent + len(probe.ids)
            settle_by = time.monotonic() + 30
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

            def pct(q):
                return lat[min(len(lat) - 1, int(len(lat) * q))] if lat else float("nan")

            runs = [r["rerun_s"] for r in reruns[r0:] if "rerun_s" in r]
            p50 = statistics.median(lat) if lat else float("nan")
            sustained = (lost == 0 and dup == 0 and accepted_at_end >= 0.95 * sent
                         and drain_s <= max(3.0, 8 * args.batch_ms / 1000) and pct(0.99) < 2.0)
            row = {"impl": label, "rate": rate, "sent": sent, "send_s": round(send_s, 2),
                   "accepted_per_s": round(accepted_at_end / send_s, 1), "drain_s": round(drain_s, 2),
                   "stored_per_s": round(sent / (send_s + drain_s), 1), "latency_p50_s": round(p50, 3),
                   "latency_p95_s": round(pct(0.95), 3), "latency_p99_s": round(pct(0.99), 3), "probes": len(lat),
                   "app_rerun_p50_s": round(statistics.median(runs), 3) if runs else None,
                   "app_rerun_max_s": round(max(runs), 3) if runs else None, "lost": lost, "duplicates": dup,
                   "service_cpu_us_per_event": round(cpu_us, 1),
                   "service_process_cpu_us_per_event": round(own_us, 1),
                   "listener_processes_cpu_us_per_event": round(cpu_us - own_us, 1),
                   "load": load_during, "sustained": sustained}
            results.append(row)
            print(f"{rate:7.0f} {sent:8d} {send_s:7.1f} {row['accepted_per_s']:9.0f} {drain_s:8.1f} "
                  f"{row['stored_per_s']:9.0f} {p50:8.2f} {pct(0.95):6.2f} {pct(0.99):6.2f} "
                  f"{(row['app_rerun_p50_s'] or float('nan')):8.2f} {(row['app_rerun_max_s'] or float('nan')):8.2f} "
                  f"{lost:5d} {dup:4d}  {load_during}  {'sustained' if sustained else 'NOT sustained'}  "
                  f"service CPU {cpu_us:.0f} µs/event (service process {own_us:.0f}, "
                  f"listener processes {cpu_us - own_us:.0f})", flush=True)
            if lost:
                print("LOSS DETECTED", flush=True)
            if not sustained and drain_s > args.seconds:
                break  # far past saturation
        if args.udp_rate and udp_port:
            drops0 = udp_drops(udp_port) or 0
            rec0 = status(store)["counts"]["received"]
            ids, send_s = send_udp_at_rate(udp_port, args.udp_rate, args.udp_seconds, index)
            # the service's counters (status.json, about once a second) until they stop moving
            received, still = -1, 0
            while still < 3:
                time.sleep(1.0)
                now_received = status(store)["counts"]["received"] - rec0
                still = still + 1 if now_received == received else 0
                received = now_received
            drops = (udp_drops(udp_port) or 0) - drops0
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                got = len(queries.rows("feed_incidents", store=store, ids=ids))
                if got >= received:
                    break
                time.sleep(0.2)
            row = {"impl": label, "udp_rate": args.udp_rate, "sent": len(ids), "send_s": round(send_s, 2),
                   "kernel_drops": drops, "received_by_service": received, "stored": got,
                   "service_drops": received - got, "unaccounted": len(ids) - drops - received, "load": load()}
            results.append(row)
            print(f"UDP {args.udp_rate:.0f}/s for {send_s:.1f} s: sent {len(ids)}, kernel drops {drops}, "
                  f"received {received}, stored {got}, received but not stored {received - got}, "
                  f"load {row['load']}", flush=True)
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(20)
            except subprocess.TimeoutExpired:
                app.kill()
        reruns_all.extend(reruns)
        svc.send_signal(signal.SIGTERM)
        try:
            svc.wait(90)
        except subprocess.TimeoutExpired:
            svc.kill()
            svc.wait(10)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", help="use this store (default: a temporary one, deleted afterwards)")
    ap.add_argument("--scenario", type=int, default=50_000, help="synthetic incidents in the temporary store")
    ap.add_argument("--rates", default="250,500,1000,2000,4000,8000", help="events per second to try, in order")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of sending per rate")
    ap.add_argument("--connections", type=int, default=4, help="TCP connections sending")
    ap.add_argument("--batch-ms", type=int, default=250)
    ap.add_argument("--listener-processes", type=int, default=3,
                    help="--listener-processes of the current service (3: the service and two children)")
    ap.add_argument("--baseline-listener-processes", type=int, default=1,
                    help="--listener-processes of the baseline service (1 for one from before that option)")
    ap.add_argument("--app-interval", type=float, default=2.0, help="seconds between app refreshes (0 = no app)")
    ap.add_argument("--udp-rate", type=float, default=0, help="also send CoT over UDP at this rate (0 = no)")
    ap.add_argument("--udp-seconds", type=float, default=10.0)
    ap.add_argument("--baseline", metavar="GIT_REF",
                    help="first run the same rates against the service as it was at this git revision")
    ap.add_argument("--reader", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # clean up children and the store
    if args.reader:
        reader_main(args.app_interval)
        return 0

    from borderwatch import demo
    from borderwatch.store import Store

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bw-bench-feeds-"))
    store_path = pathlib.Path(args.store) if args.store else tmp / "store"
    store = Store(store_path)
    print(f"store: {store_path}; load average at start {load()}", flush=True)
    if not args.store:
        t0 = time.monotonic()
        demo.build_demo(store, seed=11, incidents=args.scenario, show_progress=False)
        print(f"built a scenario of {args.scenario:,} incidents in {time.monotonic() - t0:.0f} s", flush=True)
    results: list[dict] = []
    reruns: list[dict] = []
    try:
        if args.baseline:
            base_root = tmp / "baseline"
            base_root.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(base_root)], input=archive, check=True)
            results += run_rates(f"baseline {args.baseline}", base_root, store, store_path, args, reruns)
        results += run_rates("current", ROOT, store, store_path, args, reruns)
        print(json.dumps({"results": results, "service_counts": status(store)["counts"],
                          "app_errors": [r["error"] for r in reruns if "error" in r][:3],
                          "best_sustained_rate": {impl: max([r["rate"] for r in results
                                                             if r.get("impl") == impl and r.get("sustained")], default=None)
                                                  for impl in sorted({r["impl"] for r in results})},
                          "load_at_end": load()}, indent=1), flush=True)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
