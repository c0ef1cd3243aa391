"""Large incident files, read in chunks (small chunks here, so that a few thousand rows span many):
the totals and the all-or-nothing policy are those of a file read whole, a problem in a late chunk
refuses the whole file with its row, and a malformed record gets the words of the strict reader."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

import queries
from borderwatch import importer, reference
from borderwatch.importers import chunks, delimited, pipeline, staged
from borderwatch.importers.report import FileRefused
from borderwatch.store import Store

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
ROWS = 3_000
HEADER = "id,occurred_at,threat,severity,lon,lat,notes\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("large-import-store"))
    reference.load_into(s)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK", 250)
    monkeypatch.setattr(chunks, "BLOCK_BYTES", 8 * 1024)
    monkeypatch.setattr(staged, "INSERT_ROWS", 1_000)


def incidents_count(store) -> int:
    return queries.scalar("count_rows", store=store, idents={"table": "incidents"})


def line(i: int, *, lat: str | None = None, notes: str = "patrol report", quoted: bool = False) -> str:
    lat = lat if lat is not None else f"{50 + (i % 100) / 1000:.3f}"
    notes = f'"{notes}"' if quoted else notes
    return f"E{i},2025-06-{1 + i % 28:02d}T10:{i % 60:02d}:00Z,smuggling,{1 + i % 4},{23 + (i % 50) / 1000:.3f},{lat},{notes}\n"


def write_csv(path, lines: list[str]) -> None:
    path.write_text(HEADER + "".join(lines), encoding="utf-8")


def test_chunked_csv_import_matches_its_dry_run_and_is_idempotent(store, tmp_path):
    path = tmp_path / "events.csv"
    write_csv(path, [line(i, quoted=i % 7 == 0) for i in range(1, ROWS + 1)])
    seen = []
    dry = importer.import_file("incidents", path, store, dry_run=True, now=NOW, source_name="bulk-a",
                               progress=lambda d, t: seen.append((d, t)))
    assert (dry.rows_read, dry.accepted, dry.records, dry.already_present) == (ROWS, ROWS, ROWS, 0)
    assert dry.ok and dry.status == "dry run"
    assert seen[-1] == (ROWS, ROWS) and len(seen) > 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    before = incidents_count(store)
    done = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-a")
    assert done.status == "imported" and done.written == ROWS
    assert (done.rows_read, done.accepted, done.records) == (dry.rows_read, dry.accepted, dry.records)
    assert incidents_count(store) == before + ROWS
    again = importer.import_file("incidents", path, store, dry_run=True, now=NOW, source_name="bulk-a")
    assert again.already_present == ROWS
    again = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-a")
    assert (again.written, again.already_present) == (0, ROWS)
    assert incidents_count(store) == before + ROWS


def test_a_bad_row_in_the_last_chunk_refuses_the_whole_file(store, tmp_path):
    path = tmp_path / "late.csv"
    lines = [line(i) for i in range(1, ROWS + 1)]
    lines[ROWS - 2] = line(ROWS - 1, lat="95")
    write_csv(path, lines)
    before = incidents_count(store)
    report = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-late")
    assert report.status == "refused" and report.written is None
    assert [str(e) for e in report.rejected] == [
        "late.csv, row 2999 (id E2999), field lat: latitude 95 is outside -90..90"]
    assert (report.rows_read, report.accepted) == (ROWS, ROWS - 1)
    assert incidents_count(store) == before
    dry = importer.import_file("incidents", path, store, dry_run=True, now=NOW, source_name="bulk-late")
    assert (dry.rows_read, dry.accepted, [str(e) for e in dry.rejected]) == (
        report.rows_read, report.accepted, [str(e) for e in report.rejected])
    skipped = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-late", skip_invalid=True)
    assert skipped.status == "imported" and skipped.written == ROWS - 1
    assert incidents_count(store) == before + ROWS - 1


@pytest.mark.parametrize("bad, quoted", [
    ('E9,2025-06-01T00:00:00Z,smuggling,2,23.1,50.1,a,b\n', False),  # ragged
    ('E9,2025-06-01T00:00:00Z,smuggling,2,23.1,50.1,"never closed\n', False),  # unterminated quote
    ('E9,2025-06-01T00:00:00Z,smuggling,2,23.1,50.1,"closed"then more\n', True),  # text after a closing quote
    ('E9,2025-06-01T00:00:00Z,smuggling,2,23.1,50.1,nul\x00byte\n', False),
    ('\n', False),  # a blank line is skipped, and said
])
def test_a_malformed_record_late_in_the_file_gets_the_strict_readers_words(store, tmp_path, bad, quoted):
    path = tmp_path / "malformed.csv"
    lines = [line(i, quoted=quoted and i % 3 == 0) for i in range(1, ROWS + 1)]
    lines.insert(ROWS - 10, bad)
    write_csv(path, lines)
    try:
        whole = delimited.read_table(path, path.name, path.suffix)
        expected = None
    except FileRefused as exc:
        expected, whole = exc.reason, None
    before = incidents_count(store)
    report = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-malformed")
    if expected is None:  # the blank line
        assert report.status == "imported" and report.rows_read == whole.rows == ROWS
        assert f"1 blank line(s) skipped (first: line {ROWS - 10 + 2})" in report.warnings
        assert incidents_count(store) == before + ROWS
        return
    assert report.status == "refused"
    assert [e.reason for e in report.file_errors] == [expected]
    assert f"line {ROWS - 10 + 2}" in expected
    assert incidents_count(store) == before


def test_repeated_ids_across_chunks(store, tmp_path):
    path = tmp_path / "repeats.csv"
    lines = [line(i) for i in range(1, ROWS + 1)]
    lines.append(line(5))  # the same row again, chunks later: kept once
    lines.append(line(7, notes="other words"))  # the same id with other content: rejected
    write_csv(path, lines)
    before = incidents_count(store)
    report = importer.import_file("incidents", path, store, now=NOW, source_name="bulk-repeats", skip_invalid=True)
    assert report.duplicates_in_file == 1
    assert [str(e) for e in report.row_errors] == [
        "repeats.csv, row 3002, field id: id 'bulk-repeats:E7' is also used by row 7 with "
        "different content"]
    assert (report.rows_read, report.accepted, report.records, report.written) == (ROWS + 2, ROWS + 1, ROWS, ROWS)
    assert incidents_count(store) == before + ROWS


def test_day_month_order_settled_by_a_later_chunk(store, tmp_path):
    path = tmp_path / "slashed.csv"
    rows = [f"S{i},01/02/2025,smuggling,2,23.1,50.1,x\n" for i in range(1, ROWS)]
    rows.append(f"S{ROWS},25/02/2025,smuggling,2,23.1,50.1,x\n")  # only dd/mm/yyyy can read this
    write_csv(path, rows)
    plan = importer.read_file("incidents", path, store=store, now=NOW, source_name="bulk-slashed")
    assert plan.report.ok, plan.report.format_text()
    assert str(plan.preview.occurred_at.iloc[0])[:10] == "2025-02-01"


def _geoparquet(path, n: int, bad_at: int | None = None) -> None:
    lon = 23 + np.arange(n) % 50 / 1000
    lat = 50 + np.arange(n) % 100 / 1000
    geoms = list(shapely.points(lon, lat))
    if bad_at is not None:
        geoms[bad_at] = shapely.box(23, 50, 23.1, 50.1)
    table = pa.table({
        "id": [f"G{i}" for i in range(1, n + 1)],
        "occurred_at": ["2025-06-01T10:00:00Z"] * n,
        "threat": ["drone"] * n,
        "geometry": pa.array(shapely.to_wkb(np.array(geoms, dtype=object)), pa.binary()),
    })
    meta = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), path, row_group_size=700)


def test_chunked_geoparquet_totals_and_a_late_refusal(store, tmp_path):
    good, bad = tmp_path / "events.parquet", tmp_path / "events_bad.parquet"
    _geoparquet(good, ROWS)
    _geoparquet(bad, ROWS, bad_at=ROWS - 3)
    dry = importer.import_file("incidents", good, store, dry_run=True, now=NOW, source_name="bulk-geo")
    done = importer.import_file("incidents", good, store, now=NOW, source_name="bulk-geo")
    assert (dry.rows_read, dry.accepted, dry.records) == (done.rows_read, done.accepted, done.records) == (ROWS,) * 3
    assert done.written == ROWS and done.geometry_types == {"Point": ROWS}
    before = incidents_count(store)
    report = importer.import_file("incidents", bad, store, now=NOW, source_name="bulk-geo-bad")
    assert report.status == "refused"
    assert [str(e) for e in report.rejected] == [
        "events_bad.parquet, row 2998 (id G2998), field geometry: incidents are points; this row has a Polygon"]
    assert incidents_count(store) == before


def test_command_shows_rows_rate_and_time_left_on_a_terminal(tmp_path, monkeypatch, capsys):
    from borderwatch import cli

    monkeypatch.setenv("BORDERWATCH_STORE", str(tmp_path / "cli-store"))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    path = tmp_path / "events.csv"
    write_csv(path, [line(i) for i in range(1, ROWS + 1)])
    assert cli.main(["import", "incidents", str(path), "--source", "bulk-cli"]) == 0
    captured = capsys.readouterr()
    assert "written: 3,000 new" in captured.out
    shown = captured.err.replace("\r\x1b[K", "\n").split("\n")
    assert any(s.strip().startswith("3,000 of 3,000 rows (") and "rows/s" in s for s in shown)
    assert any(s.strip().startswith("0 of 3,0") for s in shown)


def test_the_import_benchmark_prints_its_figures_and_checks_its_dry_runs(tmp_path):
    """``scripts/bench_import.py`` at a tiny size: every kind measured, bad rows rejected, dry runs agree."""
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "scripts" / "bench_import.py"), "--sizes", "2000",
                           "--kinds", "ours,rows,dry", "--bad-every", "500", "--formats", "csv,geoparquet",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for ext in ("csv", "parquet"):
        rows = [line for line in lines if line.startswith(f"incidents_2000_bad500.{ext}")]
        assert [line.split()[1] for line in rows] == ["ours", "rows", "dry"]
        assert all("2,000" in line and "1,996 new" in line for line in rows)
    assert sum("dry run totals equal the import's (rows read 2,000, accepted 1,996)" in line for line in lines) == 2
