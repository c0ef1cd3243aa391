"""What alerts and data age add to a live-map rerun, and what evaluating the rules costs.

Prints, in one run on the store in BORDERWATCH_STORE: the map's layers and caption built cold
(query cache emptied, as after a feed commit) without the alert halo, the freshness caption and
the feed banner (the baseline) and with them; then one evaluation of each rule kind for a nation.
Usage: .venv/bin/python scripts/bench_alerts.py [--nation USA] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import queries
import borderwatch.alerts as alerts
from borderwatch import access
from borderwatch.alerts import rules
from borderwatch.filters import Filter, utcnow
from borderwatch.store import default_store
from layers import age, registry
from layers import alerts as alert_layer
from layers.base import MapContext, View


def cold(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        queries._CACHE.clear()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nation", default="USA")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    store = default_store()
    viewer = access.viewer_for("bench", args.nation, "viewer", store)
    print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores; incidents "
          f"{queries.scalar('count_rows', store=store, idents={'table': 'incidents'}):,}")
    ctx_args = (Filter(window="7d"), View.around(31.5, -107.0, 6))
    extra = (alert_layer, age)
    with access.viewing_as(viewer):
        def baseline():
            ctx = MapContext(*ctx_args, utcnow(), store=store)
            built = [m.build(ctx) for m in registry.REGISTRY if m not in extra]
            return "; ".join(str(b.notes) for b in built)

        def with_alerts():
            ctx = MapContext(*ctx_args, utcnow(), store=store)
            return registry.caption(registry.build_all(ctx), ctx.situation, ctx.now)

        base, full = cold(baseline, args.repeat), cold(with_alerts, args.repeat)
        print(f"map rerun, cold cache: baseline {base:,.0f} ms, with alerts + data age {full:,.0f} ms "
              f"(+{full - base:,.0f} ms, {100 * (full - base) / base:+.0f}%)")
        print(f"freshness caption alone, cold: {cold(lambda: age.caption(store, utcnow()), args.repeat):,.0f} ms")
    now = utcnow()
    for kind in rules.KINDS:
        params = {"threat_surge": {"threat_type": "illegal_crossing", "area": args.nation}}.get(kind, {})
        p = rules.check(kind, params)
        with access.viewing_as(viewer):
            ms = cold(lambda: rules.evaluate(kind, p, now, store, __import__("datetime").timedelta(hours=1)), args.repeat)
        print(f"evaluate {kind:15s} {ms:8,.0f} ms")
    print(f"unacknowledged count: {cold(lambda: alerts.unacknowledged(viewer, store), args.repeat):,.0f} ms")


if __name__ == "__main__":
    main()
