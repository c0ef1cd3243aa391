"""The identities the store holds, in memory: the feed store writer's duplicate check without
reading the store's ids at every commit.

A stored incident's identity is its owner (owner nation, else reporting nation) and its
``incident_id`` (``queries/insert_incidents.sql``). ``insert_incidents.sql`` compares a batch with
the stored rows under the batch's ids, which reads the id column of every data file whose id range
overlaps the batch's: with ids in no particular order that is every file, so the check grew with
the store. Here the writer keeps a 64-bit hash of every stored identity (8 bytes a row: a sorted
array, plus a set of the hashes added since it was sorted). Before a commit, in the writer's
transaction and under the store's write lock, the set is brought up to the transaction's snapshot;
a batch none of whose hashes is in the set cannot repeat a stored row and is inserted without the
comparison (``insert_incidents_unseen.sql``); a batch with any hash in the set (a re-sent event, a
replay after a restart, or a collision of hashes) takes the full comparison as before.

The set never misses a stored identity, so a batch is never wrongly taken as new:

* it is read whole (``feed_known_ids.sql``) at the writer's first commit, so after every restart;
* each commit of the writer adds its batch's hashes, and notes the snapshot the commit made: the
  next one, as no other writer commits while it holds the write lock (with a PostgreSQL catalog,
  whose lock can be lost during a write, it is read back, and should another writer's snapshot
  have come in between, the snapshots since the one before the commit are read next time); a
  commit that inserted nothing notes none;
* whatever other snapshots were committed since (an import, a form entry, another writer, this
  writer's patrol positions) are read from the lake's own record of inserted rows
  (``feed_known_ids_since.sql``, ``ducklake_table_insertions``); when that record cannot be read
  (its snapshots expired), the set is read whole again.

Deleted incidents stay in the set: a re-sent one is then checked against the store the full way.
"""
from __future__ import annotations

import logging
import weakref

import duckdb
import numpy as np

import queries
from borderwatch.store import LAKE, Store

log = logging.getLogger("borderwatch.feeds")

FOLD_AT = 200_000  # hashes added since the last sort, at least, before they are sorted into the array


