"""Filling the store: reference data (nations, segments, agreements) and the synthetic scenario."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

import queries
from borderwatch import agreements as agreements_mod
from borderwatch import access, coverage, reference, scenario
from borderwatch.filters import utcnow
from borderwatch.store import Store

DEFAULT_INCIDENTS = 250_000
DEFAULT_SEED = 7
SCENARIO_KEY = "scenario"


def _stage(cur, frame) -> None:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
    cur.register("staged", table)


def load_reference(store: Store, *, replace: bool = False) -> bool:
    """Load nations, segments and agreements from ``data/reference`` (if absent, or ``replace``)."""
    if not replace and queries.scalar("count_rows", store=store, idents={"table": "segments"}):
        return False
    nations = reference.load_nations()
    segments = reference.load_segments()
    with store.transaction() as cur:
        for table in ("nations", "segments", "agreements", "agreement_members", "segment_agreements"):
            queries.execute("delete_all", store=store, idents={"table": table})
        _stage(cur, pd.DataFrame({"iso3": nations.iso3, "name": nations["name"],
                                  "wkb": shapely.to_wkb(nations.geometry.values), "source": "Natural Earth 1:10m"}))
        queries.execute("insert_nations", store=store)
        _stage(cur, pd.DataFrame({"segment_id": segments.segment_id, "nation_a": segments.nation_a,
                                  "nation_b": segments.nation_b, "length_km": segments.length_km,
                                  "wkb": shapely.to_wkb(segments.geometry.values), "source": "Natural Earth 1:10m"}))
        queries.execute("insert_segments", store=store)
        _load_agreements(cur, store)
    return True


def _load_agreements(cur, store: Store) -> None:
    items = agreements_mod.load_agreements()
    _stage(cur, pa.table({
        "agreement_id": [a.agreement_id for a in items],
        "name": [a.name for a in items],
        "kind": [a.kind for a in items],
        "signed": [a.signed for a in items],
        "provisions": pa.array([list(a.provisions) for a in items], pa.list_(pa.string())),
        "description": [a.description for a in items],
        "sources": [json.dumps([dataclasses.asdict(s) for s in a.sources]) for a in items],
    }))
    queries.execute("insert_agreements", store=store)
    _stage(cur, agreements_mod.members_frame()[["agreement_id", "iso3", "joined"]].astype(object))
    queries.execute("insert_agreement_members", store=store)
    queries.execute("refresh_segment_agreements", store=store)
    cur.unregister("staged")


def segments_frame(store: Store) -> gpd.GeoDataFrame:
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


def scenario_present(store: Store) -> bool:
    return queries.scalar("meta", store=store, key=SCENARIO_KEY) is not None


def build_demo(store: Store, *, seed: int = DEFAULT_SEED, incidents: int = DEFAULT_INCIDENTS,
               now: dt.datetime | None = None, chunk: int = 500_000, show_progress: bool = True) -> dict:
    """Replace the synthetic scenario in the store; returns a summary. Memory does not grow with
    ``incidents``: incidents are generated and committed chunk by chunk."""
    t0 = time.monotonic()
    now = (now or utcnow()).replace(microsecond=0)
    load_reference(store)
    segs = segments_frame(store)
    geo = scenario.Geometry.from_segments(segs)
    pl = scenario.plan(geo, seed)
    locate = nation_locator(store)
    sensors = scenario.sensors(geo, pl, seed, locate)
    forts = scenario.fortifications(geo, pl, seed, locate)
    shared = dict(queries.rows("segment_internal_agreements", store=store))
    members = access.Memberships.load(store)
    scenario.releasability(sensors, scenario.SENSOR_RELEASE, seed, 5, now, members.agreements_of)
    scenario.releasability(forts, scenario.FORTIFICATION_RELEASE, seed, 6, now, members.agreements_of)
    scenario.last_heard(sensors, seed, now)
    staged_segments = pa.table({
        "seg_idx": pa.array(np.arange(len(geo.ids)), pa.int32()),
        "segment_id": geo.ids, "nation_a": geo.nation_a, "nation_b": geo.nation_b,
        "shared_under": pa.array([shared.get(s) for s in geo.ids], pa.list_(pa.string())),
        # agreements each side belongs to now (scenario incidents released to "the owner's agreements")
        "agreements_a": pa.array([members.agreements_of(n, now) or None for n in geo.nation_a], pa.list_(pa.string())),
        "agreements_b": pa.array([members.agreements_of(n, now) or None for n in geo.nation_b], pa.list_(pa.string())),
    })
    with store.transaction() as cur:
        queries.execute("delete_meta", store=store, key=SCENARIO_KEY)
        for table in ("incidents", "sensors", "fortifications"):
            queries.execute("delete_dataset", store=store, idents={"table": table}, dataset="scenario")
        _stage(cur, pd.DataFrame(sensors))
        queries.execute("insert_sensors", store=store, dataset="scenario", synthetic=True)
        _stage(cur, pd.DataFrame(forts))
        queries.execute("insert_fortifications", store=store, dataset="scenario", synthetic=True)
        cur.unregister("staged")
        coverage.refresh(store)
    done = 0
    for table in scenario.incident_chunks(geo, pl, incidents, seed, now, chunk=chunk):
        with store.transaction() as cur:
            cur.register("staged_segments", staged_segments)
            cur.register("staged", table)
            queries.execute("insert_scenario_incidents", store=store, seed=str(seed), ingested_at=now)
            cur.unregister("staged")
            cur.unregister("staged_segments")
        done += table.num_rows
        if show_progress:
            scenario.progress(done, incidents)
    summary = {"seed": seed, "incidents": incidents, "sensors": len(sensors), "fortifications": len(forts),
               "now": now.isoformat() + "Z", "seconds": round(time.monotonic() - t0, 1)}
    with store.transaction():
        queries.execute("set_meta", store=store, key=SCENARIO_KEY, value=json.dumps(summary))
    return summary
