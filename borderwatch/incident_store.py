"""Writing incidents from any source (file import, live feed): derive, deduplicate, commit.

``prepare_incidents`` completes records with what Borderwatch derives itself (H3 cell, nearest
border segment and its nations, agreements shared under, ingest time); ``insert_incidents``
writes them all-or-nothing, skipping incidents already in the store. An incident is its owner
nation (``owner_nation``, else the reporting nation) and its id: another nation's row under the same
id is not a repeat (``queries/insert_incidents.sql``).
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

import queries
from borderwatch import hexgrid
from borderwatch.domain import THREAT_TYPES
from borderwatch.filters import utcnow
from borderwatch.store import Store

INCIDENT_SCHEMA = pa.schema([
    ("incident_id", pa.string()), ("occurred_at", pa.timestamp("us")), ("time_precision", pa.string()),
    ("threat_type", pa.string()), ("severity", pa.int8()), ("confidence", pa.float32()),
    ("reporting_nation", pa.string()), ("source", pa.string()), ("description", pa.string()),
    ("lon", pa.float64()), ("lat", pa.float64()), ("location_error_m", pa.float32()), ("h3", pa.uint64()),
    ("segment_id", pa.string()), ("nation_a", pa.string()), ("nation_b", pa.string()),
    ("shared_under", pa.list_(pa.string())), ("dataset", pa.string()), ("synthetic", pa.bool_()),
    ("ingested_at", pa.timestamp("us")),
    # releasability (borderwatch/access.py); NULL = the default (owner = reporting nation, owner only)
    ("owner_nation", pa.string()), ("release_public", pa.bool_()), ("release_nations", pa.list_(pa.string())),
    ("release_agreements", pa.list_(pa.string())),
])
REQUIRED = ("incident_id", "occurred_at", "threat_type", "lon", "lat")
NEAREST_SEGMENT_MAX_DEG = 1.0  # ~100 km: farther incidents keep no segment


class SegmentLocator:
    """Nearest border segment for points (planar nearest in degrees, within a bound).

    Most points lie in a grid cell where only one segment can be the nearest: each cell is settled
    once, from its centre, and its points take that segment without a tree search. A cell is
    settled when every piece that could be nearest to some point of it belongs to one segment and
    the bound holds (or fails) for the whole cell. Cells are tried from coarse to fine (LEVELS: a
    cell of CELL_DEG * 2**level degrees), the points of a cell left unsettled going on to the
    finer cells inside it; points still unsettled at CELL_DEG are measured against the few pieces
    that can be nearest to some point of their cell (``_search``). The answer is the exact nearest
    either way: cells only spare tree searches."""

    def __init__(self, store: Store):
        from borderwatch.reference import segments_frame

        segs = segments_frame(store)
        self.ids = np.array(segs.segment_id, dtype=object)
        self.nation_a = np.array(segs.nation_a, dtype=object)
        self.nation_b = np.array(segs.nation_b, dtype=object)
        # the same as Arrow columns, taken from by index for a batch of points
        self.ids_arrow, self.nation_a_arrow, self.nation_b_arrow = (
            pa.array(list(v), pa.string()) for v in (self.ids, self.nation_a, self.nation_b))
        # the tree holds short pieces of each segment (at most PIECE_VERTICES vertices): the nearest
        # piece belongs to the nearest segment, and distances to short pieces are cheap to compute
        pieces, owner = _pieces(np.asarray(segs.geometry.values))
        self.tree = shapely.STRtree(pieces)
        self.owner = owner
        shared = dict(queries.rows("segment_internal_agreements", store=store))
        self.shared = np.array([shared.get(s, []) for s in self.ids], dtype=object)
        # the same as an Arrow list column, with an empty list after the last segment for "none near"
        self.shared_arrow = pa.array([list(x) for x in self.shared] + [[]], pa.list_(pa.string()))
        self._cells: dict[int, int] = {}  # cell key -> segment index, NO_SEGMENT or UNSETTLED
        self._candidates: dict[int, np.ndarray] = {}  # unsettled finest cell key -> pieces that may be nearest

    def shared_under(self, near: np.ndarray) -> pa.Array:
        """The agreements shared under each point's segment (``nearest`` indexes; -1: none)."""
        return self.shared_arrow.take(pa.array(np.where(near >= 0, near, len(self.ids)), pa.int64()))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the nearest segment for each point, -1 where none is near enough."""
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        out = np.full(len(lon), -1, dtype=int)
        if len(lon) == 0 or len(self.ids) == 0:
            return out
        todo = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))  # a coordinate that is not a number is near nothing
        for level in LEVELS:
            if len(todo) == 0:
                break
            keys = _cell_keys(lon[todo], lat[todo], level)
            unique, inverse = np.unique(keys, return_inverse=True)
            settled = np.array([self._cells.get(k, UNKNOWN) for k in unique.tolist()], dtype=int)
            new = settled == UNKNOWN
            if new.any():
                settled[new] = self._settle(unique[new], level)
            found = settled[inverse]
            out[todo] = found
            todo = todo[found == UNSETTLED]
        search = np.flatnonzero(out == UNSETTLED)
        if len(search):
            out[search] = self._search(lon[search], lat[search])
        return out

    def _search(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """``nearest`` for points whose cells are unsettled: each point's distance to every piece that
        can be nearest to some point of its finest cell (those ``_settle`` finds, so the nearest is
        among them), the owner of the closest; a point equally close to pieces of two segments is
        searched in the tree, whose choice between them stands."""
        n = len(lon)
        unique, inverse = np.unique(_cell_keys(lon, lat), return_inverse=True)
        found = [self._candidates.get(k) for k in unique.tolist()]
        new = [i for i, c in enumerate(found) if c is None]
        if new:
            if len(self._candidates) > MAX_CELLS:
                self._candidates.clear()
            cx, cy = _cell_centres(unique[new])
            centres = shapely.points(cx, cy)
            _, dist = self.tree.query_nearest(centres, all_matches=False, return_distance=True)
            cell, piece = self.tree.query(centres, predicate="dwithin", distance=dist + 2 * CELL_DEG * np.sqrt(2) / 2)
            order = np.argsort(cell, kind="stable")
            for i, pieces in zip(new, np.split(piece[order], np.cumsum(np.bincount(cell, minlength=len(new)))[:-1])):
                found[i] = self._candidates[int(unique[i])] = pieces
        sizes = np.array([len(c) for c in found])
        starts = np.cumsum(sizes) - sizes
        flat = np.concatenate(found)
        first, count = starts[inverse], sizes[inverse]  # each point's cell's candidates in ``flat``
        point = np.repeat(np.arange(n), count)  # (point, candidate piece) pairs
        piece = flat[first[point] + np.arange(len(point)) - np.repeat(np.cumsum(count) - count, count)]
        d = shapely.distance(shapely.points(lon, lat)[point], self.tree.geometries[piece])
        best = np.full(n, np.inf)
        np.minimum.at(best, point, d)
        closest = d == best[point]
        owners = self.owner[piece[closest]]
        lo, hi = np.full(n, np.iinfo(int).max), np.full(n, -1)
        np.minimum.at(lo, point[closest], owners)
        np.maximum.at(hi, point[closest], owners)
        near = best <= NEAREST_SEGMENT_MAX_DEG
        out = np.where(near, lo, -1)
        tie = np.flatnonzero(near & (lo != hi))
        if len(tie):
            hit = self.tree.query_nearest(shapely.points(lon[tie], lat[tie]), max_distance=NEAREST_SEGMENT_MAX_DEG,
                                          all_matches=False)
            out[tie[hit[0]]] = self.owner[hit[1]]
        return out

    def _settle(self, keys: np.ndarray, level: int) -> np.ndarray:
        """The segment every point of each cell is nearest to, NO_SEGMENT, or UNSETTLED."""
        if len(self._cells) > MAX_CELLS:
            self._cells.clear()
        cx, cy = _cell_centres(keys, level)
        centres = shapely.points(cx, cy)
        (_, near), dist = self.tree.query_nearest(centres, all_matches=False, return_distance=True)
        reach = CELL_DEG * 2 ** level * np.sqrt(2) / 2  # centre to corner
        # a piece nearest to some point of the cell is within dist + 2 * reach of the centre
        cell, piece = self.tree.query(centres, predicate="dwithin", distance=dist + 2 * reach)
        owners = self.owner[piece]
        lo = np.full(len(keys), np.iinfo(int).max)
        hi = np.full(len(keys), -1)
        np.minimum.at(lo, cell, owners)
        np.maximum.at(hi, cell, owners)
        result = np.where(lo == hi, lo, UNSETTLED)
        result = np.where(dist - reach > NEAREST_SEGMENT_MAX_DEG, NO_SEGMENT, result)
        result = np.where((dist + reach > NEAREST_SEGMENT_MAX_DEG) & (dist - reach <= NEAREST_SEGMENT_MAX_DEG),
                          UNSETTLED, result)
        self._cells.update(zip(keys.tolist(), result.tolist()))
        return result


CELL_DEG = 0.1  # ~10 km: the finest cell settled once for all of its points
LEVELS = (3, 2, 1, 0)  # cells of 0.8, 0.4, 0.2 and 0.1 degrees, coarse first (1.6 settled none near borders)
MAX_CELLS = 2_000_000  # settled cells kept (~200 MB at most); beyond, the memo starts again
UNKNOWN, UNSETTLED, NO_SEGMENT = -3, -2, -1
_ROWS = 10_000  # cell rows in a key (latitude index + offset < _ROWS)
_COLUMNS = 1_000_000  # cell columns in a key (longitude index + offset < _COLUMNS)


def _cell_keys(lon: np.ndarray, lat: np.ndarray, level: int = 0) -> np.ndarray:
    """The key of each point's cell of CELL_DEG * 2**level degrees (keys of different levels differ)."""
    size = CELL_DEG * 2 ** level
    ix = np.floor(lon / size).astype(np.int64) + 100_000
    iy = np.floor(lat / size).astype(np.int64) + 5_000
    return (level * _COLUMNS + ix) * _ROWS + iy


