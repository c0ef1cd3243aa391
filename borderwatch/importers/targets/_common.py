"""What every target layer shares: the ``Context`` a builder validates, field parsers, ids, staged writes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import Geod
import shapely

from borderwatch import coverage, incident_store, schema
from borderwatch.importers import values as vals
import queries
from borderwatch.filters import utcnow

GEOD = Geod(ellps="WGS84")


@dataclasses.dataclass
class Context:
    layer: str
    n: int
    values: dict[str, list[Any]]  # target -> value per row (None = missing)
    labels: dict[str, str]  # target -> column (or preset rule) named in errors
    geoms: np.ndarray  # WGS 84 shapely geometries (None where missing or rejected)
    attrs: pd.DataFrame  # the file's columns (OSM tags etc.)
    nations: vals.Nations
    precision: list[str | None] | None = None  # from a preset
    threat_map: dict[str, str] | None = None
    date_format: str | None = None
    date_order: tuple[str | None, str | None] | None = None  # file-wide reading of a/b/yyyy dates
    now: dt.datetime | None = None
    source: str = ""
    errors: list[tuple[int, str | None, str, Any]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    failed: set[int] = dataclasses.field(default_factory=set)
    # counted observations, summed over chunks and worded once by ``messages``
    tally: dict[str, int] = dataclasses.field(default_factory=dict)
    samples: dict[str, set] = dataclasses.field(default_factory=dict)
    outlines: pd.DataFrame | None = None  # borders: the nation outlines of this chunk
    segments: tuple[np.ndarray, Any] | None = None  # borders: reference segment ids and their STRtree
    coords: np.ndarray | None = None  # points as lon/lat (NaN where rejected) instead of ``geoms``

    def count(self, key: str, n: int, values: Iterable[Any] = ()) -> None:
        if n:
            self.tally[key] = self.tally.get(key, 0) + int(n)
        found = {v for v in values if v}
        if found:
            self.samples.setdefault(key, set()).update(found)

    def get(self, target: str) -> list[Any]:
        return self.values.get(target) or [None] * self.n

    def has(self, target: str) -> bool:
        return target in self.values

    def label(self, target: str) -> str:
        return self.labels.get(target, target)

    def fail(self, pos: int, target: str | None, reason: str, value: Any = None) -> None:
        field = self.label(target) if target else None
        self.errors.append((pos, field, reason, value))
        self.failed.add(pos)

    def require(self, target: str) -> bool:
        if self.has(target):
            return True
        self.errors.append((-1, target, f"no column gives {target} (map one with --map {target}=COLUMN or set one "
                                        f"value for all rows with --set {target}=VALUE)", None))
        return False


def short(value: Any) -> str | None:
    s = vals._text(value)
    return None if s is None else (s if len(s) <= 80 else s[:77] + "...")


# -- shared field parsers -------------------------------------------------------------------
def nation_codes(ctx: Context, target: str) -> list[str | None]:
    raw = ctx.get(target)
    codes, found = vals.by_value(raw, ctx.nations.code)
    out = np.array(found + [None], dtype=object)[codes]
    for i in np.flatnonzero((codes >= 0) & pd.isna(out)):
        v = raw[i]
        ctx.fail(int(i), target, f"unknown nation code {vals._text(v)!r} (use ISO 3166-1 alpha-3 such as FRA, "
                                 "alpha-2, numeric, or the English name)", v)
    return out.tolist()


def texts(ctx: Context, target: str, default: str | None = None) -> list[str | None]:
    if not ctx.has(target):  # no column, no fixed value: every row takes the default
        return [default] * ctx.n
    return [t or default for t in vals.texts(ctx.get(target))]


def points(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """lon / lat of point rows; other geometry types are rejected."""
    if ctx.coords is not None:  # every row a point already (``lonlat``)
        return ctx.coords[:, 0].copy(), ctx.coords[:, 1].copy()
    lon = np.full(ctx.n, np.nan)
    lat = np.full(ctx.n, np.nan)
    geoms = np.asarray(ctx.geoms, dtype=object)
    kinds = shapely.get_type_id(geoms)  # -1 where None
    simple = np.flatnonzero(kinds == 0)
    lon[simple], lat[simple] = shapely.get_x(geoms[simple]), shapely.get_y(geoms[simple])
    for i in np.flatnonzero(kinds > 0):
        g = geoms[i]
        kind = g.geom_type
        if kind == "MultiPoint" and len(g.geoms) == 1:
            g = g.geoms[0]
            kind = "Point"
        if kind == "GeometryCollection" and len(g.geoms) == 1 and g.geoms[0].geom_type == "Point":
            g = g.geoms[0]
            kind = "Point"
        if kind != "Point":
            what = f"{len(g.geoms)} points" if kind == "MultiPoint" else kind
            ctx.fail(int(i), "geometry", f"{ctx.layer} are points; this row has a {what}", kind)
            continue
        lon[i], lat[i] = g.x, g.y
    return lon, lat


def values_text(values: set) -> str:
    return f" (values {', '.join(sorted(map(repr, values))[:10])})" if values else ""


def messages(tally: dict[str, int], samples: dict[str, set]) -> tuple[list[str], dict[str, str]]:
    """Warnings and details worded once for the whole file from the chunks' tallies."""
    t = lambda key: tally.get(key, 0)  # noqa: E731
    warnings, details = [], {}
    if t("naive_times"):
        warnings.append(f"{t('naive_times'):,} time(s) had no time zone and were read as UTC")
    if t("odd_condition"):
        warnings.append(f"{t('odd_condition'):,} condition value(s) not understood, recorded as unknown"
                        f"{values_text(samples.get('odd_condition', set()))}")
    if t("osm_kind"):
        details["kind from OpenStreetMap tags"] = f"{t('osm_kind'):,} row(s)"
    if t("no_kind"):
        warnings.append(f"{t('no_kind'):,} row(s) have no recognisable fortification kind"
                        f"{values_text(samples.get('no_kind', set()))}: recorded as 'other' "
                        "(set one with --set kind=fence or map a column with --map kind=COLUMN)")
    if t("no_sensor_type"):
        warnings.append(f"{t('no_sensor_type'):,} sensor(s) have no recognisable type"
                        f"{values_text(samples.get('no_sensor_type', set()))}: recorded as 'other'")
    if t("range_default"):
        warnings.append(f"{t('range_default'):,} sensor(s) without a range got their type's typical range")
    if t("plain_ranges") and not t("plain_ranges_over_100m"):
        warnings.append("every range is under 100 m: plain 'range' numbers are metres; if they are kilometres "
                        "map the column as range_km")
    if t("no_status"):
        warnings.append(f"{t('no_status'):,} sensor(s) without a status were recorded as online")
    if t("repaired"):
        warnings.append(f"{t('repaired'):,} invalid polygon(s) were repaired (self-intersections resolved without "
                        "dropping area)")
    if t("inferred"):
        pairs = ", ".join(sorted(samples.get("inferred_pairs", set()))[:10])
        warnings.append(f"{t('inferred'):,} line(s) name no nations: the pair was inferred from the reference border "
                        f"they follow (share of their length within 5 km): {pairs}; give --set nation_a=... "
                        "--set nation_b=... if that is wrong")
        details["nations inferred"] = pairs
    return warnings, details



