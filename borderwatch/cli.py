"""The ``borderwatch`` command line."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys

from borderwatch.store import StoreError, default_store

COMMANDS = {}


def command(name: str, help: str):
    def register(fn):
        COMMANDS[name] = (fn, help)
        return fn
    return register


@command("setup", "prepare the environment: offline map assets and the store's reference data")
def cmd_setup(args) -> int:
    from borderwatch import app_setup, demo, offline
    from layers import basemap

    offline.install_assets(app_setup.STATIC_DIR)
    store = default_store()
    loaded = demo.load_reference(store)
    basemap.write_static_basemap(store, app_setup.STATIC_DIR)
    print(f"store: {store.path} ({'reference data loaded' if loaded else 'reference data present'})")
    return 0


def _setup_demo(p: argparse.ArgumentParser) -> None:
    from borderwatch.demo import DEFAULT_INCIDENTS, DEFAULT_SEED

    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS,
                   help=f"number of synthetic incidents (default {DEFAULT_INCIDENTS:,}; up to tens of millions)")
    p.add_argument("--now", help="reference UTC time 'YYYY-MM-DDTHH:MM' (default: now), for reproducible stores")
    p.add_argument("--chunk", type=int, default=500_000, help="incidents generated and written per chunk")
    p.add_argument("--if-absent", action="store_true", help="do nothing if a complete scenario is already in the store")


@command("demo", "build the synthetic scenario (fortifications, sensors, incidents) along the real borders")
def cmd_demo(args) -> int:
    import datetime as dt

    from borderwatch import demo

    store = default_store()
    if args.if_absent and demo.scenario_present(store):
        print(f"scenario present in {store.path}; nothing to do")
        return 0
    now = dt.datetime.fromisoformat(args.now) if args.now else None
    summary = demo.build_demo(store, seed=args.seed, incidents=args.incidents, now=now, chunk=args.chunk)
    print(json.dumps(summary, indent=2))
    return 0


def _setup_locate(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="a place, a coordinate (decimal or DMS), an MGRS reference, a segment (MEX-USA) or an incident id")
    p.add_argument("--all", action="store_true", help="list every matching place, not only the best")


@command("locate", "find where the map should fly: a place, coordinate, MGRS reference, segment or incident")
def cmd_locate(args) -> int:
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


SETUPS = {"demo": _setup_demo, "locate": _setup_locate}

# Modules that add their own subcommands: each defines ``add_commands(subparsers)``.
COMMAND_MODULES = ("borderwatch.importer", "borderwatch.feeds", "borderwatch.exports.cli", "borderwatch.brief",
                   "borderwatch.bench", "borderwatch.auth", "borderwatch.audit", "borderwatch.backup",
                   "borderwatch.alerts.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description="Borderwatch: border segments, fortifications, sensor coverage and incident density. "
                    "The store is the directory in BORDERWATCH_STORE (default var/store in the project).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (fn, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        if name in SETUPS:
            SETUPS[name](p)
        p.set_defaults(func=fn)
    for module in COMMAND_MODULES:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from borderwatch import access, auth

        viewer = access.SYSTEM  # the command line reads the store directly: everything, unless --as
        if getattr(args, "as_user", None):
            viewer = auth.current_viewer(args.as_user)
            if viewer is None:
                print(f"borderwatch: --as {args.as_user}: no enabled account of that name", file=sys.stderr)
                return 2
        with access.viewing_as(viewer):
            return args.func(args) or 0
    except StoreError as exc:
        print(f"borderwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
