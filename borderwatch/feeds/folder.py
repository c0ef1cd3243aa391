"""The feed service's watched folder: files dropped there are read whole (CoT, JSON lines, JSON),
each message handled like one from the network, and the file moved to done or, with its reason,
set aside. A mixin of ``FeedService`` (``borderwatch/feeds/service.py``)."""
from __future__ import annotations

import logging
import logging.handlers
import os
import pathlib
import time

from borderwatch.feeds import cotstream, jsonfeed
from borderwatch.feeds.records import Rejected
from borderwatch.feeds.network import RECV_BYTES

log = logging.getLogger("borderwatch.feeds")

COT_SUFFIXES = (".xml", ".cot")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)


class WatchedFolder:
    """The folder watcher of the feed service."""

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


def _unique(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        return path
    stem = time.strftime("%Y%m%dT%H%M%S")
    for i in range(1, 10_000):
        candidate = path.with_name(f"{path.name}.{stem}-{i}")
        if not candidate.exists():
            return candidate
    raise OSError(f"no free name for {path}")