# -- ids ------------------------------------------------------------------------------------
def content_hashes(records: pd.DataFrame, fields: list[str], geometries: np.ndarray | None) -> list[str]:
    """A hash of each normalised record (fields and geometry rounded to 1e-7 degrees)."""
    n = len(records)
    parts = [pc.binary_join_element_wise(pa.scalar(f"{f}="), pa.array(canon_series(records[f]), pa.string()), "")
             for f in fields]
    if geometries is not None:
        rounded = shapely.transform(np.asarray(geometries, dtype=object), lambda c: np.round(c, 7))
        parts.append(pa.array(shapely.to_wkb(rounded, hex=True), pa.string()))
    if not parts:
        return [hashlib.sha1(b"").hexdigest()] * n
    joined = pc.binary_join_element_wise(*parts, "\x1f") if len(parts) > 1 else parts[0]
    sha1 = hashlib.sha1
    return [sha1(t.encode("utf-8")).hexdigest() for t in joined.to_pylist()]


def canon_series(col: pd.Series) -> np.ndarray:
    """Each value as the text hashed ('' where missing), independent of the other rows."""
    if col.dtype.kind == "M":
        return _canon_times(col.to_numpy(dtype="datetime64[us]"))
    if col.dtype.kind in "fiu":
        arr = col.to_numpy(dtype=float)
        text = np.round(arr, 7).astype(str).astype(object)
        text[np.isnan(arr)] = ""
        return text
    values = col.to_numpy(dtype=object)
    missing = pd.isna(values)
    return np.array(["" if m else v if type(v) is str else str(v) for v, m in zip(values, missing)], dtype=object)


