"""Import benchmark: rows/s and peak memory of ``borderwatch import`` for incident files of a given
size, as CSV and GeoParquet, next to a naive baseline measured in the same run.

    .venv/bin/python scripts/bench_import.py --sizes 1000000,10000000 --formats csv,geoparquet

Each measurement runs in its own process (peak RSS is that process's high-water mark, from
``resource.getrusage``):

* ours: ``importer.import_file`` into a fresh store holding the reference data: read, validate,
  complete (H3 cell, nearest segment, agreements) and commit, in one transaction;
* naive: read the whole file into memory (``pandas.read_csv`` / ``geopandas.read_parquet``), parse
  the dates and write it into a DuckDB table, with no validation at all: the floor a plain script
  would reach, and what its memory does with size;
* dry run: ``import_file(..., dry_run=True)``, whose totals must equal the real import's;
* rows: ``ours`` with every chunk read row by row (``columnar`` off): what clean chunks gain.

``--bad-every N`` makes every Nth row's threat type unknown (a rejected row) and imports with
``skip_invalid``: how the speed holds when some chunks are not clean.

Files are synthetic incidents near real borders (uniform within ~20 km of segment vertices),
written once into --workdir and reused.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
THREATS = ["smuggling", "illegal_crossing", "drug_trafficking", "human_trafficking", "drone_incursion"]


def make_file(path: pathlib.Path, rows: int, fmt: str, bad_every: int = 0) -> None:
    """Synthetic incidents: id, ISO time, threat, severity, lon, lat, nation, notes (written in
    chunks); with ``bad_every``, every such row's threat type is one no rule knows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import shapely

    from borderwatch import reference

    segs = reference.load_segments()
    coords = shapely.get_coordinates(np.asarray(segs.geometry.values))
    rng = np.random.default_rng(7)
    chunk = 500_000
    writer = None
    tmp = path.with_suffix(path.suffix + ".part")
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        pick = coords[rng.integers(0, len(coords), n)]
        lon = np.round(pick[:, 0] + rng.uniform(-0.2, 0.2, n), 6)
        lat = np.round(np.clip(pick[:, 1] + rng.uniform(-0.2, 0.2, n), -89.9, 89.9), 6)
        seconds = rng.integers(0, 365 * 86400, n)
        when = (np.datetime64("2025-06-01T00:00:00") + seconds.astype("timedelta64[s]")).astype(str)
        threat = np.array(THREATS, dtype=object)[rng.integers(0, len(THREATS), n)]
        if bad_every:
            threat[(start + np.arange(n)) % bad_every == bad_every - 1] = "alien landing"
        table = pa.table({
            "id": [f"E{start + i}" for i in range(n)],
            "occurred_at": [w + "Z" for w in when],
            "threat": threat,
            "severity": rng.integers(1, 5, n),
            "lon": lon, "lat": lat,
            "notes": np.array(["patrol report", "sensor alarm", "observed crossing"], dtype=object)[rng.integers(0, 3, n)],
        })
        if fmt == "csv":
            if writer is None:
                writer = pacsv.CSVWriter(tmp, table.schema)
            writer.write_table(table)
        else:
            geo = shapely.to_wkb(shapely.points(lon, lat))
            table = table.drop(["lon", "lat"]).append_column("geometry", pa.array(geo, pa.binary()))
            if writer is None:
                meta = {"version": "1.0.0", "primary_column": "geometry",
                        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}}}
                schema = table.schema.with_metadata({b"geo": json.dumps(meta).encode()})
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
    writer.close()
    tmp.rename(path)


def run_ours(path: str, store_dir: str, dry_run: bool, by_rows: bool = False, skip_invalid: bool = False) -> dict:
    from borderwatch import importer, reference
    from borderwatch.importers import columnar
    from borderwatch.store import Store

    if by_rows:
        columnar.reading = lambda *a: None  # every chunk through the row path
    store = Store(pathlib.Path(store_dir))
    reference.load_into(store)
    t0, c0 = time.perf_counter(), _cpu()
    report = importer.import_file("incidents", path, store, dry_run=dry_run, now=None, skip_invalid=skip_invalid)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": _cpu() - c0, "rows": report.rows_read, "accepted": report.accepted, "status": report.status,
            "new": report.written if not dry_run else report.records - (report.already_present or 0),
            "refusal": report.file_errors[0].reason if report.file_errors else None}