class KnownIds:
    """A superset of the stored identities' hashes, as of ``snapshot``."""

    def __init__(self) -> None:
        self.sorted = np.empty(0, np.uint64)
        self.recent: set[int] = set()
        self.snapshot: int | None = None  # None: not read yet (or to be read again)
        self.pending: np.ndarray | None = None  # the staged batch's hashes, until its commit
        self.full_reads = 0  # how often the set was read whole (tests, status)

    def __len__(self) -> int:
        return len(self.sorted) + len(self.recent)

    def reset(self) -> None:
        """Forget everything: the next check reads the set whole."""
        self.__init__()

    # -- in the writer's transaction ----------------------------------------------------------
    def staged_unseen(self, store: Store) -> bool:
        """True when no row of the registered ``staged`` batch can be stored already. Call inside the
        write transaction, with ``staged`` registered; ``committed`` after the commit."""
        self.pending = None
        try:
            self._catch_up(store)
            staged = _hashes(queries.execute("feed_staged_ids", store=store))
        except duckdb.Error as exc:  # the full comparison then decides, and the set is read again
            log.warning("known incident ids not brought up to date (%s)", exc)
            self.reset()
            return False
        self.pending = staged
        return not self._any_known(staged)

    def _catch_up(self, store: Store) -> None:
        now = int(queries.execute("lake_snapshot", store=store, lake=LAKE).fetchone()[0])
        if self.snapshot is not None and now < self.snapshot:
            self.snapshot = None  # the lake went back (a restored store): read it again
        if self.snapshot is None:
            self._read_whole(store, now)
            return
        if now == self.snapshot:
            return
        try:
            added = _hashes(queries.execute("feed_known_ids_since", store=store, lake=LAKE,
                                            first=self.snapshot + 1, last=now))
        except duckdb.Error as exc:  # the snapshots in between expired: read the whole set
            log.info("known incident ids read again (%s)", exc)
            self._read_whole(store, now)
            return
        self._add(added)
        self.snapshot = now

    def _read_whole(self, store: Store, now: int) -> None:
        self.sorted = sorted_unique(_hashes(queries.execute("feed_known_ids", store=store)))
        self.recent = set()
        self.snapshot = now
        self.full_reads += 1

    def _any_known(self, hashes: np.ndarray) -> bool:
        if not len(hashes):
            return False
        if len(self.sorted):
            at = np.searchsorted(self.sorted, hashes)
            if np.any(self.sorted[np.minimum(at, len(self.sorted) - 1)] == hashes):
                return True
        recent = self.recent
        return bool(recent) and not recent.isdisjoint(hashes.tolist())

    def _add(self, hashes: np.ndarray) -> None:
        self.recent.update(hashes.tolist())
        if len(self.recent) >= max(FOLD_AT, len(self.sorted) // 4):
            self.sorted = merged(self.sorted, np.fromiter(self.recent, np.uint64, len(self.recent)))
            self.recent = set()

    # -- after the commit ---------------------------------------------------------------------
    def committed(self, store: Store, inserted: int) -> None:
        """The staged batch is stored (new or already there): add it, and note the snapshot the
        commit made. Call still holding the store's write lock."""
        staged, self.pending = self.pending, None
        if staged is None or self.snapshot is None:
            return
        self._add(staged)
        if not inserted:
            return  # perhaps no snapshot: the next check reads whatever came after the last one
        if store.postgres is None:
            # under the embedded store's file lock nobody else commits between the check and the
            # commit: its snapshot is the next one (reading it back costs a catalog transaction)
            self.snapshot += 1
            return
        try:  # a PostgreSQL lock may be lost during the write (borderwatch.pglock): ask
            now = int(queries.execute("lake_snapshot", store=store, lake=LAKE).fetchone()[0])
        except duckdb.Error as exc:
            log.warning("store snapshot not read after a commit (%s): known incident ids read again", exc)
            self.reset()
            return
        if now == self.snapshot + 1:
            self.snapshot = now
        # else another writer's snapshot came in between: the next check reads the insertions from
        # the snapshot before this commit on

    def abandoned(self) -> None:
        """The transaction did not commit: its batch is not stored."""
        self.pending = None


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: ``np.sort`` and a look at the neighbours (NumPy 2.4's
    ``np.unique`` takes 1.5 s of CPU for 1.5 million 64-bit values where sorting them takes 0.08 s)."""
    out = np.sort(np.asarray(values, np.uint64))
    if len(out) > 1:
        out = out[np.concatenate(([True], out[1:] != out[:-1]))]
    return out


def merged(ordered: np.ndarray, added: np.ndarray) -> np.ndarray:
    """``ordered`` (sorted, no repeats) with ``added``'s values not yet in it, still sorted and
    without repeats. Only ``added`` is sorted; the rest is one pass of copying. (``np.union1d``
    takes both through ``np.unique`` again: with a million stored identities that took over a
    second of CPU in the commit path, every ~200,000 rows at 20,000 events/s, and was the slowest
    commit of the feed benchmark.)"""
    added = sorted_unique(added)
    if len(ordered) and len(added):
        at = np.searchsorted(ordered, added)
        added = added[ordered[np.minimum(at, len(ordered) - 1)] != added]
    if not len(added):
        return ordered
    out = np.empty(len(ordered) + len(added), np.uint64)
    where = np.searchsorted(ordered, added) + np.arange(len(added))  # each added value's place in out
    keep = np.ones(len(out), bool)
    keep[where] = False
    out[where] = added
    out[keep] = ordered
    return out


def _hashes(cursor) -> np.ndarray:
    return np.asarray(cursor.fetchnumpy()["h"], np.uint64)


_BY_STORE: "weakref.WeakKeyDictionary[Store, KnownIds]" = weakref.WeakKeyDictionary()


def for_store(store: Store) -> KnownIds:
    """The set kept for this ``Store`` object (the feed store writer's)."""
    known = _BY_STORE.get(store)
    if known is None:
        known = _BY_STORE[store] = KnownIds()
    return known
