"""Durability: the write-ahead journal of accepted events, and the writer that moves it into the store.

An event counts as *accepted* only once its record is appended to the journal and the journal
is fsync'ed. Listener threads hand records to ``Journal.submit``; one journal thread writes
whatever has queued up and fsyncs once per write (group commit), so the cost of an fsync is
shared by every event that arrived meanwhile.

``StoreWriter`` reads the journal from its checkpoint up to the durable end, every ``batch_ms``,
and commits the records with ``borderwatch.incident_store.prepare_incidents`` + ``insert_incidents``
(all-or-nothing, skipping incident ids already stored), then advances the checkpoint. A crash at
any point loses nothing accepted and duplicates nothing: after a restart the writer replays from
the checkpoint, and records committed just before the crash (checkpoint not yet advanced) are
skipped by ``insert_incidents`` as ids already present.

Layout under ``<store>/feeds/journal/``: segment files ``00000001.log``, ``00000002.log``... (a
new one at each start and every ``segment_bytes``), each line ``<crc32 hex> <record JSON>\\n``;
``checkpoint.json`` holds the (segment, byte offset) up to which everything is in the store.
Segments wholly before the checkpoint are deleted.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import pathlib
import re
import tempfile
import threading
import time
import zlib

import orjson
from typing import Callable

log = logging.getLogger("borderwatch.feeds")

SEGMENT_BYTES = 16 * 1024 * 1024
MAX_QUEUE = 50_000
_SEGMENT = re.compile(r"(\d{8})\.log")

Position = tuple  # (segment number, byte offset)


def encode(record: dict) -> bytes:
    """One journal line. ``TypeError`` when the record cannot be encoded (e.g. a lone surrogate)."""
    payload = orjson.dumps(record, default=str)
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def decode(line: bytes) -> dict | None:
    """A journal line's record, or None when the line is torn or corrupt."""
    payload = checked(line)
    return None if payload is None else _loads(payload)


def _loads(payload: bytes) -> dict | None:
    try:
        return orjson.loads(payload)
    except ValueError:
        return None


