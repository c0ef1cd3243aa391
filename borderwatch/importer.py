"""Importing the user's own data: borders, fortifications, sensors and incidents from files.

    plan = read_file("incidents", "events.csv", preset="acled")   # parse + validate, writes nothing
    plan.report      # rows read / accepted, every rejected row with file, row, field and reason
    plan.preview     # a few accepted rows, normalised
    commit(plan, store)                                           # all or nothing, one transaction

    import_file("fortifications", "fence.geojson", store, dry_run=True)   # both steps (or a dry run)

Formats: GeoJSON, GeoPackage, zipped Shapefile, KML / KMZ (every folder a layer), GeoParquet,
and CSV with longitude / latitude columns, a WKT column or one "lat, lon" text column. Files
are read with GDAL (pyogrio) behind the checks of ``borderwatch.importers.safety``.

Policy: a file with any rejected row is refused whole and nothing is written; the report lists
every rejected row with its reason. ``skip_invalid=True`` (``--skip-invalid``) imports the valid
rows instead and still lists the rejected ones. Re-importing the same records does not duplicate
them: ids come from the file's id column (namespaced by source) or, without one, from a hash of
the normalised record. See ``docs/import.md`` for the field names, presets and tables.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from pyproj.transformer import AreaOfInterest, TransformerGroup

import queries
from borderwatch.importers import layers as lay
from borderwatch.importers import mapping as mp
from borderwatch.importers import safety, sources
from borderwatch.importers import values as vals
from borderwatch.importers.report import ALL_OR_NOTHING, SKIP_INVALID, FileRefused, ImportReport, RowError
from borderwatch.store import Store

__all__ = ["LAYERS", "PRESETS", "ImportPlan", "ImportRefused", "ImportReport", "RowError", "commit", "import_file",
           "read_file", "add_commands"]

LAYERS = mp.LAYERS
PRESETS = tuple(mp.PRESETS)
PREVIEW_ROWS = 20
CHUNK = 50_000
WGS84 = pyproj.CRS.from_epsg(4326)
Progress = Callable[[int, int], None]

# named queries counting staged ids already in the store, per layer
EXISTING_QUERY = {"fortifications": "import_existing_fortifications", "sensors": "import_existing_sensors",
                  "incidents": "import_existing_incidents"}


class ImportRefused(RuntimeError):
    """``commit`` was given a plan whose report does not allow writing."""

    def __init__(self, report: ImportReport):
        super().__init__(report.headline())
        self.report = report


@dataclasses.dataclass
class ImportPlan:
    """A validated file, ready to commit (or to show): nothing has been written yet."""
    layer: str
    report: ImportReport
    records: pd.DataFrame  # accepted records, normalised (WGS 84 geometries)
    outlines: pd.DataFrame | None = None  # borders layer: nation outlines
    replace: bool = False
    # every row read, in file order: its WGS 84 geometry (None where missing or unusable)
    geometries: np.ndarray = dataclasses.field(default_factory=lambda: np.array([], dtype=object))

    @property
    def ok(self) -> bool:
        return self.report.ok

    @property
    def preview(self) -> pd.DataFrame:
        """The first accepted records as the store will hold them (geometry as short WKT)."""
        frame = self.records.head(PREVIEW_ROWS).copy()
        if self.layer == "borders" and self.outlines is not None and len(self.outlines):
            extra = self.outlines.head(PREVIEW_ROWS).rename(columns={"iso3": "nation"})
            frame = pd.concat([frame, extra], ignore_index=True)
        if "geometry" in frame:
            frame["geometry"] = [_short_wkt(g) for g in frame.geometry]
        drop = [c for c in frame.columns if c.startswith("_")]
        return frame.drop(columns=drop).reset_index(drop=True)


def _short_wkt(g) -> str:
    if g is None:
        return ""
    text = shapely.to_wkt(g, rounding_precision=5)
    return text if len(text) <= 90 else text[:87] + "..."


# -- public API ---------------------------------------------------------------------------
def read_file(layer: str, path: str | pathlib.Path, *, mapping: dict[str, str] | None = None,
              preset: str | None = None, source_name: str | None = None, defaults: dict[str, Any] | None = None,
              layer_name: str | None = None, encoding: str | None = None, crs: str | None = None,
              skip_invalid: bool = False, date_format: str | None = None,
              threat_map: dict[str, str] | None = None, replace: bool = False, store: Store | None = None,
              progress: Progress | None = None, now: dt.datetime | None = None) -> ImportPlan:
    """Read and validate ``path`` as Borderwatch ``layer``; writes nothing.

    mapping: {field: column} overriding the automatic mapping ("" unmaps a field);
    preset: "acled", "iom-mmp" or "none" (default: detected from the columns, incidents only);
    source_name: where the rows come from (default: the preset's source, else the file name);
        ids are namespaced by it and rows go to dataset "import:<source_name>";
    defaults: {field: value} for rows where the file gives no value (e.g. reporting_nation);
    layer_name: read only this layer / folder of a multi-layer file;
    encoding: text encoding of a CSV or a Shapefile that does not declare one;
    crs: the coordinates' CRS when the file declares none (CSV x/y, a Shapefile without .prj);
    skip_invalid: import the valid rows of a file that has rejected rows (they are still listed);
    date_format: strptime format for dates the automatic parser cannot read or finds ambiguous;
    threat_map: {value in the file: Borderwatch threat type};
    replace: on commit, first remove what earlier imports from the same source wrote;
    store: when given, nation codes of the store count as known;
    progress: called as progress(rows_done, rows_total)."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, not {layer!r}")
    t0 = time.monotonic()
    p = pathlib.Path(path)
    report = ImportReport(file=p.name, layer=layer, path=str(p),
                          policy=SKIP_INVALID if skip_invalid else ALL_OR_NOTHING)
    plan = ImportPlan(layer, report, pd.DataFrame(), replace=replace)
    try:
        _read_into(plan, p, mapping=mapping, preset=preset, source_name=source_name, defaults=defaults,
                   layer_name=layer_name, encoding=encoding, crs=crs, date_format=date_format,
                   threat_map=threat_map, store=store, progress=progress, now=now)
    except FileRefused as exc:
        report.refuse(exc.reason, field=exc.field, layer=exc.layer)
        plan.records = pd.DataFrame()
    order = {name: k for k, name in enumerate(report.source_layers)}
    report.rejected.sort(key=lambda e: (e.row is not None, order.get(e.layer, -1), e.row or 0))
    if not report.ok:
        report.status = "refused"
    report.seconds = round(time.monotonic() - t0, 3)
    return plan


