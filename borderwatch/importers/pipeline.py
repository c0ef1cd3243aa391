"""The import pipeline, in the order a file goes through it:

1. **read** (``sources``, behind the per-format checks of ``safety``): the file's layers as
   attribute tables and geometries in the file's CRS;
2. **map** (``mapping``, presets): which column feeds which Borderwatch field;
3. **reproject** (``reproject``): geometries checked and converted to WGS 84;
4. **validate** (``targets``: one module per Borderwatch layer): rows checked and normalised,
   chunk by chunk, every problem kept with its row and field;
5. **assemble** (``assemble``): stable ids, repeated rows kept once, conflicting ids rejected;
6. **commit**: the target writes the plan in one store transaction (``commit``).

``read_file`` runs stages 1-5 and writes nothing; ``commit`` runs stage 6.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import tempfile
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyproj
import shapely

from borderwatch import reference
from borderwatch.importers import assemble
from borderwatch.importers import mapping as mp
from borderwatch.importers import lonlat, reproject, safety, sources, staged, stream
from borderwatch.importers import values as vals
from borderwatch.importers.report import ALL_OR_NOTHING, SKIP_INVALID, FileRefused, ImportReport, RowError
from borderwatch.importers.targets import TARGETS, Context, borders, messages, short
from borderwatch.store import Store
import queries

LAYERS = mp.LAYERS
PRESETS = tuple(mp.PRESETS)
PREVIEW_ROWS = 20
CHUNK = 100_000  # rows validated at a time (and read at a time from a streamed file)
Progress = Callable[[int, int], None]


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
    # a streamed file (``stream``): every accepted record staged on disk; ``records`` is its first rows
    staged: Any = None
    # who owns the rows and to whom they are released (``commit``/``import_file`` arguments); None:
    # the reporting nation (incidents) or the nation a site stands in, owner only. Repeats are found
    # among the same owner's rows only.
    owner: str | None = None
    release: Any = None

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


@dataclasses.dataclass
class Options:
    """What the user said about the file (``read_file``'s keyword arguments)."""
    mapping: dict[str, str] | None = None
    preset: str | None = None
    source_name: str | None = None
    defaults: dict[str, Any] | None = None
    layer_name: str | None = None
    encoding: str | None = None
    crs: str | None = None
    date_format: str | None = None
    threat_map: dict[str, str] | None = None
    store: Store | None = None
    progress: Progress | None = None
    now: dt.datetime | None = None
    complete: bool = False  # work out what the commit derives while reading (streamed incidents, with a store)


@dataclasses.dataclass
class Work:
    """What one stage hands to the next: the file's rows and every problem found so far."""
    plan: ImportPlan
    path: pathlib.Path
    opts: Options
    srcs: list[sources.Source]
    attrs: pd.DataFrame  # all layers' columns, one row per record
    rows: np.ndarray  # each record's row number within its layer (from 1)
    layer_names: np.ndarray  # each record's layer
    # (position, field, reason, value); position -1 = the whole file
    errors: list[tuple[int, str | None, str, Any]] = dataclasses.field(default_factory=list)
    values: dict[str, list[Any]] = dataclasses.field(default_factory=dict)  # field -> value per row
    labels: dict[str, str] = dataclasses.field(default_factory=dict)  # field -> column named in messages
    derived: Any = None  # what a preset derived (precision per row, notes)
    source: str = ""
    geoms: np.ndarray | None = None  # WGS 84, None where unusable
    coords: np.ndarray | None = None  # points kept as lon/lat (``lonlat``; NaN where unusable), else None
    records: pd.DataFrame | None = None
    outlines: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    preset: Any = None  # the preset applied (chosen once, for every chunk of a streamed file)
    columns: dict[str, str] = dataclasses.field(default_factory=dict)  # field -> column, as resolved

    @property
    def report(self) -> ImportReport:
        return self.plan.report

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def tabular(self) -> bool:
        return all(s.geoms is None for s in self.srcs)


# -- public API ---------------------------------------------------------------------------
def read_file(layer: str, path: str | pathlib.Path, *, mapping: dict[str, str] | None = None,
              preset: str | None = None, source_name: str | None = None, defaults: dict[str, Any] | None = None,
              layer_name: str | None = None, encoding: str | None = None, crs: str | None = None,
              skip_invalid: bool = False, date_format: str | None = None,
              threat_map: dict[str, str] | None = None, replace: bool = False, store: Store | None = None,
              progress: Progress | None = None, now: dt.datetime | None = None, complete: bool = False) -> ImportPlan:
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
    progress: called as progress(rows_done, rows_total);
    complete: with ``store``, work out what the commit derives for incidents (nearest border segment,
        H3 cell) while reading, on a second thread, so that ``commit`` mostly inserts (a plan that
        will not be committed, e.g. a dry run, need not)."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, not {layer!r}")
    t0 = time.monotonic()
    p = pathlib.Path(path)
    report = ImportReport(file=p.name, layer=layer, path=str(p),
                          policy=SKIP_INVALID if skip_invalid else ALL_OR_NOTHING)
    plan = ImportPlan(layer, report, pd.DataFrame(), replace=replace)
    opts = Options(mapping, preset, source_name, defaults, layer_name, encoding, crs, date_format, threat_map,
                   store, progress, now, complete)
    try:
        if not (stream.streams(layer, p) and stream.read_streamed(plan, p, opts)):
            work = read(plan, p, opts)
            if map_fields(work) and reproject_geometries(work):
                validate(work)
                assemble_records(work)
    except FileRefused as exc:
        report.refuse(exc.reason, field=exc.field, layer=exc.layer)
        plan.records = pd.DataFrame()
    order = {name: k for k, name in enumerate(report.source_layers)}
    report.rejected.sort(key=lambda e: (e.row is not None, order.get(e.layer, -1), e.row or 0))
    if not report.ok:
        report.status = "refused"
    report.seconds = round(time.monotonic() - t0, 3)
    return plan


