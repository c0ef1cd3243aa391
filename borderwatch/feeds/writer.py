"""The store writer: journal → store, in batches, idempotently; periodic compaction."""
from __future__ import annotations

import datetime as dt
import logging
import pathlib
import threading
import time

import pyarrow as pa

import queries
from borderwatch import incident_store
from borderwatch.feeds import journal as journal_mod
from borderwatch.feeds import knownids
from borderwatch.feeds import rows
from borderwatch.feeds.rows import records_table
from borderwatch.feeds.status import FeedStats
from borderwatch.store import Store

log = logging.getLogger("borderwatch.feeds")

MAX_BATCH = 20_000
# A commit has a fixed cost (tens of ms: DuckLake writes a file and a catalog entry; a batch with a
# re-sent id also compares it with the store's ids, borderwatch/feeds/knownids.py) beside its cost per row, so under a high rate the writer gathers for
# longer: each batch window is at least COMMIT_SHARE times the last commit's duration, up to
# MAX_WINDOW_S (or --batch-ms if longer). At low rates the window stays at --batch-ms. The window
# counts from the previous batch's read (or, after an idle spell, from when data came): events
# that arrived during a commit have waited for it already, so a long commit is followed by a
# shorter wait or none (``gather_left``), and the writer reads at most once a window.
COMMIT_SHARE = 1.0
MAX_WINDOW_S = 1.0
COMPACT_EVERY_S = 600.0
ALERTS_EVERY_S = 5.0  # alert rules are evaluated at most this often after feed commits
ALERTS_IDLE_S = 60.0  # and this often while nothing arrives
_DATA_ERRORS = (ValueError, TypeError, KeyError, pa.ArrowException)


def store_records(store: Store, recs: "list[dict] | rows.RawBatch") -> int:
    """Commit incident records (one transaction) and patrol positions (another); returns how many
    were new. Both inserts skip what is already stored, so a replay after a crash in between is
    harmless. A ``RawBatch`` of plain incident records goes into the store without being decoded."""
    from borderwatch.feeds import patrols

    known = knownids.for_store(store)
    if isinstance(recs, rows.RawBatch):
        table = rows.json_table(store, recs.payloads)
        if table is not None:
            return incident_store.insert_incidents(store, table, known)
        recs = recs.records()
    positions = [r for r in recs if r.get("kind") == patrols.KIND]
    incidents = [r for r in recs if r.get("kind") != patrols.KIND] if positions else recs
    new = incident_store.insert_incidents(store, records_table(store, incidents), known) if incidents else 0
    heard_from(store, incidents)
    return new + (patrols.insert(store, positions) if positions else 0)


def heard_from(store: Store, recs: list[dict]) -> None:
    """Sensors that reported a detection (JSON ``sensor_id``) were last heard at its time: the sensor
    of the record's owner (its owner nation, else its reporting nation), as a sensor is its owner and
    its id."""
    heard: dict[tuple[str | None, str], str] = {}
    for r in recs:
        sensor = (r.get("extra") or {}).get("sensor_id")
        key = (r.get("owner_nation") or r.get("reporting_nation") or None, sensor)
        if sensor and str(r["occurred_at"]) > heard.get(key, ""):
            heard[key] = str(r["occurred_at"])
    if heard:
        with store.transaction():
            queries.execute("sensors_heard", store=store, ids=[s for _, s in heard], owners=[o for o, _ in heard],
                            ats=[dt.datetime.fromisoformat(t) for t in heard.values()])