def commit(plan: ImportPlan, store: Store, *, progress: Progress | None = None) -> ImportReport:
    """Write the plan's accepted records in one store transaction (all or nothing); idempotent."""
    report = plan.report
    if not report.ok:
        raise ImportRefused(report)
    t0 = time.monotonic()
    from borderwatch.demo import nation_locator

    records = plan.records
    dataset = report.dataset
    if plan.layer == "incidents":
        table = lay.prepare_incidents(store, records, dataset)
        with store.transaction() as cur:
            counts = lay.write_incidents(store, cur, table, dataset, plan.replace)
    elif plan.layer == "fortifications":
        locate = nation_locator(store)
        with store.transaction() as cur:
            counts = lay.write_fortifications(store, cur, records, dataset, plan.replace, locate)
    elif plan.layer == "sensors":
        locate = nation_locator(store)
        with store.transaction() as cur:
            counts = lay.write_sensors(store, cur, records, dataset, plan.replace, locate)
    else:
        with store.transaction() as cur:
            counts = lay.write_borders(store, cur, records, plan.outlines if plan.outlines is not None else pd.DataFrame())
    report.written = counts["written"]
    report.already_present = counts["already_present"]
    report.replaced = counts["replaced"]
    report.status = "imported"
    if progress:
        progress(report.rows_read, report.rows_read)
    report.seconds = round(report.seconds + time.monotonic() - t0, 3)
    return report


def import_file(layer: str, path: str | pathlib.Path, store: Store, *, dry_run: bool = False,
                **options) -> ImportReport:
    """``read_file`` then ``commit`` (or, with ``dry_run``, the report of what would be written).

    Never raises for a bad file: a refused file comes back as a report with status "refused"."""
    plan = read_file(layer, path, store=store, **options)
    if dry_run:
        report = plan.report
        report.dry_run = True
        report.status = "dry run"
        if report.ok:
            _count_existing(plan, store)
        return report
    if not plan.ok:
        return plan.report
    return commit(plan, store, progress=options.get("progress"))


def _count_existing(plan: ImportPlan, store: Store) -> None:
    """Dry run: how many of the plan's records the store already holds."""
    report = plan.report
    if plan.layer == "borders":
        ids = plan.records.segment_id.tolist() if len(plan.records) else []
        report.already_present = 0
        report.replaced = int(queries.scalar("import_count_segments", store=store, ids=ids)) if ids else 0
        if plan.outlines is not None and len(plan.outlines):
            report.replaced += int(queries.scalar("import_count_nations", store=store, codes=plan.outlines.iso3.tolist()))
        return
    id_col = mp.ID_FIELD[plan.layer]
    cur = store.cursor()
    cur.register("staged_ids", pa.table({"id": pa.array(plan.records[id_col].tolist(), pa.string())}))
    try:
        report.already_present = int(queries.scalar(EXISTING_QUERY[plan.layer], store=store))
    finally:
        cur.unregister("staged_ids")


