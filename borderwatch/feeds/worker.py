"""Listener processes: more CoT TCP listeners on the same port, each with its own interpreter.

``borderwatch feeds --listener-processes 2`` starts one child process that listens on the CoT
TCP port beside the service (``SO_REUSEPORT``: the kernel spreads new connections over the
sockets), splits, parses and validates CoT in its own interpreter, so parsing runs on a second
core instead of waiting for the service's interpreter lock. The child hands the service journal
lines it has already encoded, with its counts, rejects and ignored messages, over a socket pair.
The service journals them like its own: an event is *accepted* once durable, whichever process
read it. When the service is busy the socket pair fills, the child stops reading its connections
and TCP backpressure reaches the senders, as with the service's own listener.

Supervised: the service restarts a child that exits and gives up (the service fails, exit 3) when
one keeps failing; ``status.json`` lists every process with its pid, state, restarts, connections
and counts. Only plain CoT over TCP is shared this way (TLS, UDP, JSON and the folder stay in the
service).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import orjson

from borderwatch.feeds import cot, patrols, records
from borderwatch.feeds.journal import encode
from borderwatch.feeds.records import FeedError, Ignored
from borderwatch.feeds.status import now_iso

CHANNEL = "cot-tcp"
HEARTBEAT_S = 1.0
_HEAD = struct.Struct("!II")


def cot_record(message: bytes, *, max_message: int, nation: str | None, keep_patrols: bool, client=None) -> dict:
    """The journal record of one CoT message (an incident, or a patrol position when kept);
    ``Ignored`` / ``Rejected`` otherwise. Shared by the service and its listener processes."""
    ev = cot.parse_event(message, max_bytes=max_message)
    nation = client.nation if client and client.nation else nation
    if keep_patrols and patrols.is_position(ev):
        return patrols.to_record(ev, nation=nation)
    return cot.to_incident(ev, nation=nation, source=client.source if client else None)


# -- the child process ---------------------------------------------------------------------------
def _send(parent: socket.socket, header: dict, blob: bytes = b"") -> None:
    head = orjson.dumps(header)
    parent.sendall(_HEAD.pack(len(head), len(blob)) + head + blob)


def _messages(peer: str, items, args, received_at: str) -> tuple[dict, bytes]:
    """Validate and encode one read's messages: (frame header, journal lines)."""
    lines, lens, rejected, ignored = [], [], [], []
    for message, reason in items:
        if message is None:
            rejected.append((reason, ""))
            continue
        try:
            rec = cot_record(message, max_message=args.max_message, nation=args.nation, keep_patrols=args.patrols)
            rec["extra"].update(channel=CHANNEL, peer=peer, received_at=received_at)
            line = encode(rec)
        except Ignored as exc:
            ignored.append(exc.reason)
            continue
        except FeedError as exc:
            rejected.append((exc.reason, records.excerpt(message, 200)))
            continue
        except (TypeError, ValueError) as exc:
            rejected.append((f"cannot be journalled: {type(exc).__name__}: {exc}", records.excerpt(message, 200)))
            continue
        except Exception as exc:  # a parser bug must not stop the listener
            rejected.append((f"internal error: {type(exc).__name__}: {exc}", records.excerpt(message, 200)))
            continue
        lines.append(line)
        lens.append(len(line))
    return {"peer": peer, "received": len(items), "lens": lens, "rejected": rejected, "ignored": ignored}, b"".join(lines)


def child_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="borderwatch.feeds.worker")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--max-message", type=int, default=cot.MAX_MESSAGE_BYTES)
    ap.add_argument("--max-connections", type=int, default=256)
    ap.add_argument("--nation")
    ap.add_argument("--no-patrols", dest="patrols", action="store_false")
    args = ap.parse_args(argv)
    parent = socket.socket(fileno=args.fd)
    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    lsock.bind((args.bind, args.port))
    lsock.listen(128)
    lsock.setblocking(False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the service, which stops us
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, "listen")
    sel.register(parent, selectors.EVENT_READ, "parent")
    conns: dict[socket.socket, list] = {}  # sock -> [peer, splitter, since, messages]
    next_beat = 0.0
    try:
        while not stop.is_set():
            for key, _ in sel.select(0.25):
                if key.data == "parent":
                    if not parent.recv(64):
                        return 0  # the service went away
                elif key.data == "listen":
                    _accept(lsock, sel, conns, args, parent)
                else:
                    _read(key.fileobj, sel, conns, args, parent)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_S
                _send(parent, {"kind": "beat", "connections": len(conns),
                               "clients": [{"peer": c[0], "since": now_iso(c[2]), "messages": c[3]}
                                           for c in list(conns.values())[:50]]})
    except (BrokenPipeError, ConnectionResetError):
        return 0
    finally:
        for s in list(conns):
            with contextlib.suppress(OSError):
                s.close()
        lsock.close()
    with contextlib.suppress(OSError):
        _send(parent, {"kind": "beat", "connections": 0, "clients": []})
    return 0


