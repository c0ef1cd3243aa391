"""The fast incident import (chunks read one ahead, completion done by a thread while DuckDB inserts,
vectorised H3 cells and segment columns) gives the report and the stored rows of the whole-file
path, on a GeoParquet file with a bad row of each kind."""
from __future__ import annotations

import datetime as dt
import json
import pathlib
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

import queries
from borderwatch import hexgrid, incident_store, reference
from borderwatch.importers import ahead, pipeline, staged, stream
from borderwatch.store import Store

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
ROWS = 1_200


def _bad_rows() -> dict[int, dict]:
    """Row position -> the values that make it bad (one kind each)."""
    return {
        5: {"geometry": b"\x01\x01\x00\x00"},  # truncated WKB
        17: {"geometry": shapely.to_wkb(shapely.from_wkt("POINT EMPTY"))},
        29: {"geometry": shapely.to_wkb(shapely.points(np.nan, 41.0))},
        41: {"geometry": shapely.to_wkb(shapely.points(26.0, 95.0))},  # latitude out of range
        53: {"geometry": shapely.to_wkb(shapely.points(0.0, 0.0))},
        65: {"geometry": shapely.to_wkb(shapely.box(26, 41, 26.1, 41.1))},  # not a point
        77: {"geometry": None},
        89: {"occurred_at": "not a date"},
        101: {"occurred_at": None},
        113: {"threat": "alien landing"},
        125: {"threat": None},
        137: {"severity": 9},
        149: {"id": "G3"},  # the id of row 4, other content: a conflict
        161: {"notes": None, "id": None},  # no id: a hash of the content
    }


def _geoparquet(path) -> None:
    rng = np.random.default_rng(3)
    lon = np.round(22 + rng.uniform(0, 8, ROWS), 5)
    lat = np.round(41 + rng.uniform(0, 8, ROWS), 5)
    cols = {
        "id": [f"G{i}" for i in range(ROWS)],
        "occurred_at": [f"2025-06-{1 + i % 28:02d}T10:{i % 60:02d}:00Z" for i in range(ROWS)],
        "threat": [["smuggling", "illegal_crossing", "Drone"][i % 3] for i in range(ROWS)],
        "severity": [1 + i % 4 for i in range(ROWS)],
        "notes": [["patrol report", "sensor alarm", None][i % 3] for i in range(ROWS)],
        "geometry": list(shapely.to_wkb(shapely.points(lon, lat))),
    }
    cols["id"][300] = cols["id"][301] = "TWIN"  # identical rows: kept once
    for c in cols:
        if c != "id":
            cols[c][301] = cols[c][300]
    for pos, values in _bad_rows().items():
        for c, v in values.items():
            cols[c][pos] = v
    table = pa.table({**{c: pa.array(v) for c, v in cols.items() if c != "geometry"},
                      "geometry": pa.array(cols["geometry"], pa.binary())})
    meta = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": "WKB"}}}
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), path, row_group_size=250)


@pytest.fixture()
def stores(tmp_path):
    made = []
    for name in ("fast", "whole"):
        s = Store(tmp_path / name)
        reference.load_into(s)
        made.append(s)
    yield made
    for s in made:
        s.close()


def _stored(store) -> list[tuple]:
    cols = ("incident_id, occurred_at, time_precision, threat_type, severity, confidence, reporting_nation, "
            "source, description, lon, lat, location_error_m, h3, segment_id, nation_a, nation_b, shared_under, "
            "dataset, synthetic, owner_nation")
    return store.cursor().execute(f"SELECT {cols} FROM incidents WHERE dataset = 'import:fast-test' "
                                  "ORDER BY incident_id").fetchall()


def _report(r) -> tuple:
    return (r.rows_read, r.accepted, r.records, r.written, r.already_present, r.duplicates_in_file,
            [(e.row, e.field, e.reason, e.value, e.record) for e in r.rejected])


