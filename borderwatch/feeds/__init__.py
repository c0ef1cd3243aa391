"""Live feeds: an ingest service for Cursor-on-Target (TAK) and JSON incident reports.

``borderwatch feeds`` runs the service (CoT over TCP and UDP, JSON lines over TCP, a watched
folder); ``borderwatch simulate`` sends realistic demo traffic to it. The app reads the
service's state with ``read_status(store)`` (and a one-line badge with ``describe(status)``).
See docs/feeds.md.

This module stays light (the command line imports it on every start); the service's modules
are imported when a command runs.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from borderwatch.feeds.status import describe, read_status  # noqa: F401  (the app's entry points)

__all__ = ["read_status", "describe", "add_commands"]


def _port(text: str) -> int | None:
    if text.lower() in ("off", "none", "-"):
        return None
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port number (0 = any free port) or 'off', not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range")
    return port


def _nation(text: str) -> str:
    if len(text) != 3 or not text.isalpha():
        raise argparse.ArgumentTypeError(f"an ISO 3166-1 alpha-3 code such as USA, not {text!r}")
    return text.upper()


def _endpoint(text: str) -> str:
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


def add_commands(sub) -> None:
    from borderwatch.feeds.service import DEFAULT_COT_PORT, DEFAULT_JSON_PORT

    p = sub.add_parser(
        "feeds", help="run the live-feed ingest service (CoT over TCP/UDP, JSON lines, a watched folder)",
        description="Run the live-feed ingest service until SIGTERM / Ctrl-C: Cursor-on-Target XML over TCP "
                    "(events back to back) and UDP (one per datagram), JSON lines over TCP, and files dropped "
                    "into a watched folder. Listens on 127.0.0.1 unless --bind says otherwise. An event is "
                    "accepted once it is in the fsync'ed journal; it reaches the store at the next commit, every --batch-ms.",
    )
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--cot-tcp", type=_port, default=DEFAULT_COT_PORT, metavar="PORT",
                   help=f"CoT over TCP (default {DEFAULT_COT_PORT}; 0 = any free port; off)")
    p.add_argument("--cot-udp", type=_port, default=DEFAULT_COT_PORT, metavar="PORT",
                   help=f"CoT over UDP (default {DEFAULT_COT_PORT}; 0 = any free port; off)")
    p.add_argument("--json-tcp", type=_port, default=DEFAULT_JSON_PORT, metavar="PORT",
                   help=f"JSON lines over TCP (default {DEFAULT_JSON_PORT}; 0 = any free port; off)")
    p.add_argument("--cot-tls", type=_port, default=None, metavar="PORT",
                   help="CoT (XML or TAK protocol) over TLS with client certificates (default off; TAK uses 8089, "
                        "so move --json-tcp); needs --tls-cert, --tls-key, --tls-ca and --tls-clients")
    p.add_argument("--tls-cert", metavar="PEM", help="the service's TLS certificate")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--tls-ca", metavar="PEM", help="CA certificate(s) that sign client certificates")
    p.add_argument("--tls-clients", metavar="FILE",
                   help="allow-list of client certificates: lines 'cn:NAME|sha256:FINGERPRINT SOURCE [NATION]'")
    p.add_argument("--watch", metavar="DIR", help="watched folder (default <store>/feeds/inbox)")
    p.add_argument("--no-watch", action="store_true", help="do not watch a folder")
    p.add_argument("--batch-ms", type=int, default=250, metavar="N",
                   help="commit accepted events to the store every N ms (default 250)")
    p.add_argument("--max-message", type=int, default=64 * 1024, metavar="BYTES",
                   help="largest message accepted (default 65536)")
    p.add_argument("--max-connections", type=int, default=256, metavar="N", help="TCP clients at once (default 256)")
    p.add_argument("--nation", type=_nation, metavar="ISO3", help="reporting nation (and so owner) of CoT events and JSON records that do not state one")
    p.add_argument("--compact-every", type=float, default=600, metavar="S",
                   help="merge the store's small files every S seconds while ingesting (default 600)")
    p.add_argument("--no-patrols", action="store_true",
                   help="ignore friendly position reports instead of keeping them as patrol tracks")
    p.add_argument("--patrol-keep", type=float, default=24.0, metavar="HOURS",
                   help="hours of patrol positions kept in the store (default 24)")
    p.add_argument("--listener-processes", type=int, default=1, metavar="N",
                   help="processes that read and parse CoT TCP connections (the service hands each new one to "
                        "the least busy); 2 uses a second core for parsing (default 1)")
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
    p.set_defaults(func=cmd_feeds)

    s = sub.add_parser(
        "simulate", help="send realistic demo CoT and JSON traffic to the feed service",
        description="Field units patrolling real border segments report over CoT (TCP and UDP) and a sensor "
                    "system pushes JSON lines, with bursts, re-sends, chat and position reports. Ends after "
                    "--duration seconds or --count events, whichever comes first.",
    )
    s.add_argument("--cot-tcp", type=_endpoint, default=f"127.0.0.1:{DEFAULT_COT_PORT}", metavar="HOST:PORT",
                   help="CoT TCP endpoint, or off")
    s.add_argument("--cot-udp", type=_endpoint, default=f"127.0.0.1:{DEFAULT_COT_PORT}", metavar="HOST:PORT",
                   help="CoT UDP endpoint, or off")
    s.add_argument("--json-tcp", type=_endpoint, default=f"127.0.0.1:{DEFAULT_JSON_PORT}", metavar="HOST:PORT",
                   help="JSON lines TCP endpoint, or off")
    s.add_argument("--rate", type=float, default=5.0, help="average events per second (default 5)")
    s.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    s.add_argument("--count", type=int, help="stop after this many events")
    s.add_argument("--units", type=int, default=6, help="field units (default 6)")
    s.add_argument("--segments", help="comma-separated border segment ids to patrol (default: a few well-known ones)")
    s.add_argument("--bad", type=float, default=0.0, help="share of deliberately broken messages, 0-1 (default 0)")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=cmd_simulate)


def cmd_feeds(args) -> int:
    import pathlib

    from borderwatch.feeds.service import FeedConfig, FeedService
    from borderwatch.store import default_store

    store = default_store()
    if args.status:
        print(json.dumps(read_status(store), indent=2))
        return 0
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = FeedConfig(bind=args.bind, cot_tcp=args.cot_tcp, cot_udp=args.cot_udp, json_tcp=args.json_tcp,
                        watch=pathlib.Path(args.watch) if args.watch else None, watch_enabled=not args.no_watch,
                        batch_ms=args.batch_ms, max_message=args.max_message, max_connections=args.max_connections,
                        nation=args.nation, compact_every_s=args.compact_every, cot_tls=args.cot_tls,
                        tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
                        tls_clients=args.tls_clients, patrols=not args.no_patrols, patrol_keep_h=args.patrol_keep,
                        cot_out=args.cot_out, cot_out_severity=args.cot_out_severity,
                        cot_out_stale_min=args.cot_out_stale, cot_out_protobuf=args.cot_out_protobuf,
                        cot_out_cert=args.cot_out_cert, cot_out_key=args.cot_out_key, cot_out_ca=args.cot_out_ca,
                        cot_out_release=args.cot_out_release, cot_out_segments=not args.cot_out_no_segments,
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


def cmd_simulate(args) -> int:
    from borderwatch.feeds.simulate import DEFAULT_SEGMENTS, Simulator
    from borderwatch.store import default_store

    segments = tuple(x.strip() for x in args.segments.split(",")) if args.segments else DEFAULT_SEGMENTS
    sim = Simulator(default_store(), cot_tcp=args.cot_tcp, cot_udp=args.cot_udp, json_tcp=args.json_tcp,
                    units=max(1, args.units), seed=args.seed, segments=segments, bad=min(max(args.bad, 0.0), 1.0))
    try:
        summary = sim.run(rate=args.rate, duration=args.duration, count=args.count,
                          progress=lambda n: print(f"\r{n} events sent", end="", file=sys.stderr, flush=True))
    except ConnectionRefusedError as exc:
        print(f"\nborderwatch: no feed service answers ({exc}); start it with `borderwatch feeds`", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0
