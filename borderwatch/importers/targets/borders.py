"""Borders: border lines between two nations (segments) and nation outlines (polygons)."""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from borderwatch.importers import values as vals
from borderwatch.importers.targets._common import GEOD, Context, nation_codes, refresh_coverage, stage, texts
import queries

# -- borders --------------------------------------------------------------------------------
_PAIR_SEPARATORS = (r"\s*[/|;,–—]\s*", r"\s+-\s+", r"\s+and\s+", r"\s*-\s*")


def _pair(ctx: Context, value: Any) -> tuple[str, str] | None:
    s = vals._text(value)
    if s is None:
        return None
    for sep in _PAIR_SEPARATORS:
        parts = [p for p in re.split(sep, s) if p]
        if len(parts) == 2:
            a, b = ctx.nations.code(parts[0]), ctx.nations.code(parts[1])
            if a and b:
                return a, b
    return None


INFER_KM = 5.0  # a line follows a reference segment where it is within this distance of it
INFER_SHARE = 0.6  # ... along at least this share of its length
_STEP_KM = 1.0


def infer_pair(line, segments) -> tuple[str | None, float, str | None]:
    """(pair, share, best pair) for a border line without nation attributes: the reference pair whose
    segment lies within INFER_KM of the largest share of the line's length (None when under INFER_SHARE).

    ``segments`` is (segment ids, STRtree of their geometries). The line is sampled every km or so;
    distances are geodesic (WGS 84) from each sample to the nearest point of the candidate segment."""
    ids, tree = segments
    length_km = GEOD.geometry_length(line) / 1000
    n = int(min(max(length_km / _STEP_KM, 2), 2000))
    samples = shapely.line_interpolate_point(line, np.linspace(0, 1, n), normalized=True)
    margin = INFER_KM / 111.0 * 3  # degrees: generous, the geodesic test below decides
    near_idx = tree.query_nearest(samples, max_distance=margin, all_matches=False)
    votes: dict[str, int] = {}
    for k, seg in zip(*near_idx):
        target = shapely.shortest_line(samples[k], tree.geometries[seg])
        (x0, y0), (x1, y1) = shapely.get_coordinates(target)
        if GEOD.inv(x0, y0, x1, y1)[2] <= INFER_KM * 1000:
            votes[ids[seg]] = votes.get(ids[seg], 0) + 1
    if not votes:
        return None, 0.0, None
    best = max(votes, key=votes.get)
    share = votes[best] / n
    return (best if share >= INFER_SHARE else None), share, best


