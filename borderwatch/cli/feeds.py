"""``borderwatch feeds``: run the live-feed ingest service (CoT, TAK protocol, JSON lines, a watched folder)."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

NAME = "feeds"
HELP = "run the live-feed ingest service (CoT over TCP/UDP, JSON lines, a watched folder)"
DESCRIPTION = ("Run the live-feed ingest service until SIGTERM / Ctrl-C: Cursor-on-Target XML over TCP "
               "(events back to back) and UDP (one per datagram), JSON lines over TCP, and files dropped "
               "into a watched folder. Listens on 127.0.0.1 unless --bind says otherwise; listeners without "
               "authentication (CoT over TCP/UDP, --json-open) stay on loopback unless --open-remote. JSON lines "
               "need a feed source's token (borderwatch sources add) as the first line of a connection; a --watch folder is read "
               "as a feed source (--watch-source) or, with --watch-open, trusting whoever can write into it. An event is "
               "accepted once it is in the fsync'ed journal; it reaches the store at the next commit, every --batch-ms.")


def port(text: str) -> int | None:
    if text.lower() in ("off", "none", "-"):
        return None
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port number (0 = any free port) or 'off', not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range")
    return port


def nation(text: str) -> str:
    if len(text) != 3 or not text.isalpha():
        raise argparse.ArgumentTypeError(f"an ISO 3166-1 alpha-3 code such as USA, not {text!r}")
    return text.upper()


def endpoint(text: str) -> str:
    if text.lower() == "off":
        return "off"
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    try:
        if not 0 < int(port) <= 65535:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"HOST:PORT (or PORT, or 'off'), not {text!r}") from None
    return f"{host or '127.0.0.1'}:{int(port)}"


def configure(p) -> None:
    from borderwatch.feeds.service import DEFAULT_COT_PORT, DEFAULT_JSON_PORT

    p.add_argument("--bind", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all): listeners with authentication "
                        "(JSON lines with tokens, CoT over TLS) and, with --open-remote, the others")
    p.add_argument("--open-remote", action="store_true",
                   help="let listeners without authentication (CoT over TCP/UDP, --json-open) listen on --bind too; "
                        "without it they listen on loopback only")
    p.add_argument("--json-open", action="store_true",
                   help="accept JSON lines connections that send no source token (owned by --nation); a token "
                        "sent is still checked")
    p.add_argument("--cot-tcp", type=port, default=DEFAULT_COT_PORT, metavar="PORT",
                   help=f"CoT over TCP (default {DEFAULT_COT_PORT}; 0 = any free port; off)")
    p.add_argument("--cot-udp", type=port, default=DEFAULT_COT_PORT, metavar="PORT",
                   help=f"CoT over UDP (default {DEFAULT_COT_PORT}; 0 = any free port; off)")
    p.add_argument("--json-tcp", type=port, default=DEFAULT_JSON_PORT, metavar="PORT",
                   help=f"JSON lines over TCP (default {DEFAULT_JSON_PORT}; 0 = any free port; off)")
    p.add_argument("--cot-tls", type=port, default=None, metavar="PORT",
                   help="CoT (XML or TAK protocol) over TLS with client certificates (default off; TAK uses 8089, "
                        "so move --json-tcp); needs --tls-cert, --tls-key, --tls-ca and --tls-clients")
    p.add_argument("--tls-cert", metavar="PEM", help="the service's TLS certificate")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--tls-ca", metavar="PEM", help="CA certificate(s) that sign client certificates")
    p.add_argument("--tls-clients", metavar="FILE",
                   help="allow-list of client certificates: lines 'cn:NAME|sha256:FINGERPRINT SOURCE [NATION]' "
                        "(optional when feed sources hold certificates: borderwatch sources certificate)")
    p.add_argument("--watch", metavar="DIR", help="watched folder (default <store>/feeds/inbox)")
    p.add_argument("--watch-source", metavar="NAME",
                   help="read the watched folder as this feed source (borderwatch sources add): its nation owns what "
                        "the files hold, released as the source says; a file's message claiming another nation is "
                        "refused; revoking the source stops the folder")
    p.add_argument("--watch-open", action="store_true",
                   help="read a --watch folder without a feed source (owned by --nation or the nation a message "
                        "states): whoever can write into the folder is trusted; the default folder in the store "
                        "needs neither")
    p.add_argument("--no-watch", action="store_true", help="do not watch a folder")
    p.add_argument("--batch-ms", type=int, default=250, metavar="N",
                   help="commit accepted events to the store every N ms (default 250)")
    p.add_argument("--max-message", type=int, default=64 * 1024, metavar="BYTES",
                   help="largest message accepted (default 65536)")
    p.add_argument("--max-connections", type=int, default=256, metavar="N", help="TCP clients at once (default 256)")
    p.add_argument("--nation", type=nation, metavar="ISO3", help="reporting nation (and so owner) of CoT events and JSON records that do not state one")
    p.add_argument("--compact-every", type=float, default=600, metavar="S",
                   help="merge the store's small files every S seconds while ingesting (default 600)")
    p.add_argument("--no-patrols", action="store_true",
                   help="ignore friendly position reports instead of keeping them as patrol tracks")
    p.add_argument("--patrol-keep", type=float, default=24.0, metavar="HOURS",
                   help="hours of patrol positions kept in the store (default 24)")
    p.add_argument("--listener-processes", type=int, default=1, metavar="N",
                   help="processes that read and parse CoT TCP connections (the service hands each new one to "
                        "the least busy); 2 uses a second core for parsing (default 1)")
    p.add_argument("--store-threads", type=int, default=1, metavar="N",
                   help="DuckDB threads of the service's store writes (default 1: a feed batch gains little from "
                        "more, and each costs CPU that parsing needs)")
    p.add_argument("--cot-out", metavar="URL",
                   help="publish new incidents and segment impact-level changes as CoT to a TAK endpoint: "
                        "tcp://HOST:PORT or tls://HOST:PORT")
    p.add_argument("--cot-out-severity", type=int, default=3, choices=(1, 2, 3, 4),
                   help="publish incidents at or above this severity (default 3, high)")
    p.add_argument("--cot-out-stale", type=float, default=60.0, metavar="MIN",
                   help="minutes until a published marker goes stale on the devices (default 60)")
    p.add_argument("--cot-out-release", default="public", metavar="WHO",
                   help="what the TAK network may receive: public (incidents released to everyone; default), a "
                        "nation's ISO3 code (what that nation may see) or all (a network cleared for everything)")
    p.add_argument("--cot-out-no-segments", action="store_true",
                   help="do not publish border segments whose impact level changes (published by default)")
    p.add_argument("--cot-out-segment-every", type=float, default=30.0, metavar="S",
                   help="seconds between recomputing segment impact levels for CoT out (default 30)")
    p.add_argument("--cot-out-protobuf", action="store_true", help="send TAK protocol (protobuf) instead of XML")
    p.add_argument("--cot-out-cert", metavar="PEM", help="client certificate for tls:// (with --cot-out-key)")
    p.add_argument("--cot-out-key", metavar="PEM")
    p.add_argument("--cot-out-ca", metavar="PEM", help="CA that signed the TAK endpoint's certificate")
    p.add_argument("--status", action="store_true", help="print the running service's status as JSON and exit")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def run(args) -> int:
    import pathlib

    from borderwatch.feeds.service import FeedConfig, FeedService
    from borderwatch.feeds.status import read_status
    from borderwatch.store import default_store

    store = default_store()
    if args.status:
        print(json.dumps(read_status(store), indent=2))
        return 0
    # a feed batch is inserted about as fast on one DuckDB thread, for about half the CPU of two
    # (10,000 events: 3.7-4.1 µs against 5.6-9.2 µs per event); set before the store is opened
    store.use_threads(max(1, min(args.store_threads, 64)))
    # a store that cannot be reached at start is a configuration error, said in one sentence (exit 2);
    # once running, writers retry with back-off while the journal keeps what was accepted
    store.check()
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = FeedConfig(bind=args.bind, cot_tcp=args.cot_tcp, cot_udp=args.cot_udp, json_tcp=args.json_tcp,
                        watch=pathlib.Path(args.watch) if args.watch else None, watch_enabled=not args.no_watch,
                        watch_source=args.watch_source, watch_open=args.watch_open,
                        batch_ms=args.batch_ms, max_message=args.max_message, max_connections=args.max_connections,
                        nation=args.nation, compact_every_s=args.compact_every, cot_tls=args.cot_tls,
                        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
                        tls_clients=args.tls_clients, patrols=not args.no_patrols, patrol_keep_h=args.patrol_keep,
                        cot_out=args.cot_out, cot_out_severity=args.cot_out_severity,
                        cot_out_stale_min=args.cot_out_stale, cot_out_protobuf=args.cot_out_protobuf,
                        cot_out_cert=args.cot_out_cert, cot_out_key=args.cot_out_key, cot_out_ca=args.cot_out_ca,
                        cot_out_release=args.cot_out_release, json_open=args.json_open,
                        open_remote=args.open_remote, cot_out_segments=not args.cot_out_no_segments,
                        cot_out_segment_every_s=max(1.0, args.cot_out_segment_every),
                        listener_processes=max(1, min(args.listener_processes, 8)))
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service = FeedService(store, config).start()
    except OSError as exc:
        print(f"borderwatch: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(json.dumps({"store": str(store.path), "listening": service.ports,
                      "watch": str(service.watch_dir) if service.watch_dir else None}), flush=True)
    try:
        while not stop.wait(0.5):
            if service.failed:
                break
    finally:
        service.stop()
    if service.failed:
        print("borderwatch: the feed service stopped because a part kept failing: "
              + json.dumps(service.health.snapshot(stopping=True)["parts"]), file=sys.stderr)
        return 3
    return 0
