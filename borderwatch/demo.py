"""The synthetic demo scenario written into the store (fortifications, sensors, incidents)."""
from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa

import queries
from borderwatch import access, coverage, reference, scenario
from borderwatch.filters import utcnow
from borderwatch.store import Store

DEFAULT_INCIDENTS = 250_000
DEFAULT_SEED = 7
SCENARIO_KEY = "scenario"


def scenario_present(store: Store) -> bool:
    return queries.scalar("meta", store=store, key=SCENARIO_KEY) is not None


def build_demo(store: Store, *, seed: int = DEFAULT_SEED, incidents: int = DEFAULT_INCIDENTS,
               now: dt.datetime | None = None, chunk: int = 500_000, show_progress: bool = True) -> dict:
    """Replace the synthetic scenario in the store; returns a summary. Memory does not grow with
    ``incidents``: incidents are generated and committed chunk by chunk."""
    t0 = time.monotonic()
    now = (now or utcnow()).replace(microsecond=0)
    reference.load_into(store)
    segs = reference.segments_frame(store)
    geo = scenario.Geometry.from_segments(segs)
    pl = scenario.plan(geo, seed)
    locate = reference.nation_locator(store)
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
        reference.stage(cur, pd.DataFrame(sensors))
        queries.execute("insert_sensors", store=store, dataset="scenario", synthetic=True)
        reference.stage(cur, pd.DataFrame(forts))
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
