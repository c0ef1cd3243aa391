"""Listener processes: CoT TCP connections read and parsed in more interpreters.

``borderwatch feeds --listener-processes N`` starts N-1 child processes. The service still accepts
every CoT TCP connection, then hands each new one to the child holding the fewest connections,
passing the socket itself (``SCM_RIGHTS``) over a local socket pair; it keeps one only while no
child is ready, since its own interpreter journals every event and runs the store writer. The child
splits, parses and validates CoT in its own interpreter, so parsing runs on a second core instead
of waiting for the service's interpreter lock, and hands the service journal lines it has already
encoded, with its counts, rejects and ignored messages, over another socket pair. The service
journals them like its own: an event is *accepted* once durable, whichever process read it. When
the service is busy that pair fills, the child stops reading its connections and TCP backpressure
reaches the senders, as with the service's own listener. (Both processes listening on the port
with ``SO_REUSEPORT`` was tried first: the kernel picks the socket by a hash of the addresses, so
with a few clients one process often got all of them and the other core sat idle.)

Supervised: the service restarts a child that exits and gives up (the service fails, exit 3) when
one keeps failing; ``status.json`` lists every process with its pid, state, restarts, connections
and counts. Connections a child held when it died are closed (their senders reconnect). Only plain
CoT over TCP is shared this way (TLS, UDP, JSON and the folder stay in the service).
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

from borderwatch.feeds import cot, cotfast, cotstream, patrols, records
from borderwatch.feeds.journal import encode
from borderwatch.feeds.records import FeedError, Ignored
from borderwatch.feeds.status import now_iso

CHANNEL = "cot-tcp"
HEARTBEAT_S = 1.0
_HEAD = struct.Struct("!II")


def cot_record(message: bytes, *, max_message: int, nation: str | None, keep_patrols: bool, client=None,
               now=None) -> dict:
    """The journal record of one CoT message (an incident, or a patrol position when kept);
    ``Ignored`` / ``Rejected`` otherwise. Shared by the service and its listener processes.
    ``now``: the wall clock read once for all the messages of one read. A plain incident report is
    read straight into its record (``cotfast``), any other event the general way."""
    root = cot.parse_root(message, max_bytes=max_message)
    if root is None:  # TAK protocol
        return event_record(cot.parse_event(message, max_bytes=max_message), nation=nation,
                            keep_patrols=keep_patrols, client=client, now=now)
    rec = cotfast.plain_record(root, nation=client.nation if client and client.nation else nation,
                               source=client.source if client else None, now=now)
    if rec is not None:
        return rec
    return event_record(cot.event_from_root(root), nation=nation, keep_patrols=keep_patrols, client=client, now=now)


def event_record(ev: cot.CotEvent, *, nation: str | None, keep_patrols: bool, client=None, now=None) -> dict:
    """The journal record of a parsed CoT event (see ``cot_record``)."""
    nation = client.nation if client and client.nation else nation
    if keep_patrols and patrols.is_position(ev):
        return patrols.to_record(ev, nation=nation, now=now)
    return cot.to_incident(ev, nation=nation, source=client.source if client else None, now=now)


# -- the child process ---------------------------------------------------------------------------
def _send(parent: socket.socket, header: dict, blob: bytes = b"") -> None:
    head = orjson.dumps(header)
    parent.sendall(_HEAD.pack(len(head), len(blob)) + head + blob)


def _messages(peer: str, items, args, received_at: str) -> tuple[dict, bytes]:
    """Validate and encode one read's messages: (frame header, journal lines)."""
    lines, rejected, ignored = [], [], []
    now = records.wall_clock()
    for message, reason in items:
        if message is None:
            rejected.append((reason, ""))
            continue
        try:
            rec = cot_record(message, max_message=args.max_message, nation=args.nation, keep_patrols=args.patrols,
                             now=now)
            extra = rec["extra"]
            extra["channel"] = CHANNEL
            extra["peer"] = peer
            extra["received_at"] = received_at
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
    return {"peer": peer, "received": len(items), "lines": len(lines), "rejected": rejected,
            "ignored": ignored}, b"".join(lines)


