"""``borderwatch demo``: build the synthetic scenario along the real borders."""
from __future__ import annotations

import json

NAME = "demo"
HELP = "build the synthetic scenario (fortifications, sensors, incidents) along the real borders"


def configure(p) -> None:
    from borderwatch.demo import DEFAULT_INCIDENTS, DEFAULT_SEED

    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS,
                   help=f"number of synthetic incidents (default {DEFAULT_INCIDENTS:,}; up to tens of millions)")
    p.add_argument("--now", help="reference UTC time 'YYYY-MM-DDTHH:MM' (default: now), for reproducible stores")
    p.add_argument("--chunk", type=int, default=500_000, help="incidents generated and written per chunk")
    p.add_argument("--if-absent", action="store_true", help="do nothing if a complete scenario is already in the store")


def run(args) -> int:
    import datetime as dt

    from borderwatch import demo
    from borderwatch.store import default_store

    store = default_store()
    if args.if_absent and demo.scenario_present(store):
        print(f"scenario present in {store.path}; nothing to do")
        return 0
    now = dt.datetime.fromisoformat(args.now) if args.now else None
    summary = demo.build_demo(store, seed=args.seed, incidents=args.incidents, now=now, chunk=args.chunk)
    print(json.dumps(summary, indent=2))
    return 0