def _accept(lsock, sel, conns, args, parent) -> None:
    try:
        sock, addr = lsock.accept()
    except (BlockingIOError, InterruptedError):
        return
    peer = f"{addr[0]}:{addr[1]}"
    if len(conns) >= args.max_connections:
        sock.close()
        _send(parent, {"peer": peer, "received": 1, "lens": [], "ignored": [],
                       "rejected": [(f"connection refused: {args.max_connections} connections already open", "")]})
        return
    sock.setblocking(False)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    conns[sock] = [peer, cot.CotStreamSplitter(args.max_message), time.time(), 0]
    sel.register(sock, selectors.EVENT_READ, "conn")


def _read(sock, sel, conns, args, parent) -> None:
    state = conns[sock]
    try:
        data = sock.recv(64 * 1024)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        data = b""
    if not data:
        sel.unregister(sock)
        del conns[sock]
        sock.close()
        return
    items = state[1].feed(data)
    if items:
        state[3] += sum(1 for m, _ in items if m is not None)
        header, blob = _messages(state[0], items, args, now_iso())
        _send(parent, header, blob)  # blocks while the service is busy: backpressure


# -- the service side ----------------------------------------------------------------------------
class ListenerProcess:
    """One child listener, run and restarted by a supervised thread of the service."""

    def __init__(self, service, index: int):
        self.service = service
        self.name = f"listener-{index}"
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.connections = 0
        self.clients: list[dict] = []
        self.counts = {"received": 0, "submitted": 0, "rejected": 0, "ignored": 0}
        self.started_at: float | None = None
        self.ready = threading.Event()  # the child listens (its first heartbeat arrived)

    def _start(self) -> None:
        svc = self.service
        c = svc.config
        mine, theirs = socket.socketpair()
        args = [sys.executable, "-m", "borderwatch.feeds.worker", "--fd", str(theirs.fileno()), "--bind", c.bind,
                "--port", str(svc.listeners["cot-tcp"].port), "--max-message", str(c.max_message),
                "--max-connections", str(c.max_connections)]
        if c.nation:
            args += ["--nation", c.nation]
        if not c.patrols:
            args.append("--no-patrols")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self.proc = subprocess.Popen(args, pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.sock = mine
        self.started_at = time.time()

    def run(self) -> None:
        """The supervised loop: start the child, take what it sends until it ends."""
        self._start()
        try:
            while True:
                head = self._recv(_HEAD.size)
                if head is None:
                    break
                hlen, blen = _HEAD.unpack(head)
                header = orjson.loads(self._recv(hlen) or b"{}")
                blob = self._recv(blen) if blen else b""
                self._apply(header, blob)
        finally:
            self.ready.clear()
            self.connections, self.clients = 0, []
            with contextlib.suppress(OSError):
                self.sock.close()
            rc = self._reap()
        if not self.service.stopping.is_set():
            raise RuntimeError(f"listener process {self.proc.pid} exited (code {rc})")

    def _recv(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _apply(self, header: dict, blob: bytes) -> None:
        svc = self.service
        if header.get("kind") == "beat":
            self.connections, self.clients = header["connections"], header["clients"]
            self.ready.set()
            return
        peer = f"{header['peer']} (pid {self.proc.pid})"
        svc.stats.received_many(CHANNEL, header["received"])
        self.counts["received"] += header["received"]
        for reason, excerpt in header["rejected"]:
            svc._reject(CHANNEL, peer, reason, excerpt)
        for reason in header["ignored"]:
            svc._ignore(CHANNEL, peer, reason)
        self.counts["rejected"] += len(header["rejected"])
        self.counts["ignored"] += len(header["ignored"])
        if not header["lens"]:
            return
        stub = {"extra": {"channel": CHANNEL, "peer": peer}}
        lines, at = [], 0
        for n in header["lens"]:
            lines.append((blob[at:at + n], stub))
            at += n
        try:
            svc.journal.submit_lines(lines)
        except RuntimeError as exc:  # the journal closed: shutting down
            for _ in lines:
                svc._reject(CHANNEL, peer, f"not accepted: {exc}", "")
            return
        self.counts["submitted"] += len(lines)  # handed to the journal; "accepted" once durable

    def _reap(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def terminate(self) -> None:
        """Ask the child to stop; its last messages are still taken until it closes the pair."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGTERM)

    def status(self) -> dict:
        alive = self.proc is not None and self.proc.poll() is None and self.ready.is_set()
        return {"name": self.name, "pid": self.proc.pid if self.proc else None, "role": "cot-tcp listener",
                "alive": alive, "exit_code": None if alive or self.proc is None else self.proc.returncode,
                "started_at": now_iso(self.started_at) if self.started_at else None,
                "connections": self.connections, "clients": self.clients, **self.counts}


if __name__ == "__main__":
    sys.exit(child_main())
