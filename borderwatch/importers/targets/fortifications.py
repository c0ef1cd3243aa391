"""Fortifications: walls, fences, barriers, patrol roads (lines); posts, checkpoints, gates, towers (points)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from borderwatch import incident_store
from borderwatch.reference import nation_locator
from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.importers.targets._common import (Context, count_existing_ids, insert, nation_codes, owned, representative,
                                                   strings, texts)

EARLIEST_BUILT = 1800


def build(ctx: Context) -> pd.DataFrame:
    kinds = _fortification_kinds(ctx)
    names = texts(ctx, "name")
    conditions = vals.lookup(ctx.get("condition"), mp.CONDITIONS)
    odd = [vals._text(v) for v, c in zip(ctx.get("condition"), conditions) if c is None and vals._text(v)]
    ctx.count("odd_condition", len(odd), odd)
    years = _years(ctx)
    nations = nation_codes(ctx, "nation")
    rows = []
    for i, g in enumerate(ctx.geoms):
        if g is None:
            continue
        parts = list(g.geoms) if g.geom_type == "GeometryCollection" else [g]
        bad = [p.geom_type for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
        if bad:
            ctx.fail(i, "geometry", f"a {bad[0]} is not a fortification: draw walls and fences as lines and posts, "
                                    "gates and towers as points", bad[0])
            continue
        for k, part in enumerate(parts):
            if part.geom_type in ("LineString", "MultiLineString") and not part.is_valid:
                ctx.fail(i, "geometry", f"{part.geom_type} has zero length or fewer than two distinct points")
                break
            rows.append({"_pos": i, "_part": k + 1 if len(parts) > 1 else 0, "kind": kinds[i], "name": names[i],
                         "condition": conditions[i], "year_built": years[i], "nation": nations[i], "geometry": part})
    return pd.DataFrame(rows, columns=["_pos", "_part", "kind", "name", "condition", "year_built", "nation", "geometry"])


def _attr(ctx: Context, name: str) -> list[Any]:
    col = next((c for c in ctx.attrs.columns if str(c).lower() == name), None)
    return [None] * ctx.n if col is None else ctx.attrs[col].tolist()


def _fortification_kinds(ctx: Context) -> list[str]:
    given = vals.lookup(ctx.get("kind"), mp.KINDS)
    tags = {key: [vals._text(v) for v in _attr(ctx, key)] for key, _, _ in mp.OSM_KIND_RULES}
    vehicle = [[vals._text(v) for v in _attr(ctx, key)] for key in mp.OSM_VEHICLE_TAGS]
    kinds, unknown_values, unknown_rows = [], set(), 0
    osm_used = 0
    for i in range(ctx.n):
        kind = given[i]
        if kind is None:
            for key, values_, target in mp.OSM_KIND_RULES:
                if (tags[key][i] or "").lower() in values_:
                    kind = target
                    osm_used += 1
                    break
            if kind == "fence" and any((v[i] or "").lower() == "vehicle" for v in vehicle):
                kind = "vehicle_barrier"
        if kind is None:
            raw = vals._text(ctx.get("kind")[i])
            if raw:
                unknown_values.add(raw)
            unknown_rows += 1
            kind = "other"
        kinds.append(kind)
    ctx.count("osm_kind", osm_used)
    ctx.count("no_kind", unknown_rows, unknown_values)
    return kinds


def _years(ctx: Context) -> list[int | None]:
    out: list[int | None] = []
    this_year = (ctx.now or dt.datetime.now()).year
    for i, v in enumerate(ctx.get("year_built")):
        s = vals._text(v)
        if s is None:
            out.append(None)
            continue
        m = re.match(r"^\s*~?(\d{4})", s)
        year = int(m.group(1)) if m else None
        if year is None or not EARLIEST_BUILT <= year <= this_year + 1:
            ctx.fail(i, "year_built", f"year built {s!r} is not a year between {EARLIEST_BUILT} and {this_year + 1}", v)
            out.append(None)
        else:
            out.append(year)
    return out



def _nations(records: pd.DataFrame, rep: np.ndarray, locate) -> list[str | None]:
    """The nation each fortification stands in: given in the file, else found from a point on it."""
    return [n if isinstance(n, str) else locate(float(x), float(y)) for n, (x, y) in zip(records.nation, rep)]


def _write(store, cur, plan, locate) -> dict[str, int]:
    records = plan.records
    geoms = np.asarray(records.geometry.values, dtype=object)
    rep = representative(geoms)
    loc = incident_store.locator(store)
    near = loc.nearest(rep[:, 0], rep[:, 1])
    table = pa.table({
        "fortification_id": strings(records.fortification_id),
        "kind": strings(records.kind),
        "name": strings(records.name),
        "condition": strings(records.condition),
        "year_built": pa.array([None if pd.isna(y) else int(y) for y in records.year_built], pa.int32()),
        "segment_id": strings([loc.ids[k] if k >= 0 else None for k in near]),
        "nation": strings(_nations(records, rep, locate)),
        "geom_wkb": pa.array(shapely.to_wkb(geoms).tolist(), pa.binary()),
    })
    table = owned(table, plan.owner, plan.release)  # written owned and released (identity: owner + id)
    return insert(store, cur, "fortifications", "import_fortifications", table, plan.report.dataset, plan.replace)


def write(store, plan) -> dict[str, int]:
    locate = nation_locator(store)
    with store.transaction() as cur:
        return _write(store, cur, plan, locate)


def count_existing(store, plan) -> tuple[int, int]:
    """(already present, replaced): fortifications whose id the same owner already stored (dry runs)."""
    records = plan.records
    rep = representative(np.asarray(records.geometry.values, dtype=object)) if len(records) else np.empty((0, 2))
    nations = _nations(records, rep, nation_locator(store))
    return count_existing_ids(store, "import_existing_fortifications", records.fortification_id.tolist(), nations,
                              plan.owner), 0
