"""The ``borderwatch`` command line: one module per command, all listed in ``COMMANDS``.

Each command module has ``NAME``, ``HELP``, ``configure(parser)`` (its arguments) and
``run(args) -> exit code``; it imports what it works with inside ``run``, so ``--help`` stays
fast. Every command runs as a viewer (``--as USER`` where offered, else the system, which reads
everything), and any filter link a command takes is read by ``Filter.from_url``.
"""
from __future__ import annotations

import argparse
import sys

from borderwatch.cli import (alerts, audit, bench, brief, demo, export, feeds, imports, locate, setup, simulate,
                             sources, store, users)
from borderwatch.store import StoreError

COMMANDS = (setup, demo, imports, feeds, simulate, sources, export, brief, locate, alerts, users, audit, store, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderwatch",
        description="Borderwatch: border segments, fortifications, sensor coverage and incident density. "
                    "The store is the directory in BORDERWATCH_STORE (default var/store in the project).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        description = getattr(module, "DESCRIPTION", None) or module.HELP[0].upper() + module.HELP[1:] + "."
        p = sub.add_parser(module.NAME, help=module.HELP, description=description,
                           epilog=getattr(module, "EPILOG", None),
                           formatter_class=getattr(module, "FORMATTER", argparse.HelpFormatter))
        module.configure(p)
        p.set_defaults(func=module.run)
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