def build_parts(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    a_codes = nation_codes(ctx, "nation_a") if ctx.has("nation_a") else [None] * ctx.n
    b_codes = nation_codes(ctx, "nation_b") if ctx.has("nation_b") else [None] * ctx.n
    own = nation_codes(ctx, "nation") if ctx.has("nation") else [None] * ctx.n
    names = texts(ctx, "name")
    pairs = ctx.get("pair")
    lines, polys = [], []
    repaired = []
    for i, g in enumerate(ctx.geoms):
        if g is None:
            continue
        parts = list(g.geoms) if g.geom_type == "GeometryCollection" else [g]
        types = {p.geom_type.replace("Multi", "") for p in parts}
        if "Point" in types:
            ctx.fail(i, "geometry", "points cannot be borders: give lines (a border between two nations) or polygons "
                                    "(a nation's outline)", g.geom_type)
            continue
        if types == {"LineString"}:
            a, b = a_codes[i], b_codes[i]
            if (a is None or b is None) and ctx.has("pair"):
                found = _pair(ctx, pairs[i])
                if found:
                    a, b = found
                elif vals._text(pairs[i]):
                    ctx.fail(i, "pair", f"{vals._text(pairs[i])!r} does not name two known nations (e.g. 'MEX-USA')",
                             pairs[i])
                    continue
            if (a is None or b is None) and i not in ctx.failed and ctx.segments is not None:
                line = shapely.line_merge(shapely.union_all(parts)) if len(parts) > 1 else g
                found, share, best = infer_pair(line, ctx.segments)
                if found is None:
                    near = f"; the closest pair, {best}, runs along {share:.0%} of it" if best else ""
                    ctx.fail(i, "nation_a", "the line names no nations and follows no reference border closely enough to "
                                            f"tell which (at least {INFER_SHARE:.0%} of its length within "
                                            f"{INFER_KM:g} km of one pair's segment{near}); give them with "
                                            "--set nation_a=... --set nation_b=...")
                    continue
                a, b = found.split("-")
                ctx.count("inferred", 1)
                ctx.samples.setdefault("inferred_pairs", set()).add(f"{found} ({share:.0%})")
            if a is None or b is None:
                if i in ctx.failed:
                    continue  # an unknown code was already reported
                ctx.fail(i, "nation_a", "a border line needs the nations on both sides (map nation_a and nation_b, or a "
                                        "pair column such as 'MEX-USA')")
                continue
            if a == b:
                ctx.fail(i, "nation_b", f"both sides of the border are {a}", b)
                continue
            line = shapely.line_merge(shapely.union_all(parts)) if len(parts) > 1 else g
            if line.is_empty or not line.is_valid or shapely.length(line) == 0:
                ctx.fail(i, "geometry", "line has zero length or fewer than two distinct points")
                continue
            lo, hi = sorted((a, b))
            lines.append({"_pos": i, "segment_id": f"{lo}-{hi}", "nation_a": lo, "nation_b": hi, "geometry": line})
        elif types == {"Polygon"}:
            code = own[i] or (a_codes[i] if not ctx.has("nation") and not ctx.has("nation_b") else None)
            if code is None:
                if i not in ctx.failed:
                    ctx.fail(i, "nation", "a nation outline needs its nation code (map a column with --map nation=COLUMN)")
                continue
            poly = shapely.union_all(parts) if len(parts) > 1 else g
            if not poly.is_valid:
                fixed = shapely.make_valid(poly, method="structure", keep_collapsed=False)
                fixed = _polygonal(fixed)
                if fixed is None or fixed.is_empty:
                    ctx.fail(i, "geometry", f"invalid polygon ({shapely.is_valid_reason(poly)}) that cannot be repaired "
                                            "without losing its area")
                    continue
                repaired.append(i)
                poly = fixed
            polys.append({"_pos": i, "iso3": code, "name": names[i], "geometry": poly})
        else:
            ctx.fail(i, "geometry", f"mixes {' and '.join(sorted(types))}: give lines and polygons as separate features")
    ctx.count("repaired", len(repaired))
    cols_l = ["_pos", "segment_id", "nation_a", "nation_b", "geometry"]
    cols_p = ["_pos", "iso3", "name", "geometry"]
    return pd.DataFrame(lines, columns=cols_l), pd.DataFrame(polys, columns=cols_p)



def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [p for p in geom.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts) if parts else None
    return None


def group_borders(lines: pd.DataFrame, polys: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One segment per nation pair (lines merged, geodesic length) and one outline per nation."""
    segs = []
    for sid, grp in lines.groupby("segment_id", sort=True):
        merged = shapely.line_merge(shapely.union_all(list(grp.geometry)))
        if merged.geom_type == "LineString":
            merged = shapely.MultiLineString([merged])
        segs.append({"segment_id": sid, "nation_a": grp.nation_a.iloc[0], "nation_b": grp.nation_b.iloc[0],
                     "length_km": GEOD.geometry_length(merged) / 1000.0, "geometry": merged, "source": source,
                     "rows": len(grp)})
    outlines = []
    for code, grp in polys.groupby("iso3", sort=True):
        geom = shapely.union_all(list(grp.geometry))
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        names = {n for n in grp.name if n}
        name = names.pop() if len(names) == 1 else None  # several names: parts of the nation, not its name
        outlines.append({"iso3": code, "name": name, "geometry": geom, "source": source, "rows": len(grp)})
    return (pd.DataFrame(segs, columns=["segment_id", "nation_a", "nation_b", "length_km", "geometry", "source", "rows"]),
            pd.DataFrame(outlines, columns=["iso3", "name", "geometry", "source", "rows"]))



def _write(store, cur, segments: pd.DataFrame, outlines: pd.DataFrame) -> dict[str, Any]:
    replaced_segments = replaced_nations = 0
    if len(segments):
        ids = segments.segment_id.tolist()
        replaced_segments = int(queries.scalar("import_count_segments", store=store, ids=ids))
        queries.execute("import_delete_segments", store=store, ids=ids)
        stage(cur, pa.table({
            "segment_id": ids, "nation_a": segments.nation_a.tolist(), "nation_b": segments.nation_b.tolist(),
            "length_km": segments.length_km.to_numpy(float),
            "wkb": pa.array(shapely.to_wkb(np.asarray(segments.geometry.values, dtype=object)).tolist(), pa.binary()),
            "source": segments.source.tolist(),
        }))
        try:
            queries.execute("insert_segments", store=store)
        finally:
            cur.unregister("staged")
        queries.execute("delete_all", store=store, idents={"table": "segment_agreements"})
        queries.execute("refresh_segment_agreements", store=store)
    if len(outlines):
        codes = outlines.iso3.tolist()
        current = dict(queries.rows("nation_names", store=store))
        known = vals.reference_nations().names
        names = [n if n else current.get(c) or known.get(c, c) for c, n in zip(codes, outlines.name)]
        replaced_nations = int(queries.scalar("import_count_nations", store=store, codes=codes))
        queries.execute("import_delete_nations", store=store, codes=codes)
        stage(cur, pa.table({
            "iso3": codes, "name": names,
            "wkb": pa.array(shapely.to_wkb(np.asarray(outlines.geometry.values, dtype=object)).tolist(), pa.binary()),
            "source": outlines.source.tolist(),
        }))
        try:
            queries.execute("insert_nations", store=store)
        finally:
            cur.unregister("staged")
    if len(segments):
        refresh_coverage(store)
    return {"written": int(len(segments) + len(outlines) - replaced_segments - replaced_nations),
            "already_present": 0, "replaced": replaced_segments + replaced_nations}




def build(ctx: Context) -> pd.DataFrame:
    """Border lines of the chunk; its nation outlines go to ``ctx.outlines``."""
    lines, ctx.outlines = build_parts(ctx)
    return lines


def write(store, plan) -> dict[str, Any]:
    outlines = plan.outlines if plan.outlines is not None else pd.DataFrame()
    with store.transaction() as cur:
        return _write(store, cur, plan.records, outlines)


def count_existing(store, plan) -> tuple[int, int]:
    """(already present, replaced): imported segments and outlines always replace the stored ones."""
    ids = plan.records.segment_id.tolist() if len(plan.records) else []
    replaced = int(queries.scalar("import_count_segments", store=store, ids=ids)) if ids else 0
    if plan.outlines is not None and len(plan.outlines):
        replaced += int(queries.scalar("import_count_nations", store=store, codes=plan.outlines.iso3.tolist()))
    return 0, replaced