def commit(plan: ImportPlan, store: Store, *, progress: Progress | None = None, owner: str | None = None,
           release=None) -> ImportReport:
    """Stage 6: write the plan's accepted records in one store transaction (all or nothing); idempotent.

    Incidents, sensors and fortifications are written owned by ``owner`` and released as ``release``
    (``access.Release``; checked by ``access.release_options``); "already present" counts only that
    owner's rows."""
    report = plan.report
    if not report.ok:
        raise ImportRefused(report)
    plan.owner, plan.release = owner, release
    t0 = time.monotonic()
    if plan.staged is not None:
        counts = staged.commit(store, plan, progress)  # an error leaves the staged rows for a retry
        plan.staged.close()
    else:
        counts = TARGETS[plan.layer].write(store, plan)
    report.written = counts["written"]
    report.already_present = counts["already_present"]
    report.replaced = counts["replaced"]
    report.status = "imported"
    from borderwatch import alerts

    alerts.evaluate_quietly(store, f"import of {plan.layer} {report.dataset}")  # rules watch imported data too
    if progress:
        progress(report.rows_read, report.rows_read)
    report.seconds = round(report.seconds + time.monotonic() - t0, 3)
    return report


def import_file(layer: str, path: str | pathlib.Path, store: Store, *, dry_run: bool = False,
                owner: str | None = None, release=None, **options) -> ImportReport:
    """``read_file`` then ``commit`` (or, with ``dry_run``, the report of what would be written).

    Never raises for a bad file: a refused file comes back as a report with status "refused"."""
    plan = read_file(layer, path, store=store, complete=not dry_run, **options)
    plan.owner, plan.release = owner, release
    if dry_run:
        report = plan.report
        report.dry_run = True
        report.status = "dry run"
        if report.ok and plan.staged is not None:
            report.already_present, report.replaced = staged.count_existing(store, plan), 0
        elif report.ok:
            report.already_present, report.replaced = TARGETS[plan.layer].count_existing(store, plan)
        if plan.staged is not None:
            plan.staged.close()
        return report
    if not plan.ok:
        return plan.report
    return commit(plan, store, progress=options.get("progress"), owner=owner, release=release)