# -- the pipeline ---------------------------------------------------------------------------
def _read_into(plan: ImportPlan, path: pathlib.Path, *, mapping, preset, source_name, defaults, layer_name,
               encoding, crs, date_format, threat_map, store, progress, now) -> None:
    report = plan.report
    layer = plan.layer
    user_crs = None
    if crs:
        try:
            user_crs = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise FileRefused(f"--crs {crs!r} is not a known coordinate reference system") from exc
    with tempfile.TemporaryDirectory(prefix="borderwatch-import-") as tmp:
        safety.check_local_file(path)
        fmt, srcs = sources.read(path, sources.ReadOptions(layer_name, encoding), pathlib.Path(tmp))
    report.format = fmt
    report.source_layers = [s.name for s in srcs]
    report.encoding = "; ".join(dict.fromkeys(s.encoding for s in srcs if s.encoding)) or None
    for s in srcs:
        for w in s.warnings:
            report.warn(w)

    # one frame for all layers of the file, with each row's layer and number
    frames, layer_of, row_of = [], [], []
    for s in srcs:
        frames.append(s.attrs)
        layer_of += [s.name] * len(s.attrs)
        row_of += list(range(1, len(s.attrs) + 1))
    attrs = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    attrs = attrs.astype(object).where(pd.notna(attrs), None) if len(attrs.columns) else attrs
    n = len(attrs) if len(attrs.columns) else len(layer_of)
    report.rows_read = n
    if n == 0:
        raise FileRefused("the file has no records")
    multi = len(srcs) > 1
    layer_names = np.array(layer_of, dtype=object)
    rows = np.array(row_of)
    errors: list[tuple[int, str | None, str, Any]] = []
    offset = 0
    for s in srcs:
        for i, field, reason in s.row_errors:
            errors.append((offset + i, field, reason, None))
        offset += len(s.attrs)
    if progress:
        progress(0, n)

    # fields: preset, then automatic and explicit mapping, then constants
    tabular = all(s.geoms is None for s in srcs)
    chosen_preset = _choose_preset(layer, preset, attrs, report)
    derived = chosen_preset.derive(attrs) if chosen_preset else None
    explicit = {k.strip().lower(): v for k, v in (mapping or {}).items()}
    # a preset is the whole mapping: only explicit mappings are added to it
    skip = set(mp.all_targets(layer, tabular)) if derived else set()
    resolved = mp.resolve(layer, attrs, tabular=tabular, explicit=explicit, skip=skip - set(explicit))
    for msg in resolved.errors:
        report.refuse(msg, field="mapping")
    if resolved.errors:
        return
    values: dict[str, list[Any]] = {}
    labels: dict[str, str] = {}
    if derived:
        for t, v in derived.values.items():
            if t not in explicit:
                values[t], labels[t] = v, derived.labels.get(t, t)
        for note in derived.notes:
            report.warn(note)
    for t, col in resolved.columns.items():
        values[t], labels[t] = attrs[col].tolist(), col
    valid_targets = mp.all_targets(layer, tabular)
    for t, value in (defaults or {}).items():
        t = t.strip().lower()
        if t not in valid_targets:
            report.refuse(f"cannot set {t!r}: the {layer} fields are {', '.join(valid_targets)}", field="defaults")
            continue
        if t in values:
            values[t] = [value if vals._text(v) is None else v for v in values[t]]
            labels[t] = f"{labels[t]} (default {value!r})"
        else:
            values[t], labels[t] = [value] * n, f"={value}"
    if report.file_errors:
        return
    report.mapping = dict(labels)
    source = source_name or (chosen_preset.source if chosen_preset else path.name)
    report.source = source
    report.dataset = f"import:{source}"

    # geometries in WGS 84
    if tabular:
        geoms = _tabular_geometries(values, labels, n, errors, report)
        if geoms is None:
            return
        if "lon" in values:
            coord_fields = (labels["lon"], labels["lat"])
        else:
            coord_fields = (labels.get("location") or labels.get("wkt"),) * 2
        label = f"{user_crs.to_string()} (as given)" if user_crs else "WGS 84 longitude/latitude (table columns)"
        geoms = _to_wgs84([(0, n, geoms, user_crs or WGS84, label, None)], user_crs=None, coord_fields=coord_fields,
                          errors=errors, report=report)
    else:
        parts, start = [], 0
        for s in srcs:
            parts.append((start, start + len(s.attrs), s.geoms, s.crs, s.crs_label, s.crs_undefined_note))
            start += len(s.attrs)
        geoms = _to_wgs84(parts, user_crs=user_crs, errors=errors, report=report)
    if geoms is None:
        return
    bad = {e[0] for e in errors}
    clean = np.array([g if i not in bad else None for i, g in enumerate(geoms)], dtype=object)
    plan.geometries = clean
    _describe_geometries(clean, report)

    # layer rules, chunk by chunk
    nations = _nations(store)
    now = now or vals.utcnow()
    built: list[pd.DataFrame] = []
    outlines: list[pd.DataFrame] = []
    tally: dict[str, int] = {}
    samples: dict[str, set] = {}
    date_order = None
    if layer == "incidents" and "occurred_at" in values and not date_format:
        date_order = vals.slashed_order(vals.texts(values["occurred_at"]))  # one reading for the whole file
    chunk = n if layer == "borders" else CHUNK
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        ctx = lay.Context(layer, stop - start, {t: v[start:stop] for t, v in values.items()}, labels,
                          clean[start:stop], attrs.iloc[start:stop].reset_index(drop=True), nations,
                          precision=(derived.precision[start:stop] if derived and derived.precision else None),
                          threat_map=threat_map, date_format=date_format, date_order=date_order, now=now,
                          source=source)
        if layer == "incidents":
            frame = lay.build_incidents(ctx)
        elif layer == "fortifications":
            frame = lay.build_fortifications(ctx)
        elif layer == "sensors":
            frame = lay.build_sensors(ctx)
        else:
            frame, polys = lay.build_borders(ctx)
            polys["_pos"] += start
            outlines.append(polys)
        frame["_pos"] += start
        built.append(frame)
        for pos, field, reason, value in ctx.errors:
            errors.append((pos + start if pos >= 0 else -1, field, reason, value))
        for w in ctx.warnings:
            report.warn(w)
        for key, count in ctx.tally.items():
            tally[key] = tally.get(key, 0) + count
        for key, found in ctx.samples.items():
            samples.setdefault(key, set()).update(found)
        if progress:
            progress(stop, n)
        if any(e[0] == -1 for e in ctx.errors):
            break
    records = pd.concat(built, ignore_index=True) if built else pd.DataFrame()
    notes, details = lay.messages(tally, samples)
    for w in notes:
        report.warn(w)
    report.details.update(details)

    # every problem to the report, once per (row, field, reason)
    ids = values.get(mp.ID_FIELD.get(layer, ""))
    seen = set()
    for pos, field, reason, value in errors:
        if pos == -1:
            report.refuse(reason, field=field)
            continue
        key = (pos, field, reason)
        if key in seen:
            continue
        seen.add(key)
        report.rejected.append(RowError(report.file, int(rows[pos]), field, reason,
                                        layer_names[pos] if multi or layer_names[pos] != path.stem else None,
                                        lay._short(value), vals._text(ids[pos]) if ids is not None else None))
    bad = {e[0] for e in errors}
    report.accepted = n - len({p for p in bad if p >= 0})
    if report.file_errors:
        plan.records = records.iloc[0:0]
        return
    keep = ~records["_pos"].isin(bad) if len(records) else np.array([], dtype=bool)
    records = records[keep].reset_index(drop=True)
    if layer == "borders":
        polys = pd.concat(outlines, ignore_index=True) if outlines else pd.DataFrame(columns=["_pos", "iso3", "name", "geometry"])
        polys = polys[~polys["_pos"].isin(bad)].reset_index(drop=True)
        segs, outl = lay.group_borders(records, polys, source=path.name if not source_name else source)
        plan.records, plan.outlines = segs, outl
        report.records = len(segs) + len(outl)
        if len(segs):
            report.details["segments"] = ", ".join(f"{r.segment_id} ({r.length_km:,.1f} km from {r.rows} line(s))"
                                                   for r in segs.itertuples())
        if len(outl):
            report.details["nation outlines"] = ", ".join(f"{r.iso3} ({r.rows} polygon(s))" for r in outl.itertuples())
        return
    plan.records = _assign_ids(layer, records, values, labels, source, rows, layer_names, report)
    report.records = len(plan.records)


