"""GeoParquet points decoded in bulk (``wkbpoints``) and checked as coordinate arrays (``lonlat``)
give the geometries, the report and the stored rows of the one-object-per-row path."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from borderwatch.importers import chunks, lakefiles, pipeline, sources, staged, stream, wkbpoints
from test_import_fast import NOW, _report, _stored, stores  # noqa: F401  (fixture)

ROWS = 600


def _column(geoms, **kw) -> pa.Array:
    return pa.array([None if g is None else shapely.to_wkb(g, **kw) for g in geoms], pa.binary())


def test_points_in_bulk_equal_from_wkb_in_either_byte_order_with_missing_and_empty_ones():
    rng = np.random.default_rng(5)
    pts = list(shapely.points(rng.uniform(-180, 180, 50), rng.uniform(-90, 90, 50)))
    pts[3], pts[7], pts[9] = None, shapely.from_wkt("POINT EMPTY"), shapely.points(np.nan, 4.0)
    for order in (0, 1):
        column = _column(pts, byte_order=order)
        got, errors = sources.decode_column(column, len(pts))
        want, want_errors = sources._decode(np.array(column.to_pylist(), dtype=object), len(pts))
        assert errors == want_errors == []
        assert [None if g is None else g.wkt for g in got] == [None if g is None else g.wkt for g in want]
    assert wkbpoints.coordinates(column.slice(10, 20))[0].tolist() == shapely.get_coordinates(pts[10:30]).tolist()


@pytest.mark.parametrize("other", [
    shapely.box(0, 0, 1, 1), shapely.from_wkt("POINT Z (1 2 3)"), shapely.from_wkt("MULTIPOINT (1 2)"),
    shapely.from_wkt("LINESTRING (0 0, 1 1)")])
def test_a_column_with_anything_but_2d_points_is_decoded_one_by_one(other):
    column = _column([shapely.points(1.0, 2.0), other])
    assert wkbpoints.coordinates(column) is None
    got, errors = sources.decode_column(column, 2)
    assert errors == [] and got[1].wkt == other.wkt


def test_an_undecodable_21_byte_blob_is_refused_with_the_decoders_words():
    column = pa.array([shapely.to_wkb(shapely.points(1.0, 2.0)), b"\x01\x63" + b"\x00" * 19], pa.binary())
    assert wkbpoints.coordinates(column) is None
    got, errors = sources.decode_column(column, 2)
    assert got[1] is None and errors[0][:2] == (1, "geometry") and errors[0][2].startswith("geometry could not be decoded")


def _bad_rows() -> dict[int, dict]:
    """Bad rows whose geometry is still a finite 2D point (the coordinate path), one kind each."""
    return {
        4: {"geometry": shapely.points(26.0, 95.0)},  # latitude out of range
        40: {"geometry": shapely.points(-190.0, 41.0)},  # longitude out of range
        77: {"geometry": shapely.points(0.0, 0.0)},
        130: {"occurred_at": "2025-02-31"},
        170: {"threat": "alien landing"},
        230: {"severity": 0},
        260: {"id": "P1"},  # another row's id, other content
        410: {"geometry": shapely.box(26, 41, 26.1, 41.1)},  # not a point: this chunk takes the object path
        470: {"geometry": None},
    }


def _geoparquet(path, crs=None) -> None:
    rng = np.random.default_rng(11)
    geoms = list(shapely.points(np.round(22 + rng.uniform(0, 8, ROWS), 5), np.round(41 + rng.uniform(0, 8, ROWS), 5)))
    cols = {"id": [f"P{i}" for i in range(ROWS)],
            "occurred_at": [f"2025-07-{1 + i % 28:02d}T08:{i % 60:02d}:00Z" for i in range(ROWS)],
            "threat": [["smuggling", "Drone", "illegal_crossing"][i % 3] for i in range(ROWS)],
            "severity": [1 + i % 4 for i in range(ROWS)], "geometry": geoms}
    for pos, values in _bad_rows().items():
        for c, v in values.items():
            cols[c][pos] = v
    table = pa.table({**{c: pa.array(v) for c, v in cols.items() if c != "geometry"}, "geometry": _column(geoms)})
    column = {"encoding": "WKB"} if crs is None else {"encoding": "WKB", "crs": crs}
    meta = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), path, row_group_size=100)


@pytest.mark.parametrize("crs", [None, "EPSG:4326"])
def test_points_as_coordinates_give_the_report_and_rows_of_the_whole_file_path(stores, tmp_path, monkeypatch, crs):
    fast, whole = stores
    path = tmp_path / "points.parquet"
    _geoparquet(path, crs)
    monkeypatch.setattr(pipeline, "CHUNK", 100)
    monkeypatch.setattr(staged, "INSERT_ROWS", 250)
    monkeypatch.setattr(staged, "BATCH_ROWS", 100)
    taken = []
    check = stream.lonlat.check
    monkeypatch.setattr(stream.lonlat, "check", lambda work, *a: taken.append(work.n) or check(work, *a))
    kw = dict(now=NOW, source_name="fast-test", skip_invalid=True)
    dry = pipeline.import_file("incidents", path, fast, dry_run=True, **kw)
    got = pipeline.import_file("incidents", path, fast, **kw)
    assert len(taken) == 2 * 5  # every chunk but rows 401-500 as coordinates, in the dry run and the import
    monkeypatch.setattr(stream, "streams", lambda layer, p: False)
    want = pipeline.import_file("incidents", path, whole, **kw)
    assert got.status == want.status == "imported" and got.written == ROWS - len(_bad_rows())
    assert _report(got) == _report(want)
    assert (got.geometry_types, got.bounds, got.crs) == (want.geometry_types, want.bounds, want.crs)
    assert (dry.rows_read, dry.accepted, dry.records) == (got.rows_read, got.accepted, got.records)
    reasons = {e.row: (e.field, e.reason) for e in got.rejected}
    assert reasons[5] == ("geometry", "latitude 95 is outside -90..90")
    assert reasons[41] == ("geometry", "longitude -190 is outside -180..180")
    assert reasons[78][1].startswith("a coordinate is exactly 0, 0")
    assert reasons[131][0] == "occurred_at" and reasons[171][0] == "threat" and reasons[231][0] == "severity"
    assert reasons[411] == ("geometry", "incidents are points; this row has a Polygon")
    assert reasons[471] == ("geometry", "no geometry")
    assert _stored(fast) == _stored(whole)


def test_a_file_in_another_crs_takes_the_object_path(tmp_path):
    path = tmp_path / "projected.parquet"
    _geoparquet(path, "EPSG:4326")
    src = chunks.ParquetChunks(path, 100)
    assert stream.lonlat.lonlat_crs(src.crs, None) and not stream.lonlat.lonlat_crs(src.crs, "EPSG:4326")
    assert not stream.lonlat.lonlat_crs(None, None)
    import pyproj
    assert not stream.lonlat.lonlat_crs(pyproj.CRS.from_epsg(3857), None)


def _completed_plan(store, path, complete):
    return pipeline.read_file("incidents", path, store=store, now=NOW, source_name="fast-test", skip_invalid=True,
                              complete=complete)


def test_rows_completed_while_reading_are_stored_as_those_completed_at_commit(stores, tmp_path, monkeypatch):
    early, late = stores
    path = tmp_path / "points.parquet"
    _geoparquet(path)
    monkeypatch.setattr(pipeline, "CHUNK", 100)
    monkeypatch.setattr(staged, "INSERT_ROWS", 250)
    monkeypatch.setattr(staged, "BATCH_ROWS", 100)
    plan = _completed_plan(early, path, True)
    assert plan.staged.locator is not None
    assert pq.read_schema(plan.staged.path).names[-2:] == ["_near", "_h3"]
    derived = []
    real = staged.incident_store.derived_with
    monkeypatch.setattr(staged.incident_store, "derived_with", lambda *a: derived.append(1) or real(*a))
    got = pipeline.commit(plan, early)
    assert derived == []  # nothing left to derive at commit
    plain = _completed_plan(late, path, False)
    assert plain.staged.locator is None and "_near" not in pq.read_schema(plain.staged.path).names
    want = pipeline.commit(plain, late)
    assert derived and got.written == want.written == ROWS - len(_bad_rows())
    assert _stored(early) == _stored(late)


def test_segments_changed_since_reading_are_derived_again_at_commit(stores, tmp_path, monkeypatch):
    store = stores[0]
    path = tmp_path / "points.parquet"
    _geoparquet(path)
    plan = _completed_plan(store, path, True)
    stale = plan.staged.locator
    # the border segments change between reading and commit (the one most rows are near is removed):
    # the store's locator is rebuilt
    staged_rows = pq.read_table(plan.staged.path, columns=["_near"])["_near"].to_numpy()
    gone = stale.ids[np.bincount(staged_rows[staged_rows >= 0]).argmax()]
    store.cursor().execute("DELETE FROM segments WHERE segment_id = ?", [gone])
    assert staged.incident_store.locator(store) is not stale
    derived = []
    real = staged.incident_store.derived_with
    monkeypatch.setattr(staged.incident_store, "derived_with", lambda *a: derived.append(1) or real(*a))
    pipeline.commit(plan, store)
    assert derived
    rows = store.cursor().execute("SELECT lon, lat, segment_id, nation_a, nation_b FROM incidents "
                                  "WHERE dataset = 'import:fast-test' ORDER BY incident_id").fetchall()
    loc = staged.incident_store.locator(store)
    near = loc.nearest(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
    assert [r[2:] for r in rows] == [(loc.ids[k], loc.nation_a[k], loc.nation_b[k]) if k >= 0 else (None, None, None)
                                     for k in near]
    assert gone not in {r[2] for r in rows}


def test_a_dry_run_does_not_complete_the_rows(stores, tmp_path, monkeypatch):
    store = stores[0]
    path = tmp_path / "points.parquet"
    _geoparquet(path)
    seen = []
    real = pipeline.read_file
    monkeypatch.setattr(pipeline, "read_file", lambda *a, **kw: seen.append(kw["complete"]) or real(*a, **kw))
    pipeline.import_file("incidents", path, store, dry_run=True, now=NOW, skip_invalid=True)
    pipeline.import_file("incidents", path, store, now=NOW, skip_invalid=True)
    assert seen == [False, True]


def test_new_rows_are_registered_as_data_files_and_read_back_like_inserted_ones(stores, tmp_path, monkeypatch):
    files, inserted = stores
    path = tmp_path / "points.parquet"
    _geoparquet(path)
    monkeypatch.setattr(staged, "INSERT_ROWS", 250)
    monkeypatch.setattr(staged, "BATCH_ROWS", 100)
    kw = dict(now=NOW, source_name="fast-test", skip_invalid=True)
    got = pipeline.import_file("incidents", path, files, **kw)
    adopted = sorted(p.name for p in pathlib.Path(files.data_path).rglob("import-*.parquet"))
    assert len(adopted) == 2  # batches of 100 up to 250 rows or more: parts of 300 and 291 rows
    listed = {pathlib.Path(f).name for (f,) in files.cursor().execute(
        "SELECT data_file FROM ducklake_list_files('bw', 'incidents')").fetchall()}
    assert set(adopted) <= listed
    monkeypatch.setattr(lakefiles, "usable", lambda store, cur: False)  # the insert path
    want = pipeline.import_file("incidents", path, inserted, **kw)
    assert not list(pathlib.Path(inserted.data_path).rglob("import-*.parquet"))
    assert _report(got) == _report(want) and _stored(files) == _stored(inserted)
    # the same file again: every id is stored, so rows are compared and inserted (none new)
    again = pipeline.import_file("incidents", path, files, **kw)
    assert again.written == 0 and again.already_present == got.written
    files.compact()  # the lake's own maintenance merges the registered files with its own
    assert _stored(files) == _stored(inserted)


def test_files_are_registered_only_into_an_incidents_table_of_the_schema(stores):
    store = stores[0]
    cur = store.cursor()
    assert lakefiles.usable(store, cur)
    cur.execute("ALTER TABLE incidents ADD COLUMN extra VARCHAR")
    assert not lakefiles.usable(store, cur)


def test_an_error_of_the_completing_thread_reaches_the_reader_and_stops_the_thread(stores, tmp_path, monkeypatch):
    import threading

    store = stores[0]
    path = tmp_path / "points.parquet"
    _geoparquet(path)
    monkeypatch.setattr(pipeline, "CHUNK", 100)
    calls = []

    def broken(self, lon, lat):
        calls.append(len(lon))
        raise RuntimeError("segment index broken")

    monkeypatch.setattr(staged.incident_store.SegmentLocator, "nearest", broken)
    with pytest.raises(RuntimeError, match="segment index broken"):
        _completed_plan(store, path, True)
    assert calls and len(calls) <= staged.STAGE_THREADS + 1  # the reader stopped at the next chunks
    assert not any(t.name.startswith("import-stage") and t.is_alive() for t in threading.enumerate())


def test_table_lon_lat_columns_as_coordinates_give_the_report_and_rows_of_the_whole_file_path(
        stores, tmp_path, monkeypatch):
    """A CSV's lon/lat columns (no --crs) are checked as a coordinate array, with the errors,
    report and stored rows of the path that makes a shapely point per row."""
    fast, whole = stores
    rng = np.random.default_rng(13)
    lon, lat = np.round(22 + rng.uniform(0, 8, ROWS), 5).astype(str), np.round(41 + rng.uniform(0, 8, ROWS), 5).astype(str)
    bad = {4: ("26", "95"), 40: ("-190", "41"), 77: ("0", "0"), 120: ("abc", "41"), 150: ("26", ""),
           200: ("inf", "41"), 250: (" 26.5 ", "41.25")}
    for pos, (x, y) in bad.items():
        lon[pos], lat[pos] = x, y
    lines = ["id,occurred_at,threat,severity,Longitude,Latitude"]
    lines += [f"C{i},2025-07-{1 + i % 28:02d}T08:{i % 60:02d}:00Z,smuggling,{1 + i % 4},\"{lon[i]}\",\"{lat[i]}\""
              for i in range(ROWS)]
    path = tmp_path / "points.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(pipeline, "CHUNK", 100)
    taken = []
    table_points = stream.lonlat.table_points
    monkeypatch.setattr(stream.lonlat, "table_points", lambda work: taken.append(work.n) or table_points(work))
    monkeypatch.setattr(stream.columnar, "reading", lambda *a: None)  # every chunk the row path (clean ones too)
    kw = dict(now=NOW, source_name="fast-test", skip_invalid=True)
    got = pipeline.import_file("incidents", path, fast, **kw)
    assert taken == [100] * 6
    monkeypatch.setattr(stream, "streams", lambda layer, p: False)
    want = pipeline.import_file("incidents", path, whole, **kw)
    assert got.status == want.status == "imported" and got.written == ROWS - 6
    assert _report(got) == _report(want)
    assert (got.geometry_types, got.bounds, got.crs) == (want.geometry_types, want.bounds, want.crs)
    reasons = {e.row: (e.field, e.reason) for e in got.rejected}
    assert reasons[5] == ("Latitude", "latitude 95 is outside -90..90")
    assert reasons[41] == ("Longitude", "longitude -190 is outside -180..180")
    assert reasons[78][1].startswith("a coordinate is exactly 0, 0")
    assert reasons[121] == ("Longitude", "'abc' is not a longitude") and reasons[151] == ("Latitude", "no coordinates")
    assert reasons[201][0] == "Longitude"
    assert _stored(fast) == _stored(whole)
