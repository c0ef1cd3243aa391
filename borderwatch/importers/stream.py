"""Stages 1-5 for incident tables (CSV, TSV, (Geo)Parquet), chunk by chunk, in memory that does
not grow with the file.

Each chunk is read (``chunks``), then read column by column (``columnar``) where its values need
no per-row decision; the blocks of rows that do are mapped, reprojected and validated by the same
functions as a whole file (``pipeline``). The accepted records are appended, with their stable id
and row, to a staged Parquet file in a temporary directory. Once every chunk is read,
DuckDB finds ids used by more than one row across the whole file (``staged``): identical rows are
kept once, different content under one id is a rejected row. ``staged.commit`` writes the staged
rows in one store transaction. A file-wide reading of a/b/yyyy dates is kept: when a later chunk
settles the day/month order differently from the first, the file is read again with that order.
"""
from __future__ import annotations

import dataclasses
import itertools
import pathlib
import tempfile
import types

import numpy as np
import pandas as pd
import pyarrow as pa

from borderwatch import incident_store
from borderwatch.importers import chunks, columnar, lonlat, pipeline, safety, sources, staged
from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.importers.report import FileRefused, RowError
from borderwatch.importers.targets import TARGETS, Context, content_hashes, messages, short

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".geoparquet")
GEOMETRY_SAMPLE = 100_000  # rows whose geometry a plan keeps for drawing the file
LAYER = "incidents"
# rows read column by column are staged, or read again by the row path, in blocks of BLOCK rows: a
# few bad rows send only the blocks around them through the row path; after a chunk with bad rows in
# most of its blocks, the next SKIP chunks go straight to the row path
BLOCK, SKIP = 1_000, 3


def streams(layer: str, path: pathlib.Path) -> bool:
    return layer == LAYER and path.suffix.lower() in SUFFIXES


def read_streamed(plan, path: pathlib.Path, opts) -> bool:
    """Read and validate ``path`` into ``plan`` (records staged on disk); False when the file must be
    read whole instead (a GeoParquet whose geometries are not WKB)."""
    safety.check_local_file(path)
    tmp = tempfile.TemporaryDirectory(prefix="borderwatch-import-")
    try:
        workdir = pathlib.Path(tmp.name)
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            src, fmt = chunks.ParquetChunks(path, pipeline.CHUNK), "GeoParquet"
            if not src.streamable:
                tmp.cleanup()
                return False
            src.points_as_coords = lonlat.lonlat_crs(src.crs, opts.crs)
        else:
            src, fmt = chunks.CsvChunks(path, opts.encoding, workdir, pipeline.CHUNK), "CSV"
        report = plan.report
        report.format, report.source_layers = fmt, [src.name]
        report.encoding, report.encoding_confidence = src.encoding, src.confidence
        order = None
        for attempt in range(2):
            # progress is reported once: a second reading (rare) goes on behind the finished bar
            scan = Scan(plan, path, opts if attempt == 0 else _quiet(opts), src, workdir, order)
            scan.run()
            if scan.final_order == scan.order or not scan.slashed:
                break
            order = scan.final_order  # a later chunk settled the day/month order: read again with it
        scan.finish()
        plan.staged = staged.Staged(tmp, scan.writer.path, report.records, scan.repeat_count,
                                    locator=scan.writer.loc)
        if not report.ok:
            plan.staged.close()
    except BaseException:
        tmp.cleanup()
        raise
    return True