def checked(line: bytes) -> bytes | None:
    """A journal line's JSON payload once its checksum matches, or None when torn or corrupt."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    payload = line[9:-1]
    try:
        return payload if int(line[:8], 16) == zlib.crc32(payload) else None
    except ValueError:
        return None


def segments(directory: pathlib.Path) -> list[int]:
    if not directory.exists():
        return []
    return sorted(int(m.group(1)) for p in directory.iterdir() if (m := _SEGMENT.fullmatch(p.name)))


def segment_path(directory: pathlib.Path, number: int) -> pathlib.Path:
    return directory / f"{number:08d}.log"


def _datasync(fd: int) -> None:
    """fdatasync where the platform has it (Linux), else fsync."""
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _fsync_dir(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only, fsync'ed before acceptance; one writer thread."""

    def __init__(self, directory: pathlib.Path, *, segment_bytes: int = SEGMENT_BYTES,
                 on_durable: Callable[[list[dict]], None] | None = None,
                 on_failed: Callable[[list[dict], str], None] | None = None,
                 max_queue: int = MAX_QUEUE, health=None):
        from borderwatch.feeds.health import Health

        self.health = health or Health()
        self.directory = pathlib.Path(directory)
        self.segment_bytes = segment_bytes
        self.on_durable = on_durable or (lambda recs: None)
        self.on_failed = on_failed or (lambda recs, reason: None)
        self.max_queue = max_queue
        self.cond = threading.Condition()
        # entries (last sequence number, journal line(s), record, how many lines): a listener
        # process's read is one entry of many lines; ``queued`` counts the lines
        self.queue: collections.deque = collections.deque()
        self.queued = 0
        self.next_seq = 1
        self.durable_seq = 0
        self.failed_seqs: set[int] = set()
        self.closing = False
        self.thread: threading.Thread | None = None
        self.fd: int | None = None
        self.segment = 0
        self.offset = 0
        self.first_segment = 0  # the first segment this run writes; earlier ones are replayed
        self.fsyncs = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = segments(self.directory)
        self._open_segment((existing[-1] if existing else 0) + 1)
        self.first_segment = self.segment
        from borderwatch.feeds.health import supervised

        self.thread = threading.Thread(target=supervised("journal", self._run, self.health,
                                                         lambda: self.closing and not self.queue),
                                       name="feeds-journal", daemon=True)
        self.health.register("journal", self.thread)
        self.thread.start()

    def _open_segment(self, number: int) -> None:
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
        self.fd = os.open(segment_path(self.directory, number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.directory)
        self.segment = number
        self.offset = os.fstat(self.fd).st_size

    def close(self, timeout: float = 10.0) -> None:
        """Write and fsync everything queued, then stop."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self.thread:
            self.thread.join(timeout)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    # -- producers ----------------------------------------------------------------------------
    def submit(self, record: dict) -> int:
        """Queue a record; returns its sequence number (``wait`` for it to be durable).

        Blocks while the queue is full: a TCP sender then slows down instead of losing data."""
        line = encode(record)
        with self.cond:
            while self.queued >= self.max_queue and not self.closing:
                self.cond.wait(0.5)
            if self.closing:
                raise RuntimeError("the journal is closed")
            seq = self.next_seq
            self.next_seq += 1
            self.queue.append((seq, line, record, 1))
            self.queued += 1
            self.cond.notify_all()
            return seq

    def submit_many(self, records: list[dict]) -> list:
        """Queue several records at once (one lock round trip); for each, its sequence number or
        the ``TypeError``/``ValueError`` that kept it from being encoded. Blocks like ``submit``."""
        out: list = []
        lines = []
        for rec in records:
            try:
                lines.append((encode(rec), rec))
                out.append(None)
            except (TypeError, ValueError) as exc:
                out.append(exc)
        if not lines:
            return out
        with self.cond:
            while self.queued >= self.max_queue and not self.closing:
                self.cond.wait(0.5)
            if self.closing:
                raise RuntimeError("the journal is closed")
            seqs = iter(range(self.next_seq, self.next_seq + len(lines)))
            self.next_seq += len(lines)
            k = 0
            for i, slot in enumerate(out):
                if slot is None:
                    seq = next(seqs)
                    line, rec = lines[k]
                    k += 1
                    self.queue.append((seq, line, rec, 1))
                    out[i] = seq
            self.queued += len(lines)
            self.cond.notify_all()
        return out

    def submit_block(self, data: bytes, count: int, record: dict) -> int:
        """Queue ``count`` journal lines already encoded (``encode``) by a listener process, back to
        back in ``data``, as one entry: one lock round trip and one piece to write, however many
        events. The durability callbacks see ``record`` (its ``extra`` channel and peer) once per
        line. Returns the last line's sequence number; blocks like ``submit``."""
        ends = data.count(b"\n")
        if count < 1 or ends != count or not data.endswith(b"\n"):
            raise ValueError(f"a block of {count} journal line(s) holds {ends} line end(s)")
        with self.cond:
            while self.queued >= self.max_queue and not self.closing:
                self.cond.wait(0.5)
            if self.closing:
                raise RuntimeError("the journal is closed")
            self.next_seq += count
            last = self.next_seq - 1
            self.queue.append((last, data, record, count))
            self.queued += count
            self.cond.notify_all()
        return last

    def wait(self, seq: int, timeout: float = 30.0) -> bool:
        """True once record ``seq`` is durable (False if it failed or the wait timed out)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.durable_seq < seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return seq not in self.failed_seqs

    def durable_position(self) -> Position:
        with self.cond:
            return (self.segment, self.offset)

    def wait_for_data(self, position: Position, timeout: float) -> bool:
        """Wait until the durable end moves past ``position``; True if it has."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while (self.segment, self.offset) <= tuple(position):
                left = deadline - time.monotonic()
                if left <= 0 or self.closing and not self.queue:
                    return (self.segment, self.offset) > tuple(position)
                self.cond.wait(left)
            return True

    # -- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closing:
                    self.cond.wait(0.5)
                if not self.queue and self.closing:
                    return
                batch = list(self.queue)
                self.queue.clear()
                self.queued = 0
                self.cond.notify_all()  # room in the queue again
            data = b"".join([line for _, line, _, _ in batch])
            records: list[dict] = []
            for _, _, rec, n in batch:  # each line's record (a block's lines share one)
                if n == 1:
                    records.append(rec)
                else:
                    records.extend([rec] * n)
            try:
                if self.offset and self.offset + len(data) > self.segment_bytes:
                    self._open_segment(self.segment + 1)
                written = 0
                while written < len(data):
                    written += os.write(self.fd, data[written:])
                _datasync(self.fd)
                self.fsyncs += 1
            except Exception as exc:  # noqa: BLE001 - disk full, I/O error...: these events are not accepted
                reason = f"journal write failed: {exc}"
                log.error("%s; %d event(s) not accepted", reason, len(batch))
                self._recover_after_failure()
                with self.cond:
                    self.failed_seqs.update(s for seq, _, _, n in batch for s in range(seq - n + 1, seq + 1))
                    self.durable_seq = batch[-1][0]
                    self.cond.notify_all()
                self.on_failed(records, reason)
                continue
            with self.cond:
                self.offset += len(data)
                self.durable_seq = batch[-1][0]
                self.cond.notify_all()
            try:
                self.on_durable(records)
            except Exception:  # counting must not stop the journal
                log.exception("journal: durable-event callback failed")

    def _recover_after_failure(self) -> None:
        """After a failed write, cut what was not confirmed (it was reported as not accepted, so
        it must not be replayed either) and continue in a fresh segment."""
        try:
            os.ftruncate(self.fd, self.offset)
        except OSError as exc:
            log.error("cannot cut the unconfirmed tail of journal segment %s: %s", self.segment, exc)
        try:
            self._open_segment(self.segment + 1)
        except OSError as exc:
            log.error("cannot open a new journal segment: %s", exc)


class Checkpoint:
    """The journal position up to which every record is in the store."""

    def __init__(self, directory: pathlib.Path):
        self.path = pathlib.Path(directory) / "checkpoint.json"

    def load(self) -> Position | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return (int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("journal checkpoint unreadable (%s): replaying the whole journal", exc)
            return None

    def save(self, position: Position) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"segment": position[0], "offset": position[1], "at": time.time()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


class JournalReader:
    """Reads records between two journal positions, skipping (and logging) corrupt lines."""

    CHUNK = 4 * 1024 * 1024

    def __init__(self, directory: pathlib.Path):
        self.directory = pathlib.Path(directory)
        self.corrupt = 0

    def read(self, start: Position, end: Position, max_records: int, *,
             raw: bool = False) -> tuple[list[tuple[int, dict]], Position]:
        """Records from ``start`` up to at most ``end``: ([(segment, record)], new position); with
        ``raw``, each record's checked JSON payload (bytes) instead of the record."""
        out: list[tuple[int, dict]] = []
        seg, off = start
        while len(out) < max_records and (seg, off) < tuple(end):
            path = segment_path(self.directory, seg)
            if seg < end[0]:
                limit = path.stat().st_size if path.exists() else 0
            else:
                limit = end[1]
            if off >= limit:
                if seg < end[0]:
                    later = [s for s in segments(self.directory) if s > seg]
                    seg, off = (later[0] if later else end[0]), 0
                    continue
                break
            with open(path, "rb") as f:
                f.seek(off)
                data = f.read(min(self.CHUNK, limit - off))
            pos = 0
            whole = data.rfind(b"\n") + 1  # the chunk's complete lines, split at once
            for line in data[:whole - 1].split(b"\n")[:max_records - len(out)] if whole else ():
                # checked(), inline: this loop runs for every event the store writer commits
                payload = line[9:]
                try:
                    ok = line[8:9] == b" " and int(line[:8], 16) == zlib.crc32(payload)
                except ValueError:
                    ok = False
                rec = (payload if raw else _loads(payload)) if ok else None
                if rec is None:
                    self.corrupt += 1
                    log.error("journal %s: corrupt line at byte %d skipped", path.name, off + pos)
                else:
                    out.append((seg, rec))
                pos += len(line) + 1
            if pos == 0:
                if len(data) < limit - off:
                    # no line end within a whole chunk: not a record this service wrote
                    self.corrupt += 1
                    log.error("journal %s: unterminated data at byte %d skipped", path.name, off)
                    off += len(data)
                    continue
                if seg < end[0]:
                    # a torn last line (no newline) at the end of a closed segment
                    self.corrupt += 1
                    log.error("journal %s: torn last line (%d bytes) skipped", path.name, len(data))
                    off = limit
                    continue
                break
            off += pos
        return out, (seg, off)
