"""What checking the PostgreSQL writer lock around every commit costs a small write (a feed batch).

Prints, in one run on the PostgreSQL catalog in BORDERWATCH_CATALOG (data in BORDERWATCH_DATA_PATH):
the median time of a write transaction inserting a few incidents, with the lock checked only by
a ``SELECT 1`` before the commit (the baseline: the check before this one existed) and with the
full check (marker before the commit, the lock session confirmed after it); then the lock taken
and released alone, both ways.
Usage: BORDERWATCH_CATALOG=postgresql://... BORDERWATCH_DATA_PATH=DIR \\
       .venv/bin/python scripts/bench_write_lock.py [--writes 200] [--rows 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time

import pandas as pd

from borderwatch import incident_store, pglock
from borderwatch.store import Store


def baseline(store: Store) -> None:
    """Patch ``store`` to the earlier lock check: ``SELECT 1`` before the commit, nothing after."""
    def before_commit():
        store._lock_con.execute("SELECT 1")

    def take(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not store._lock_con.execute("SELECT pg_try_advisory_lock(%s)", (pglock.ADVISORY_LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError("lock not granted")
            time.sleep(0.02)

    def hold(timeout: float):
        import contextlib

        @contextlib.contextmanager
        def held():
            if store._lock_con is None:
                store._lock_con = store.postgres.connect()
            take(timeout)
            try:
                yield
            finally:
                store._lock_con.execute("SELECT pg_advisory_unlock(%s)", (pglock.ADVISORY_LOCK_KEY,))
        return held()

    store._still_locked = before_commit
    store._confirm_lock = lambda: None
    store._pg_lock = hold


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--rows", type=int, default=5)
    args = ap.parse_args()
    if not os.environ.get("BORDERWATCH_CATALOG", "").startswith("postgres"):
        raise SystemExit("set BORDERWATCH_CATALOG to a PostgreSQL catalog (and BORDERWATCH_DATA_PATH)")
    names = {"base": "baseline (SELECT 1 before commit)", "full": "checked (marker before, confirmed after)"}
    stores = {label: Store(tempfile.mkdtemp(prefix="bench-lock-")) for label in names}
    baseline(stores["base"])
    times = {label: ([], []) for label in names}

    def write(label: str, k: int) -> None:
        store = stores[label]
        rows = [{"incident_id": f"bench-{label}-{k}-{j}", "occurred_at": dt.datetime(2026, 10, 1, 12, j),
                 "threat_type": "smuggling", "lon": 23.5 + j * 0.01, "lat": 41.3} for j in range(args.rows)]
        incident_store.insert_incidents(store, incident_store.prepare_incidents(pd.DataFrame(rows), store,
                                                                                dataset="bench-lock"))

    for label in names:
        write(label, -1)  # warm: connections, extensions, locator
    # alternate the two ways on the same lake, so both meet the same, growing lake
    for k in range(args.writes):
        for label in (names if k % 2 == 0 else reversed(list(names))):
            t0 = time.perf_counter()
            write(label, k)
            t1 = time.perf_counter()
            with stores[label].write_lock():
                pass
            times[label][0].append(t1 - t0)
            times[label][1].append(time.perf_counter() - t1)
    for store in stores.values():
        store.close()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{'':44s} {'write of ' + str(args.rows) + ' rows':>18s} {'lock alone':>12s}   (median ms, {args.writes} each)")
    for label, name in names.items():
        write_ms, lock_ms = (statistics.median(t) * 1000 for t in times[label])
        print(f"{name:44s} {write_ms:18.2f} {lock_ms:12.2f}")


if __name__ == "__main__":
    main()
