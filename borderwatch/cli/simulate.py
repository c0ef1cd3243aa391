"""``borderwatch simulate``: realistic demo CoT and JSON traffic for the feed service."""
from __future__ import annotations

import json
import os
import sys

from borderwatch.cli.feeds import endpoint

NAME = "simulate"
HELP = "send realistic demo CoT and JSON traffic to the feed service"
DESCRIPTION = ("Field units patrolling real border segments report over CoT (TCP and UDP) and a sensor "
               "system pushes JSON lines, with bursts, re-sends, chat and position reports. Ends after "
               "--duration seconds or --count events, whichever comes first.")


def configure(s) -> None:
    from borderwatch.feeds.service import DEFAULT_COT_PORT, DEFAULT_JSON_PORT

    s.add_argument("--cot-tcp", type=endpoint, default=f"127.0.0.1:{DEFAULT_COT_PORT}", metavar="HOST:PORT",
                   help="CoT TCP endpoint, or off")
    s.add_argument("--cot-udp", type=endpoint, default=f"127.0.0.1:{DEFAULT_COT_PORT}", metavar="HOST:PORT",
                   help="CoT UDP endpoint, or off")
    s.add_argument("--json-tcp", type=endpoint, default=f"127.0.0.1:{DEFAULT_JSON_PORT}", metavar="HOST:PORT",
                   help="JSON lines TCP endpoint, or off")
    s.add_argument("--json-token", default=os.environ.get("BORDERWATCH_FEED_TOKEN"), metavar="TOKEN",
                   help="a feed source's token for the JSON lines connection (borderwatch sources add; default "
                        "$BORDERWATCH_FEED_TOKEN); without one, the service must run with --json-open")
    s.add_argument("--rate", type=float, default=5.0, help="average events per second (default 5)")
    s.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    s.add_argument("--count", type=int, help="stop after this many events")
    s.add_argument("--units", type=int, default=6, help="field units (default 6)")
    s.add_argument("--segments", help="comma-separated border segment ids to patrol (default: a few well-known ones)")
    s.add_argument("--bad", type=float, default=0.0, help="share of deliberately broken messages, 0-1 (default 0)")
    s.add_argument("--seed", type=int, default=1)


def run(args) -> int:
    from borderwatch.feeds.simulate import DEFAULT_SEGMENTS, Simulator
    from borderwatch.store import default_store

    segments = tuple(x.strip() for x in args.segments.split(",")) if args.segments else DEFAULT_SEGMENTS
    sim = Simulator(default_store(), cot_tcp=args.cot_tcp, cot_udp=args.cot_udp, json_tcp=args.json_tcp,
                    units=max(1, args.units), seed=args.seed, segments=segments, bad=min(max(args.bad, 0.0), 1.0),
                    json_token=args.json_token)
    try:
        summary = sim.run(rate=args.rate, duration=args.duration, count=args.count,
                          progress=lambda n: print(f"\r{n} events sent", end="", file=sys.stderr, flush=True))
    except ConnectionRefusedError as exc:
        print(f"\nborderwatch: no feed service answers ({exc}); start it with `borderwatch feeds`", file=sys.stderr)
        return 2
    except (ConnectionResetError, BrokenPipeError):
        print("\nborderwatch: the feed service closed the JSON lines connection: give a feed source's token "
              "(--json-token; borderwatch sources add) or run the service with --json-open", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0