def _choose_preset(layer: str, preset: str | None, attrs: pd.DataFrame, report: ImportReport):
    if preset and preset.lower() != "none":
        chosen = mp.PRESETS.get(preset.lower())
        if chosen is None:
            raise FileRefused(f"unknown preset {preset!r} (presets: {', '.join(mp.PRESETS)})")
        if chosen.layer != layer:
            raise FileRefused(f"the {chosen.name} preset is for {chosen.layer}, not {layer}")
        if not chosen.matches(attrs):
            raise FileRefused(f"the file does not have the columns of an {chosen.label} "
                              f"(expected {', '.join('/'.join(g) for g in chosen.signature)})")
        report.preset = chosen.name
        return chosen
    if preset is None:
        found = mp.detect_preset(layer, attrs)
        if found:
            report.preset = found.name
            report.warn(f"the columns are those of an {found.label}: the '{found.name}' preset was applied "
                        "(pass preset 'none' to map the columns yourself)")
            return found
    return None


def _nations(store: Store | None) -> vals.Nations:
    base = vals.reference_nations()
    if store is None:
        return base
    extra = {code: name for code, name in queries.rows("nation_names", store=store) if code not in base.codes}
    return vals.Nations(extra) if extra else base


def _tabular_geometries(values, labels, n, errors, report) -> np.ndarray | None:
    """Points (or WKT geometries) from lon/lat columns, a 'lat, lon' text column or a WKT column."""
    geoms = np.full(n, None, dtype=object)
    if "lon" in values or "lat" in values:
        if not ("lon" in values and "lat" in values):
            have = "lon" if "lon" in values else "lat"
            report.refuse(f"the file gives {have} ({labels[have]}) but not {'lat' if have == 'lon' else 'lon'}",
                          field="lat" if have == "lon" else "lon")
            return None
        lon, e1 = vals.parse_numbers(values["lon"], what="longitude")
        lat, e2 = vals.parse_numbers(values["lat"], what="latitude")
        for i, r in e1.items():
            errors.append((i, labels["lon"], r, values["lon"][i]))
        for i, r in e2.items():
            errors.append((i, labels["lat"], r, values["lat"][i]))
        for i in np.flatnonzero(np.isnan(lon) | np.isnan(lat)):
            if i in e1 or i in e2:
                continue
            errors.append((int(i), labels["lon"] if np.isnan(lon[i]) else labels["lat"], "no coordinates", None))
        ok = ~(np.isnan(lon) | np.isnan(lat))
        geoms[ok] = shapely.points(lon[ok], lat[ok])
        return geoms
    if "location" in values:
        label = labels["location"]
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        for i, v in enumerate(values["location"]):
            s = vals._text(v)
            if s is None:
                errors.append((i, label, "no coordinates", None))
                continue
            m = mp.LATLON_TEXT.match(s)
            if not m:
                errors.append((i, label, f"{s!r} is not 'latitude, longitude'", s))
                continue
            a, b = float(m.group(1)), float(m.group(2))
            if abs(a) > 90 and abs(b) <= 90:
                errors.append((i, label, f"{s!r} reads as latitude {a:g}, which is impossible; this column must be "
                                         "'latitude, longitude' (it looks like 'longitude, latitude')", s))
                continue
            lon[i], lat[i] = b, a
        ok = ~np.isnan(lon)
        geoms[ok] = shapely.points(lon[ok], lat[ok])
        return geoms
    if "wkt" in values:
        label = labels["wkt"]
        for i, v in enumerate(values["wkt"]):
            s = vals._text(v)
            if s is None:
                errors.append((i, label, "no geometry", None))
                continue
            if s.upper().startswith("SRID="):
                srid, _, s = s.partition(";")
                if srid.upper() not in ("SRID=4326",):
                    errors.append((i, label, f"EWKT with {srid}: declare that CRS for the file (--crs EPSG:...)", srid))
                    continue
            try:
                geoms[i] = shapely.from_wkt(s)
            except shapely.errors.GEOSException as exc:
                errors.append((i, label, f"not valid WKT ({exc})", s))
        return geoms
    report.refuse("the file has no geometry: give longitude and latitude columns (e.g. lon, lat), one 'lat, lon' "
                  "column or a WKT column, or map them with --map lon=COLUMN --map lat=COLUMN", field="geometry")
    return None


