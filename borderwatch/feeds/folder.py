"""The feed service's watched folder: files dropped there are read whole (CoT, JSON lines, JSON),
each message handled like one from the network, and the file moved to done or, with its reason,
set aside. A mixin of ``FeedService`` (``borderwatch/feeds/service.py``).

**Who sent it.** A folder bound to a registered feed source (``--watch-source NAME``) reads every
file as that source: its nation owns the rows, its releasability applies, and a message stating
another nation is refused with its reason (and audited), like one from the source's own
connection. Once the source is revoked the folder is no longer read (files stay where they are)
and the status says why. A folder without a source trusts whoever can write into it, so it is
read only when that adds no trust: the default ``<store>/feeds/inbox`` (beside the service's
journal, which whoever can write there could write as well), or when ``--watch-open`` says so;
any other folder refuses to start."""
from __future__ import annotations

import logging
import logging.handlers
import os
import pathlib
import time

from borderwatch.feeds import cotstream, jsonfeed, sources
from borderwatch.feeds.records import Rejected
from borderwatch.feeds.network import RECV_BYTES

log = logging.getLogger("borderwatch.feeds")

COT_SUFFIXES = (".xml", ".cot")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",)


class WatchedFolder:
    """The folder watcher of the feed service."""

    watch_identity: "sources.Identity | None" = None  # the feed source files are read as (None: no identity)
    watch_stopped: str = ""  # why the folder is no longer read ('' while it is)

    # -- watched folder -----------------------------------------------------------------------
    def _open_folder(self) -> None:
        """The watched folder and who its files come from; OSError (one sentence) when it may not start."""
        c = self.config
        if not c.watch_enabled:
            return
        default = self.dir / "inbox"
        folder = pathlib.Path(c.watch) if c.watch else default
        if c.watch_source:
            src = sources.get(c.watch_source, self.store)
            if src is None:
                raise OSError(22, f"--watch-source {c.watch_source}: no feed source of that name "
                                  "(borderwatch sources list)")
            if src.revoked:
                raise OSError(22, f"--watch-source {src.name}: the feed source is revoked, so its watched folder "
                                  "is not read (register a new source)")
            self.watch_identity = sources.folder_identity(src)
        elif not c.watch_open and folder.resolve() != default.resolve():
            raise OSError(22, f"the watched folder {folder} has no sender identity: give --watch-source NAME (a feed "
                              "source, borderwatch sources add) or --watch-open to trust whoever can write into it")
        self.watch_dir = folder
        for sub in ("", "processed", "rejected"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def _folder_readable(self) -> bool:
        """False once the folder's feed source is revoked (said once: logged, audited, in the status)."""
        if self.watch_identity is None or self.watch_stopped:
            return not self.watch_stopped
        why = self.gate.still_valid(self.watch_identity)
        if why:
            self.watch_stopped = f"{why}: the watched folder is no longer read"
            log.warning("watched folder %s: %s", self.watch_dir, self.watch_stopped)
            self.gate.refuse("folder", str(self.watch_dir), self.watch_stopped, self.watch_identity)
        return not why

    def folder_status(self, channel: dict) -> dict:
        """The watched folder's line in the service status: where, read as whom, and whether it is read."""
        who = self.watch_identity
        return {"name": "folder", "format": "cot+json", "protocol": "folder", "path": str(self.watch_dir),
                "authentication": "source" if who else "none", "source": who.name if who else None,
                "owner": who.nation if who else self.config.nation,
                "state": "stopped" if self.watch_stopped else "reading", "reason": self.watch_stopped or None,
                **{k: channel.get(k, 0) for k in ("received", "accepted", "rejected", "ignored")},
                "last_event_at": channel.get("last_event_at")}

    def _watch_loop(self) -> None:
        seen: dict[str, tuple[int, int]] = {}
        given_up: dict[str, tuple[int, int]] = {}  # files that could be neither handled nor moved
        while not self.stopping.wait(self.config.poll_s):
            if not self._folder_readable():
                continue
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
        channel, peer, who = "folder", path.name, self.watch_identity
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
                take(*self.handle(channel, peer, obj, "json-object", client=who))
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
        return self.handle("folder", peer, message, fmt, client=self.watch_identity)


def _unique(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        return path
    stem = time.strftime("%Y%m%dT%H%M%S")
    for i in range(1, 10_000):
        candidate = path.with_name(f"{path.name}.{stem}-{i}")
        if not candidate.exists():
            return candidate
    raise OSError(f"no free name for {path}")
