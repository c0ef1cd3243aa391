"""Sensors: a site (point) with type, range, azimuth, field of view and status, and its coverage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from borderwatch import incident_store
from borderwatch.reference import nation_locator
from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.importers.targets._common import (Context, count_existing_ids, insert, nation_codes, owned, points,
                                                   refresh_coverage, strings, texts)
from borderwatch.domain import SENSOR_TYPES, coverage_polygon

MAX_RANGE_M = 500_000.0


def build(ctx: Context) -> pd.DataFrame:

    lon, lat = points(ctx)
    n = ctx.n
    raw_types = ctx.get("sensor_type")
    found = vals.lookup(raw_types, mp.SENSOR_TYPES)
    odd = [vals._text(v) for v, t in zip(raw_types, found) if t is None and vals._text(v)]
    missing_type = sum(1 for v in raw_types if vals._text(v) is None)
    types = [t or "other" for t in found]
    ctx.count("no_sensor_type", len(odd) + missing_type, odd)
    rng_m, e1 = vals.parse_distances(ctx.get("range_m"), 1.0)
    rng_km, e2 = vals.parse_distances(ctx.get("range_km"), 1000.0)
    for i, r in e1.items():
        ctx.fail(i, "range_m", r, ctx.get("range_m")[i])
    for i, r in e2.items():
        ctx.fail(i, "range_km", r, ctx.get("range_km")[i])
    rng = np.where(np.isnan(rng_m), rng_km, rng_m)
    defaulted = 0
    for i in range(n):
        if np.isnan(rng[i]) and i not in e1 and i not in e2:
            spec = SENSOR_TYPES.get(types[i])
            if spec is None:
                ctx.fail(i, "range_m", "no range: give range_m or range_km (the type does not imply one)")
                continue
            rng[i] = spec.typical_range_m
            defaulted += 1
        elif not np.isnan(rng[i]) and not 0 < rng[i] <= MAX_RANGE_M:
            target = "range_m" if not np.isnan(rng_m[i]) else "range_km"
            ctx.fail(i, target, f"range {rng[i]:,.0f} m is not between 0 and {MAX_RANGE_M / 1000:.0f} km", rng[i])
    ctx.count("range_default", defaulted)
    if ctx.has("range_m") and not ctx.has("range_km") and ctx.label("range_m").lower() in ("range", "radius"):
        plain = rng_m[~np.isnan(rng_m)]
        ctx.count("plain_ranges", len(plain))
        ctx.count("plain_ranges_over_100m", int((plain >= 100).sum()))
    az, e3 = vals.parse_numbers(ctx.get("azimuth_deg"), what="bearing in degrees")
    for i, r in e3.items():
        ctx.fail(i, "azimuth_deg", r, ctx.get("azimuth_deg")[i])
    for i in np.flatnonzero(np.abs(np.nan_to_num(az)) > 360):
        ctx.fail(int(i), "azimuth_deg", f"azimuth {az[i]:g} is not between -360 and 360 degrees", az[i])
    az = np.where(np.isnan(az), 0.0, np.mod(az, 360.0))
    fov, e4 = vals.parse_numbers(ctx.get("fov_deg"), what="angle in degrees")
    for i, r in e4.items():
        ctx.fail(i, "fov_deg", r, ctx.get("fov_deg")[i])
    for i in range(n):
        if np.isnan(fov[i]):
            spec = SENSOR_TYPES.get(types[i])
            fov[i] = (spec.fov_deg or 360.0) if spec else 360.0
        elif fov[i] == 0:
            fov[i] = 360.0
        elif not 0 < fov[i] <= 360:
            ctx.fail(i, "fov_deg", f"field of view {fov[i]:g} is not between 0 and 360 degrees (0 or 360 = all round)",
                     fov[i])
    statuses = vals.lookup(ctx.get("status"), mp.STATUSES)
    no_status = 0
    for i, (v, s) in enumerate(zip(ctx.get("status"), statuses)):
        if vals._text(v) is None:
            statuses[i] = "online"
            no_status += 1
        elif s is None:
            ctx.fail(i, "status", f"unknown status {vals._text(v)!r} (online, degraded or offline)", v)
    ctx.count("no_status", no_status)
    return pd.DataFrame({
        "_pos": np.arange(n), "sensor_type": types, "name": texts(ctx, "name"), "status": statuses,
        "lon": lon, "lat": lat, "range_m": rng, "azimuth_deg": az, "fov_deg": fov,
        "nation": nation_codes(ctx, "nation"),
    })



def _nations(records: pd.DataFrame, locate) -> list[str | None]:
    """The nation each sensor stands in: given in the file, else found from its position."""
    return [n if isinstance(n, str) else locate(float(x), float(y))
            for n, x, y in zip(records.nation, records.lon, records.lat)]


def _write(store, cur, plan, locate) -> dict[str, int]:
    records = plan.records
    loc = incident_store.locator(store)
    near = loc.nearest(records.lon.to_numpy(float), records.lat.to_numpy(float))
    coverage = [shapely.to_wkb(coverage_polygon(r.lon, r.lat, r.range_m, r.azimuth_deg, r.fov_deg))
                for r in records.itertuples()]
    table = pa.table({
        "sensor_id": strings(records.sensor_id),
        "sensor_type": strings(records.sensor_type),
        "name": strings(records.name),
        "status": strings(records.status),
        "lon": pa.array(records.lon.to_numpy(float)), "lat": pa.array(records.lat.to_numpy(float)),
        "range_m": pa.array(records.range_m.to_numpy(float)),
        "azimuth_deg": pa.array(records.azimuth_deg.to_numpy(float)),
        "fov_deg": pa.array(records.fov_deg.to_numpy(float)),
        "segment_id": strings([loc.ids[k] if k >= 0 else None for k in near]),
        "nation": strings(_nations(records, locate)),
        "coverage_wkb": pa.array(coverage, pa.binary()),
    })
    table = owned(table, plan.owner, plan.release)  # written owned and released (identity: owner + id)
    counts = insert(store, cur, "sensors", "import_sensors", table, plan.report.dataset, plan.replace)
    refresh_coverage(store)
    return counts


def write(store, plan) -> dict[str, int]:
    locate = nation_locator(store)
    with store.transaction() as cur:
        return _write(store, cur, plan, locate)


def count_existing(store, plan) -> tuple[int, int]:
    """(already present, replaced): sensors whose id the same owner already stored (dry runs)."""
    nations = _nations(plan.records, nation_locator(store))
    return count_existing_ids(store, "import_existing_sensors", plan.records.sensor_id.tolist(), nations, plan.owner), 0
