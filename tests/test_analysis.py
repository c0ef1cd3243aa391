"""Incident analysis and data exports, checked against an independent pandas computation on the
small store: pagination and sorting, trends, period comparison, breakdowns, hotspots, flagged
segments, the area of interest, and exports re-read from disk."""
from __future__ import annotations

import datetime as dt
import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import queries
from borderwatch import analysis
from borderwatch import cli
from borderwatch.exports import data as exports
from borderwatch.filters import Filter
from conftest import NOW
from oracles import expected_ids


@pytest.fixture(scope="module")
def frames(small_store):
    cur = small_store.cursor()
    inc = cur.execute("SELECT * EXCLUDE (shared_under) FROM incidents").fetch_df()
    scopes = cur.execute("SELECT * FROM segment_agreements").fetch_df()
    segments = cur.execute("SELECT segment_id, length_km FROM segments").fetch_df()
    coverage = cur.execute("SELECT segment_id, covered_km FROM segment_coverage").fetch_df()
    return inc, scopes, segments, coverage


def selected(f: Filter, frames) -> pd.DataFrame:
    inc, scopes, *_ = frames
    return inc[inc.incident_id.isin(expected_ids(f, inc, scopes))]


USA_YEAR = Filter(window="365d", nations=("USA",))
FILTERS = [
    USA_YEAR,
    Filter(window="30d", threat_types=("smuggling", "drug_trafficking"), min_severity=2),
    Filter(window="365d", segments=("GRC-TUR",), text="persons"),
]


# -- the incident table ------------------------------------------------------------------------
def pandas_order(df: pd.DataFrame, sort: str, direction: str) -> list[str]:
    """Sorted as documented: NULLs count as the largest value, incident_id breaks ties, all in
    the chosen direction."""
    asc = direction == "ASC"
    df = df.assign(_null=df[sort].isna())
    ordered = df.sort_values(["_null", sort, "incident_id"], ascending=asc, kind="mergesort", na_position="last")
    return list(ordered.incident_id)


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: f.slug())
@pytest.mark.parametrize("sort, direction", [("occurred_at", "DESC"), ("severity", "ASC"), ("threat_type", "DESC"),
                                             ("segment_id", "ASC"), ("confidence", "DESC")])
