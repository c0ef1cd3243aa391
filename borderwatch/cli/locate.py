"""``borderwatch locate``: what the live map's Go-to box finds, as JSON lines with a link."""
from __future__ import annotations

import json
import sys

NAME = "locate"
HELP = "find where the map should fly: a place, coordinate, MGRS reference, segment or incident"


def configure(p) -> None:
    p.add_argument("text", help="a place, a coordinate (decimal or DMS), an MGRS reference, a segment (MEX-USA) or an incident id")
    p.add_argument("--all", action="store_true", help="list every matching place, not only the best")


def run(args) -> int:
    import dataclasses
    import os
    import urllib.parse

    from borderwatch import locate

    try:
        found = locate.candidates(args.text) if args.all else [locate.locate(args.text)]
    except locate.LocateError as exc:
        print(f"borderwatch locate: {exc}", file=sys.stderr)
        return 1
    base = os.environ.get("BORDERWATCH_BASE_URL", "http://localhost:8501").rstrip("/")
    for target in found:
        record = dataclasses.asdict(target)
        record["link"] = f"{base}/?{urllib.parse.urlencode(target.view())}"
        print(json.dumps(record, ensure_ascii=False))
    return 0