def run_naive(path: str, store_dir: str) -> dict:
    import duckdb
    import pandas as pd

    t0, c0 = time.perf_counter(), _cpu()
    if path.endswith(".csv"):
        frame = pd.read_csv(path)
    else:
        import geopandas as gpd

        frame = gpd.read_parquet(path)
        frame["lon"], frame["lat"] = frame.geometry.x, frame.geometry.y
        frame = pd.DataFrame(frame.drop(columns="geometry"))
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    con = duckdb.connect(str(pathlib.Path(store_dir) / "naive.duckdb"))
    con.register("frame", frame)
    con.execute("CREATE TABLE incidents AS SELECT * FROM frame")
    rows = con.execute("SELECT count(*) FROM incidents").fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": _cpu() - c0, "rows": rows}


def _cpu() -> float:
    """CPU seconds of this process, all threads: less sensitive to other jobs' load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args) -> None:
    """One measurement in this process; prints JSON with the peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as store_dir:
        if args.child == "naive":
            out = run_naive(args.file, store_dir)
        else:
            out = run_ours(args.file, store_dir, dry_run=args.child == "dry", by_rows=args.child == "rows",
                           skip_invalid=args.skip_invalid)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def measure(kind: str, path: pathlib.Path, timeout: float, skip_invalid: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--file", str(path)] + (["--skip-invalid"] if skip_invalid else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--formats", default="csv,geoparquet")
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench-import"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--kinds", default="ours,dry,naive", help="which of ours, dry, naive, rows to measure")
    parser.add_argument("--bad-every", type=int, default=0, help="make every Nth row's threat type unknown")
    parser.add_argument("--skip-invalid", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = pathlib.Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores", flush=True)
    print(f"{'file':<34} {'what':<8} {'rows':>11} {'seconds':>9} {'rows/s':>10} {'CPU s':>8} {'rows/CPU s':>11} "
          f"{'peak RSS':>10}  note")
    for size in [int(s) for s in args.sizes.split(",")]:
        for fmt in args.formats.split(","):
            ext = "csv" if fmt == "csv" else "parquet"
            bad = f"_bad{args.bad_every}" if args.bad_every else ""
            path = work / f"incidents_{size}{bad}.{ext}"
            if not path.exists():
                make_file(path, size, fmt, args.bad_every)
            kinds = [k for k in args.kinds.split(",") if not (args.skip_naive and k == "naive")]
            results = {k: measure(k, path, args.timeout, bool(args.bad_every)) for k in kinds}
            for kind, r in results.items():
                if "error" in r:
                    print(f"{path.name:<34} {kind:<8} {'':>11} {'':>9} {'':>10} {'':>8} {'':>11} {'':>10}  {r['error']}")
                    continue
                note = r.get("refusal") or (f"{r['status']}, {r.get('new', 0):,} new" if "status" in r else "")
                cpu = r.get("cpu_seconds", 0.0)
                print(f"{path.name:<34} {kind:<8} {r['rows']:>11,} {r['seconds']:>9.1f} {r['rows'] / r['seconds']:>10,.0f} "
                      f"{cpu:>8.1f} {r['rows'] / max(cpu, 1e-9):>11,.0f} {r['peak_rss_mb']:>8,.0f} MB  {note}", flush=True)
            ours, dry = results.get("ours", {}), results.get("dry", {})
            if ours and dry and "error" not in ours and "error" not in dry:
                same = (ours["rows"], ours["accepted"]) == (dry["rows"], dry["accepted"])
                print(f"{'':<34} dry run totals {'equal' if same else 'DIFFER from'} the import's "
                      f"(rows read {dry['rows']:,}, accepted {dry['accepted']:,})")
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")


if __name__ == "__main__":
    main()
