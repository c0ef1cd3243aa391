"""Clean chunks read column by column (``columnar``) stage exactly the rows, and give exactly the
report, of the row path; a chunk with any value the column reading does not settle goes through
the row path and gets its words."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import shapely

from borderwatch.importers import columnar, pipeline, stream

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
CHUNK = 40
ROWS = 400


def _values(rows: int = ROWS) -> dict[str, list]:
    """Clean values in many of the forms the rules accept."""
    rng = np.random.default_rng(11)
    zones = ["Z", "+02:00", "-0530", "+00:00", "Z"]
    fractions = ["", ".5", ".123456", "", ".25"]
    dates = [f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}{'T' if i % 3 else ' '}{i % 24:02d}:{i % 60:02d}:"
             f"{(7 * i) % 60:02d}{fractions[i % 5]}{zones[i % 4]}" for i in range(rows)]
    return {
        "id": [f" E{i} " if i % 7 == 0 else f"E{i}" for i in range(rows)],
        "occurred_at": dates,
        "threat": [["smuggling", "Illegal crossing", "DRONE", " drug trafficking", "people smuggling"][i % 5]
                   for i in range(rows)],
        "severity": [["1", "2", "high", "4", None, "3.0", "critical"][i % 7] for i in range(rows)],
        "confidence": [["0.5", "80%", None, "1", "0"][i % 5] for i in range(rows)],
        "country": [["FRA", "fr", "250", "Germany", None, " ESP "][i % 6] for i in range(rows)],
        "source": [["patrol", None, " radar 3 "][i % 3] for i in range(rows)],
        "notes": [["sensor alarm", None, "  ", "crossing at km 12\tnorth"][i % 4] for i in range(rows)],
        "lon": list(np.round(rng.uniform(-20, 40, rows), 6)),
        "lat": list(np.round(rng.uniform(30, 60, rows), 6)),
    }


def _geoparquet(path, values: dict[str, list], **types) -> None:
    lon, lat = np.array(values["lon"], float), np.array(values["lat"], float)
    cols = {k: pa.array(v, types.get(k)) for k, v in values.items() if k not in ("lon", "lat")}
    cols["geometry"] = pa.array(list(shapely.to_wkb(shapely.points(lon, lat))), pa.binary())
    meta = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    pq.write_table(pa.table(cols).replace_schema_metadata({b"geo": json.dumps(meta).encode()}), path,
                   row_group_size=100)


def _csv(path, values: dict[str, list]) -> None:
    table = pa.table({k: pa.array([None if v is None else str(v) for v in col], pa.string())
                      for k, col in values.items()})
    pacsv.write_csv(table, path)


def _read(path, monkeypatch, *, clean: bool, **kw):
    """(report facts, staged rows, preview, drawing sample, column readings, sizes of the parts read
    row by row) of a dry reading, with or without ``columnar``."""
    used, by_rows = [], []
    real, rows = columnar.chunk, stream.Scan._rows

    def counted(*a, **k):
        out = real(*a, **k)
        used.append(out is not None)
        return out

    with monkeypatch.context() as m:
        m.setattr(pipeline, "CHUNK", CHUNK)
        m.setattr(columnar, "chunk", counted if clean else (lambda *a, **k: None))
        m.setattr(stream.Scan, "_rows", lambda self, chunk, n, *a: by_rows.append(n) or rows(self, chunk, n, *a))
        m.setattr(stream.staged.Staged, "close", lambda self: None)  # kept to be read below
        plan = pipeline.read_file("incidents", path, now=NOW, source_name="col-test", **kw)
    r = plan.report
    facts = (r.status, r.rows_read, r.accepted, r.records, r.duplicates_in_file, r.format, r.mapping, r.crs,
             r.geometry_types, r.bounds, sorted(r.warnings), dict(r.details), r.file_errors,
             [(e.row, e.field, e.reason, e.value, e.record) for e in r.rejected])
    staged_rows = pq.read_table(plan.staged.path).to_pylist() if plan.staged is not None else None
    sample = [None if g is None else g.wkt for g in plan.geometries]
    preview = plan.records.to_json(orient="records", date_format="iso")
    if plan.staged is not None:
        plan.staged.tmp.cleanup()
    return facts, staged_rows, preview, sample, used, by_rows


@pytest.mark.parametrize("kind", ["geoparquet", "csv"])
def test_clean_chunks_stage_what_the_row_path_stages(tmp_path, monkeypatch, kind):
    path = tmp_path / ("events.parquet" if kind == "geoparquet" else "events.csv")
    (_geoparquet if kind == "geoparquet" else _csv)(path, _values())
    want = _read(path, monkeypatch, clean=False)
    got = _read(path, monkeypatch, clean=True)
    assert got[4] and all(got[4]), "every chunk is clean"
    assert len(got[4]) == ROWS // CHUNK
    assert got[0] == want[0] and got[0][0] != "refused"
    assert got[1] == want[1] and len(got[1]) == ROWS
    assert got[2] == want[2] and got[3] == want[3]


def test_typed_parquet_columns_stage_what_the_row_path_stages(tmp_path, monkeypatch):
    values = _values()
    values["severity"] = [1 + i % 4 for i in range(ROWS)]  # whole numbers
    values["id"] = list(range(1000, 1000 + ROWS))
    path = tmp_path / "typed.parquet"
    _geoparquet(path, values, severity=pa.int64(), id=pa.int32())
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert all(got[4]) and got[:4] == want[:4]


@pytest.mark.parametrize("field, value, rejected", [
    ("occurred_at", "2025-03-04T10:00", False),  # no seconds
    ("occurred_at", "2025-02-30T10:00:00Z", True),  # no such day
    ("occurred_at", "2025-03-04T10:00:00.1234567Z", False),  # finer than microseconds: cut to them
    ("occurred_at", "04/03/2025", True),
    ("occurred_at", "2031-01-01T00:00:00Z", True),  # in the future
    ("occurred_at", None, True),
    ("threat", "alien landing", True),
    ("threat", None, True),
    ("severity", "9", True),
    ("severity", "2.5", True),
    ("confidence", "120%", True),
    ("country", "Atlantis", True),
    ("id", None, False),  # an id from the content
    ("id", "E5", True),  # the id of an earlier row, other content: found across chunks, after reading
    ("lat", 95.0, True),
    ("lon", 0.0, True),
])
@pytest.mark.parametrize("kind", ["geoparquet", "csv"])
def test_a_chunk_with_one_unsettled_value_gets_the_row_paths_words(tmp_path, monkeypatch, kind, field, value, rejected):
    values = _values()
    pos = 5 * CHUNK + 7  # in the sixth chunk
    values[field][pos] = value
    if field == "lon":
        values["lat"][pos] = 0.0
    path = tmp_path / ("events.parquet" if kind == "geoparquet" else "events.csv")
    (_geoparquet if kind == "geoparquet" else _csv)(path, values)
    want = _read(path, monkeypatch, clean=False, skip_invalid=True)
    monkeypatch.setattr(stream, "BLOCK", 10)
    got = _read(path, monkeypatch, clean=True, skip_invalid=True)
    by_rows = got[5]
    if (field, value) == ("id", "E5"):
        assert by_rows == []  # each chunk is clean; the repeat is found in the staged rows
    elif (field, value) == ("occurred_at", "2025-02-30T10:00:00Z"):
        assert by_rows == [CHUNK]  # a date Arrow's parser refuses: the whole chunk
    else:
        assert by_rows == [10]  # only the block of that row went the row path
    assert got[:4] == want[:4]
    if rejected:
        assert [e[0] for e in got[0][-1]] == [pos + 1]  # the row is rejected, with its line
    else:
        assert got[0][2] == ROWS


def test_dates_without_a_zone_and_days_stage_what_the_row_path_stages(tmp_path, monkeypatch):
    values = _values()
    values["occurred_at"] = [d if i % 3 == 0 else d[:19] if i % 3 == 1 else d[:10]
                             for i, d in enumerate(values["occurred_at"])]
    path = tmp_path / "events.csv"
    _csv(path, values)
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert all(got[4]) and got[:4] == want[:4]
    assert any("time zone" in w for w in got[0][10])  # the rows without a zone are counted and worded


@pytest.mark.parametrize("zone", [None, "UTC", "Europe/Paris"])
def test_timestamp_columns_stage_what_the_row_path_stages(tmp_path, monkeypatch, zone):
    values = _values()
    stamps = np.datetime64("2025-01-01T00:00:00", "us") + np.arange(ROWS) * np.timedelta64(3_600_500_001, "us")
    path = tmp_path / "typed.parquet"
    _geoparquet(path, {**values, "occurred_at": stamps}, occurred_at=pa.timestamp("us", tz=zone))
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert all(got[4]) and got[:4] == want[:4]
    assert any("time zone" in w for w in got[0][10]) == (zone is None)


def test_a_file_mapped_with_a_preset_or_a_set_value_takes_the_row_path(tmp_path, monkeypatch):
    path = tmp_path / "events.csv"
    _csv(path, _values())
    used = _read(path, monkeypatch, clean=True, defaults={"reporting_nation": "FRA"})[4]
    assert used == []
    used = _read(path, monkeypatch, clean=True, date_format="%Y-%m-%dT%H:%M:%S%z")[4]
    assert used == []


def test_arrow_texts_trim_as_python_does():
    raw = [" a ", "\u00a0b\u2003", "", "   ", None, "c\u200bd", "\x1ce\x1f"]
    got = columnar.vals.arrow_texts(pa.array(raw, pa.string())).to_pylist()
    assert got == [None if v is None or not v.strip() else v.strip() for v in raw]


@pytest.mark.parametrize("kind", ["geoparquet", "csv"])
def test_a_chunk_with_a_few_bad_rows_reads_only_the_blocks_around_them_row_by_row(tmp_path, monkeypatch, kind):
    values = _values()
    bad = {3: ("threat", "alien landing"), 57: ("occurred_at", "yesterday"), 58: ("country", "Atlantis"),
           131: ("lat", 95.0), 250: ("id", None), 377: ("severity", "9")}
    for pos, (field, value) in bad.items():
        values[field][pos] = value
    path = tmp_path / ("events.parquet" if kind == "geoparquet" else "events.csv")
    if kind == "geoparquet":
        _geoparquet(path, values)
        bad[199] = ("geometry", None)  # a missing point: the chunk's other rows are still coordinates
        table = pq.read_table(path)
        geometry = table["geometry"].to_pylist()
        geometry[199] = None
        pq.write_table(table.set_column(table.schema.get_field_index("geometry"), "geometry",
                                        pa.array(geometry, pa.binary())).replace_schema_metadata(table.schema.metadata),
                       path, row_group_size=100)
    else:
        _csv(path, values)
    monkeypatch.setattr(stream, "BLOCK", 5)
    got = _read(path, monkeypatch, clean=True, skip_invalid=True)
    read_by_rows = got[5]
    want = _read(path, monkeypatch, clean=False, skip_invalid=True)
    assert got[:4] == want[:4]
    assert sorted(e[0] for e in got[0][-1]) == sorted(p + 1 for p in bad if p != 250)  # no id: accepted
    # chunks of 40 in blocks of 5: only the blocks holding a bad row were read row by row
    assert read_by_rows == [5] * len({p // 5 for p in bad})


def test_bad_rows_everywhere_send_whole_chunks_to_the_row_path(tmp_path, monkeypatch):
    values = _values()
    for pos in range(0, ROWS, 3):
        values["threat"][pos] = "alien landing"
    path = tmp_path / "events.csv"
    _csv(path, values)
    monkeypatch.setattr(stream, "BLOCK", 5)
    got = _read(path, monkeypatch, clean=True, skip_invalid=True)
    sizes = got[5]
    want = _read(path, monkeypatch, clean=False, skip_invalid=True)
    assert got[:4] == want[:4] and len(got[0][-1]) == len(range(0, ROWS, 3))
    assert sizes == [CHUNK] * (ROWS // CHUNK)  # every block has a bad row: each chunk row by row at once
    assert len(got[4]) == 3  # read column by column first: chunks 1, 5 and 9 (after each, SKIP chunks are not)


@pytest.mark.parametrize("column, kind, value", [("source", pa.float64(), 12.0), ("notes", pa.float64(), 1.5),
                                                 ("source", pa.bool_(), False)])
def test_text_fields_from_columns_of_other_types_stage_what_the_row_path_stages(tmp_path, monkeypatch, column,
                                                                                kind, value):
    values = _values()
    values[column] = [value if i % 3 == 1 else None for i in range(ROWS)]
    path = tmp_path / "typed.parquet"
    _geoparquet(path, values, **{column: kind})
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert got[:4] == want[:4]
    field = "source" if column == "source" else "description"
    assert {r[field] for r in got[1]} >= {"12" if value == 12.0 else "1.5" if value == 1.5 else "False"}


def test_whole_number_ids_above_2_to_the_53_with_missing_ones_stay_exact(tmp_path, monkeypatch):
    values = _values()
    values["id"] = [2**53 + 1 + i for i in range(ROWS)]
    values["id"][15] = None  # NumPy would read the column as floats
    path = tmp_path / "big_ids.parquet"
    _geoparquet(path, values, id=pa.int64())
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert got[:4] == want[:4]
    ids = {r["incident_id"] for r in got[1]}
    assert f"col-test:{2**53 + 1}" in ids and len(ids) == ROWS and got[0][2] == ROWS


def test_the_preview_is_the_first_records_of_the_file_one_per_id(tmp_path, monkeypatch):
    values = _values(60)
    for field in values:
        values[field][4] = values[field][3]  # the same record twice
    values["threat"][16] = "alien landing"
    path = tmp_path / "events.csv"
    _csv(path, values)
    monkeypatch.setattr(stream, "BLOCK", 10)
    want, got = _read(path, monkeypatch, clean=False), _read(path, monkeypatch, clean=True)
    assert got[:4] == want[:4]
    preview = json.loads(got[2])
    expected = [f"col-test:E{i}" for i in range(22) if i not in (4, 16)]
    assert [r["incident_id"] for r in preview] == expected