# -- 1. read --------------------------------------------------------------------------------
def read(plan: ImportPlan, path: pathlib.Path, opts: Options) -> Work:
    """The file's layers (behind the safety checks), as one table with each record's layer and row."""
    report = plan.report
    with tempfile.TemporaryDirectory(prefix="borderwatch-import-") as tmp:
        safety.check_local_file(path)
        fmt, srcs = sources.read(path, sources.ReadOptions(opts.layer_name, opts.encoding), pathlib.Path(tmp))
    report.format = fmt
    report.source_layers = [s.name for s in srcs]
    report.encoding = "; ".join(dict.fromkeys(s.encoding for s in srcs if s.encoding)) or None
    report.encoding_confidence = next((s.encoding_confidence for s in srcs if s.encoding_confidence is not None), None)
    for s in srcs:
        for w in s.warnings:
            report.warn(w)
    frames, layer_of, row_of = [], [], []
    for s in srcs:
        frames.append(s.attrs)
        layer_of += [s.name] * len(s.attrs)
        row_of += list(range(1, len(s.attrs) + 1))
    attrs = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
    attrs = attrs.astype(object).where(pd.notna(attrs), None) if len(attrs.columns) else attrs
    work = Work(plan, path, opts, srcs, attrs, np.array(row_of), np.array(layer_of, dtype=object))
    report.rows_read = work.n
    if work.n == 0:
        raise FileRefused("the file has no records")
    offset = 0
    for s in srcs:
        for i, field, reason in s.row_errors:
            work.errors.append((offset + i, field, reason, None))
        offset += len(s.attrs)
    if opts.progress:
        opts.progress(0, work.n)
    return work


# -- 2. map ---------------------------------------------------------------------------------
def map_fields(work: Work) -> bool:
    """Fields from the preset, then the automatic and explicit mapping, then constants; False if refused."""
    report, layer, opts = work.report, work.plan.layer, work.opts
    preset = _choose_preset(layer, opts.preset, work.attrs, report)
    explicit = {k.strip().lower(): v for k, v in (opts.mapping or {}).items()}
    # a preset is the whole mapping: only explicit mappings are added to it
    skip = set(mp.all_targets(layer, work.tabular)) if preset else set()
    resolved = mp.resolve(layer, work.attrs, tabular=work.tabular, explicit=explicit, skip=skip - set(explicit))
    for msg in resolved.errors:
        report.refuse(msg, field="mapping")
    if resolved.errors:
        return False
    work.preset, work.columns = preset, resolved.columns
    apply_fields(work, preset, resolved.columns)
    if report.file_errors:
        return False
    report.mapping = dict(work.labels)
    work.source = opts.source_name or (preset.source if preset else work.path.name)
    report.source = work.source
    report.dataset = f"import:{work.source}"
    return True


def apply_fields(work: Work, preset, columns: dict[str, str]) -> None:
    """Each field's values for the rows of ``work`` (preset, mapped columns, then constants)."""
    report, layer, opts, n = work.report, work.plan.layer, work.opts, work.n
    explicit = {k.strip().lower(): v for k, v in (opts.mapping or {}).items()}
    work.derived = derived = preset.derive(work.attrs) if preset else None
    values, labels = work.values, work.labels
    if derived:
        for t, v in derived.values.items():
            if t not in explicit:
                values[t], labels[t] = v, derived.labels.get(t, t)
        for note in derived.notes:
            report.warn(note)
    for t, col in columns.items():
        values[t], labels[t] = work.attrs[col].tolist(), col
    valid_targets = mp.all_targets(layer, work.tabular)
    for t, value in (opts.defaults or {}).items():
        t = t.strip().lower()
        if t not in valid_targets:
            report.refuse(f"cannot set {t!r}: the {layer} fields are {', '.join(valid_targets)}", field="defaults")
            continue
        if t in values:
            values[t] = [value if vals._text(v) is None else v for v in values[t]]
            labels[t] = f"{labels[t]} (default {value!r})"
        else:
            values[t], labels[t] = [value] * n, f"={value}"


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
        report.preset_variant = chosen.variant(attrs).name
        return chosen
    if preset is None:
        found = mp.detect_preset(layer, attrs)
        if found:
            report.preset = found.name
            report.preset_variant = found.variant(attrs).name
            report.warn(f"the columns are those of an {found.label} ({report.preset_variant}): the '{found.name}' "
                        "preset was applied (pass preset 'none' to map the columns yourself)")
            return found
    return None