class Scan:
    """One pass over the chunks of a file."""

    def __init__(self, plan, path, opts, src, workdir: pathlib.Path, order):
        self.plan, self.path, self.opts, self.src = plan, path, opts, src
        self.report = plan.report
        self.order = order  # (order, conflict) of a/b/yyyy dates; None: from the first chunk
        self.final_order = order
        self.flags = [False, False]  # some a/b date has a > 12; some has b > 12
        self.slashed = False
        store = opts.store if opts.complete else None
        self.writer = staged.Writer(workdir / "records.parquet",
                                    incident_store.locator(store) if store is not None else None)
        self.rows = self.bad_rows = self.id_seen = self.hashed = 0
        self.tally: dict[str, int] = {}
        self.samples: dict[str, set] = {}
        self.types: dict[str, int] = {}
        self.bounds: list[float] | None = None
        self.geoms: list[np.ndarray] = []
        self.preview: pd.DataFrame | None = None
        self.first: pipeline.Work | None = None
        self.reading: columnar.Reading | None = None  # set from the first chunk when later ones may be clean
        self.skip = 0  # chunks still to read row by row at once (``_columns``)
        self.staged: list[pa.Table] = []  # the current chunk's records, in file order
        self.repeat_count = 0

    def run(self) -> None:
        report = self.report
        report.rejected.clear()
        report.warnings.clear()
        for w in self.src.warnings() if isinstance(self.src, chunks.ParquetChunks) else []:
            report.warn(w)
        nations = pipeline._nations(self.opts.store)
        now = self.opts.now or vals.utcnow()
        total = getattr(self.src, "rows", None)
        self.reported = 0
        if self.opts.progress:
            self.opts.progress(0, total if total is not None else self.src.estimate_rows())
        try:
            for chunk in self.src:
                n = chunk.rows
                if n == 0:
                    continue
                if not self._chunk(chunk, n, nations, now):
                    break
                pa.default_memory_pool().release_unused()  # the chunk's Arrow buffers, back to the system
                if self.opts.progress:
                    done = self.reported = self.rows
                    self.opts.progress(done, total or max(int(done / max(chunk.fraction, 1e-9)), done))
        finally:
            self.writer.close()  # waits for the thread completing the last chunk
        if self.rows == 0 and not report.file_errors:
            raise FileRefused("the file has no records")
        for w in self.src.warnings() if isinstance(self.src, chunks.CsvChunks) else []:
            report.warn(w)

    def _work(self, chunk, n: int) -> pipeline.Work:
        src = self.src
        source = sources.Source(src.name, src.driver, chunk.attrs, chunk.geoms, crs=getattr(src, "crs", None),
                                crs_label=getattr(src, "crs_label", None))
        work = pipeline.Work(self.plan, self.path, self.opts, [source], chunk.attrs,
                             np.arange(self.rows + 1, self.rows + n + 1), np.full(n, src.name, dtype=object))
        work.errors = [(i, f, r, None) for i, f, r in chunk.row_errors]
        return work

    def _chunk(self, chunk, n: int, nations, now) -> bool:
        """Validate and stage one chunk (its parts' records written at once); False when the file is refused."""
        self.staged = []
        ok = self._read_chunk(chunk, n, nations, now)
        if ok and self.staged:
            self.writer.write_table(pa.concat_tables(self.staged) if len(self.staged) > 1 else self.staged[0])
        self.staged = []
        return ok

    def _read_chunk(self, chunk, n: int, nations, now) -> bool:
        work = None
        if self.first is None:  # the mapping and preset, settled on the first chunk
            work = self._work(chunk, n)
            if not pipeline.map_fields(work):
                return False
            self.first = work
            self.reading = columnar.reading(work, self.opts, nations, now)
        if self.reading is not None and chunk.arrow is not None:
            return self._columns(chunk, n, nations, now)
        return self._rows(chunk, n, nations, now, work)

    def _columns(self, chunk, n: int, nations, now) -> bool:
        """A chunk read column by column (``columnar``). Its rows are taken in blocks of BLOCK rows:
        a block without an unsettled row is staged as read, one with any is read by the row path.
        When most blocks have one (bad rows everywhere) the whole chunk is read row by row, and so
        are the next SKIP chunks, without a column reading first."""
        if self.skip:
            self.skip -= 1
            return self._rows(chunk, n, nations, now)
        found = columnar.chunk(self.reading, chunk.arrow, chunk.points, self.rows + 1)
        if found is None:
            return self._rows(chunk, n, nations, now)
        blocks = -(-n // BLOCK)
        dirty = np.zeros(blocks, bool)
        dirty[np.flatnonzero(found.unsettled) // BLOCK] = True
        dirty[[i // BLOCK for i, *_ in chunk.row_errors]] = True  # a geometry that could not be decoded
        if dirty.sum() * 2 > blocks:
            self.skip = SKIP
            return self._rows(chunk, n, nations, now)
        start = 0
        for bad, run in itertools.groupby(range(blocks), key=lambda k: dirty[k]):
            stop = min((list(run)[-1] + 1) * BLOCK, n)
            if bad:
                if not self._rows(chunk.part(start, stop), stop - start, nations, now):
                    return False
            else:
                self._settled(found.table.slice(start, stop - start), found.naive[start:stop])
            start = stop
        return True

    def _rows(self, chunk, n: int, nations, now, work: pipeline.Work | None = None) -> bool:
        """A chunk read row by row (the first chunk's ``work`` is already mapped)."""
        if work is None:
            work = self._work(chunk, n)
            work.source, work.preset, work.columns = self.first.source, self.first.preset, self.first.columns
            pipeline.apply_fields(work, work.preset, work.columns)
        sample = GEOMETRY_SAMPLE - sum(len(g) for g in self.geoms)
        if chunk.coords is not None:
            lonlat.check(work, chunk.coords, self.src.crs_label, sample)
        elif (table := lonlat.table_points(work)) is not None:
            lonlat.check(work, table, lonlat.TABLE_LABEL, sample, (work.labels["lon"], work.labels["lat"]))
        elif not pipeline.reproject_geometries(work):
            return False
        self._geometry_summary(work)
        dates = self._date_order(work)
        ctx = Context(LAYER, n, work.values, work.labels, work.geoms, work.attrs, nations,
                      precision=work.derived.precision if work.derived and work.derived.precision else None,
                      threat_map=self.opts.threat_map, date_format=self.opts.date_format, date_order=dates, now=now,
                      source=work.source, coords=work.coords)
        frame = TARGETS[LAYER].build(ctx)
        for w in ctx.warnings:
            self.report.warn(w)
        for key, count in ctx.tally.items():
            self.tally[key] = self.tally.get(key, 0) + count
        for key, found in ctx.samples.items():
            self.samples.setdefault(key, set()).update(found)
        work.errors += ctx.errors
        ok = self._stage(work, frame)
        self.rows += n
        return ok

    def _settled(self, table: pa.Table, naive: np.ndarray) -> None:
        """Stage rows ``columnar`` settled (every one accepted)."""
        n = table.num_rows
        if naive.any():
            self.tally["naive_times"] = self.tally.get("naive_times", 0) + int(naive.sum())
        # the geometry summary and drawing sample, as ``lonlat.check`` gives them
        work = types.SimpleNamespace(n=n, errors=[], report=self.report, coords=None, geoms=None)
        coords = np.column_stack([table["lon"].to_numpy(), table["lat"].to_numpy()])
        lonlat.check(work, coords, self._label(), GEOMETRY_SAMPLE - sum(len(g) for g in self.geoms))
        self._geometry_summary(work)
        self.id_seen += n
        if self._preview_short():
            self._preview(lambda k: _frame(table.slice(0, k)), n)
        self.staged.append(table)
        self.rows += n

    def _label(self) -> str | None:
        return lonlat.TABLE_LABEL if self.reading.tabular else self.src.crs_label

    def _date_order(self, work: pipeline.Work):
        if self.opts.date_format or "occurred_at" not in work.values:
            return None
        found, conflict = vals.slashed_order(vals.texts(work.values["occurred_at"]))
        if found or conflict:
            self.slashed = True
        self.flags[0] |= found == "dmy" or conflict is not None
        self.flags[1] |= found == "mdy" or conflict is not None
        if self.order is None:
            self.order = (found, conflict)
        self.final_order = _order(self.flags)
        return self.order

    def _geometry_summary(self, work: pipeline.Work) -> None:
        report = self.report
        for k, v in report.geometry_types.items():
            self.types[k] = self.types.get(k, 0) + v
        if report.bounds:
            b = report.bounds
            self.bounds = list(b) if self.bounds is None else [min(self.bounds[0], b[0]), min(self.bounds[1], b[1]),
                                                               max(self.bounds[2], b[2]), max(self.bounds[3], b[3])]
        report.geometry_types, report.bounds = {}, None
        kept = sum(len(g) for g in self.geoms)
        if kept < GEOMETRY_SAMPLE:
            self.geoms.append(work.geoms[:GEOMETRY_SAMPLE - kept])

    def _stage(self, work: pipeline.Work, frame: pd.DataFrame) -> bool:
        """Rejected rows to the report; accepted ones, with their id and hash, to the staged file."""
        report, rows = self.report, work.rows
        ids = work.values.get("incident_id")
        seen, bad = set(), set()
        for pos, field, reason, value in work.errors:
            if pos == -1:
                report.refuse(reason, field=field)
                continue
            if (pos, field, reason) in seen:
                continue
            seen.add((pos, field, reason))
            bad.add(pos)
            report.rejected.append(RowError(report.file, int(rows[pos]), field, reason, None, short(value),
                                            vals._text(ids[pos]) if ids is not None else None))
        self.bad_rows += len(bad)
        if report.file_errors:
            return False
        keep = ~frame["_pos"].isin(bad).to_numpy()
        records = frame[keep].reset_index(drop=True)
        pos = records["_pos"].to_numpy()
        if ids is not None:
            every = np.array(vals.texts(list(ids)), dtype=object)
            self.id_seen += int(pd.notna(every).sum())
            raw = every[pos]
        else:
            raw = np.full(len(records), None, dtype=object)
        fields = sorted(c for c in records.columns if not c.startswith("_"))
        given = pd.notna(raw)
        ident = np.empty(len(records), dtype=object)
        ident[given] = work.source + ":" + raw[given].astype(str)
        if (~given).any():  # no id: a hash of the normalised record
            hashes = content_hashes(records[~given], fields, None)
            ident[~given] = [f"{work.source}:#{h[:16]}" for h in hashes]
        self.hashed += int((~given).sum())
        out = records.drop(columns=["_pos"])
        out.insert(0, "incident_id", ident)
        out["_row"] = rows[pos].astype(np.int64)
        if self._preview_short():
            self._preview(lambda k: out.head(k).drop(columns=["_row"]), len(out))
        self.staged.append(staged.table(out))
        return True

    def _preview_short(self) -> bool:
        return self.preview is None or len(self.preview) < pipeline.PREVIEW_ROWS

    def _preview(self, first, n: int) -> None:
        """The first PREVIEW_ROWS records of the file (one per id), topped up from the records staged
        next (``first(k)``: their first k of ``n``, as a frame): as many as it takes, in file order."""
        k = pipeline.PREVIEW_ROWS
        while True:
            head = first(k) if self.preview is None else pd.concat([self.preview, first(k)])
            head = head.drop_duplicates("incident_id")
            if len(head) >= pipeline.PREVIEW_ROWS or k >= n:
                break
            k *= 4  # repeated ids among them: look further
        self.preview = head.head(pipeline.PREVIEW_ROWS).reset_index(drop=True)

    def finish(self) -> None:
        """Whole-file results: warnings worded once, ids repeated across chunks, the totals."""
        report, plan = self.report, self.plan
        notes, details = messages(self.tally, self.samples)
        for w in notes:
            report.warn(w)
        report.details.update(details)
        report.geometry_types, report.bounds = self.types, tuple(self.bounds) if self.bounds else None
        plan.geometries = np.concatenate(self.geoms) if self.geoms else np.array([], dtype=object)
        report.rows_read = self.rows
        report.accepted = self.rows - self.bad_rows
        plan.records = self.preview if self.preview is not None else pd.DataFrame()
        if report.file_errors:
            plan.records = plan.records.iloc[0:0]
            return
        label = report.mapping.get("incident_id", "incident_id")
        if "incident_id" in report.mapping and self.id_seen == 0:
            report.mapping.pop("incident_id")  # an id column with no values: ids are content hashes
        elif self.hashed and "incident_id" in report.mapping:
            report.warn(f"{self.hashed:,} row(s) have an empty id ({label}): their id is a hash of their content")
        repeats = staged.repeats(self.writer.path)
        self.repeat_count = len(repeats)
        conflicts = [r for r in repeats if not r.same]
        report.duplicates_in_file += sum(1 for r in repeats if r.same)
        for r in conflicts:
            report.rejected.append(RowError(report.file, r.row, label, f"id {r.incident_id!r} is also used by row "
                                            f"{r.first_row} with different content", None, r.incident_id))
        report.accepted -= len({r.row for r in conflicts})
        report.records = self.writer.rows - len(repeats)
        order = {name: k for k, name in enumerate(report.source_layers)}
        report.rejected.sort(key=lambda e: (e.row is not None, order.get(e.layer, -1), e.row or 0))
        if self.opts.progress and self.reported != self.rows:
            self.opts.progress(self.rows, self.rows)


def _frame(table: pa.Table) -> pd.DataFrame:
    """Staged rows as the row path's records frame (``_row`` left out)."""
    return pd.DataFrame({c: table[c].to_numpy(zero_copy_only=False) for c in table.column_names if c != "_row"})


def _quiet(opts):
    return dataclasses.replace(opts, progress=None)


def _order(flags: list[bool]) -> tuple[str | None, str | None]:
    if flags[0] and flags[1]:
        return None, "dates written a/b/yyyy use both day/month and month/day orders in this column"
    return ("dmy" if flags[0] else "mdy" if flags[1] else None), None


ID_FIELD = mp.ID_FIELD[LAYER]
