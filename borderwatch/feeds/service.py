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
import ipaddress
import json
import logging
import logging.handlers
import os
import pathlib
import selectors
import socket
import ssl
import threading
import time

from borderwatch.feeds import cot, cotstream, jsonfeed, records, sources, worker
from borderwatch.feeds import journal as journal_mod
from borderwatch.feeds.health import Health, supervised
from borderwatch.feeds.records import FeedError, Ignored, Rejected
from borderwatch.feeds.status import FeedStats, feeds_dir, now_iso, write_status
from borderwatch.store import Store, StoreError

log = logging.getLogger("borderwatch.feeds")
reject_log = logging.getLogger("borderwatch.feeds.rejects")

DEFAULT_COT_PORT = 8087  # TAK's customary CoT port (TCP and UDP)
DEFAULT_JSON_PORT = 8089
MAX_FILE_BYTES = 64 * 1024 * 1024
RECV_BYTES = 64 * 1024
UDP_BUFFER_BYTES = 32 * 1024 * 1024  # ~6 s of CoT at 5,000 datagrams/s before the kernel drops any
COT_SUFFIXES = (".xml", ".cot")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)


@dataclasses.dataclass
class FeedConfig:
    """Where and how the service listens. A port of 0 picks a free port; None disables it."""

    bind: str = "127.0.0.1"
    cot_tcp: int | None = DEFAULT_COT_PORT
    cot_udp: int | None = DEFAULT_COT_PORT
    json_tcp: int | None = DEFAULT_JSON_PORT
    watch: pathlib.Path | None = None  # default: <store>/feeds/inbox
    watch_enabled: bool = True
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


class _Conn:
    __slots__ = ("sock", "listener", "peer", "splitter", "since", "events", "handshaking", "client")

    def __init__(self, sock, listener, peer, splitter):
        self.sock = sock
        self.listener = listener
        self.peer = peer
        self.splitter = splitter
        self.since = time.time()
        self.events = 0
        self.handshaking = listener.protocol == "tls"
        self.client = None  # tls.Client once its certificate is accepted


class _Listener:
    __slots__ = ("name", "fmt", "protocol", "sock", "port", "connections", "bind", "auth")

    def __init__(self, name, fmt, protocol, sock, bind="", auth="none"):
        self.bind = bind
        self.auth = auth  # "none", "token" (JSON lines) or "certificate" (TLS)
        self.name = name
        self.fmt = fmt
        self.protocol = protocol
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.connections = 0