# -- 3. reproject ---------------------------------------------------------------------------
def reproject_geometries(work: Work) -> bool:
    """Every row's geometry in WGS 84 (None where unusable); False if the file is refused."""
    report, values, labels, n = work.report, work.values, work.labels, work.n
    user_crs = None
    if work.opts.crs:
        try:
            user_crs = pyproj.CRS.from_user_input(work.opts.crs)
        except pyproj.exceptions.CRSError as exc:
            raise FileRefused(f"--crs {work.opts.crs!r} is not a known coordinate reference system") from exc
    if work.tabular:
        geoms = reproject.tabular_geometries(values, labels, n, work.errors, report)
        if geoms is None:
            return False
        if "lon" in values:
            coord_fields = (labels["lon"], labels["lat"])
        else:
            coord_fields = (labels.get("location") or labels.get("wkt"),) * 2
        label = f"{user_crs.to_string()} (as given)" if user_crs else lonlat.TABLE_LABEL
        geoms = reproject.to_wgs84([(0, n, geoms, user_crs or reproject.WGS84, label, None)], user_crs=None,
                                   coord_fields=coord_fields, errors=work.errors, report=report)
    else:
        parts, start = [], 0
        for s in work.srcs:
            parts.append((start, start + len(s.attrs), s.geoms, s.crs, s.crs_label, s.crs_undefined_note))
            start += len(s.attrs)
        geoms = reproject.to_wgs84(parts, user_crs=user_crs, errors=work.errors, report=report)
    if geoms is None:
        return False
    bad = [e[0] for e in work.errors if e[0] >= 0]
    work.geoms = np.asarray(geoms, dtype=object).copy()
    work.geoms[bad] = None
    work.plan.geometries = work.geoms
    reproject.describe_geometries(work.geoms, report)
    return True


# -- 4. validate ----------------------------------------------------------------------------
def validate(work: Work) -> None:
    """The target layer's rules, chunk by chunk; rules that need the whole column are settled first."""
    report, layer, opts, n = work.report, work.plan.layer, work.opts, work.n
    target = TARGETS[layer]
    nations = _nations(opts.store)
    now = opts.now or vals.utcnow()
    built: list[pd.DataFrame] = []
    tally: dict[str, int] = {}
    samples: dict[str, set] = {}
    date_order = None
    if layer == "incidents" and "occurred_at" in work.values and not opts.date_format:
        date_order = vals.slashed_order(vals.texts(work.values["occurred_at"]))  # one reading for the whole file
    precision = work.derived.precision if work.derived and work.derived.precision else None
    segments = _reference_segments(opts.store) if layer == "borders" and not _names_nations(work) else None
    chunk = CHUNK if target.chunked else n
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        ctx = Context(layer, stop - start, {t: v[start:stop] for t, v in work.values.items()}, work.labels,
                      work.geoms[start:stop], work.attrs.iloc[start:stop].reset_index(drop=True), nations,
                      precision=(precision[start:stop] if precision else None), threat_map=opts.threat_map,
                      date_format=opts.date_format, date_order=date_order, now=now, source=work.source,
                      segments=segments)
        frame = target.build(ctx)
        frame["_pos"] += start
        built.append(frame)
        if ctx.outlines is not None:
            ctx.outlines["_pos"] += start
            work.outlines.append(ctx.outlines)
        for pos, field, reason, value in ctx.errors:
            work.errors.append((pos + start if pos >= 0 else -1, field, reason, value))
        for w in ctx.warnings:
            report.warn(w)
        for key, count in ctx.tally.items():
            tally[key] = tally.get(key, 0) + count
        for key, found in ctx.samples.items():
            samples.setdefault(key, set()).update(found)
        if opts.progress:
            opts.progress(stop, n)
        if any(e[0] == -1 for e in ctx.errors):
            break
    work.records = pd.concat(built, ignore_index=True) if built else pd.DataFrame()
    notes, details = messages(tally, samples)
    for w in notes:
        report.warn(w)
    report.details.update(details)