def test_pages_concatenate_to_the_pandas_order(f, sort, direction, frames, small_store):
    want = selected(f, frames)
    size = max(25, -(-len(want) // 7))  # about seven pages: pages past the middle are read reversed
    got, total = [], None
    for page in range(1, analysis.page_count(len(want), size) + 1):
        df, total = analysis.incident_page(f, page, size, sort, direction, store=small_store, now=NOW)
        assert len(df) <= size
        got += list(df.incident_id)
    assert total == len(want) > 0
    assert got == pandas_order(want, sort, direction)


def test_ties_are_broken_by_incident_id(frames, small_store):
    want = selected(USA_YEAR, frames)
    df, _ = analysis.incident_page(USA_YEAR, 1, 500, "severity", "ASC", store=small_store, now=NOW)
    low = df[df.severity == df.severity.iloc[0]]
    assert len(low) > 1 and list(low.incident_id) == sorted(low.incident_id)
    assert list(df.incident_id) == pandas_order(want, "severity", "ASC")[:500]


def test_page_out_of_range_is_clamped_and_empty_filter_gives_no_rows(small_store):
    df, total = analysis.incident_page(USA_YEAR, 10_000, 50, store=small_store, now=NOW)
    last, _ = analysis.incident_page(USA_YEAR, analysis.page_count(total, 50), 50, store=small_store, now=NOW)
    assert list(df.incident_id) == list(last.incident_id) and 0 < len(df) <= 50
    df, total = analysis.incident_page(Filter(window="24h", text="no such words anywhere"), store=small_store, now=NOW)
    assert total == 0 and df.empty and list(df.columns) == list(analysis.PAGE_COLUMNS)


@pytest.mark.parametrize("kwargs", [{"sort": "description"}, {"direction": "sideways"}, {"page_size": 10_000}])
def test_table_parameters_come_from_allow_lists(kwargs, small_store):
    with pytest.raises(ValueError):
        analysis.incident_page(USA_YEAR, store=small_store, now=NOW, **kwargs)


def test_incident_detail_matches_the_store(frames, small_store):
    inc = selected(USA_YEAR, frames)
    row = inc.sort_values("incident_id").iloc[0]
    detail = analysis.incident_detail(row.incident_id, store=small_store)
    for col in ("incident_id", "threat_type", "severity", "reporting_nation", "source", "segment_id", "description"):
        assert detail[col] == row[col]
    assert detail["lon"] == pytest.approx(row.lon) and detail["occurred_at"] == row.occurred_at
    assert detail["segment_geojson"] and json.loads(detail["segment_geojson"])["type"].endswith("LineString")
    words = analysis.detail_rows(detail, {"USA": "United States"})
    assert {"Time (UTC)", "Border segment", "Description"} <= set(words.field)
    assert analysis.incident_detail("no-such-id", store=small_store) is None
    html = analysis.incident_map(detail, store=small_store).get_root().render()
    assert f"{row.lat:.5f}"[:6] in html and "circleMarker" in html


# -- trends and comparison ---------------------------------------------------------------------
@pytest.mark.parametrize("bucket", list(analysis.BUCKETS))
def test_trend_buckets_match_pandas(bucket, frames, small_store):
    f = Filter(window="365d", nations=("POL", "BLR", "LTU"))
    want = selected(f, frames)
    period = {"day": "D", "week": "W-SUN", "month": "M"}[bucket]
    starts = want.occurred_at.dt.to_period(period).dt.start_time
    expected = want.groupby([starts.rename("bucket"), "threat_type"]).size()
    got = analysis.trend(f, bucket, store=small_store, now=NOW)
    nonzero = got[got.n > 0].set_index(["bucket", "threat_type"]).n
    pd.testing.assert_series_equal(nonzero.sort_index(), expected.sort_index().rename("n"), check_dtype=False,
                                   check_index_type=False)
    # zero-filled: every bucket of the window for every threat type present, partial ones marked
    start, end = f.time_range(NOW)
    assert got.groupby("threat_type").size().nunique() == 1
    assert got.bucket.min() <= start < got.bucket.min() + pd.Timedelta(days=31) and got.bucket.max() < end
    assert got.partial.iloc[0] and got[~got.partial].bucket.min() >= start
    if bucket == "week":
        assert (got.bucket.dt.day_of_week == 0).all()


def test_trend_bucket_comes_from_the_allow_list(small_store):
    with pytest.raises(ValueError):
        analysis.trend(USA_YEAR, "minute'); DROP TABLE incidents; --", store=small_store, now=NOW)


@pytest.mark.parametrize("f", [Filter(window="7d"), Filter(window="30d", nations=("USA", "MEX"), min_severity=2),
                               Filter(window="custom", start=dt.datetime(2026, 6, 1), end=dt.datetime(2026, 6, 15))],
                         ids=lambda f: f.slug())
def test_period_comparison_matches_pandas(f, frames, small_store):
    inc = frames[0]
    start, end = f.time_range(NOW)
    prev_start, prev_end = f.previous_range(NOW)
    assert prev_end == start and end - start == prev_end - prev_start
    now_ids = expected_ids(f, inc, frames[1])
    prev_ids = expected_ids(f.replace(window="custom", start=prev_start, end=prev_end), inc, frames[1])
    cur = inc[inc.incident_id.isin(now_ids)].threat_type.value_counts()
    prev = inc[inc.incident_id.isin(prev_ids)].threat_type.value_counts()
    cmp = analysis.period_comparison(f, store=small_store, now=NOW)
    assert cmp.current == (start, end) and cmp.previous == (prev_start, prev_end)
    table = cmp.table.set_index("threat_type")
    for threat in set(cur.index) | set(prev.index):
        c, p = int(cur.get(threat, 0)), int(prev.get(threat, 0))
        row = table.loc[threat]
        assert (row.current, row.previous, row.change) == (c, p, c - p)
        if p:
            assert row.change_pct == pytest.approx((c - p) / p * 100)
        else:
            assert np.isnan(row.change_pct)
    assert (cmp.total.current, cmp.total.previous) == (len(now_ids), len(prev_ids))


# -- breakdowns, hotspots, flagged segments ----------------------------------------------------
@pytest.mark.parametrize("dimension", list(analysis.DIMENSIONS))
def test_breakdowns_match_pandas(dimension, frames, small_store):
    f = Filter(window="30d", agreements=("schengen",), scope="external")
    want = selected(f, frames)
    counts = want[dimension].astype(str).value_counts()
    got = analysis.breakdown(f, dimension, store=small_store, now=NOW, names={"POL": "Poland"})
    assert dict(zip(got.value, got.n)) == counts.to_dict()
    assert got.share_pct.sum() == pytest.approx(100, abs=0.05)
    assert list(got.n) == sorted(got.n, reverse=True)
    serious = want[want.severity >= 3][dimension].astype(str).value_counts()
    assert dict(zip(got.value, got.high_or_critical)) == {v: int(serious.get(v, 0)) for v in counts.index}
    if dimension == "reporting_nation" and "POL" in set(got.value):
        assert "Poland (POL)" in set(got.label)


def test_breakdown_dimension_comes_from_the_allow_list(small_store):
    with pytest.raises(ValueError):
        analysis.breakdown(USA_YEAR, "description", store=small_store, now=NOW)


def test_hotspots_rate_per_100km_and_coverage_match_pandas(frames, small_store):
    f = Filter(window="30d")
    _, _, segments, coverage = frames
    want = selected(f, frames)
    n = want.groupby("segment_id").size()
    lengths = segments.set_index("segment_id").length_km
    rate = (n / lengths.reindex(n.index).clip(lower=1) * 100).sort_values(ascending=False)
    hot = analysis.hotspots(analysis.context(f, store=small_store, now=NOW), limit=10)
    assert list(hot.segment_id) == list(rate.index[:10])
    assert list(hot.per_100km) == pytest.approx(list(rate.iloc[:10]))
    assert list(hot.n) == [n[s] for s in hot.segment_id]
    cov = coverage.set_index("segment_id").covered_km
    for row in hot.itertuples():
        expect = min(cov.get(row.segment_id, 0.0), row.length_km) / row.length_km * 100
        assert row.coverage_pct == pytest.approx(expect, abs=0.051)


def test_flagged_segments_are_the_high_and_critical_ones_with_reasons(frames, small_store):
    f = Filter(window="7d")
    ctx = analysis.context(f, store=small_store, now=NOW)
    stats = ctx.segment_stats
    flagged = analysis.flagged_segments(ctx)
    assert set(flagged.segment_id) == set(stats[stats.impact.isin(["high", "critical"])].segment_id)
    assert not flagged.empty, "the scenario's surges should flag some segment in the last 7 days"
    n = selected(f, frames).groupby("segment_id").size()
    for row in flagged.itertuples():
        assert row.n == n[row.segment_id]
        assert row.ratio >= 1.75 and f"{int(row.n):,} incidents" in row.reason and "baseline" in row.reason
    order = flagged.impact.map({"critical": 0, "high": 1})
    assert list(order) == sorted(order)


# -- area of interest --------------------------------------------------------------------------
def test_area_parsing():
    assert analysis.parse_area("") == ""
    box = analysis.parse_area(" -112, 30 ,-104,33 ")
    assert box.startswith("POLYGON") and "-112 30" in box
    wkt = "POLYGON ((20 35, 30 35, 30 45, 20 45, 20 35))"
    assert analysis.parse_area(wkt) == wkt
    assert analysis.parse_area("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))").startswith("MULTIPOLYGON")
    for bad, reason in [("1,2,3", "WKT"), ("POINT (1 2)", "POLYGON"), ("10,50,20,40", "south"),
                        ("POLYGON ((0 0, 2 2, 2 0, 0 2, 0 0))", "invalid"), ("POLYGON ((500 0, 501 0, 501 1, 500 0))", "longitude"),
                        ("drop table incidents", "WKT")]:
        with pytest.raises(analysis.AreaError, match=reason):
            analysis.parse_area(bad)
    bounds = {"_southWest": {"lat": 30.1, "lng": -110.2}, "_northEast": {"lat": 33.3, "lng": -100.4}}
    assert analysis.view_area(bounds) == "POLYGON ((-100.4 30.1, -100.4 33.3, -110.2 33.3, -110.2 30.1, -100.4 30.1))"
    assert analysis.view_area(None) == "" and analysis.view_area({"_southWest": {}}) == ""
    wrapped = {"_southWest": {"lat": 10, "lng": 190}, "_northEast": {"lat": 20, "lng": 200}}
    assert analysis.view_area(wrapped) == "POLYGON ((-160 10, -160 20, -170 20, -170 10, -160 10))"
    world = {"_southWest": {"lat": -85, "lng": -300}, "_northEast": {"lat": 85, "lng": 300}}
    assert analysis.view_area(world).startswith("POLYGON ((180 -85")


def test_area_of_interest_filters_the_table(frames, small_store):
    f = Filter(window="365d", area_wkt=analysis.parse_area("-112,30,-104,33"))
    want = selected(f, frames)
    assert len(want) and want.lon.between(-112, -104).all()
    df, total = analysis.incident_page(f, 1, 500, store=small_store, now=NOW)
    assert total == len(want) and set(df.incident_id) <= set(want.incident_id)
    choices = analysis.segment_choices(Filter(nations=("MEX",), segments=("GRC-TUR",)), store=small_store)
    assert "MEX-USA" in set(choices.segment_id) and "GRC-TUR" not in set(choices.segment_id)
    html = analysis.area_map(f.area_wkt, ("MEX-USA",), store=small_store).get_root().render()
    assert "fitBounds" in html and "MEX-USA" in html


def test_charts_build(small_store):
    f = Filter(window="30d")
    assert len(analysis.trend_chart(analysis.trend(f, "day", store=small_store, now=NOW), "day").to_dict()["layer"]) == 2
    assert analysis.comparison_chart(analysis.period_comparison(f, store=small_store, now=NOW)).to_dict()
    assert analysis.breakdown_chart(analysis.breakdown(f, "source", store=small_store, now=NOW)).to_dict()


# -- exports -----------------------------------------------------------------------------------
EXPORT_FILTERS = [USA_YEAR, Filter(window="30d", agreements=("schengen",), scope="internal", text="kg")]


def filtered_ids(f: Filter, small_store) -> set[str]:
    return {r[0] for r in queries.rows("incident_ids", f, store=small_store, now=NOW)}


def check_points(ids, lon, lat, frames) -> None:
    inc = frames[0].set_index("incident_id")
    np.testing.assert_allclose(np.asarray(lon), inc.loc[list(ids), "lon"].to_numpy())
    np.testing.assert_allclose(np.asarray(lat), inc.loc[list(ids), "lat"].to_numpy())


def check_metadata(meta: dict, f: Filter, rows: int, fmt: str) -> None:
    assert meta["rows"] == rows and meta["format"] == fmt
    assert meta["filter"]["description"] == f.describe(NOW)
    assert Filter.from_params(meta["filter"]["params"]) == f
    assert meta["reference_time"] == "2026-11-01T12:00:00Z"
    assert meta["synthetic_rows"] == rows


@pytest.mark.parametrize("f", EXPORT_FILTERS, ids=lambda f: f.slug())
def test_csv_export_is_exactly_the_filtered_set(f, tmp_path, frames, small_store):
    want = filtered_ids(f, small_store)
    assert want == expected_ids(f, frames[0], frames[1]) and want
    result = exports.export_incidents(f, "csv", tmp_path, store=small_store, now=NOW)
    assert result.file_name == f"borderwatch_incidents_{f.slug()}_20261101T1200Z.csv.zip"
    with zipfile.ZipFile(result.path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        df = pd.read_csv(zf.open(meta["data_file"]))
    assert len(df) == len(want) and set(df.incident_id) == want
    check_points(df.incident_id, df.lon, df.lat, frames)
    check_metadata(meta, f, len(want), "csv")
    inc = frames[0].set_index("incident_id")
    first = df.iloc[0]
    assert first.occurred_at == inc.loc[first.incident_id, "occurred_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first.description == inc.loc[first.incident_id, "description"]


@pytest.mark.parametrize("zipped", [False, True])
def test_geojson_export_is_exactly_the_filtered_set(zipped, tmp_path, frames, small_store):
    f = EXPORT_FILTERS[zipped]
    want = filtered_ids(f, small_store)
    result = exports.export_incidents(f, "geojson", tmp_path, zipped=zipped, store=small_store, now=NOW)
    if zipped:
        with zipfile.ZipFile(result.path) as zf:
            doc = json.loads(zf.read(result.metadata["data_file"]))
            check_metadata(json.loads(zf.read("metadata.json")), f, len(want), "geojson")
        path = f"zip://{result.path}!{result.metadata['data_file']}"
    else:
        doc = json.loads(result.path.read_text(encoding="utf-8"))
        path = result.path
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == len(want) == len(doc["features"])
    assert doc["metadata"]["filter"]["description"] == f.describe(NOW)
    ids = [feat["properties"]["incident_id"] for feat in doc["features"]]
    assert set(ids) == want and len(ids) == len(set(ids))
    coords = np.array([feat["geometry"]["coordinates"] for feat in doc["features"]])
    check_points(ids, coords[:, 0], coords[:, 1], frames)
    gdf = gpd.read_file(path)
    assert len(gdf) == len(want) and set(gdf.incident_id) == want
    check_points(gdf.incident_id, gdf.geometry.x, gdf.geometry.y, frames)


@pytest.mark.parametrize("f", EXPORT_FILTERS, ids=lambda f: f.slug())
def test_geoparquet_export_is_exactly_the_filtered_set(f, tmp_path, frames, small_store):
    want = filtered_ids(f, small_store)
    result = exports.export_incidents(f, "geoparquet", tmp_path, store=small_store, now=NOW)
    assert result.path.suffix == ".parquet"
    gdf = gpd.read_parquet(result.path)
    assert gdf.crs.to_epsg() == 4326 or gdf.crs.to_string() == "OGC:CRS84"
    assert len(gdf) == len(want) and set(gdf.incident_id) == want
    check_points(gdf.incident_id, gdf.geometry.x, gdf.geometry.y, frames)
    assert str(gdf.occurred_at.dt.tz) == "UTC"
    kv = pq.ParquetFile(result.path).metadata.metadata
    geo = json.loads(kv[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    w, s, e, n = geo["columns"]["geometry"]["bbox"]
    assert (w, s, e, n) == pytest.approx((gdf.geometry.x.min(), gdf.geometry.y.min(), gdf.geometry.x.max(), gdf.geometry.y.max()))
    check_metadata(json.loads(kv[b"borderwatch"]), f, len(want), "geoparquet")


def test_exports_stream_in_batches_and_handle_empty_results(tmp_path, small_store):
    seen = []
    meta = exports.write_geoparquet(USA_YEAR, tmp_path / "a.parquet", store=small_store, now=NOW,
                                    progress=lambda done, total: seen.append((done, total)), batch_rows=100)
    total = len(filtered_ids(USA_YEAR, small_store))
    assert len(seen) == -(-total // 100) and seen[-1] == (total, total) and meta["rows"] == total
    assert pq.ParquetFile(tmp_path / "a.parquet").metadata.num_row_groups == len(seen)
    seen.clear()
    exports.write_geojson(USA_YEAR, tmp_path / "a.geojson", store=small_store, now=NOW,
                          progress=lambda done, total: seen.append(done), batch_rows=100)
    assert len(seen) > 1 and len(json.loads((tmp_path / "a.geojson").read_text())["features"]) == total
    nothing = Filter(window="24h", text="no such words anywhere")
    for fmt in exports.FORMATS:
        result = exports.export_incidents(nothing, fmt, tmp_path, store=small_store, now=NOW)
        assert result.rows == 0
    with zipfile.ZipFile(tmp_path / exports.file_name(nothing, "incidents", ".csv.zip", NOW)) as zf:
        assert list(pd.read_csv(zf.open(zf.namelist()[0])).columns)[:2] == ["incident_id", "occurred_at"]
    assert json.loads((tmp_path / exports.file_name(nothing, "incidents", ".geojson", NOW)).read_text())["features"] == []
    assert len(gpd.read_parquet(tmp_path / exports.file_name(nothing, "incidents", ".parquet", NOW))) == 0


def test_breakdown_csv_reads_back(small_store):
    f = Filter(window="30d", nations=("USA",))
    table = analysis.breakdown(f, "threat_type", store=small_store, now=NOW)
    name, payload = exports.breakdown_csv(table, "threat_type", f, now=NOW)
    assert name == "borderwatch_breakdown-threat_type_30d_USA_20261101T1200Z.csv"
    back = pd.read_csv(pd.io.common.BytesIO(payload))
    assert list(back.value) == list(table.value) and list(back.n) == list(table.n)


def test_export_command_line(tmp_path, small_store, monkeypatch, capsys):
    monkeypatch.setenv("BORDERWATCH_STORE", str(small_store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    out = tmp_path / "usa.csv"
    assert cli.main(["export", "csv", "--no-zip", "-q", "--filter-url", "http://host/analysis?nations=USA&window=365d",
                            "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert set(df.incident_id) == filtered_ids(USA_YEAR, small_store)
    meta = json.loads((tmp_path / "usa.metadata.json").read_text())
    assert meta["filter"]["url_query"] == "v=1&nations=USA&window=365d"
    assert cli.main(["export", "geoparquet", "-q", "--filter-url", "nations=USA&window=365d", "-o", str(tmp_path)]) == 0
    assert (tmp_path / f"borderwatch_incidents_{USA_YEAR.slug()}_20261101T1200Z.parquet").exists()
    assert "incidents" in capsys.readouterr().out
