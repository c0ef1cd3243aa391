"""Reference data: nations, the land borders between them (Natural Earth 1:10m) and the
cooperation agreements, from the files in ``data/reference/`` into the store, and back out of
the store for the code that places things on them.

The files in ``data/reference/`` are built by ``scripts/build_reference_data.py``; their source,
derivation and the codes used for units without an ISO 3166-1 code are in
``data/reference/PROVENANCE.md``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import shapely

import queries
from borderwatch import agreements as agreements_mod
from borderwatch.store import Store

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data" / "reference"
NATIONS_FILE = REFERENCE_DIR / "nations.parquet"
SEGMENTS_FILE = REFERENCE_DIR / "segments.parquet"
PROVENANCE_FILE = REFERENCE_DIR / "PROVENANCE.md"
CRS = "EPSG:4326"


def _read(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with scripts/build_reference_data.py")
    frame = gpd.read_parquet(path)
    if frame.crs is None:
        return frame.set_crs(CRS)
    return frame if frame.crs == CRS else frame.to_crs(CRS)


def load_nations() -> gpd.GeoDataFrame:
    """One row per nation: ``iso3``, ``name``, ``geometry`` (MultiPolygon, EPSG:4326)."""
    return _read(NATIONS_FILE)


def load_segments() -> gpd.GeoDataFrame:
    """One row per land border between two nations (EPSG:4326).

    Columns: ``segment_id`` (``"{nation_a}-{nation_b}"``, ``nation_a < nation_b``), ``nation_a``,
    ``nation_b``, ``length_km`` (geodesic, WGS84) and ``geometry`` (MultiLineString).
    """
    return _read(SEGMENTS_FILE)


def stage(cur, frame) -> None:
    """Register ``frame`` (a DataFrame, records or an Arrow table) as the view ``staged`` on ``cur``."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
    cur.register("staged", table)


def load_into(store: Store, *, replace: bool = False) -> bool:
    """Load nations, segments and agreements from ``data/reference`` into the store (if absent, or
    ``replace``); True when it loaded them."""
    if not replace and queries.scalar("count_rows", store=store, idents={"table": "segments"}):
        return False
    nations = load_nations()
    segments = load_segments()
    with store.transaction() as cur:
        for table in ("nations", "segments", "agreements", "agreement_members", "segment_agreements"):
            queries.execute("delete_all", store=store, idents={"table": table})
        stage(cur, pd.DataFrame({"iso3": nations.iso3, "name": nations["name"],
                                  "wkb": shapely.to_wkb(nations.geometry.values), "source": "Natural Earth 1:10m"}))
        queries.execute("insert_nations", store=store)
        stage(cur, pd.DataFrame({"segment_id": segments.segment_id, "nation_a": segments.nation_a,
                                  "nation_b": segments.nation_b, "length_km": segments.length_km,
                                  "wkb": shapely.to_wkb(segments.geometry.values), "source": "Natural Earth 1:10m"}))
        queries.execute("insert_segments", store=store)
        load_agreements(cur, store)
    return True


def load_agreements(cur, store: Store) -> None:
    """Write the agreements, their members and the segments' agreement scopes (inside ``cur``'s transaction)."""
    items = agreements_mod.load_agreements()
    stage(cur, pa.table({
        "agreement_id": [a.agreement_id for a in items],
        "name": [a.name for a in items],
        "kind": [a.kind for a in items],
        "signed": [a.signed for a in items],
        "provisions": pa.array([list(a.provisions) for a in items], pa.list_(pa.string())),
        "description": [a.description for a in items],
        "sources": [json.dumps([dataclasses.asdict(s) for s in a.sources]) for a in items],
    }))
    queries.execute("insert_agreements", store=store)
    stage(cur, agreements_mod.members_frame()[["agreement_id", "iso3", "joined"]].astype(object))
    queries.execute("insert_agreement_members", store=store)
    queries.execute("refresh_segment_agreements", store=store)
    cur.unregister("staged")


def segments_frame(store: Store) -> gpd.GeoDataFrame:
    """The store's border segments as a GeoDataFrame (EPSG:4326)."""
    df = queries.df("segments_geo", store=store)
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=shapely.from_wkb(df.wkb.map(bytes)), crs="EPSG:4326")


def nation_locator(store: Store):
    """A function (lon, lat) -> iso3 of the nation containing the point, or None."""
    df = queries.df("nations_geo", store=store)
    geoms = shapely.from_wkb(df.wkb.map(bytes))
    tree = shapely.STRtree(geoms)
    codes = list(df.iso3)

    def locate(lon: float, lat: float) -> str | None:
        hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
        return codes[int(hits[0])] if len(hits) else None

    return locate