def _names_nations(work: Work) -> bool:
    """Whether every row can say which nations its border line separates (columns or --set)."""
    return "pair" in work.values or ("nation_a" in work.values and "nation_b" in work.values)


def _reference_segments(store: Store | None) -> tuple[np.ndarray, shapely.STRtree]:
    """Segment ids and an STRtree of their lines: the store's, else the shipped reference data."""
    frame = reference.segments_frame(store) if store is not None else reference.load_segments()
    return np.array(frame.segment_id, dtype=object), shapely.STRtree(np.asarray(frame.geometry.values))


def _nations(store: Store | None) -> vals.Nations:
    base = vals.reference_nations()
    if store is None:
        return base
    extra = {code: name for code, name in queries.rows("nation_names", store=store) if code not in base.codes}
    return vals.Nations(extra) if extra else base


# -- 5. assemble ----------------------------------------------------------------------------
def assemble_records(work: Work) -> None:
    """Every problem to the report (once per row, field and reason); accepted records with their ids."""
    report, layer, plan, path = work.report, work.plan.layer, work.plan, work.path
    ids = work.values.get(mp.ID_FIELD.get(layer, ""))
    multi = len(work.srcs) > 1
    seen = set()
    for pos, field, reason, value in work.errors:
        if pos == -1:
            report.refuse(reason, field=field)
            continue
        key = (pos, field, reason)
        if key in seen:
            continue
        seen.add(key)
        name = work.layer_names[pos]
        report.rejected.append(RowError(report.file, int(work.rows[pos]), field, reason,
                                        name if multi or name != path.stem else None,
                                        short(value), vals._text(ids[pos]) if ids is not None else None))
    bad = {e[0] for e in work.errors}
    report.accepted = work.n - len({p for p in bad if p >= 0})
    records = work.records
    if report.file_errors:
        plan.records = records.iloc[0:0]
        return
    keep = ~records["_pos"].isin(bad) if len(records) else np.array([], dtype=bool)
    records = records[keep].reset_index(drop=True)
    if layer == "borders":
        _assemble_borders(work, records, bad)
        return
    plan.records = assemble.assign_ids(layer, records, work.values, work.labels, work.source, work.rows,
                                       work.layer_names, report)
    report.records = len(plan.records)


def _assemble_borders(work: Work, lines: pd.DataFrame, bad: set[int]) -> None:
    """All lines of one nation pair become one segment; all polygons of one nation one outline."""
    report, plan = work.report, work.plan
    polys = (pd.concat(work.outlines, ignore_index=True) if work.outlines
             else pd.DataFrame(columns=["_pos", "iso3", "name", "geometry"]))
    polys = polys[~polys["_pos"].isin(bad)].reset_index(drop=True)
    segs, outl = borders.group_borders(lines, polys, source=work.path.name if not work.opts.source_name else work.source)
    plan.records, plan.outlines = segs, outl
    report.records = len(segs) + len(outl)
    if len(segs):
        report.details["segments"] = ", ".join(f"{r.segment_id} ({r.length_km:,.1f} km from {r.rows} line(s))"
                                               for r in segs.itertuples())
    if len(outl):
        report.details["nation outlines"] = ", ".join(f"{r.iso3} ({r.rows} polygon(s))" for r in outl.itertuples())