def child_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="borderwatch.feeds.worker")
    ap.add_argument("--fd", type=int, required=True, help="socket pair to the service: data out")
    ap.add_argument("--control-fd", type=int, required=True, help="socket pair from the service: connections in")
    ap.add_argument("--max-message", type=int, default=cot.MAX_MESSAGE_BYTES)
    ap.add_argument("--nation")
    ap.add_argument("--no-patrols", dest="patrols", action="store_false")
    args = ap.parse_args(argv)
    parent = socket.socket(fileno=args.fd)
    control = socket.socket(fileno=args.control_fd)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the service, which stops us
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ, "control")
    conns: dict[socket.socket, list] = {}  # sock -> [peer, splitter, since, messages]
    next_beat = 0.0
    try:
        while not stop.is_set():
            for key, _ in sel.select(0.25):
                if key.data == "control":
                    if not _take(control, sel, conns, args):
                        return 0  # the service went away
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
    with contextlib.suppress(OSError):
        _send(parent, {"kind": "beat", "connections": 0, "clients": []})
    return 0


def _take(control, sel, conns, args) -> bool:
    """A connection handed over by the service (its peer address, and the socket itself)."""
    msg, fds, _, _ = socket.recv_fds(control, 1024, 4)
    if not msg and not fds:
        return False
    for fd in fds:
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        conns[sock] = [msg.decode(errors="replace"), cotstream.CotStreamSplitter(args.max_message), time.time(), 0]
        sel.register(sock, selectors.EVENT_READ, "conn")
    return True


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
        _send(parent, {"kind": "closed", "connections": len(conns)})
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
        self.ready = threading.Event()  # the child takes connections (its first heartbeat arrived)
        self.control: socket.socket | None = None
        self.assigned = 0  # connections handed over and not yet closed
        self.lock = threading.Lock()

    def _start(self) -> None:
        c = self.service.config
        mine, theirs = socket.socketpair()
        control, their_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        args = [sys.executable, "-m", "borderwatch.feeds.worker", "--fd", str(theirs.fileno()),
                "--control-fd", str(their_control.fileno()), "--max-message", str(c.max_message)]
        if c.nation:
            args += ["--nation", c.nation]
        if not c.patrols:
            args.append("--no-patrols")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self.proc = subprocess.Popen(args, pass_fds=[theirs.fileno(), their_control.fileno()], env=env,
                                     stdin=subprocess.DEVNULL)
        theirs.close()
        their_control.close()
        self.sock, self.control = mine, control
        with self.lock:
            self.assigned = 0
        self.started_at = time.time()

    def hand_over(self, sock: socket.socket, peer: str) -> bool:
        """Give an accepted connection to the child; False when it cannot take it now."""
        if not self.ready.is_set() or self.control is None:
            return False
        try:
            socket.send_fds(self.control, [peer.encode()], [sock.fileno()])
        except OSError:
            return False
        with self.lock:
            self.assigned += 1
        return True

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
            for sock in (self.sock, self.control):
                with contextlib.suppress(OSError):
                    sock.close()
            rc = self._reap()
        if not self.service.stopping.is_set():
            raise RuntimeError(f"listener process {self.proc.pid} exited (code {rc})")

    def _recv(self, n: int) -> bytes | None:
        """``n`` bytes from the child (None once it closed): in one call, without the copies of
        gathering chunks, unless a signal cuts the wait short."""
        if n == 0:
            return b""
        data = self.sock.recv(n, socket.MSG_WAITALL)
        if len(data) == n or not data:
            return data or None
        buf = bytearray(data)
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf), socket.MSG_WAITALL)
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _apply(self, header: dict, blob: bytes) -> None:
        svc = self.service
        if header.get("kind") == "closed":
            with self.lock:
                self.assigned = max(0, self.assigned - 1)
            self.connections = header["connections"]
            return
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
        count = header["lines"]
        if not count:
            return
        stub = {"extra": {"channel": CHANNEL, "peer": peer}}
        try:  # the read's journal lines as they came, one entry: no line is cut out or copied here
            svc.journal.submit_block(blob, count, stub)
        except RuntimeError as exc:  # the journal closed: shutting down
            for _ in range(count):
                svc._reject(CHANNEL, peer, f"not accepted: {exc}", "")
            return
        except ValueError as exc:  # not whole journal lines: a fault of the listener process
            for _ in range(count):
                svc._reject(CHANNEL, peer, f"internal error: {exc}", "")
            return
        self.counts["submitted"] += count  # handed to the journal; "accepted" once durable

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