def _to_wgs84(parts, *, user_crs, errors, report, coord_fields=("geometry", "geometry")) -> np.ndarray | None:
    """Check coordinates and reproject each layer's geometries to WGS 84 longitude / latitude."""
    total = parts[-1][1] if parts else 0
    out = np.full(total, None, dtype=object)
    crs_infos = []
    already = {e[0] for e in errors}
    for start, stop, geoms, crs, label, undefined_note in parts:
        geoms = np.asarray(geoms, dtype=object)
        present = np.array([g is not None for g in geoms], dtype=bool)
        for i in np.flatnonzero(~present):
            if start + int(i) not in already:
                errors.append((start + int(i), "geometry", "no geometry", None))
        idx_present = np.flatnonzero(present)
        g = geoms[present]
        empty = shapely.is_empty(g) if len(g) else np.array([], dtype=bool)
        for i in idx_present[empty]:
            if start + int(i) not in already:  # e.g. an unclosed ring, already reported
                errors.append((start + int(i), "geometry", "geometry is empty", None))
        coords, owner = shapely.get_coordinates(g, return_index=True) if len(g) else (np.empty((0, 2)), np.array([], int))
        nonfinite = ~np.isfinite(coords).all(axis=1)
        bad_rows = set(np.unique(owner[nonfinite]).tolist())
        for k in bad_rows:
            if start + int(idx_present[k]) not in already:
                errors.append((start + int(idx_present[k]), "geometry", "a coordinate is NaN or Infinity", None))
        declared = crs
        if user_crs is not None:
            if crs is not None and not crs.equals(user_crs, ignore_axis_order=True):
                raise FileRefused(f"the file declares {label or crs.to_string()} but {user_crs.to_string()} was given")
            declared, label = user_crs, f"{user_crs.to_string()} (as given)"
        info: dict[str, Any] = {"declared": label if declared is not None else None}
        if declared is None:
            finite = ~nonfinite
            outside = finite & ((np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90))
            why = undefined_note or "the file declares no coordinate reference system"
            if outside.any():
                rows_out = np.unique(owner[outside])
                first = coords[outside][0]
                raise_rows = [(start + int(idx_present[k]) + 1) for k in rows_out[:5]]
                for k in rows_out:
                    errors.append((start + int(idx_present[k]), "geometry",
                                   "coordinates are not longitude/latitude and the file declares no CRS", None))
                report.refuse(f"{why} and its coordinates are not longitude/latitude (e.g. {first[0]:.1f}, {first[1]:.1f} "
                              f"in row(s) {', '.join(map(str, raise_rows))}); declare the CRS (a .prj, or --crs EPSG:...)",
                              field="crs")
                return None
            report.warn(f"{why}; its coordinates fit longitude/latitude, so they were read as WGS 84")
            info.update(declared=None, assumed="EPSG:4326 (coordinates fit longitude/latitude)")
            new = coords
        elif declared.equals(WGS84, ignore_axis_order=True) or declared.equals("OGC:CRS84", ignore_axis_order=True):
            new = coords
        else:
            transformer, info_t = _transformer(declared, coords[~nonfinite], report)
            info.update(info_t)
            new = np.full_like(coords, np.nan)
            ok = ~nonfinite
            if ok.any():
                x, y = transformer.transform(coords[ok, 0], coords[ok, 1])
                new[ok, 0], new[ok, 1] = x, y
            failed = ok & ~np.isfinite(new).all(axis=1)
            for k in np.unique(owner[failed]):
                errors.append((start + int(idx_present[k]), "geometry",
                               f"coordinates cannot be converted from {label or declared.to_string()} "
                               "(outside the area where that CRS is defined?)", None))
            bad_rows |= set(np.unique(owner[failed]).tolist())
        finite = np.isfinite(new).all(axis=1)
        lon_bad = finite & (np.abs(new[:, 0]) > 180)
        lat_bad = finite & (np.abs(new[:, 1]) > 90)
        for mask, what, col in ((lon_bad, "longitude", 0), (lat_bad, "latitude", 1)):
            for k in np.unique(owner[mask]):
                v = new[mask & (owner == k), col][0]
                limit = 180 if col == 0 else 90
                errors.append((start + int(idx_present[k]), coord_fields[col],
                               f"{what} {v:g} is outside -{limit}..{limit}", v))
        zero = finite & (new[:, 0] == 0) & (new[:, 1] == 0)
        for k in np.unique(owner[zero]):
            if start + int(idx_present[k]) in already:
                continue  # e.g. KML coordinates already reported as not numbers
            errors.append((start + int(idx_present[k]), "geometry",
                           "a coordinate is exactly 0, 0: almost always a missing or unreadable value "
                           "(e.g. KML coordinates that are not numbers), not a place", "0, 0"))
        if len(g):
            safe = np.where(np.isfinite(new), new, 0.0)
            moved = shapely.set_coordinates(shapely.force_2d(g), safe)  # force_2d returns copies
            out[start + idx_present] = moved
        crs_infos.append(info)
    report.crs = crs_infos[0] if crs_infos else {}
    if len({json.dumps(c, sort_keys=True, default=str) for c in crs_infos}) > 1:
        report.crs = {"declared": "; ".join(str(c.get("declared")) for c in crs_infos), "layers": crs_infos}
    return out