def test_fast_import_equals_the_whole_file_path(stores, tmp_path, monkeypatch):
    fast, whole = stores
    path = tmp_path / "events.parquet"
    _geoparquet(path)
    monkeypatch.setattr(pipeline, "CHUNK", 250)
    monkeypatch.setattr(staged, "INSERT_ROWS", 400)
    monkeypatch.setattr(staged, "BATCH_ROWS", 150)
    kw = dict(now=NOW, source_name="fast-test", skip_invalid=True)
    dry = pipeline.import_file("incidents", path, fast, dry_run=True, **kw)
    got = pipeline.import_file("incidents", path, fast, **kw)
    assert got.status == "imported" and got.written > 1_000
    monkeypatch.setattr(stream, "streams", lambda layer, p: False)  # the whole-file path (read, validate, assemble)
    want = pipeline.import_file("incidents", path, whole, **kw)
    assert want.status == "imported"
    assert _report(got) == _report(want)
    assert (dry.rows_read, dry.accepted, dry.records) == (got.rows_read, got.accepted, got.records)
    rows = {e.row for e in got.rejected}
    assert rows == {p + 1 for p in _bad_rows() if p != 161}  # row 162 (no id) is accepted
    fields = {e.field for e in got.rejected}
    assert {"geometry", "occurred_at", "threat", "severity", "id"} <= fields
    stored = _stored(fast)
    assert stored == _stored(whole) and len(stored) == got.written
    assert any(r[13] is not None for r in stored)  # some rows near a segment
    # again, into stores that hold the rows: nothing new, all found (the insert that compares rows)
    again = pipeline.import_file("incidents", path, whole, **kw)
    monkeypatch.undo()
    monkeypatch.setattr(staged, "INSERT_ROWS", 400)
    monkeypatch.setattr(staged, "BATCH_ROWS", 150)
    fast_again = pipeline.import_file("incidents", path, fast, **kw)
    assert _report(fast_again) == _report(again) and fast_again.already_present == got.written
    assert _stored(fast) == stored


def test_segment_columns_and_cells_equal_a_point_by_point_derivation(stores):
    store = stores[0]
    loc = incident_store.locator(store)
    rng = np.random.default_rng(5)
    lon = np.concatenate([rng.uniform(20, 32, 3_000), [179.99, -179.99, 0.5]])
    lat = np.concatenate([rng.uniform(38, 52, 3_000), [65.0, -65.0, 0.5]])
    got = incident_store.derived_with(loc, lon, lat)
    near = loc.nearest(lon, lat)
    assert (near == -1).any() and (near >= 0).any()
    want_ids = [loc.ids[k] if k >= 0 else None for k in near]
    assert got["segment_id"].to_pylist() == want_ids
    assert got["nation_a"].to_pylist() == [loc.nation_a[k] if k >= 0 else None for k in near]
    assert got["nation_b"].to_pylist() == [loc.nation_b[k] if k >= 0 else None for k in near]
    assert got["shared_under"].to_pylist() == [list(loc.shared[k]) if k >= 0 else [] for k in near]
    assert got["h3"].to_numpy().tolist() == hexgrid.cells_one_by_one(lon, lat).tolist()


