"""``borderwatch sources``: who may send to the feed service, as which nation, released to whom."""
from __future__ import annotations

import sys

from borderwatch.feeds.sources import SourceError, add, get, list_sources, revoke, rotate, set_certificate

NAME = "sources"
HELP = "feed sources: add, list, revoke, rotate, certificate"
DESCRIPTION = ("Register who may send to the feed service (JSON lines with a token, CoT over TLS with a "
               "certificate), as which nation and released to whom.")


def configure(p) -> None:
    s = p.add_subparsers(dest="sources_command", required=True, metavar="ACTION")
    a = s.add_parser("add", help="register a source; prints its token once")
    a.add_argument("name", help="1-40 lower-case letters, digits or _ (also the source word of its incidents)")
    a.add_argument("--nation", required=True, help="the nation it reports for and that owns what it sends (ISO3)")
    a.add_argument("--release-to", default="owner",
                   help="who else may see what it sends: public, owner (default) or nations/agreements, e.g. MEX,schengen")
    a.add_argument("--cert", help="its TLS client certificate (PEM file or sha256:FINGERPRINT) for CoT over TLS")
    s.add_parser("list", help="list sources (tokens are never shown)")
    for action, text in (("revoke", "stop a source: its token and certificate are refused from now on"),
                         ("rotate", "give a source a new token (prints it); the old one stops working")):
        s.add_parser(action, help=text).add_argument("name")
    c = s.add_parser("certificate", help="set (or with 'none' remove) a source's TLS client certificate")
    c.add_argument("name")
    c.add_argument("cert", help="PEM file, sha256:FINGERPRINT, or none")


def run(args) -> int:
    import os

    by = f"command line ({os.environ.get('USER', 'unknown user')})"
    try:
        if args.sources_command == "add":
            token = add(args.name, args.nation, args.release_to, cert=args.cert, by=by)
            src = get(args.name)
            print(f"added feed source {args.name} ({src.nation}, {src.release.describe()}); token (shown once, "
                  f"send it as the first JSON line {{\"token\": \"...\"}}): {token}")
        elif args.sources_command == "list":
            frame = list_sources()
            print(frame.to_string(index=False) if len(frame) else "no feed sources")
        elif args.sources_command == "revoke":
            revoke(args.name, by=by)
            print(f"{args.name} revoked")
        elif args.sources_command == "rotate":
            print(f"{args.name}: new token (shown once): {rotate(args.name, by=by)}")
        elif args.sources_command == "certificate":
            fp = set_certificate(args.name, None if args.cert.lower() == "none" else args.cert, by=by)
            print(f"{args.name}: certificate " + (f"sha256:{fp}" if fp else "removed"))
    except SourceError as exc:
        print(f"borderwatch sources: {exc}", file=sys.stderr)
        return 2
    return 0