def _transformer(declared: pyproj.CRS, coords: np.ndarray, report: ImportReport):
    aoi = None
    if len(coords):
        try:
            to_geo = pyproj.Transformer.from_crs(declared, declared.geodetic_crs or WGS84, always_xy=True)
            w, s, e, n = to_geo.transform_bounds(coords[:, 0].min(), coords[:, 1].min(),
                                                 coords[:, 0].max(), coords[:, 1].max())
            if all(np.isfinite([w, s, e, n])):
                aoi = AreaOfInterest(max(w, -180), max(s, -90), min(e, 180), min(n, 90))
        except (pyproj.exceptions.ProjError, ValueError):
            aoi = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = TransformerGroup(declared, WGS84, always_xy=True, area_of_interest=aoi)
    if not group.transformers:
        raise FileRefused(f"no transformation from {declared.to_string()} to WGS 84 is available offline")
    best = group.transformers[0]
    info = {"transformation": _op_name(best.description), "accuracy_m": (best.accuracy if best.accuracy and best.accuracy > 0 else None)}
    if not group.best_available and group.unavailable_operations:
        op = group.unavailable_operations[0]
        grids = ", ".join(g.short_name for g in op.grids if not g.available) or "a grid file"
        report.warn(f"the most accurate transformation ({_op_name(op.name)}, about {op.accuracy:g} m) needs {grids}, "
                    f"which is not installed; used {_op_name(best.description)}"
                    + (f" (about {best.accuracy:g} m)" if best.accuracy and best.accuracy > 0 else ""))
    return best, info


