"""A tiny hand-made store for unit tests: three square nations, two border segments as literal
WKT, two sensors, two fortifications and eight incidents whose every value is written here.

Beside the scenario store (``small_store``, 20,000 generated incidents), this is the store where a
test can name the exact rows it expects. The world (real codes, simple shapes)::

    36 N  +-----------------------+
          |          USA          |
    32 N  +==== MEX-USA segment ==+   a radar (online) and a fence on it, a checkpoint
          |          MEX          |
    26 N  +==== GTM-MEX segment ==+   a thermal camera (offline) on it
          |          GTM          |
    22 N  +-----------------------+
        110 W                   100 W
"""
from __future__ import annotations

import datetime as dt
import pathlib

import pandas as pd
import shapely

import queries
from borderwatch import coverage, incident_store, reference
from borderwatch.domain import GEOD, coverage_polygon
from borderwatch.store import Store

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)

NATIONS = {
    "USA": ("United States of America", "POLYGON ((-110 32, -100 32, -100 36, -110 36, -110 32))"),
    "MEX": ("Mexico", "POLYGON ((-110 26, -100 26, -100 32, -110 32, -110 26))"),
    "GTM": ("Guatemala", "POLYGON ((-110 22, -100 22, -100 26, -110 26, -110 22))"),
}
SEGMENTS = {
    "MEX-USA": "LINESTRING (-110 32, -105 32, -100 32)",
    "GTM-MEX": "LINESTRING (-110 26, -105 26, -100 26)",
}
RELEASED = {"owner_nation": None, "release_public": None, "release_nations": None, "release_agreements": None}


def _hours_ago(h: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=h)


# incident_id, hours before NOW, threat, severity, reporting nation, lon, lat, releasability
INCIDENTS = [
    ("t-1", 2, "illegal_crossing", 1, "USA", -106.0, 32.05, {}),                                   # owner only
    ("t-2", 5, "smuggling", 2, "USA", -104.0, 31.95, {"release_nations": ["MEX"]}),                # REL TO MEX
    ("t-3", 30, "drug_trafficking", 3, "MEX", -103.0, 31.9, {"release_agreements": ["us-mex"]}),   # REL TO US-MEX
    ("t-4", 50, "human_trafficking", 4, "MEX", -108.0, 32.1, {}),
    ("t-5", 24 * 10, "weapons_trafficking", 3, "GTM", -105.0, 26.1, {"release_public": True}),    # public
    ("t-6", 24 * 20, "illegal_crossing", 1, "GTM", -107.0, 25.9, {}),
    ("t-7", 24 * 40, "document_fraud", 2, "MEX", -101.0, 26.05, {"release_nations": ["GTM", "USA"]}),
    ("t-8", 24 * 200, "armed_incursion", 4, "USA", -100.5, 32.2, {"release_public": True}),
]


def build(path: pathlib.Path) -> Store:
    """Write the tiny world into a new store at ``path``."""
    store = Store(path)
    geod = GEOD
    with store.transaction() as cur:
        reference.stage(cur, pd.DataFrame({
            "iso3": list(NATIONS), "name": [n for n, _ in NATIONS.values()],
            "wkb": [shapely.to_wkb(shapely.from_wkt(w)) for _, w in NATIONS.values()], "source": "hand-made"}))
        queries.execute("insert_nations", store=store)
        lines = {k: shapely.from_wkt(w) for k, w in SEGMENTS.items()}
        reference.stage(cur, pd.DataFrame({
            "segment_id": list(lines), "nation_a": [k[:3] for k in lines], "nation_b": [k[4:] for k in lines],
            "length_km": [geod.geometry_length(g) / 1000 for g in lines.values()],
            "wkb": [shapely.to_wkb(g) for g in lines.values()], "source": "hand-made"}))
        queries.execute("insert_segments", store=store)
        reference.load_agreements(cur, store)
        reference.stage(cur, pd.DataFrame([
            {"sensor_id": "s-radar", "sensor_type": "radar", "name": "Radar on MEX-USA", "status": "online",
             "lon": -105.0, "lat": 32.05, "range_m": 20_000.0, "azimuth_deg": 180.0, "fov_deg": 120.0,
             "segment_id": "MEX-USA", "nation": "USA", "reported_at": _hours_ago(24 * 30), **RELEASED,
             "last_heard_at": _hours_ago(0.1),
             "coverage_wkb": shapely.to_wkb(coverage_polygon(-105.0, 32.05, 20_000, 180, 120))},
            {"sensor_id": "s-thermal", "sensor_type": "thermal_camera", "name": "Camera on GTM-MEX",
             "status": "offline", "lon": -105.0, "lat": 26.02, "range_m": 8_000.0, "azimuth_deg": 180.0,
             "fov_deg": 45.0, "segment_id": "GTM-MEX", "nation": "MEX", "reported_at": _hours_ago(24 * 30),
             "last_heard_at": _hours_ago(72),
             **dict(RELEASED, release_public=True),
             "coverage_wkb": shapely.to_wkb(coverage_polygon(-105.0, 26.02, 8_000, 180, 45))},
        ]))
        queries.execute("insert_sensors", store=store, dataset="tiny", synthetic=True)
        reference.stage(cur, pd.DataFrame([
            {"fortification_id": "f-fence", "kind": "fence", "name": "Fence", "condition": "good",
             "year_built": 2010, "segment_id": "MEX-USA", "nation": "USA", "reported_at": _hours_ago(24 * 90),
             **dict(RELEASED, release_public=True),
             "geom_wkb": shapely.to_wkb(shapely.from_wkt("LINESTRING (-108 32, -106 32)"))},
            {"fortification_id": "f-checkpoint", "kind": "checkpoint", "name": "Checkpoint", "condition": "fair",
             "year_built": 1995, "segment_id": "MEX-USA", "nation": "MEX", "reported_at": _hours_ago(24 * 90),
             **RELEASED, "geom_wkb": shapely.to_wkb(shapely.Point(-104.0, 32.0))},
        ]))
        queries.execute("insert_fortifications", store=store, dataset="tiny", synthetic=True)
        cur.unregister("staged")
        coverage.refresh(store)
    rows = pd.DataFrame([{"incident_id": i, "occurred_at": _hours_ago(h), "threat_type": t, "severity": s,
                          "reporting_nation": n, "lon": lon, "lat": lat, "description": f"hand-made {t}"}
                         for i, h, t, s, n, lon, lat, _ in INCIDENTS])
    table = incident_store.prepare_incidents(rows, store, dataset="tiny", synthetic=True)
    frame = table.to_pandas()
    for k, (*_, release) in enumerate(INCIDENTS):
        for column, value in release.items():
            frame.at[k, column] = value
    import pyarrow as pa

    incident_store.insert_incidents(store, pa.Table.from_pandas(frame, schema=incident_store.INCIDENT_SCHEMA,
                                                            preserve_index=False))
    return store