class FeedService:
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
        self.listeners: dict[str, _Listener] = {}
        self.watch_dir: pathlib.Path | None = None
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.selector: selectors.BaseSelector | None = None
        self.conns: dict[int, _Conn] = {}
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

    # -- listeners ----------------------------------------------------------------------------
    def _open_listeners(self) -> None:
        c = self.config
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        if c.cot_tls is not None:
            from borderwatch.feeds import tls

            missing = [o for o, v in (("--tls-cert", c.tls_cert), ("--tls-key", c.tls_key), ("--tls-ca", c.tls_ca))
                       if not v]
            if not c.tls_clients and not self.gate.has_certificates():
                missing.append("--tls-clients or a feed source with a certificate (borderwatch sources certificate)")
            if missing:
                raise OSError(22, f"CoT over TLS needs {', '.join(missing)}")
            try:
                self.allow_list = tls.AllowList(c.tls_clients) if c.tls_clients else None
                self.tls_context = tls.server_context(c.tls_cert, c.tls_key, c.tls_ca)
            except (OSError, ValueError, ssl.SSLError) as exc:
                raise OSError(22, f"CoT over TLS cannot start: {exc}") from None
        for name, fmt, port in (("cot-tcp", "cot", c.cot_tcp), ("json-tcp", "json", c.json_tcp),
                                ("cot-tls", "cot", c.cot_tls)):
            if port is None:
                continue
            auth = {"cot-tls": "certificate", "json-tcp": "none" if c.json_open else "token"}.get(name, "none")
            bind = self._bind_for(name, auth)
            try:
                sock = socket.create_server((bind, port), family=_family(bind), backlog=128)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on {bind}:{port} for {name} ({exc.strerror})") from None
            sock.setblocking(False)
            listener = _Listener(name, fmt, "tls" if name == "cot-tls" else "tcp", sock, bind, auth)
            self.listeners[name] = listener
            self.selector.register(sock, selectors.EVENT_READ, listener)
        if c.cot_udp is not None:
            bind = self._bind_for("cot-udp", "none")
            sock = socket.socket(_family(bind), socket.SOCK_DGRAM)
            try:  # beyond the system's limit (net.core.rmem_max) where allowed (CAP_NET_ADMIN)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUFFORCE, c.udp_buffer)
            except (OSError, AttributeError):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, c.udp_buffer)
            self.udp_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            try:
                sock.bind((bind, c.cot_udp))
            except OSError as exc:
                sock.close()
                raise OSError(exc.errno, f"cannot listen on {bind}:{c.cot_udp} for cot-udp ({exc.strerror})") from None
            sock.settimeout(0.25)
            self.listeners["cot-udp"] = _Listener("cot-udp", "cot", "udp", sock, bind, "none")
        if c.watch_enabled:
            self.watch_dir = pathlib.Path(c.watch) if c.watch else self.dir / "inbox"
            for sub in ("", "processed", "rejected"):
                (self.watch_dir / sub).mkdir(parents=True, exist_ok=True)

    def _bind_for(self, name: str, auth: str) -> str:
        """Where a listener listens: --bind, except that a listener without authentication stays on
        loopback unless --open-remote says otherwise."""
        bind = self.config.bind
        if auth != "none" or self.config.open_remote or is_loopback(bind):
            return bind
        loopback = "::1" if _family(bind) == socket.AF_INET6 else "127.0.0.1"
        log.warning("%s has no authentication: listening on %s only, not %s (--open-remote to allow other "
                    "machines)", name, loopback, bind)
        return loopback

    def _describe_listeners(self) -> list[str]:
        out = [f"{l.name} {l.bind}:{l.port} ({'no authentication' if l.auth == 'none' else l.auth})"
               for l in self.listeners.values()]
        if self.watch_dir is not None:
            out.append(f"folder {self.watch_dir}")
        return out

    @property
    def ports(self) -> dict[str, int]:
        return {name: l.port for name, l in self.listeners.items()}

    def _close_sockets(self) -> None:
        for conn in list(self.conns.values()):
            self._close_conn(conn, flush=False)
        for l in self.listeners.values():
            with contextlib.suppress(OSError):
                l.sock.close()
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()
        if self.selector is not None:
            with contextlib.suppress(Exception):
                self.selector.close()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    # -- TCP ----------------------------------------------------------------------------------
    def _tcp_loop(self) -> None:
        sel = self.selector
        while not self.stopping.is_set():
            try:
                events = sel.select(0.5)
            except OSError:
                if self.stopping.is_set():
                    return
                raise
            for key, _ in events:
                data = key.data
                if data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(64)
                elif isinstance(data, _Listener):
                    self._accept(data)
                else:
                    try:
                        self._read(data)
                    except Exception as exc:  # one connection's failure must not stop the others
                        log.exception("%s: %s: unexpected error; connection closed", data.listener.name, data.peer)
                        self._reject(data.listener.name, data.peer,
                                     f"connection closed after an internal error: {type(exc).__name__}: {exc}", b"")
                        with contextlib.suppress(Exception):
                            self._close_conn(data, flush=False)

    def _accept(self, listener: _Listener) -> None:
        try:
            sock, addr = listener.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("%s: accept failed: %s", listener.name, exc)
            return
        peer = _peer(addr)
        if len(self.conns) + sum(p.assigned for p in self.procs) >= self.config.max_connections:
            sock.close()
            self._reject(listener.name, peer, f"connection refused: {self.config.max_connections} connections already open", b"")
            return
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if listener.name == worker.CHANNEL and self.procs and self._hand_over(listener, sock, peer):
            return
        if listener.protocol == "tls":
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        splitter = (cotstream.CotStreamSplitter(self.config.max_message) if listener.fmt == "cot"
                    else jsonfeed.LineSplitter(self.config.max_message))
        conn = _Conn(sock, listener, peer, splitter)
        self.conns[sock.fileno()] = conn
        listener.connections += 1
        self.selector.register(sock, selectors.EVENT_READ, conn)
        log.info("%s: %s connected", listener.name, peer)

    def _hand_over(self, listener: _Listener, sock, peer: str) -> bool:
        """Give a new connection to the listener process with the fewest (True), or keep it here
        (False) when this process has no more than any of them."""
        ready = [p for p in self.procs if p.ready.is_set()]
        if not ready:
            return False
        target = min(ready, key=lambda p: p.assigned)
        if listener.connections <= target.assigned or not target.hand_over(sock, peer):
            return False
        sock.close()  # the child holds its own descriptor of the connection
        log.info("%s: %s connected (handed to %s)", listener.name, peer, target.name)
        return True

    def _read(self, conn: _Conn) -> None:
        if conn.handshaking and not self._handshake(conn):
            return
        while True:
            try:
                data = conn.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError as exc:
                log.info("%s: %s connection error: %s", conn.listener.name, conn.peer, exc)
                self._close_conn(conn)
                return
            if not data:
                self._close_conn(conn)
                return
            if conn.client is not None and (why := self.gate.still_valid(conn.client)):
                return self._refuse(conn, why)
            received_at = now_iso()  # one timestamp per read
            batch = []
            for message, reason in conn.splitter.feed(data):
                if message is None:
                    self._frame(conn, None, reason)
                    continue
                if conn.events == 0 and conn.listener.fmt == "json" and not conn.client:
                    greeted = self._greet(conn, message)
                    if greeted == "closed":
                        return None
                    if greeted == "hello":
                        conn.events += 1
                        continue
                conn.events += 1
                rec = self._validate(conn.listener.name, conn.peer, message, conn.listener.fmt, conn.client,
                                     received_at)
                if rec is not None:
                    batch.append((rec, message))
            if batch:
                self._submit(conn.listener.name, conn.peer, batch)
            # TLS may hold decrypted bytes the selector cannot see
            if not (conn.listener.protocol == "tls" and conn.sock.pending()):
                return

    def _greet(self, conn: _Conn, message: bytes) -> str:
        """A JSON connection's first line: "hello" (a valid source token: the connection is
        identified), "line" (an open listener and a record), or "closed" (refused, audited)."""
        if conn.listener.auth != "token" and not jsonfeed.is_hello(message):
            return "line"
        who, why = self.gate.hello(message)
        if who is None:
            self._refuse(conn, f"{why}: connection refused")
            return "closed"
        conn.client = who
        conn.peer = f"{conn.peer} ({who.identity})"
        log.info("%s: %s identified as feed source %s (%s)", conn.listener.name, conn.peer, who.name, who.nation)
        return "hello"

    def _refuse(self, conn: _Conn, reason: str) -> None:
        """Refuse a connection for its identity: counted, logged, audited, closed; nothing kept."""
        self.stats.received(conn.listener.name)
        self._reject(conn.listener.name, conn.peer, reason, b"")
        self.gate.refuse(conn.listener.name, conn.peer, reason, conn.client)
        self._close_conn(conn, flush=False)

    def _handshake(self, conn: _Conn) -> bool:
        """Advance a TLS handshake; True once done and the client certificate is allowed."""
        name = conn.listener.name
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLWantWriteError:
            with contextlib.suppress(Exception):
                self.selector.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            return False
        except (ssl.SSLError, OSError) as exc:
            self.stats.received(name)
            self._reject(name, conn.peer, f"TLS handshake failed: {records.clip(str(exc), 160)}", b"")
            self._close_conn(conn, flush=False)
            return False
        der = conn.sock.getpeercert(binary_form=True)
        client = self.gate.by_certificate(der) or (self.allow_list.lookup(der, conn.sock.getpeercert())
                                                    if self.allow_list else None)
        if client is None:
            from borderwatch.feeds.tls import common_name

            import hashlib

            der = conn.sock.getpeercert(binary_form=True) or b""
            self.stats.received(name)
            reason = (f"client certificate CN={common_name(conn.sock.getpeercert())} "
                      f"(sha256:{hashlib.sha256(der).hexdigest()}) is not a feed source's and is not in the allow-list")
            self._reject(name, conn.peer, reason, b"")
            self.gate.refuse(name, conn.peer, reason)
            self._close_conn(conn, flush=False)
            return False
        conn.client = client
        conn.handshaking = False
        with contextlib.suppress(Exception):
            self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        conn.peer = f"{conn.peer} ({client.identity})"
        log.info("%s: %s authenticated as %s (source %s)", name, conn.peer, client.identity, client.source)
        return True

    def _frame(self, conn: _Conn, message: bytes | None, reason: str | None) -> None:
        channel = conn.listener.name
        if message is None:
            self.stats.received(channel)
            self._reject(channel, conn.peer, reason, b"")
        elif conn.listener.auth == "token" and conn.client is None:  # a last line, unterminated
            if conn.events == 0 and jsonfeed.is_hello(message):
                who, why = self.gate.hello(message)
                if who is None:
                    self._refuse(conn, f"{why}: connection refused")
                return
            self._refuse(conn, "no source token: connection refused")
        else:
            conn.events += 1
            self.handle(channel, conn.peer, message, conn.listener.fmt, conn.client)

    def _close_conn(self, conn: _Conn, flush: bool = True) -> None:
        fd = conn.sock.fileno()
        with contextlib.suppress(Exception):
            self.selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        if self.conns.pop(fd, None) is not None:
            conn.listener.connections -= 1
        if flush:
            for message, reason in conn.splitter.close():
                self._frame(conn, message, reason)
        log.info("%s: %s disconnected after %d message(s)", conn.listener.name, conn.peer, conn.events)

    # -- UDP ----------------------------------------------------------------------------------
    def _udp_loop(self) -> None:
        sock = self.listeners["cot-udp"].sock
        while not self.stopping.is_set():
            try:
                data, addr = sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                time.sleep(0.05)
                continue
            self.handle("cot-udp", _peer(addr), data, "cot")

    # -- watched folder -----------------------------------------------------------------------
    def _watch_loop(self) -> None:
        seen: dict[str, tuple[int, int]] = {}
        given_up: dict[str, tuple[int, int]] = {}  # files that could be neither handled nor moved
        while not self.stopping.wait(self.config.poll_s):
            try:
                entries = [p for p in self.watch_dir.iterdir() if p.is_file()]
            except OSError as exc:
                log.warning("watched folder %s unreadable: %s", self.watch_dir, exc)
                continue
            current = {}
            for path in sorted(entries):
                name = path.name
                if name.startswith(".") or name.endswith((".tmp", ".part", ".partial", ".crdownload")):
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                sig = (st.st_size, st.st_mtime_ns)
                if given_up.get(name) == sig:
                    continue
                current[name] = sig
                # handle a file once its size and time stop changing between two polls
                if seen.get(name) == sig:
                    try:
                        self.process_file(path)
                    except Exception as exc:
                        log.exception("watched folder: %s could not be handled", name)
                        if not self._set_aside(path, f"file could not be handled: {type(exc).__name__}: {exc}"):
                            given_up[name] = sig
                    current.pop(name, None)
                if self.stopping.is_set():
                    return
            seen = current

    def process_file(self, path: pathlib.Path) -> dict:
        """Ingest one dropped file, then move it to processed/ (or rejected/ if nothing in it was
        valid); per-record rejects are listed in rejected/<name>.rejects.txt."""
        channel, peer = "folder", path.name
        outcomes: list[tuple[str, str | None]] = []
        seqs: list[int] = []
        size = path.stat().st_size
        suffix = path.suffix.lower()

        def take(kind, value):
            outcomes.append((kind, value if kind != "accepted" else None))
            if kind == "accepted":
                seqs.append(value)

        if size > self.config.max_file:
            self.stats.received(channel)
            reason = f"file too large ({size:,} bytes > limit {self.config.max_file:,})"
            self._reject(channel, peer, reason, b"")
            outcomes.append(("rejected", reason))
        elif suffix in COT_SUFFIXES:
            splitter = cotstream.CotStreamSplitter(self.config.max_message)
            with open(path, "rb") as f:
                while chunk := f.read(RECV_BYTES):
                    for message, reason in splitter.feed(chunk):
                        take(*self._file_frame(peer, message, reason, "cot"))
            for message, reason in splitter.close():
                take(*self._file_frame(peer, message, reason, "cot"))
        elif suffix in JSONL_SUFFIXES:
            splitter = jsonfeed.LineSplitter(self.config.max_message)
            with open(path, "rb") as f:
                while chunk := f.read(RECV_BYTES):
                    for message, reason in splitter.feed(chunk):
                        take(*self._file_frame(peer, message, reason, "json"))
            for message, reason in splitter.close():
                take(*self._file_frame(peer, message, reason, "json"))
        elif suffix in JSON_SUFFIXES:
            try:
                doc = jsonfeed.loads(path.read_bytes())
                items = doc if isinstance(doc, list) else [doc]
            except Rejected as exc:
                self.stats.received(channel)
                self._reject(channel, peer, exc.reason, b"")
                items = []
                outcomes.append(("rejected", exc.reason))
            for obj in items:
                take(*self.handle(channel, peer, obj, "json-object"))
        else:
            self.stats.received(channel)
            reason = f"unknown file type {suffix or '(none)'}: expected {', '.join(COT_SUFFIXES + JSONL_SUFFIXES + JSON_SUFFIXES)}"
            self._reject(channel, peer, reason, b"")
            outcomes.append(("rejected", reason))

        durable = all(self.journal.wait(seq, timeout=60) for seq in seqs)
        if not durable:
            log.error("watched folder: %s left in place (journal not confirmed); retried at the next poll", path.name)
            return {"file": path.name, "moved_to": None}
        accepted = sum(1 for k, _ in outcomes if k == "accepted")
        rejects = [(i, r) for i, (k, r) in enumerate(outcomes, 1) if k == "rejected"]
        target = "rejected" if (rejects and not accepted) or (not outcomes) else "processed"
        dest = _unique(self.watch_dir / target / path.name)
        os.replace(path, dest)
        if rejects:
            report = _unique(self.watch_dir / "rejected" / (path.name + ".rejects.txt"))
            report.write_text("".join(f"message {i}: {r}\n" for i, r in rejects), encoding="utf-8")
        log.info("watched folder: %s → %s/ (%d accepted, %d rejected, %d ignored)", path.name, target,
                 accepted, len(rejects), sum(1 for k, _ in outcomes if k == "ignored"))
        return {"file": path.name, "moved_to": str(dest), "accepted": accepted, "rejected": len(rejects)}

    def _set_aside(self, path: pathlib.Path, reason: str) -> bool:
        """Move a file that could not be handled to rejected/ with its reason (never retried)."""
        self.stats.received("folder")
        self._reject("folder", path.name, reason, b"")
        try:
            dest = _unique(self.watch_dir / "rejected" / path.name)
            os.replace(path, dest)
            report = _unique(self.watch_dir / "rejected" / (path.name + ".rejects.txt"))
            report.write_text(f"file: {reason}\n", encoding="utf-8")
            return True
        except OSError as exc:
            log.error("watched folder: %s can be neither handled nor moved aside (%s); skipped until it changes",
                      path.name, exc)
            return False

    def _file_frame(self, peer, message, reason, fmt):
        if message is None:
            self.stats.received("folder")
            self._reject("folder", peer, reason, b"")
            return ("rejected", reason)
        return self.handle("folder", peer, message, fmt)

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
            ch = snap["channels"].get("folder", {})
            listeners.append({"name": "folder", "format": "cot+json", "protocol": "folder", "path": str(self.watch_dir),
                              **{k: ch.get(k, 0) for k in ("received", "accepted", "rejected", "ignored")},
                              "last_event_at": ch.get("last_event_at")})
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


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _peer(addr) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _unique(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        return path
    stem = time.strftime("%Y%m%dT%H%M%S")
    for i in range(1, 10_000):
        candidate = path.with_name(f"{path.name}.{stem}-{i}")
        if not candidate.exists():
            return candidate
    raise OSError(f"no free name for {path}")