def _op_name(text: str) -> str:
    """A PROJ operation name without its axis-order steps."""
    steps = [p.strip() for p in str(text).split(" + ") if not p.strip().startswith("axis order change")]
    return " + ".join(steps) or str(text)


def _describe_geometries(geoms: np.ndarray, report: ImportReport) -> None:
    present = [g for g in geoms if g is not None]
    if not present:
        return
    types = pd.Series([g.geom_type for g in present]).value_counts()
    report.geometry_types = {k: int(v) for k, v in types.items()}
    w, s, e, n = shapely.total_bounds(np.array(present, dtype=object))
    report.bounds = (float(w), float(s), float(e), float(n))


def _assign_ids(layer, records, values, labels, source, rows, layer_names, report) -> pd.DataFrame:
    """Stable ids: the file's id (namespaced by source), else a hash of the normalised record;
    rows repeating an id keep the first when identical, and are rejected when they differ."""
    if not len(records):
        records[mp.ID_FIELD[layer]] = []
        return records
    id_field = mp.ID_FIELD[layer]
    raw_ids = values.get(id_field)
    if raw_ids is not None and all(vals._text(v) is None for v in raw_ids):
        raw_ids = None  # e.g. the empty 'id' column GDAL gives every KML layer
        labels = {k: v for k, v in labels.items() if k != id_field}
        report.mapping.pop(id_field, None)
    fields = sorted(c for c in records.columns if not c.startswith("_") and c != "geometry")
    geoms = records["geometry"].to_numpy(dtype=object) if "geometry" in records else None
    hashes = lay.content_hashes(records, fields, geoms)
    ids = []
    hashed = 0
    for k, pos in enumerate(records["_pos"]):
        raw = vals._text(raw_ids[pos]) if raw_ids is not None else None
        if raw is None:
            hashed += 1
            base = f"{source}:#{hashes[k][:16]}"
        else:
            base = f"{source}:{raw}"
        part = int(records["_part"].iloc[k]) if "_part" in records else 0
        ids.append(f"{base}#{part}" if part else base)
    if raw_ids is not None and hashed:
        report.warn(f"{hashed:,} row(s) have an empty id ({labels.get(id_field, id_field)}): their id is a hash of "
                    "their content")
    records = records.copy()
    records[id_field] = ids
    records["_hash"] = hashes
    first: dict[str, tuple[str, int]] = {}
    keep = np.ones(len(records), dtype=bool)
    conflicts = []
    for k, (rid, h, pos) in enumerate(zip(ids, hashes, records["_pos"])):
        if rid not in first:
            first[rid] = (h, pos)
            continue
        keep[k] = False
        if first[rid][0] == h:
            if first[rid][1] != pos:
                report.duplicates_in_file += 1
        else:
            conflicts.append((pos, rid, first[rid][1]))
    for pos, rid, other in conflicts:
        report.rejected.append(RowError(report.file, int(rows[pos]), labels.get(id_field, id_field),
                                        f"id {rid!r} is also used by row {int(rows[other])} with different content",
                                        layer_names[pos] if len(set(layer_names)) > 1 else None, rid))
    if conflicts:
        bad = {p for p, _, _ in conflicts}
        report.accepted -= len(bad)
        keep &= ~records["_pos"].isin(bad).to_numpy()
    cols = [id_field] + [c for c in records.columns if c not in (id_field,) and not c.startswith("_")]
    return records.loc[keep, cols + ["_pos"]].reset_index(drop=True)


