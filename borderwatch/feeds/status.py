"""Feed service status: counted in memory by the service, written atomically as a small JSON file
(``<store>/feeds/status.json``, about once a second) and read by the app with ``read_status``.

``read_status(store)`` returns a dict (see docs/feeds.md for every field)::

    state            "running" | "stopped" | "not started" | "unresponsive" (no heartbeat for 10 s)
                     | "failed" (a part kept crashing; the service is stopping)
    healthy, parts   every part (listeners, journal, store writer...) is up: {name: {state, restarts, last_error}}
    running          True while the service is up and its heartbeat is fresh
    connections      client connections open now (TCP), over all listeners
    listeners        [{name, format, protocol, bind, port | path, authentication, connections, received,
                       accepted, rejected, ignored, last_event_at}]; the watched folder also has
                       source (the feed source it reads as, or None), owner, state ("reading" |
                       "stopped") and reason (why it is no longer read)
    last_event_at    ISO UTC time of the last accepted event (None if none since start)
    events_per_minute  accepted events per minute over the last 5 minutes
    per_minute       accepted counts for each of the last 5 minutes (oldest first)
    counts           {received, accepted, stored, duplicates, rejected, ignored, pending}
    rejects          the last 20 rejects: [{at, channel, peer, reason}] (newest last)
    caught_up        every accepted event is in the store (false while an earlier run's journal is replayed)
    replaying        records journalled by an earlier run are still being committed
    store_error      the last store error while it persists, else None
    processes        the service and its listener processes: [{name, pid, role, alive, connections, ...}]
    udp_receive_buffer  bytes the kernel granted the CoT UDP socket
    started_at, updated_at, pid, last_commit_at, last_compact_at, journal

What a viewer is shown of it: ``for_viewer`` (administrators and the command line see it all).
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pathlib
import tempfile
import threading
import time

from borderwatch.words import age_words

STATUS_FILE = "status.json"
HEARTBEAT_S = 1.0
UNRESPONSIVE_S = 10.0
WINDOW_MIN = 5
MAX_REJECTS = 20


def feeds_dir(store_or_path) -> pathlib.Path:
    """Where a store keeps its feed journal, status and inbox."""
    base = getattr(store_or_path, "path", store_or_path)
    return pathlib.Path(base) / "feeds"


def now_iso(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


class FeedStats:
    """Thread-safe counters of one service run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.time()
        self.counts = collections.Counter()
        self.channels: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.last_event: dict[str, float] = {}
        self.last_received_at: float | None = None
        self.last_event_at: float | None = None
        self.buckets: collections.deque = collections.deque()  # (minute index, accepted count)
        self.rejects: collections.deque = collections.deque(maxlen=MAX_REJECTS)
        self.ignored: collections.deque = collections.deque(maxlen=10)
        self.store_error: str | None = None
        self.last_commit_at: float | None = None
        self.last_compact_at: float | None = None
        self.caught_up = False  # until the store writer has looked at the journal
        self.replayed = 0

    def received(self, channel: str) -> None:
        with self.lock:
            now = time.time()
            self.counts["received"] += 1
            self.channels[channel]["received"] += 1
            self.last_received_at = now

    def received_many(self, channel: str, n: int) -> None:
        with self.lock:
            self.counts["received"] += n
            self.channels[channel]["received"] += n
            self.last_received_at = time.time()

    def rejected(self, channel: str, peer: str, reason: str) -> None:
        with self.lock:
            self.counts["rejected"] += 1
            self.channels[channel]["rejected"] += 1
            self.rejects.append({"at": now_iso(), "channel": channel, "peer": peer, "reason": reason})

    def ignored_one(self, channel: str, peer: str, reason: str) -> None:
        with self.lock:
            self.counts["ignored"] += 1
            self.channels[channel]["ignored"] += 1
            self.ignored.append({"at": now_iso(), "channel": channel, "peer": peer, "reason": reason})

    def accepted(self, channels: list[str]) -> None:
        with self.lock:
            now = time.time()
            minute = int(now // 60)
            n = len(channels)
            self.counts["accepted"] += n
            for ch, k in collections.Counter(channels).items():  # counted in C: thousands a second
                self.channels[ch]["accepted"] += k
                self.last_event[ch] = now
            self.last_event_at = now
            if self.buckets and self.buckets[-1][0] == minute:
                self.buckets[-1][1] += n
            else:
                self.buckets.append([minute, n])
            while self.buckets and self.buckets[0][0] <= minute - WINDOW_MIN:
                self.buckets.popleft()

    def stored(self, new: int, duplicates: int, replayed: int = 0) -> None:
        with self.lock:
            self.counts["stored"] += new
            self.counts["duplicates"] += duplicates
            self.counts["processed"] += new + duplicates - replayed
            self.replayed += replayed
            self.last_commit_at = time.time()
            self.store_error = None

    def snapshot(self) -> dict:
        with self.lock:
            now = time.time()
            minute = int(now // 60)
            per_minute = [0] * WINDOW_MIN
            for m, n in self.buckets:
                k = WINDOW_MIN - 1 - (minute - m)
                if 0 <= k < WINDOW_MIN:
                    per_minute[k] = n
            span_min = min(WINDOW_MIN, max(1.0, (now - self.started) / 60))
            counts = {k: int(self.counts[k]) for k in ("received", "accepted", "stored", "duplicates", "rejected", "ignored")}
            counts["pending"] = max(0, int(self.counts["accepted"] - self.counts["processed"]))
            return {
                "started_at": now_iso(self.started),
                "updated_at": now_iso(now),
                "last_received_at": now_iso(self.last_received_at) if self.last_received_at else None,
                "last_event_at": now_iso(self.last_event_at) if self.last_event_at else None,
                "events_per_minute": round(sum(per_minute) / span_min, 1),
                "per_minute": per_minute,
                "counts": counts,
                "channels": {ch: dict(c) | {"last_event_at": now_iso(self.last_event[ch]) if ch in self.last_event else None}
                             for ch, c in self.channels.items()},
                "rejects": list(self.rejects),
                "ignored_recent": list(self.ignored),
                "store_error": self.store_error,
                "last_commit_at": now_iso(self.last_commit_at) if self.last_commit_at else None,
                "last_compact_at": now_iso(self.last_compact_at) if self.last_compact_at else None,
                "caught_up": self.caught_up,
                "replayed": self.replayed,
            }


def write_status(store_or_path, status: dict) -> None:
    """Replace the status file atomically (readers never see half a file)."""
    directory = feeds_dir(store_or_path)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(status, f, indent=1)
        os.replace(tmp, directory / STATUS_FILE)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def describe(status: dict, quiet_after_s: float = 600.0) -> tuple[str, str]:
    """A badge for the app: (level, one line). Level is "ok" (running, events recently), "warn"
    (running but quiet for ``quiet_after_s``, store errors, or a backlog) or "down"."""
    if not status.get("running"):
        state = status.get("state", "not started")
        return "down", f"Live feeds {state}" + (" (no heartbeat)" if state == "unresponsive" else "") + _unhealthy(status)
    bad = {n: p for n, p in (status.get("parts") or {}).items() if p.get("state") != "ok"}
    if any(p.get("state") in ("dead", "failed") for p in bad.values()):
        return "down", "Live feeds running but not working:" + _unhealthy(status)
    parts = [f"{status['connections']} client(s) connected"] if status.get("connections") is not None else []
    last = status.get("last_event_at")
    age = None
    if last:
        try:
            age = (dt.datetime.now(dt.timezone.utc)
                   - dt.datetime.fromisoformat(last.replace("Z", "+00:00"))).total_seconds()
        except ValueError:
            age = None
    parts.append(f"last event {age_words(age)} ago" if age is not None else "no event yet")
    parts.append(f"{status.get('events_per_minute', 0):g}/min")
    counts = status.get("counts", {})
    if counts.get("rejected"):
        reason = (status.get("rejects") or [{}])[-1].get("reason", "")
        parts.append(f"{counts['rejected']:,} rejected" + (f" (last: {reason[:80]})" if reason else ""))
    level = "ok"
    if status.get("replaying"):
        level = "warn"
        parts.append("replaying the journal of an earlier run")
    restarted = {n: p for n, p in (status.get("parts") or {}).items() if p.get("restarts") or p.get("state") != "ok"}
    if restarted:
        level = "warn"
        parts.append(_unhealthy(status).strip())
    exposed = [l["name"] for l in status.get("listeners") or [] if l.get("authentication") == "none"
               and l.get("bind") and not _is_loopback(l["bind"])]
    if exposed:
        level = "warn"
        parts.append(f"{', '.join(exposed)} without authentication open to other machines")
    for folder in (l for l in status.get("listeners") or [] if l.get("protocol") == "folder"):
        if folder.get("state") == "stopped":
            level = "warn"
            parts.append(f"watched folder not read ({folder.get('reason') or 'its feed source was revoked'})")
    if status.get("store_error"):
        level = "warn"
        parts.append(f"store error: {status['store_error'][:80]}")
    elif counts.get("pending", 0) > 10_000:
        level = "warn"
        parts.append(f"{counts['pending']:,} waiting for the store")
    if age is None or age > quiet_after_s:
        level = "warn"
    return level, "Live feeds running · " + " · ".join(parts)


def _is_loopback(host: str) -> bool:
    from borderwatch.feeds.service import is_loopback

    return is_loopback(host)


def _unhealthy(status: dict) -> str:
    """' part state (restarted N×, last error: ...)' for every part that is not simply ok."""
    out = []
    for name, p in (status.get("parts") or {}).items():
        if p.get("state") == "ok" and not p.get("restarts"):
            continue
        text = f"{name} {p.get('state')}"
        if p.get("restarts"):
            text += f", restarted {p['restarts']}×"
        if p.get("last_error"):
            text += f" (last error: {str(p['last_error'])[:80]})"
        out.append(text)
    return (" " + "; ".join(out)) if out else ""


def read_status(store_or_path=None) -> dict:
    """The feed service's status for the app (a store, or a store directory; default: the
    process's store). Never raises for a missing or unreadable file: the state says so."""
    if store_or_path is None:
        from borderwatch.store import store_path

        store_or_path = store_path()
    path = feeds_dir(store_or_path) / STATUS_FILE
    empty = {"state": "not started", "running": False, "connections": 0, "listeners": [],
             "last_event_at": None, "events_per_minute": 0.0, "per_minute": [0] * WINDOW_MIN,
             "counts": {k: 0 for k in ("received", "accepted", "stored", "duplicates", "rejected", "ignored", "pending")},
             "rejects": [], "caught_up": True, "store_error": None}
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return empty
    except (OSError, ValueError) as exc:
        return empty | {"state": "unreadable", "error": str(exc)}
    age = None
    try:
        updated = dt.datetime.fromisoformat(status["updated_at"].replace("Z", "+00:00"))
        age = (dt.datetime.now(dt.timezone.utc) - updated).total_seconds()
    except (KeyError, ValueError, AttributeError):
        pass
    status["age_s"] = round(age, 1) if age is not None else None
    if status.get("state") == "running" and (age is None or age > UNRESPONSIVE_S):
        status["state"] = "unresponsive"
    status["running"] = status.get("state") == "running"
    if not status["running"]:
        status["connections"] = 0
    return status


def for_viewer(status: dict, viewer=None, store=None) -> dict:
    """The status as ``viewer`` (default: the current one) may see it. Administrators (and the
    unrestricted command line) see everything. Anyone else sees the service's health and its
    listeners (address, authentication), but no traffic counts, rejects or clients, which would
    count reports they may not see; "last event" and "per minute" are computed through the query
    gateway from the feed incidents they may see."""
    from borderwatch import access

    viewer = viewer or access.current()
    if viewer.unrestricted or viewer.can("admin"):
        return status
    import queries
    from borderwatch.filters import utcnow

    with access.viewing_as(viewer):
        recent, last_at = queries.rows("feed_activity", store=store, since=utcnow() - dt.timedelta(minutes=WINDOW_MIN))[0]
    keep = ("state", "running", "healthy", "parts", "caught_up", "replaying", "started_at", "updated_at", "age_s")
    out = {k: status[k] for k in keep if k in status}
    out["listeners"] = [{k: l.get(k) for k in ("name", "format", "protocol", "bind", "port", "path", "authentication",
                                               "state")}
                        for l in status.get("listeners", [])]
    out["connections"] = None
    out["last_event_at"] = last_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z" if last_at else None
    out["events_per_minute"] = round((recent or 0) / WINDOW_MIN, 1)
    out["counts"], out["rejects"] = {}, []
    out["store_error"] = "details for administrators" if status.get("store_error") else None
    return out


SILENT_ENV = "BORDERWATCH_FEED_SILENT_MINUTES"
DEFAULT_SILENT_MIN = 10.0


def silent_after_minutes() -> float:
    """Minutes without an event after which the map calls a feed source silent (default 10)."""
    try:
        return max(0.5, float(os.environ.get(SILENT_ENV, "") or DEFAULT_SILENT_MIN))
    except ValueError:
        return DEFAULT_SILENT_MIN


def _when(text) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError):
        return None


def silent_sources(status: dict, minutes: float, source: str = "", now: dt.datetime | None = None) -> list[dict]:
    """Feed sources without an accepted event for ``minutes``: [{source, since, minutes, text}].

    A running service's sources are its listeners (``source`` picks one by name); a service that
    ran and stopped (or stopped answering) is silent as a whole since its last heartbeat. A store
    whose feed service never ran has no sources, so nothing is silent."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    limit = dt.timedelta(minutes=minutes)
    out = []
    if status.get("state") in ("not started", "unreadable"):
        return out
    if not status.get("running"):
        since = _when(status.get("updated_at"))
        if since is not None and now - since >= limit:
            out.append({"source": "feed service", "since": since, "minutes": (now - since).total_seconds() / 60,
                        "text": f"feed service {status.get('state', 'stopped')}, nothing received since "
                                f"{since:%Y-%m-%d %H:%M} UTC"})
        return out
    started = _when(status.get("started_at"))
    for listener in status.get("listeners") or []:
        name = str(listener.get("name", "?"))
        if source and name != source:
            continue
        last = _when(listener.get("last_event_at"))
        since = last or started
        if since is None or now - since < limit:
            continue
        heard = f"last event {since:%H:%M} UTC" if last else f"no event since the service started at {since:%H:%M} UTC"
        out.append({"source": name, "since": since, "minutes": (now - since).total_seconds() / 60,
                    "text": f"{name} silent for {(now - since).total_seconds() / 60:.0f} min ({heard})"})
    return out


def folder_words(folder: dict) -> str:
    """One sentence about the watched folder (a ``listeners`` entry) for administrators: where it
    is, whom its files are read as, and whether it is read."""
    where = f"Watched folder {folder.get('path')}"
    if folder.get("state") == "stopped":
        return f"{where}: not read — {folder.get('reason') or 'its feed source was revoked'}."
    if folder.get("source"):
        return (f"{where}: read as feed source {folder['source']} (owned by {folder.get('owner')}, released as the "
                "source says; a message claiming another nation is refused).")
    owner = folder.get("owner")
    return (f"{where}: no sender identity — whoever can write into it is trusted; owned by the nation a message "
            f"states" + (f", else {owner}" if owner else "") + " (--watch-source NAME reads it as a feed source).")
