"""``borderwatch export FORMAT``: exactly the filtered incidents as CSV, GeoJSON or GeoParquet.

The filter is given as the query string of an app URL (copy it from the browser), e.g.
``borderwatch export csv --filter-url 'nations=USA&window=7d' -o exports/``. Values of the link the
app would ignore or correct are named on standard error, and the export goes on with what the
link reader made of them.
"""
from __future__ import annotations

import pathlib
import sys
import time


NAME = "export"
HELP = "export exactly the filtered incidents (CSV, GeoJSON, GeoParquet)"
DESCRIPTION = __doc__.split("\n\n")[0]


def _filter(text: str):
    from borderwatch import links
    from borderwatch.store import default_store

    flt, _view, notices = links.read_for_store(text, default_store())
    for notice in notices:
        print(f"filter URL: {notice}", file=sys.stderr)
    return flt


def run(args) -> int:
    from borderwatch.exports import data
    from borderwatch.filters import utcnow
    from borderwatch.store import parse_time, travel_to

    if args.as_of:
        travel_to(parse_time(args.as_of))  # the store as it was then, "now" pinned there
    flt = _filter(args.filter_url or "")
    now = utcnow()
    out = pathlib.Path(args.output)
    directory = out if out.is_dir() or not out.suffix else out.parent
    directory.mkdir(parents=True, exist_ok=True)
    zipped = args.zip if args.zip is not None else None
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        if args.quiet or time.monotonic() - shown[0] < 1 and done < total:
            return
        shown[0] = time.monotonic()
        print(f"\r{done:,} / {total:,} incidents", end="", file=sys.stderr, flush=True)

    start = time.monotonic()
    result = data.export_incidents(flt, args.format, directory, zipped=zipped, now=now, progress=progress)
    path = result.path
    if out.suffix and out != path:
        path = result.path.replace(out)
        if args.format == "csv" and not (zipped if zipped is not None else data.ZIPPED_BY_DEFAULT["csv"]):
            sidecar = result.path.with_name(result.path.name[: -len(".csv")] + ".metadata.json")
            sidecar.replace(out.with_name(out.name.removesuffix(".csv") + ".metadata.json"))
    from borderwatch import access, audit

    audit.record("export", viewer=access.current(), flt=flt, rows=result.rows,
                 detail=f"{args.format} {path.name} (command line) {result.metadata.get('marking', '')}")
    if not args.quiet:
        print(file=sys.stderr)
    print(f"{path} ({result.rows:,} incidents, {time.monotonic() - start:.1f} s): {result.metadata['filter']['description']}")
    return 0


def configure(p) -> None:
    from borderwatch.exports.data import FORMATS

    p.add_argument("format", choices=list(FORMATS))
    p.add_argument("--filter-url", default="", help="the filter as an app URL or its query string, "
                                                    "e.g. 'nations=USA&window=7d' (default: last 30 days, everything)")
    p.add_argument("-o", "--output", default=".", help="directory (file named after the filter) or file path")
    p.add_argument("--zip", dest="zip", action="store_true", default=None,
                   help="zip the data file with metadata.json (default for CSV)")
    p.add_argument("--no-zip", dest="zip", action="store_false",
                   help="plain file (a CSV then gets a .metadata.json sidecar)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="export what this account may see (its nation's releasable rows), audited under its name")
    p.add_argument("--as-of", metavar="TIME", help="export the store as it was at TIME (UTC, e.g. 2026-11-01T12:00); "
                                                   "relative windows end then")
