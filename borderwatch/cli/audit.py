"""``borderwatch audit``: show, export or verify the append-only audit log."""
from __future__ import annotations

import sys

from borderwatch.audit import ACTIONS, entries, to_csv, verify

NAME = "audit"
HELP = "show, export or verify the audit log"
DESCRIPTION = "Show, export or verify the append-only audit log."


def configure(p) -> None:
    p.add_argument("what", choices=("show", "export", "verify"))
    p.add_argument("--action", default="", choices=("", *ACTIONS), help="only this action")
    p.add_argument("--limit", type=int, default=50, help="entries to show (default 50; export: all)")
    p.add_argument("-o", "--output", help="export: CSV file to write (default: standard output)")


def run(args) -> int:
    if args.what == "verify":
        problems = verify()
        for problem in problems:
            print(f"borderwatch audit: {problem}", file=sys.stderr)
        print("audit log intact" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    frame = entries(action=args.action, limit=args.limit if args.what == "show" else 10_000_000)
    if args.what == "export":
        data = to_csv(frame.drop(columns=["prev_hash"]))
        if args.output:
            from borderwatch.fileio import write_atomic

            write_atomic(args.output, data)
        else:
            sys.stdout.write(data.decode())
        return 0
    print(frame.drop(columns=["prev_hash", "hash"]).to_string(index=False) if len(frame) else "no audit entries")
    return 0
