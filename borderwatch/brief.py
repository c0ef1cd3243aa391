"""``borderwatch brief``: the briefing exports from the command line (scheduled briefings).

The same PNG snapshot, PDF briefing pack and offline HTML map as the app's *Briefing exports*
page, for the same filters and view, with no browser window and no one logged in. The view is
given as the live map's address (``--filter-url``, which carries the filters and lat/lon/z) and
or individual flags, which take precedence over the address.
"""
from __future__ import annotations

import pathlib
import sys
import time

from borderwatch.fileio import write_atomic
from borderwatch.filters import SCOPES, SEVERITY_LABELS, THREAT_TYPES, WINDOWS

FORMATS = ("png", "pdf", "html")


def add_commands(subparsers) -> None:
    help_text = "write briefing exports of a view: PNG snapshot, PDF briefing pack, offline HTML map"
    p = subparsers.add_parser(
        "brief", help=help_text,
        description="Write briefing exports of a map view (PNG snapshot, PDF briefing pack, offline HTML "
                    "map), as the app's Briefing exports page does. The view comes from --filter-url (the "
                    "live map's address or its query string) and/or the individual flags, which win. "
                    "PNG and PDF need Debian's chromium (make browser); HTML needs no browser.",
        epilog="example: borderwatch brief --format pdf --out briefings "
               "--filter-url 'window=24h&nations=USA,MEX&lat=31.5&lon=-106&z=5' --marking 'UNCLASSIFIED // FOUO'")
    p.add_argument("--format", choices=(*FORMATS, "all"), default="all", help="what to write (default: all three)")
    p.add_argument("--out", default=".", help="directory to write to (created if missing; default: current)")
    p.add_argument("--filter-url", default="", metavar="URL",
                   help="live map address or query string, e.g. 'window=24h&nations=USA&lat=31&lon=-106&z=5'")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="brief what this account may see (its nation's releasable rows), audited under its name")
    p.add_argument("--title", default=None, help="title (default: 'Border situation briefing')")
    p.add_argument("--marking", default=None,
                   help="classification marking at top and bottom of every page "
                        "(default: $BORDERWATCH_MARKING or UNCLASSIFIED)")
    g = p.add_argument_group("filter and view (override --filter-url)")
    g.add_argument("--window", choices=tuple(WINDOWS), help="time window ending now")
    g.add_argument("--nations", metavar="ISO3,...", help="nations, e.g. USA,MEX")
    g.add_argument("--agreements", metavar="ID,...", help="agreements, e.g. schengen")
    g.add_argument("--scope", choices=SCOPES, help="agreement borders: all, internal or external")
    g.add_argument("--threats", metavar="TYPE,...", help="threat types: " + ", ".join(THREAT_TYPES))
    g.add_argument("--severity", type=int, choices=tuple(SEVERITY_LABELS), help="minimum severity 1-4")
    g.add_argument("--lat", type=float, help="map centre latitude")
    g.add_argument("--lon", type=float, help="map centre longitude")
    g.add_argument("--zoom", type=float, help="map zoom (as in the live map's z)")
    p.add_argument("--as-of", metavar="TIME", help="the store as it was at TIME (UTC, e.g. 2026-11-01T12:00), "
                                                   "'now' pinned there: reproduces an earlier briefing")
    p.set_defaults(func=run)


def params_from_args(args) -> dict[str, str]:
    """The live map's URL parameters from --filter-url, with the individual flags applied."""
    from urllib.parse import parse_qsl, urlsplit

    text = (args.filter_url or "").strip()
    query = urlsplit(text).query if "?" in text else text
    params = dict(parse_qsl(query, keep_blank_values=True))
    flags = {"window": args.window, "scope": args.scope, "agreements": args.agreements,
             "severity": args.severity, "lat": args.lat, "lon": args.lon, "z": args.zoom}
    flags["nations"] = args.nations.upper() if args.nations else None
    flags["threats"] = args.threats
    for key, value in flags.items():
        if value is not None:
            params[key] = str(value)
    return params


def check_params(params: dict[str, str], store) -> list[str]:
    """Values the app would silently drop, reported instead (a scheduled job should fail loudly)."""
    import queries

    problems = []
    threats = [t for t in params.get("threats", "").split(",") if t]
    bad = [t for t in threats if t not in THREAT_TYPES]
    if bad:
        problems.append(f"unknown threat type(s) {', '.join(bad)}; known: {', '.join(THREAT_TYPES)}")
    nations = [n for n in params.get("nations", "").split(",") if n]
    if nations:
        known = {code for code, _ in queries.rows("nation_names", store=store)}
        bad = [n for n in nations if n.upper() not in known]
        if bad:
            problems.append(f"unknown nation code(s) {', '.join(bad)} (ISO 3166-1 alpha-3, e.g. USA)")
    agreements = [a for a in params.get("agreements", "").split(",") if a]
    if agreements:
        known = {code for code, _ in queries.rows("agreement_names", store=store)}
        bad = [a for a in agreements if a not in known]
        if bad:
            problems.append(f"unknown agreement(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    window = params.get("window")
    if window and window not in WINDOWS and window != "custom":
        problems.append(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    if "step" in params or "at" in params:  # a playback step: every notice about it is a problem here
        from borderwatch.filters import Filter

        timing = {k: v for k, v in params.items() if k in ("window", "start", "end", "step", "at")}
        problems += [n for n in Filter.from_url(timing)[1] if n.startswith(("ignored step=", "ignored at=",
                                                                             "read at="))]
    for key in ("lat", "lon", "z"):
        if key in params:
            try:
                float(params[key])
            except ValueError:
                problems.append(f"{key} must be a number, not {params[key]!r}")
    return problems



def run(args) -> int:
    from borderwatch.exports import briefing, render
    from borderwatch.exports.snapshot import ExportSpec
    from borderwatch.store import default_store, parse_time, travel_to

    if args.as_of:
        travel_to(parse_time(args.as_of))  # the store as it was then, "now" pinned there
    # the HTML needs no browser: written first while chromium starts
    formats = ("html", "png", "pdf") if args.format == "all" else (args.format,)
    if "png" in formats or "pdf" in formats:
        render.warm_up()  # chromium starts while the store opens and answers the first queries
    store = default_store()
    params = params_from_args(args)
    problems = check_params(params, store)
    if problems:
        for problem in problems:
            print(f"borderwatch brief: {problem}", file=sys.stderr)
        return 2
    spec = ExportSpec.from_params(params, title=args.title, marking=args.marking)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shared = briefing.shared_facts(spec, store)
    failed = 0
    for fmt in formats:
        t0 = time.monotonic()
        try:
            data = briefing.export(spec, fmt, store=store, shared=shared)
        except render.RenderError as exc:
            print(f"borderwatch brief: {fmt.upper()} not written: {exc}", file=sys.stderr)
            failed += 1
            continue
        path = out / spec.filename(fmt)
        write_atomic(path, data)
        from borderwatch import access, audit

        audit.record("briefing", viewer=access.current(), flt=spec.filter, store=store,
                     detail=f"{fmt} {path.name} (command line) {briefing.marking_of(spec, store)}")
        print(path, flush=True)
        print(f"  {fmt}: {len(data):,} bytes in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    render.shutdown()
    return 1 if failed else 0
