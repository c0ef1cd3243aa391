"""The feed service: listeners (CoT over TCP and UDP, JSON lines over TCP, a watched folder) →
validation → journal (durable acceptance) → store writer. Runs on its own, next to the app.

Threads: one selector loop for every TCP listener and connection (bounded per-connection
buffers, a cap on connections), one UDP receiver, one folder watcher, the journal writer, the
store writer and the status writer; with ``listener_processes`` > 1, child processes that listen
on the CoT TCP port too (``feeds/worker.py``), each read by a thread here. A message that fails validation is rejected with its reason
(logged, counted, written to ``<store>/feeds/rejects.log``) and the stream goes on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import logging.handlers
import os
import pathlib
import selectors
import ssl
import threading
import time

from borderwatch.feeds import cot, jsonfeed, records, sources, worker
from borderwatch.feeds import journal as journal_mod
from borderwatch.feeds.health import Health, supervised
from borderwatch.feeds.records import FeedError, Ignored
from borderwatch.feeds.status import FeedStats, feeds_dir, now_iso, write_status
from borderwatch.feeds.folder import WatchedFolder
from borderwatch.feeds.network import NetworkListeners, _Conn, _Listener, is_loopback  # noqa: F401 (status reads is_loopback here)
from borderwatch.store import Store, StoreError

log = logging.getLogger("borderwatch.feeds")
reject_log = logging.getLogger("borderwatch.feeds.rejects")

DEFAULT_COT_PORT = 8087  # TAK's customary CoT port (TCP and UDP)
DEFAULT_JSON_PORT = 8089
MAX_FILE_BYTES = 64 * 1024 * 1024
UDP_BUFFER_BYTES = 32 * 1024 * 1024  # ~6 s of CoT at 5,000 datagrams/s before the kernel drops any


@dataclasses.dataclass
class FeedConfig:
    """Where and how the service listens. A port of 0 picks a free port; None disables it."""

    bind: str = "127.0.0.1"
    cot_tcp: int | None = DEFAULT_COT_PORT
    cot_udp: int | None = DEFAULT_COT_PORT
    json_tcp: int | None = DEFAULT_JSON_PORT
    watch: pathlib.Path | None = None  # default: <store>/feeds/inbox
    watch_enabled: bool = True
    watch_source: str | None = None  # the feed source the folder's files come from (owner, releasability)
    watch_open: bool = False  # read a folder other than <store>/feeds/inbox without a source
    batch_ms: int = 250
    max_message: int = cot.MAX_MESSAGE_BYTES
    max_connections: int = 256
    max_file: int = MAX_FILE_BYTES
    nation: str | None = None  # reporting nation (owner) of CoT events and JSON records without one
    compact_every_s: float = 600.0
    segment_bytes: int = journal_mod.SEGMENT_BYTES
    poll_s: float = 0.25
    cot_tls: int | None = None  # CoT (XML or TAK protocol) over TLS with client certificates
    tls_cert: str | None = None  # the service's certificate (PEM)
    tls_key: str | None = None  # its private key (PEM)
    tls_ca: str | None = None  # CA that signs client certificates (PEM)
    tls_clients: str | None = None  # allow-list: certificate -> source (see feeds/tls.py); or sources' certificates
    json_open: bool = False  # JSON lines without a source token too (unauthenticated, like plain CoT)
    open_remote: bool = False  # unauthenticated listeners on --bind too, not only on loopback
    patrols: bool = True  # keep friendly position reports (a-f-*, a-a-*) as patrol tracks
    patrol_keep_h: float = 24.0  # hours of patrol positions kept in the store
    cot_out: str | None = None  # tcp://HOST:PORT or tls://HOST:PORT: publish new incidents as CoT
    cot_out_severity: int = 3
    cot_out_stale_min: float = 60.0
    cot_out_protobuf: bool = False
    cot_out_cert: str | None = None
    cot_out_key: str | None = None
    cot_out_ca: str | None = None
    cot_out_release: str = "public"  # who the TAK network counts as (feeds.cotout.network_viewer)
    listener_processes: int = 1  # >1: more CoT TCP listener processes on the same port (feeds/worker.py)
    udp_buffer: int = UDP_BUFFER_BYTES  # the CoT UDP socket's receive buffer
    cot_out_segments: bool = True  # also send segment impact-level changes (feeds/cotsegments.py)
    cot_out_segment_every_s: float = 30.0


class FeedService(NetworkListeners, WatchedFolder):
    def __init__(self, store: Store, config: FeedConfig | None = None):
        self.store = store
        self.config = config or FeedConfig()
        self.dir = feeds_dir(store)
        self.stats = FeedStats()
        self.health = Health()
        self.journal = journal_mod.Journal(self.dir / "journal", segment_bytes=self.config.segment_bytes,
                                           on_durable=self._on_durable, on_failed=self._on_failed,
                                           health=self.health)
        self.writer = None
        self.listeners: dict[str, "_Listener"] = {}
        self.watch_dir: pathlib.Path | None = None
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.selector: selectors.BaseSelector | None = None
        self.conns: dict[int, "_Conn"] = {}
        self._lock_fd: int | None = None
        self._wake_r = self._wake_w = None
        self._reject_handler: logging.Handler | None = None
        self._console_budget = [0.0, 0]
        self.state = "starting"
        self.tls_context: ssl.SSLContext | None = None
        self.publisher = None
        self.allow_list = None
        self.gate = sources.Gate(store)
        self.procs: list = []  # listener processes (feeds/worker.py)
        self.udp_buffer: int | None = None  # the receive buffer the kernel granted

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "FeedService":
        from borderwatch.feeds.writer import StoreWriter

        self.dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._setup_reject_log()
            self.store.cursor()  # open (and if needed initialise) the store before accepting anything
            self.journal.open()
            self.writer = StoreWriter(self.store, self.journal, self.stats, batch_ms=self.config.batch_ms,
                                      compact_every_s=self.config.compact_every_s, health=self.health,
                                      patrol_keep_s=self.config.patrol_keep_h * 3600)
            self.writer.start()
            self._open_listeners()
            self._spawn(self._tcp_loop, "feeds-tcp")
            if self.config.listener_processes > 1 and "cot-tcp" in self.listeners:
                from borderwatch.feeds.worker import ListenerProcess

                for i in range(2, self.config.listener_processes + 1):
                    proc = ListenerProcess(self, i)
                    self.procs.append(proc)
                    self._spawn(proc.run, f"feeds-{proc.name}")
                for proc in self.procs:  # "running" means every process listens
                    if not proc.ready.wait(30):
                        log.warning("%s did not start listening within 30 s", proc.name)
            if "cot-udp" in self.listeners:
                self._spawn(self._udp_loop, "feeds-udp")
            if self.watch_dir is not None:
                self._spawn(self._watch_loop, "feeds-watch")
            if self.config.cot_out:
                from borderwatch.feeds.cotout import CotPublisher

                c = self.config
                try:
                    self.publisher = CotPublisher(
                        self.store, c.cot_out, min_severity=c.cot_out_severity, stale_min=c.cot_out_stale_min,
                        protobuf=c.cot_out_protobuf, cert=c.cot_out_cert, key=c.cot_out_key, ca=c.cot_out_ca,
                        every_s=max(0.2, c.batch_ms / 1000), state_file=self.dir / "cotout.json",
                        release=c.cot_out_release, segments=c.cot_out_segments,
                        segment_every_s=c.cot_out_segment_every_s)
                except (ValueError, OSError, ssl.SSLError) as exc:
                    raise OSError(22, f"CoT out cannot start: {exc}") from None
                self._spawn(self.publisher.run, "feeds-cot-out")
            self.state = "running"
            self.write_status()
            self._spawn(self._status_loop, "feeds-status")
        except BaseException:
            self.stopping.set()
            self._close_sockets()
            with contextlib.suppress(Exception):
                self.journal.close(timeout=5)
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    self.writer.stop(timeout=5)
            self._release_lock()
            raise
        log.info("feed service running: %s", ", ".join(self._describe_listeners()))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop listening, make everything received durable, commit it to the store, stop."""
        if self.stopping.is_set():
            return
        self.state = "stopping"
        self.stopping.set()
        if self.publisher is not None:
            self.publisher.stop_event.set()
        self._wake()
        for proc in self.procs:
            proc.terminate()  # their last messages are journalled before the journal closes
        for t in self.threads:
            if t.name != "feeds-status":
                t.join(5 if not t.name.startswith("feeds-listener-") else 15)
        self._close_sockets()
        self.journal.close()
        done = self.writer.stop(timeout) if self.writer else True
        if not done:
            log.warning("stopping with accepted events not yet in the store: they stay in the journal "
                        "and are committed at the next start")
        self.state = "stopped"
        for t in self.threads:
            t.join(2)
        self.write_status()
        if self._reject_handler:
            reject_log.removeHandler(self._reject_handler)
            self._reject_handler.close()
        self.gate.close()
        self._release_lock()
        log.info("feed service stopped")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, fn, name: str) -> None:
        """A supervised thread: restarted when its loop raises, given up (service failed) when it
        keeps failing."""
        part = name.removeprefix("feeds-")
        t = threading.Thread(target=supervised(part, fn, self.health, self.stopping), name=name, daemon=True)
        self.health.register(part, t)
        t.start()
        self.threads.append(t)

    @property
    def failed(self) -> bool:
        """A part of the service was given up after repeated crashes: the service must stop."""
        return self.health.failed.is_set()

    def _take_lock(self) -> None:
        fd = os.open(self.dir / "service.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise StoreError(f"a feed service is already running on this store (pid {other or '?'})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _setup_reject_log(self) -> None:
        handler = logging.handlers.RotatingFileHandler(self.dir / "rejects.log", maxBytes=10 * 1024 * 1024,
                                                       backupCount=1, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        reject_log.addHandler(handler)
        reject_log.setLevel(logging.INFO)
        reject_log.propagate = False
        self._reject_handler = handler

    # -- one message --------------------------------------------------------------------------
    def handle(self, channel: str, peer: str, message, fmt: str, client=None) -> tuple[str, object]:
        """Validate one message and journal it. Returns ("accepted", journal sequence number),
        ("rejected", reason) or ("ignored", reason). ``client``: the TLS client (source, nation)."""
        rec = self._validate(channel, peer, message, fmt, client, now_iso(), outcome := [])
        if rec is None:
            return outcome[0]
        return self._submit(channel, peer, [(rec, message)])[0]

    def _submit(self, channel: str, peer: str, batch: list) -> list[tuple[str, object]]:
        """Journal validated records (one queue round trip for the batch)."""
        try:
            seqs = self.journal.submit_many([rec for rec, _ in batch])
        except RuntimeError as exc:  # the journal closed: shutting down
            for _, message in batch:
                self._reject(channel, peer, f"not accepted: {exc}", message)
            return [("rejected", str(exc))] * len(batch)
        out = []
        for (rec, message), seq in zip(batch, seqs):
            if isinstance(seq, int):
                out.append(("accepted", seq))
            else:  # a record the journal cannot encode (validation should have refused it)
                reason = f"cannot be journalled: {type(seq).__name__}: {seq}"
                self._reject(channel, peer, reason, message)
                out.append(("rejected", reason))
        return out

    def _validate(self, channel: str, peer: str, message, fmt: str, client, received_at: str,
                  outcome: list | None = None) -> dict | None:
        """The incident record of one message, or None (rejected or ignored, counted and logged;
        the outcome appended to ``outcome``)."""
        outcome = outcome if outcome is not None else []
        self.stats.received(channel)
        try:
            if fmt == "cot":
                rec = worker.cot_record(message, max_message=self.config.max_message, nation=self.config.nation,
                                        keep_patrols=self.config.patrols, client=client)
            elif fmt == "json":
                rec = jsonfeed.parse_line(message, max_bytes=self.config.max_message,
                                          source=client.source if client else None)
            else:
                rec = jsonfeed.to_incident(message)
            self.gate.apply(rec, client)  # the sender's nation owns it; a claim of another is refused
            if fmt != "cot" and not rec.get("reporting_nation"):
                rec["reporting_nation"] = self.config.nation  # the site's nation owns what states none
        except Ignored as exc:
            self._ignore(channel, peer, exc.reason)
            outcome.append(("ignored", exc.reason))
            return None
        except FeedError as exc:
            self._reject(channel, peer, exc.reason, message)
            if isinstance(exc, sources.NationClaim):
                self.gate.refuse(channel, peer, exc.reason, client)
            outcome.append(("rejected", exc.reason))
            return None
        except Exception as exc:  # a parser bug must not stop the service
            log.exception("%s: unexpected error on a message from %s", channel, peer)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self._reject(channel, peer, reason, message)
            outcome.append(("rejected", reason))
            return None
        rec["extra"].update(channel=channel, peer=peer, received_at=received_at)
        if client is not None:
            rec["extra"]["client"] = client.identity
        return rec

    def _on_durable(self, recs: list[dict]) -> None:
        self.stats.accepted([r["extra"].get("channel", "?") for r in recs])

    def _on_failed(self, recs: list[dict], reason: str) -> None:
        for r in recs:
            self._reject(r["extra"].get("channel", "?"), r["extra"].get("peer", "?"), reason, b"")

    def _reject(self, channel: str, peer: str, reason: str, message) -> None:
        self.stats.rejected(channel, peer, reason)
        text = message if isinstance(message, (bytes, str)) else json.dumps(message, default=str)[:400]
        reject_log.info(json.dumps({"at": now_iso(), "channel": channel, "peer": peer, "kind": "rejected",
                                    "reason": reason, "excerpt": records.excerpt(text, 200)}, ensure_ascii=False))
        self._console(logging.WARNING, "rejected %s message from %s: %s", channel, peer, reason)

    def _ignore(self, channel: str, peer: str, reason: str) -> None:
        self.stats.ignored_one(channel, peer, reason)
        log.debug("ignored %s message from %s: %s", channel, peer, reason)

    def _console(self, level, fmt, *args) -> None:
        """Log at most 20 rejects per 10 s to the console (all go to rejects.log)."""
        now = time.monotonic()
        window, count = self._console_budget
        if now - window > 10:
            if count > 20:
                log.warning("%d more rejects in the last 10 s (see %s)", count - 20, self.dir / "rejects.log")
            self._console_budget = [now, 0]
            count = 0
        self._console_budget[1] = count + 1
        if count < 20:
            log.log(level, fmt, *args)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> dict:
        snap = self.stats.snapshot()
        listeners = []
        for l in self.listeners.values():
            ch = snap["channels"].get(l.name, {})
            listeners.append({"name": l.name, "format": l.fmt, "protocol": l.protocol, "bind": l.bind,
                              "authentication": l.auth,
                              "port": l.port, "connections": l.connections if l.protocol in ("tcp", "tls") else None,
                              **{k: ch.get(k, 0) for k in ("received", "accepted", "rejected", "ignored")},
                              "last_event_at": ch.get("last_event_at")})
        if self.watch_dir is not None:
            listeners.append(self.folder_status(snap["channels"].get("folder", {})))
        clients = [{"listener": c.listener.name, "peer": c.peer, "since": now_iso(c.since), "messages": c.events}
                   for c in list(self.conns.values())[:50]]
        snap.pop("channels", None)
        health = self.health.snapshot(stopping=self.stopping.is_set())
        if self.writer is not None:
            snap["caught_up"] = snap["caught_up"] and not self.writer.behind()
            snap["replaying"] = self.writer.replaying
        state = "failed" if self.failed else self.state
        procs = [p.status() for p in self.procs]
        for l in listeners:
            if l["name"] == worker.CHANNEL:
                l["connections"] += sum(p["connections"] for p in procs)
        clients += [{"listener": worker.CHANNEL, "peer": f"{c['peer']} (pid {p['pid']})", "since": c["since"],
                     "messages": c["messages"]} for p in procs for c in p.pop("clients")]
        own = self.listeners.get(worker.CHANNEL)
        processes = [{"name": "service", "pid": os.getpid(), "role": "listeners, journal, store writer",
                      "alive": True, "connections": own.connections if own else 0}] + procs
        return {"state": state, "pid": os.getpid(), "healthy": health["healthy"], "parts": health["parts"],
                "listeners": listeners, "processes": processes, "udp_receive_buffer": self.udp_buffer,
                "connections": sum(l.get("connections") or 0 for l in listeners), "clients": clients[:50],
                "journal": {"segment": self.journal.segment, "offset": self.journal.offset,
                            "fsyncs": self.journal.fsyncs,
                            "store_position": list(self.writer.position) if self.writer else None,
                            "corrupt_lines": self.writer.reader.corrupt if self.writer else 0},
                "batch_ms": self.config.batch_ms,
                "cot_out": ({"url": self.publisher.url, "sent": self.publisher.sent,
                             "segments_sent": self.publisher.segments_sent,
                             "error": self.publisher.last_error} if self.publisher else None), **snap}

    def write_status(self) -> None:
        try:
            write_status(self.store, self.status())
        except OSError as exc:
            log.warning("status not written: %s", exc)

    def _status_loop(self) -> None:
        from borderwatch.feeds.status import HEARTBEAT_S

        while not self.stopping.wait(HEARTBEAT_S):
            try:
                self.write_status()
            except Exception:  # the heartbeat must outlive any one bad snapshot
                log.exception("status not written")

    # -- for tests and benchmarks ------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until everything received is durable and in the store."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.journal.cond:
                queued = bool(self.journal.queue) or self.journal.durable_seq < self.journal.next_seq - 1
            if not queued and not self.writer.behind() and self.stats.caught_up:
                return True
            time.sleep(0.02)
        return False