def test_ahead_keeps_order_raises_the_producers_error_and_stops_the_producer():
    assert list(ahead.ahead(iter(range(50)))) == list(range(50))

    def failing():
        yield 1
        raise ValueError("bad batch")

    got = []
    with pytest.raises(ValueError, match="bad batch"):
        for x in ahead.ahead(failing()):
            got.append(x)
    assert got == [1]
    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    items = ahead.ahead(endless())
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # the consumer stops: the producer thread ends
    assert not any(t.name == "import-complete" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 5


def test_a_failing_insert_leaves_the_store_as_it_was(stores, tmp_path, monkeypatch):
    store = stores[0]
    path = tmp_path / "events.parquet"
    _geoparquet(path)
    monkeypatch.setattr(staged, "INSERT_ROWS", 300)
    monkeypatch.setattr(staged, "BATCH_ROWS", 150)
    plan = pipeline.read_file("incidents", path, store=store, now=NOW, source_name="fast-test", skip_invalid=True)
    real, calls = queries.execute, []

    def insert_then_fail(name, *a, **kw):
        if name.startswith(("insert_incidents", "import_add_incident_file")):  # an insert, or a file registered
            calls.append(name)
            if len(calls) == 3:
                raise RuntimeError("disk full")
        return real(name, *a, **kw)

    monkeypatch.setattr(queries, "execute", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        pipeline.commit(plan, store)
    assert len(calls) == 3 and _stored(store) == []
    assert calls == ["import_add_incident_file"] * 3  # a new import's parts are registered as files
    # the files moved into the data directory before the failure are gone with the transaction
    assert not list(pathlib.Path(store.data_path).rglob("import-*.parquet"))
    assert not any(t.name == "import-complete" and t.is_alive() for t in threading.enumerate())


def test_timestamp_texts_at_once_equal_one_by_one():
    import pandas as pd
    from borderwatch.importers import sources

    stamps = pa.array([dt.datetime(2025, 6, 1, 10, 0, 0), None, dt.datetime(2025, 6, 1, 10, 0, 0, 250_000),
                       dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59), dt.datetime(1970, 1, 1)],
                      pa.timestamp("us"))
    columns = [stamps, stamps.cast(pa.timestamp("ms")), stamps.cast(pa.timestamp("s", tz="UTC"), safe=False),
               pa.array([dt.date(2025, 6, 1), None, dt.date(1, 1, 1)], pa.date32()),
               pa.array([0, 1_500, None, -86_400_000_000_001], pa.timestamp("ns"))]
    for col in columns:
        arr = col.to_numpy(zero_copy_only=False)
        want = [None if np.isnat(v) else pd.Timestamp(v).isoformat() for v in arr]
        assert sources._objects(arr).tolist() == want, col.type


def _staged_rows(first: int, n: int) -> pa.Table:
    rows = {f.name: pa.nulls(n, f.type) for f in staged.SCHEMA}
    rows["incident_id"] = pa.array([f"x:{first + i}" for i in range(n)])
    rows["lon"], rows["lat"] = pa.array(np.full(n, 25.0)), pa.array(np.full(n, 45.0))
    rows["_row"] = pa.array(np.arange(first, first + n, dtype=np.int64))
    return pa.table(rows, schema=staged.SCHEMA)


def test_chunks_completed_at_once_are_written_in_the_order_they_came(tmp_path):
    import time

    class Locator:  # the first chunk takes longest to complete
        def nearest(self, lon, lat):
            time.sleep(0.3 if lon[0] == 25.0 and not getattr(self, "slept", False) else 0.0)
            self.slept = True
            return np.full(len(lon), -1)

    writer = staged.Writer(tmp_path / "records.parquet", Locator())
    for k in range(6):
        writer.write_table(_staged_rows(10 * k, 10))
    writer.close()
    got = pq.read_table(tmp_path / "records.parquet")
    assert got["_row"].to_pylist() == list(range(60)) and writer.rows == 60
    assert got["_near"].to_pylist() == [-1] * 60


def test_commit_parts_are_runs_of_row_groups_of_at_least_insert_rows(tmp_path, monkeypatch):
    path = tmp_path / "records.parquet"
    pq.write_table(_staged_rows(0, 700), path, row_group_size=100)
    monkeypatch.setattr(staged, "INSERT_ROWS", 250)
    assert staged._row_group_parts(pq.ParquetFile(path).metadata) == [[0, 1, 2], [3, 4, 5], [6]]
    monkeypatch.setattr(staged, "INSERT_ROWS", 1_000)
    assert staged._row_group_parts(pq.ParquetFile(path).metadata) == [[0, 1, 2, 3, 4, 5, 6]]


def test_lake_files_keep_dictionary_pages_for_columns_the_store_has():
    from borderwatch.importers import lakefiles

    names = set(incident_store.INCIDENT_SCHEMA.names)
    assert set(lakefiles.LAKE_PARQUET["use_dictionary"]) <= names
    assert "incident_id" not in lakefiles.LAKE_PARQUET["use_dictionary"]


def test_a_failing_chunk_with_one_still_completing_and_one_queued_does_not_hang_the_writer(tmp_path):
    """Chunk 0 fails while chunk 1 is being completed and chunk 2 waits in the queue: closing
    cancels chunk 2 and chunk 1 still gets its turn (it used to wait for it forever)."""
    import concurrent.futures
    import time

    class Locator:
        def nearest(self, lon, lat):
            if lon[0] < 25.5:  # chunk 0
                time.sleep(0.1)
                raise ValueError("segment index broken")
            time.sleep(0.4)  # chunk 1
            return np.full(len(lon), -1)

    writer = staged.Writer(tmp_path / "records.parquet", Locator())
    submit = writer._pool.submit
    writer._pool.submit = lambda fn, table, k: concurrent.futures.Future() if k == 2 else submit(fn, table, k)
    for k in range(3):
        rows = _staged_rows(10 * k, 10)
        rows = rows.set_column(rows.schema.get_field_index("lon"), "lon", pa.array(np.full(10, 25.0 + k)))
        writer.write_table(rows)
    outcome = []

    def close():
        try:
            writer.close()
        except ValueError as exc:
            outcome.append(str(exc))

    closing = threading.Thread(target=close, daemon=True)
    closing.start()
    closing.join(5)
    assert not closing.is_alive(), "the writer hung"
    assert outcome == ["segment index broken"]
    assert pq.read_table(tmp_path / "records.parquet")["_row"].to_pylist() == list(range(10, 20))