def _canon_times(stamps: np.ndarray) -> np.ndarray:
    """Each time as text on its own (the same in any chunk of a file): the date alone at midnight,
    else to the second, else to the millisecond or microsecond; '' where missing."""
    out = np.datetime_as_string(stamps, unit="us").astype(object)
    if not len(out):
        return out
    text = np.char.replace(out.astype(str), "T", " ")
    micro = (stamps - stamps.astype("datetime64[s]")).astype(np.int64)
    midnight = stamps == stamps.astype("datetime64[D]")
    result = np.where(midnight, np.char.ljust(text, 10).astype("U10"),
                      np.where(micro == 0, text.astype("U19"),
                               np.where(micro % 1000 == 0, text.astype("U23"), text)))
    result = result.astype(object)
    result[np.isnat(stamps)] = ""
    return result


# -- writing --------------------------------------------------------------------------------
def strings(values) -> pa.Array:
    return pa.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values], pa.string())


def stage(cur, table: pa.Table, name: str = "staged") -> None:
    cur.register(name, table)



def insert(store, cur, table_name: str, query: str, table: pa.Table, dataset: str, replace: bool) -> dict[str, int]:
    """Write staged rows with the layer's insert query. Every layer's identity is its owner nation and
    its id, so "already present" and a replace concern only the owners this import writes."""
    removed, rows = 0, table.num_rows
    if query == "import_incidents":
        table = incident_store.first_per_identity(table)
    stage(cur, table)
    try:
        if replace:  # only the rows of the owners this import writes
            before = queries.scalar("count_rows", store=store, idents={"table": table_name})
            if query == "import_incidents":
                queries.execute("delete_incident_dataset", store=store, dataset=dataset)
            else:
                queries.execute("delete_owned_dataset", store=store, idents={"table": table_name}, dataset=dataset)
            removed = int(before - queries.scalar("count_rows", store=store, idents={"table": table_name}))
        before = queries.scalar("count_rows", store=store, idents={"table": table_name})
        if query == "import_incidents":
            queries.execute("insert_incidents", store=store)  # per owner: insert_incidents.sql
        elif query == "import_sensors":
            queries.execute(query, store=store, dataset=dataset, heard_at=utcnow())
        else:
            queries.execute(query, store=store, dataset=dataset, reported_at=utcnow())
    finally:
        cur.unregister("staged")
    after = queries.scalar("count_rows", store=store, idents={"table": table_name})
    written = int(after - before)
    return {"written": written, "already_present": int(rows - written), "replaced": removed}


def owned(table: pa.Table, owner: str | None, release) -> pa.Table:
    """``table`` with the import's owner and releasability on every row (``owner`` None: the nation
    each row stands in owns it, as ``access`` defaults)."""
    for name, value in incident_store.release_columns(owner, release).items():
        kind = pa.list_(pa.string()) if name in ("release_nations", "release_agreements") else \
            pa.bool_() if name == "release_public" else pa.string()
        table = table.append_column(name, pa.array([value] * table.num_rows, kind))
    return table




def refresh_coverage(store) -> None:
    """Sensor coverage per segment is derived: recompute it (inside the caller's transaction)."""
    if "segment_coverage" in schema.TABLES:
        coverage.refresh(store)


def representative(geoms: np.ndarray) -> np.ndarray:
    """A point on each geometry (the middle of a line) for nearest-segment and nation lookup."""
    out = np.empty((len(geoms), 2))
    for i, g in enumerate(geoms):
        if g.geom_type in ("LineString", "MultiLineString"):
            line = shapely.line_merge(g) if g.geom_type == "MultiLineString" else g
            if line.geom_type == "MultiLineString":
                line = max(line.geoms, key=lambda p: p.length)
            p = shapely.line_interpolate_point(line, 0.5, normalized=True)
        elif g.geom_type == "MultiPoint":
            p = g.geoms[0]
        else:
            p = g
        out[i] = (p.x, p.y)
    return out


def count_existing_ids(store, query: str, ids: list[str], nations: list[str | None], owner: str | None) -> int:
    """How many of ``ids`` (each standing in its nation) the store already holds under the same owner
    (``owner``, else the row's nation) and the viewer may see (dry runs): the named query over
    ``staged_ids``."""
    cur = store.cursor()
    cur.register("staged_ids", pa.table({"id": pa.array(ids, pa.string()), "nation": strings(nations)}))
    try:
        return int(queries.scalar(query, store=store, owner=owner))
    finally:
        cur.unregister("staged_ids")