# -- command line ---------------------------------------------------------------------------
def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"borderwatch import: {what} must look like NAME=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def add_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="import your own borders, fortifications, sensors or incidents from a file",
        description="Import a file into the store: GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, GeoParquet, or CSV "
                    "(lon/lat columns, a WKT column or a 'lat, lon' column). A file with any rejected row is refused "
                    "whole unless --skip-invalid is given; the report lists every rejected row. Re-importing the same "
                    "records does not duplicate them. See docs/import.md.")
    p.add_argument("layer", choices=LAYERS, help="what the file holds")
    p.add_argument("file", help="the file to import")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.add_argument("--preset", choices=[*mp.PRESETS, "none"],
                   help="field mapping for an ACLED or IOM Missing Migrants export (default: detected from the columns)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="take FIELD from COLUMN (repeatable); "
                   "FIELD= leaves a field unmapped")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="value of FIELD where the file gives none")
    p.add_argument("--threat", action="append", metavar="VALUE=TYPE", help="read threat value VALUE as Borderwatch type TYPE")
    p.add_argument("--layer-name", help="import only this layer / folder of a multi-layer file")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows of a file with rejected rows (they are still listed)")
    p.add_argument("--encoding", help="text encoding of a CSV or a Shapefile that declares none (e.g. cp1252)")
    p.add_argument("--crs", help="coordinate reference system of a file that declares none (e.g. EPSG:32633)")
    p.add_argument("--date-format", help="strptime format of the dates (e.g. %%d/%%m/%%Y)")
    p.add_argument("--source", help="name of the data's source: ids are namespaced by it (default: the preset, else "
                                    "the file name); give the same source to files from the same system")
    p.add_argument("--replace", action="store_true", help="first remove what earlier imports from the same source wrote")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--owner", metavar="ISO3", help="nation that owns the rows (default: the reporting nation / the "
                                                   "nation a sensor or fortification stands in)")
    p.add_argument("--release-to", metavar="LIST", help="public, owner, or nations and agreements the rows are released "
                                                        "to, e.g. USA,MEX or schengen (default: owner only)")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from borderwatch.demo import load_reference
    from borderwatch.store import default_store

    store = default_store()
    if not args.dry_run:
        load_reference(store)  # a new store gets the reference borders first (no-op when present)
    from borderwatch import access

    try:  # releasability given on the command line, checked before anything is read or written
        owner, release = access.release_options(store, getattr(args, "owner", None), getattr(args, "release_to", None))
    except ValueError as exc:
        print(f"borderwatch import: {exc}", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() and not args.json
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if show and (time.monotonic() - last[0] > 0.5 or done >= total):
            last[0] = time.monotonic()
            print(f"\r  rows: {done:,} / {total:,}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    report = import_file(
        args.layer, args.file, store, dry_run=args.dry_run, mapping=_pairs(args.map, "--map"),
        defaults=_pairs(args.set, "--set"), threat_map=_pairs(args.threat, "--threat"), preset=args.preset,
        source_name=args.source, layer_name=args.layer_name, skip_invalid=args.skip_invalid, encoding=args.encoding,
        crs=args.crs, date_format=args.date_format, replace=args.replace, progress=progress)
    if report.status == "imported":
        if args.layer != "borders":
            access.stamp(store, args.layer, report.dataset, owner, release)
        from borderwatch import audit

        audit.record("import", viewer=access.current(), rows=report.written, store=store,
                     detail=f"{args.layer} {pathlib.Path(args.file).name} (command line)"
                            + (f" owner {owner}" if owner else "") + (f" {release.describe()}" if release else ""))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.format_text())
        if report.status == "imported" and report.row_errors:
            print(f"  note: the skip-invalid policy applied: {report.rejected_rows:,} rejected row(s) listed above were "
                  "left out")
        elif report.row_errors and not report.file_errors and report.accepted and report.policy == ALL_OR_NOTHING:
            print(f"  note: to import the {report.accepted:,} valid row(s) and leave the rejected ones out, run again "
                  "with --skip-invalid")
    if report.status == "refused" or (report.dry_run and not report.ok):
        return 1
    return 0

