"""Writing incidents from any source (file import, live feed): derive, deduplicate, commit.

``prepare_incidents`` completes records with what Borderwatch derives itself (H3 cell, nearest
border segment and its nations, agreements shared under, ingest time); ``insert_incidents``
writes them all-or-nothing, skipping ids already in the store.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pyarrow as pa
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
    """Nearest border segment for points (planar nearest in degrees, within a bound)."""

    def __init__(self, store: Store):
        from borderwatch.reference import segments_frame

        segs = segments_frame(store)
        self.ids = np.array(segs.segment_id, dtype=object)
        self.nation_a = np.array(segs.nation_a, dtype=object)
        self.nation_b = np.array(segs.nation_b, dtype=object)
        # the tree holds short pieces of each segment (at most PIECE_VERTICES vertices): the nearest
        # piece belongs to the nearest segment, and distances to short pieces are cheap to compute
        pieces, owner = _pieces(np.asarray(segs.geometry.values))
        self.tree = shapely.STRtree(pieces)
        self.owner = owner
        shared = dict(queries.rows("segment_internal_agreements", store=store))
        self.shared = np.array([shared.get(s, []) for s in self.ids], dtype=object)
        # the same as an Arrow list column, with an empty list after the last segment for "none near"
        self.shared_arrow = pa.array([list(x) for x in self.shared] + [[]], pa.list_(pa.string()))

    def shared_under(self, near: np.ndarray) -> pa.Array:
        """The agreements shared under each point's segment (``nearest`` indexes; -1: none)."""
        return self.shared_arrow.take(pa.array(np.where(near >= 0, near, len(self.ids)), pa.int64()))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the nearest segment for each point, -1 where none is near enough."""
        out = np.full(len(lon), -1, dtype=int)
        if len(lon) == 0 or len(self.ids) == 0:
            return out
        pts = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
        idx = self.tree.query_nearest(pts, max_distance=NEAREST_SEGMENT_MAX_DEG, all_matches=False)
        out[idx[0]] = self.owner[idx[1]]
        return out


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
    lon = df.lon.to_numpy(float)
    lat = df.lat.to_numpy(float)
    df["h3"] = hexgrid.cells(lon, lat) if n else np.array([], dtype=np.uint64)
    loc = locator(store)
    near = loc.nearest(lon, lat)
    has = near >= 0
    if "segment_id" not in df.columns or df["segment_id"].isna().all():
        df["segment_id"] = np.where(has, loc.ids[np.maximum(near, 0)], None)
    df["nation_a"] = np.where(has, loc.nation_a[np.maximum(near, 0)], None)
    df["nation_b"] = np.where(has, loc.nation_b[np.maximum(near, 0)], None)
    df["shared_under"] = [list(loc.shared[i]) if i >= 0 else [] for i in near]
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
    for col, value in _release_values(owner, release).items():
        if value is not None or col not in df.columns:
            df[col] = [value] * n if isinstance(value, list) else value
    return pa.Table.from_pandas(df[[f.name for f in INCIDENT_SCHEMA]], schema=INCIDENT_SCHEMA, preserve_index=False)


def _release_values(owner: str | None, release) -> dict:
    if release is None:
        return {"owner_nation": owner, "release_public": None, "release_nations": None, "release_agreements": None}
    return {"owner_nation": owner, "release_public": release.public,
            "release_nations": list(release.nations), "release_agreements": list(release.agreements)}


def insert_incidents(store: Store, table: pa.Table) -> int:
    """Commit incidents not yet in the store (by ``incident_id``); returns how many were new."""
    if table.num_rows == 0:
        return 0
    with store.transaction() as cur:
        cur.register("staged", table)
        try:
            inserted = queries.execute("insert_incidents", store=store).fetchall()  # DuckDB: [(rows inserted,)]
        finally:
            cur.unregister("staged")
    return int(inserted[0][0]) if inserted else 0