def _cell_centres(keys: np.ndarray, level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    size = CELL_DEG * 2 ** level
    ix, iy = keys // _ROWS % _COLUMNS - 100_000, keys % _ROWS - 5_000
    return (ix + 0.5) * size, (iy + 0.5) * size


PIECE_VERTICES = 8  # shorter pieces: fewer vertices to measure per candidate (half the time of 16 near borders)


def _pieces(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (multi)line cut into consecutive pieces of at most PIECE_VERTICES vertices (sharing their
    end vertices, so together they cover the line exactly), and the index of the line each belongs to."""
    parts, part_owner = shapely.get_parts(lines, return_index=True)
    pieces, owner = [], []
    for part, k in zip(parts, part_owner):
        coords = shapely.get_coordinates(part)
        step = PIECE_VERTICES - 1
        for start in range(0, max(len(coords) - 1, 1), step):
            chunk = coords[start:start + PIECE_VERTICES]
            if len(chunk) >= 2:
                pieces.append(shapely.linestrings(chunk))
                owner.append(k)
    return np.array(pieces, dtype=object), np.array(owner, dtype=int)


_locators: dict[str, tuple[str, SegmentLocator]] = {}
_locator_lock = threading.Lock()


_checked: dict[str, float] = {}


def locator(store: Store, max_age_s: float = 0.0) -> SegmentLocator:
    """The nearest-segment index of ``store``, rebuilt when its segments change. ``max_age_s``: a
    caller at a high rate (the feed writer) checks for changed segments at most that often."""
    key = str(store.path)
    with _locator_lock:
        cached = _locators.get(key)
        if cached is not None and max_age_s > 0 and time.monotonic() - _checked.get(key, 0.0) < max_age_s:
            return cached[1]
    # a border import can replace a segment's geometry without changing the count
    fingerprint = queries.scalar("segments_fingerprint", store=store)
    with _locator_lock:
        _checked[key] = time.monotonic()
        cached = _locators.get(key)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, SegmentLocator(store))
            _locators[key] = cached
        return cached[1]


def derived(store: Store, lon: np.ndarray, lat: np.ndarray, *, max_age_s: float = 0.0) -> dict[str, pa.Array]:
    """What Borderwatch derives for incidents at these points: the H3 cell, the nearest border
    segment (within ``NEAREST_SEGMENT_MAX_DEG``), its nations and the agreements shared under it."""
    return derived_with(locator(store, max_age_s=max_age_s), lon, lat)


def derived_with(loc: SegmentLocator, lon: np.ndarray, lat: np.ndarray) -> dict[str, pa.Array]:
    """``derived`` with a locator already at hand (no store query: usable from any thread)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    cells = hexgrid.cells(lon, lat) if len(lon) else np.array([], np.uint64)
    return derived_from(loc, loc.nearest(lon, lat), pa.array(cells, pa.uint64()))


def derived_from(loc: SegmentLocator, near: np.ndarray, h3: pa.Array) -> dict[str, pa.Array]:
    """``derived_with`` from each point's nearest segment (``loc.nearest``) and H3 cell, already known."""
    near = np.asarray(near, dtype=np.int64)
    index = pa.array(near, pa.int64(), mask=near < 0)  # null where no segment is near

    def pick(values: pa.Array) -> pa.Array:
        return values.take(index) if len(values) else pa.nulls(len(near), pa.string())

    return {
        "h3": h3.cast(pa.uint64()),
        "segment_id": pick(loc.ids_arrow),
        "nation_a": pick(loc.nation_a_arrow),
        "nation_b": pick(loc.nation_b_arrow),
        "shared_under": loc.shared_under(near),
    }


def prepare_incidents(frame: pd.DataFrame, store: Store, *, dataset: str, synthetic: bool = False,
                      owner: str | None = None, release=None) -> pa.Table:
    """Complete validated incident records (``REQUIRED`` columns at least) into store rows.

    ``owner`` (ISO3) and ``release`` (a :class:`borderwatch.access.Release`) stamp every row, e.g.
    from an import's ``--owner/--release-to`` or a feed source's identity; without them rows get
    the documented default (owner = reporting nation, released to no one else)."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"incident records lack column(s): {', '.join(missing)}")
    df = frame.copy()
    bad = sorted(set(df.threat_type) - set(THREAT_TYPES))
    if bad:
        raise ValueError(f"unknown threat type(s): {', '.join(map(str, bad))}")
    n = len(df)
    derive = derived(store, df.lon.to_numpy(float), df.lat.to_numpy(float))
    if "segment_id" in df.columns and not df["segment_id"].isna().all():
        derive.pop("segment_id")  # given by the caller
    for name, values in derive.items():
        df[name] = values.to_numpy(zero_copy_only=False) if name != "shared_under" else values.to_pylist()
    defaults = {"time_precision": "second", "severity": 2, "confidence": 0.5, "reporting_nation": None,
                "source": dataset, "description": "", "location_error_m": None}
    for col, value in defaults.items():
        if col not in df.columns:
            df[col] = value
    df["dataset"] = dataset
    df["synthetic"] = synthetic
    df["ingested_at"] = utcnow()
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True).dt.tz_localize(None)
    df["description"] = df["description"].fillna("")
    for col, value in release_columns(owner, release).items():
        if value is not None or col not in df.columns:
            df[col] = [value] * n if isinstance(value, list) else value
    return pa.Table.from_pandas(df[[f.name for f in INCIDENT_SCHEMA]], schema=INCIDENT_SCHEMA, preserve_index=False)


def release_columns(owner: str | None, release) -> dict:
    if release is None:
        return {"owner_nation": owner, "release_public": None, "release_nations": None, "release_agreements": None}
    return {"owner_nation": owner, "release_public": release.public,
            "release_nations": list(release.nations), "release_agreements": list(release.agreements)}


def first_per_identity(table: pa.Table) -> pa.Table:
    """The first row of each identity (owner nation, else reporting nation, and ``incident_id``),
    in table order: ``insert_incidents.sql`` expects its staged rows so."""
    n = table.num_rows
    if n < 2:
        return table
    keys = pa.table({"owner": pc.coalesce(table["owner_nation"], table["reporting_nation"]),
                     "incident_id": table["incident_id"], "k": pa.array(np.arange(n))})
    first = keys.group_by(["owner", "incident_id"], use_threads=False).aggregate([("k", "min")])["k_min"]
    return table if len(first) == n else table.take(first.take(pc.sort_indices(first)))


def insert_incidents(store: Store, table: pa.Table, known=None) -> int:
    """Commit incidents not yet in the store (by owner and ``incident_id``); returns how many were new.
    ``known``: the feed store writer's set of stored identities (``borderwatch.feeds.knownids``): a
    batch it shows to be all new skips the comparison with the stored rows."""
    if table.num_rows == 0:
        return 0
    table = first_per_identity(table)
    with store.write_lock():  # held past the commit: ``known`` notes the snapshot the commit made
        try:
            with store.transaction() as cur:
                cur.register("staged", table)
                try:
                    name = "insert_incidents_unseen" if known is not None and known.staged_unseen(store) else \
                        "insert_incidents"
                    inserted = queries.execute(name, store=store).fetchall()  # DuckDB: [(rows inserted,)]
                finally:
                    cur.unregister("staged")
        except BaseException:
            if known is not None:
                known.abandoned()
            raise
        new = int(inserted[0][0]) if inserted else 0
        if known is not None:
            known.committed(store, new)
    return new