class StoreWriter:
    """One thread: every ``batch_ms``, commit what the journal holds beyond the checkpoint."""

    RETRY_START_S = 0.5
    RETRY_MAX_S = 30.0

    def __init__(self, store: Store, journal: journal_mod.Journal, stats: FeedStats, *,
                 batch_ms: int = 250, max_batch: int = MAX_BATCH, compact_every_s: float = COMPACT_EVERY_S,
                 deadletter: pathlib.Path | None = None, health=None, patrol_keep_s: float = 86400.0,
                 alerts_every_s: float = ALERTS_EVERY_S):
        from borderwatch.feeds.health import Health

        self.health = health or Health()
        self.store = store
        self.journal = journal
        self.stats = stats
        self.batch_s = max(0, batch_ms) / 1000
        self.max_batch = max_batch
        self.compact_every_s = compact_every_s
        self.reader = journal_mod.JournalReader(journal.directory)
        self.checkpoint = journal_mod.Checkpoint(journal.directory)
        self.deadletter = deadletter or journal.directory.parent / "deadletter.jsonl"
        self.stop_event = threading.Event()
        self.flushing = threading.Event()
        self.thread: threading.Thread | None = None
        self.position: tuple[int, int] = (0, 0)
        self.inserted_since_compact = 0
        self.last_compact = time.monotonic()
        self.commits = 0
        self.patrol_keep_s = patrol_keep_s
        self.last_prune = 0.0
        self.alerts_every_s = alerts_every_s
        self.last_alerts = 0.0
        self.alerts_due = False  # a commit since the last evaluation
        self.last_commit_s = 0.0  # how long the last batch took to commit
        self.gather_from = time.monotonic()  # the last read, or when data came after an idle spell
        self.full_batch = False  # the last read stopped at max_batch: more is waiting, no pause

    def start(self) -> None:
        saved = self.checkpoint.load()
        existing = journal_mod.segments(self.journal.directory)
        first = existing[0] if existing else self.journal.segment
        self.position = saved if saved is not None else (first, 0)
        if self.position[0] < first:
            self.position = (first, 0)
        # not caught up until the loop has seen the journal's end: a replay is pending until then
        self.stats.caught_up = not self.behind()
        from borderwatch.feeds.health import supervised

        self.thread = threading.Thread(target=supervised("store-writer", self._run, self.health, self.stop_event),
                                       name="feeds-store-writer", daemon=True)
        self.health.register("store-writer", self.thread)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Commit everything durable (within ``timeout``), then stop; True if nothing is left."""
        deadline = time.monotonic() + timeout
        self.flushing.set()  # commit now, without waiting for the rest of the batch window
        while time.monotonic() < deadline and self.behind() and self.thread and self.thread.is_alive():
            time.sleep(0.05)
        self.stop_event.set()
        if self.thread:
            self.thread.join(max(1.0, deadline - time.monotonic()))
        return not self.behind()

    def behind(self) -> bool:
        return tuple(self.position) < tuple(self.journal.durable_position())

    @property
    def replaying(self) -> bool:
        """Records journalled by an earlier run are not all in the store yet."""
        return self.position[0] < self.journal.first_segment

    def window(self) -> float:
        """Seconds to gather the next batch: ``batch_ms``, longer while commits take long."""
        return min(max(self.batch_s, COMMIT_SHARE * self.last_commit_s), max(self.batch_s, MAX_WINDOW_S))

    def gather_left(self, now: float) -> float:
        """Seconds still to wait before reading the next batch: the window less the time since the
        last read (or since data came after an idle spell)."""
        return max(0.0, self.window() - (now - self.gather_from))

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            incident_store.locator(self.store)  # warm the nearest-segment index before the first batch
        except Exception as exc:  # the loop retries and reports
            log.warning("store not ready yet: %s", exc)
        while not self.stop_event.is_set():
            if not self.behind():
                self.stats.caught_up = True
                if self.journal.wait_for_data(self.position, timeout=0.5):
                    self.gather_from = time.monotonic()  # the first event after an idle spell
                self._maybe_evaluate()
                continue
            self.stats.caught_up = False
            if not self.full_batch:  # gather a batch (cut short when stopping)
                self.flushing.wait(self.gather_left(time.monotonic()))
            self.gather_from = time.monotonic()
            self._step()
            self._maybe_evaluate()
            self._maybe_prune()
            self._maybe_compact()
        self.stats.caught_up = not self.behind()

    def _step(self) -> None:
        end = self.journal.durable_position()
        items, new_pos = self.reader.read(self.position, end, self.max_batch, raw=True)
        self.full_batch = len(items) >= self.max_batch
        if items:
            first = self.journal.first_segment  # records of an earlier run (none once it is replayed)
            replayed = sum(1 for seg, _ in items if seg < first) if items[0][0] < first else 0
            recs = rows.RawBatch([payload for _, payload in items])
            t0 = time.monotonic()
            if not self._commit(recs, replayed):
                return  # not committed: retry later from the same position
            self.last_commit_s = time.monotonic() - t0
        try:
            self.checkpoint.save(new_pos)
        except OSError as exc:
            log.error("journal checkpoint not saved (%s): the next start replays more, harmlessly", exc)
        old = self.position
        self.position = new_pos
        if new_pos[0] > old[0]:
            for seg in journal_mod.segments(self.journal.directory):
                if seg < new_pos[0]:
                    try:
                        journal_mod.segment_path(self.journal.directory, seg).unlink()
                    except OSError as exc:
                        log.warning("cannot delete committed journal segment %s: %s", seg, exc)

    def _commit(self, recs: rows.RawBatch, replayed: int) -> bool:
        delay = self.RETRY_START_S
        attempt = 0
        while True:
            attempt += 1
            try:
                new = store_records(self.store, recs)
            except _DATA_ERRORS as exc:
                log.error("store refused a batch of %d (%s); retrying record by record", len(recs), exc)
                return self._commit_one_by_one(recs.records(), replayed)
            except Exception as exc:  # a store that is busy, locked or unavailable: keep trying
                self.stats.store_error = f"{type(exc).__name__}: {exc}"
                log.error("store write failed (attempt %d): %s; retrying in %.1f s", attempt, exc, delay)
                if self.stop_event.wait(delay):
                    return False
                delay = min(delay * 2, self.RETRY_MAX_S)
                continue
            self.commits += 1
            self.alerts_due = True
            self.inserted_since_compact += new
            self.stats.stored(new, len(recs) - new, replayed)
            return True

    def _commit_one_by_one(self, recs: list[dict], replayed: int) -> bool:
        import json

        new = 0
        dead = []
        for rec in recs:
            try:
                new += store_records(self.store, [rec])
            except _DATA_ERRORS as exc:
                dead.append({"record": rec, "reason": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:
                self.stats.store_error = f"{type(exc).__name__}: {exc}"
                return False
        if dead:
            with open(self.deadletter, "a", encoding="utf-8") as f:
                for d in dead:
                    f.write(json.dumps(d, default=str) + "\n")
            for d in dead:
                self.stats.rejected(d["record"].get("extra", {}).get("channel", "?"), "store",
                                    f"store refused the record: {d['reason']}")
            log.error("%d record(s) refused by the store written to %s", len(dead), self.deadletter)
        self.stats.stored(new, len(recs) - new - len(dead), replayed)
        with self.stats.lock:
            self.stats.counts["processed"] += len(dead)
        return True

    def _maybe_evaluate(self) -> None:
        """Evaluate the alert rules after commits (at most every ``alerts_every_s``) and, while no
        data arrives, once a minute (a silent feed or a sensor going offline must still alert)."""
        since = time.monotonic() - self.last_alerts
        if since < self.alerts_every_s or (not self.alerts_due and since < ALERTS_IDLE_S):
            return
        from borderwatch import alerts

        self.last_alerts = time.monotonic()
        self.alerts_due = False
        alerts.evaluate_quietly(self.store, "feed commit")

    def _maybe_prune(self) -> None:
        """Forget patrol positions older than the keep time (at most once a minute)."""
        if time.monotonic() - self.last_prune < 60:
            return
        self.last_prune = time.monotonic()
        from borderwatch.feeds import patrols

        try:
            patrols.prune(self.store, dt.timedelta(seconds=self.patrol_keep_s))
        except Exception as exc:
            log.warning("old patrol positions not deleted: %s", exc)

    def _maybe_compact(self) -> None:
        if not self.inserted_since_compact or time.monotonic() - self.last_compact < self.compact_every_s:
            return
        try:
            t0 = time.monotonic()
            self.store.compact()
            log.info("store compacted in %.1f s", time.monotonic() - t0)
            self.stats.last_compact_at = time.time()
        except Exception as exc:
            log.warning("store compaction failed: %s", exc)
        self.inserted_since_compact = 0
        self.last_compact = time.monotonic()
