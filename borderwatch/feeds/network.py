"""The feed service's network side: its listeners (CoT over TCP, UDP and TLS, JSON lines over TCP),
which addresses they may bind, the selector loop that accepts and reads TCP connections (with the
TLS handshake and a JSON source's token greeting), and the UDP receiver. A mixin of
``FeedService`` (``borderwatch/feeds/service.py``), which owns the lifecycle and each message."""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import logging.handlers
import selectors
import socket
import ssl
import time

from borderwatch.feeds import cotstream, jsonfeed, records, worker
from borderwatch.feeds.status import now_iso

log = logging.getLogger("borderwatch.feeds")

RECV_BYTES = 64 * 1024


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


class NetworkListeners:
    """Listeners, TCP connections and UDP datagrams of the feed service."""

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
        self._open_folder()  # feeds/folder.py: the folder and who its files come from

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
            who = self.watch_identity
            out.append(f"folder {self.watch_dir} ({f'as source {who.name}' if who else 'no identity'})")
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
        (False) when none is ready to take it: the service's own interpreter journals every event
        and writes the store, so at a high rate parsing here would hold the writer back."""
        ready = [p for p in self.procs if p.ready.is_set()]
        if not ready:
            return False
        target = min(ready, key=lambda p: p.assigned)
        if not target.hand_over(sock, peer):
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
