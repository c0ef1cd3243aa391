"""Importing users' files: real third-party files, every kind of bad input, and the guarantees
(refused files change nothing, re-imports do not duplicate, dry runs write nothing)."""
from __future__ import annotations

import csv
import datetime as dt
import http.server
import io
import json
import pathlib
import shutil
import sqlite3
import threading
import warnings
import zipfile

import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from pyproj import Geod

import queries
from borderwatch import importer, reference
from borderwatch.importers import pipeline
from borderwatch.store import Store

import import_fixtures as fx
from conftest import realdata

# real third-party files (extra checks; each test skips naming the file when it is absent)
NYBB = "geoformats/nybb_16a_shapefile_epsg2263.zip"
NC = "geoformats/nc_sids_nad27_epsg4267.gpkg"
OSM_FENCE = "fortifications/osm_us_mexico_border_fence_2015.geojson"
MMP = "incidents/mmp_iom_2014-2019_legacy_format.csv"
NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
GEOD = Geod(ellps="WGS84")
TABLES = ("incidents", "fortifications", "sensors", "segments", "nations", "segment_agreements")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with the reference data only (nations, segments, agreements)."""
    s = Store(tmp_path_factory.mktemp("import-store"))
    reference.load_into(s)
    yield s
    s.close()


def snapshot(store: Store) -> dict:
    out = {t: queries.scalar("count_rows", store=store, idents={"table": t}) for t in TABLES}
    out["segments_fingerprint"] = queries.scalar("segments_fingerprint", store=store)
    return out


def refused(store: Store, layer: str, path, **kw) -> importer.ImportReport:
    """Import that must be refused: the store must not change."""
    before = snapshot(store)
    report = importer.import_file(layer, path, store, now=NOW, **kw)
    assert report.status == "refused", report.format_text()
    assert not report.ok
    assert snapshot(store) == before
    return report


def stored_incident(store: Store, incident_id: str):
    frame = store.cursor().execute("SELECT * EXCLUDE (shared_under) FROM incidents WHERE incident_id = ?",
                                   [incident_id]).fetch_df()
    assert len(frame) == 1
    return frame.iloc[0]


def only_error(report: importer.ImportReport) -> importer.RowError:
    assert len(report.rejected) == 1, report.format_text()
    return report.rejected[0]


def write(path: pathlib.Path, text: str | bytes) -> pathlib.Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def feature_collection(*features, **extra) -> str:
    return json.dumps({"type": "FeatureCollection", **extra, "features": list(features)})


def point_feature(lon, lat, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [lon, lat]}}


# -- real-shaped files: built here, and the real third-party files as an extra check -------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The small real-shaped files of import_fixtures, built once for this module."""
    d = tmp_path_factory.mktemp("built")
    return {"boroughs": fx.boroughs_shapefile(d), "counties": fx.nad27_geopackage(d),
            "fence": fx.osm_fence_geojson(d), "mmp": fx.mmp_csv(d)}


@pytest.fixture(params=["built", "real"])
def borough_zip(request, built) -> tuple[pathlib.Path, str]:
    """(zipped projected Shapefile with an undeclared-encoding DBF, its layer): built here, or the real nybb."""
    if request.param == "real":
        return realdata(NYBB), "nybb"
    return built["boroughs"].path, built["boroughs"].layer


@pytest.fixture(params=["built", "real"])
def nad27_gpkg(request, built) -> tuple[pathlib.Path, str]:
    """(NAD27 GeoPackage, its layer table): built here, or the real North Carolina file."""
    if request.param == "real":
        return realdata(NC), "nc.gpkg"
    return built["counties"], "counties"


def test_projected_shapefile_is_reprojected(built):
    b = built["boroughs"]
    plan = importer.read_file("borders", b.path, defaults={"nation": "USA"}, mapping={"name": "BoroName"})
    r = plan.report
    assert r.ok, r.format_text()
    assert r.format == "zipped Shapefile" and r.source_layers == ["boroughs"]
    assert r.rows_read == 5
    assert r.crs["declared"] == "EPSG:2263"
    assert "NAD83" in r.crs["transformation"]
    for got, expected in zip(plan.geometries, b.lonlat):  # US feet back to the outlines drawn in degrees
        got, expected = shapely.normalize(got), shapely.normalize(expected)  # a Shapefile's rings turn clockwise
        assert np.allclose(shapely.get_coordinates(got), shapely.get_coordinates(expected), atol=1e-9)
    assert abs(shapely.get_coordinates(b.lonlat[3])[0] - (-74.019, 40.700)).max() < 1e-6  # and that is Manhattan
    manhattan = plan.geometries[3]
    assert abs(GEOD.geometry_area_perimeter(manhattan)[0]) == pytest.approx(
        abs(GEOD.geometry_area_perimeter(b.lonlat[3])[0]), rel=1e-6)
    assert list(plan.outlines.iso3) == ["USA"] and plan.outlines.rows.iloc[0] == 5


def test_real_projected_shapefile_lands_in_new_york():
    nybb = realdata(NYBB)
    plan = importer.read_file("borders", nybb, defaults={"nation": "USA"}, mapping={"name": "BoroName"})
    r = plan.report
    assert r.ok, r.format_text()
    assert r.format == "zipped Shapefile" and r.source_layers == ["nybb"]
    assert r.crs["declared"] == "EPSG:2263"
    assert "NAD83" in r.crs["transformation"]
    w, s, e, n = r.bounds  # the five boroughs: Staten Island to the Bronx
    assert -74.27 < w < -74.24 and 40.49 < s < 40.51 and -73.71 < e < -73.69 and 40.90 < n < 40.93
    manhattan = plan.geometries[3]
    c = manhattan.centroid
    assert abs(c.x - -73.967) < 0.01 and abs(c.y - 40.777) < 0.01
    # geodesic area of Manhattan: about 59 km2 (land and water within the borough polygon)
    area_km2 = abs(GEOD.geometry_area_perimeter(manhattan)[0]) / 1e6
    assert 55 < area_km2 < 62
    assert list(plan.outlines.iso3) == ["USA"] and plan.outlines.rows.iloc[0] == 5


def test_borough_names_are_not_nations(store, borough_zip):
    path, layer = borough_zip
    r = refused(store, "borders", path, mapping={"nation": "BoroName"})
    assert r.rejected_rows == 5 and r.accepted == 0
    assert r.rows_read == fx.dbf_record_count(_member(path, ".dbf"))
    first = r.rejected[0]
    assert (first.file, first.layer, first.row, first.field) == (path.name, layer, 1, "BoroName")
    assert first.reason.startswith("unknown nation code 'Staten Island'")
    assert f"{path.name}, layer {layer}, row 1, field BoroName: unknown nation code" in str(first)


def _member(path: pathlib.Path, ext: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.lower().endswith(ext)))


def _shp_variant(source: tuple[pathlib.Path, str], tmp_path: pathlib.Path, name: str, *, dbf=None, shp=None, shx=None,
                 cpg: str | None = None, drop=(), extra: dict[str, bytes] | None = None) -> pathlib.Path:
    """A zipped Shapefile re-zipped with changes (its DBF declares no encoding: LDID 0, no .cpg)."""
    base, layer = source
    out = tmp_path / name
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            ext = info.filename.rsplit(".", 1)[-1]
            if ext in drop:
                continue
            data = src.read(info)
            if ext == "dbf" and dbf is not None:
                data = dbf(data)
            if ext == "shp" and shp is not None:
                data = shp(data)
            if ext == "shx" and shx is not None:
                data = shx(data)
            dst.writestr(info.filename, data)
        if cpg is not None:
            dst.writestr(f"{layer}.cpg", cpg)
        for member, data in (extra or {}).items():
            dst.writestr(member, data)
    return out


@pytest.mark.parametrize("variant", ["latin1", "utf8-undeclared", "utf8-cpg"])
def test_shapefile_text_encodings(tmp_path, borough_zip, variant):
    if variant == "latin1":  # the DBF's bytes are ISO-8859-1 and nothing says so
        path = _shp_variant(borough_zip, tmp_path, "b.zip", dbf=lambda d: d.replace(b"Bronx", "Brönx".encode("latin-1")))
    elif variant == "utf8-undeclared":  # UTF-8 bytes without .cpg: GDAL alone would read 'BrÃ¶nx'
        path = _shp_variant(borough_zip, tmp_path, "b.zip", dbf=lambda d: d.replace(b"Bronx ", "Brönx".encode("utf-8")))
    else:
        path = _shp_variant(borough_zip, tmp_path, "b.zip", dbf=lambda d: d.replace(b"Bronx ", "Brönx".encode("utf-8")),
                            cpg="UTF-8")
    plan = importer.read_file("borders", path, mapping={"nation": "BoroName"})
    bronx = next(e for e in plan.report.rejected if e.row == 5)
    assert bronx.value == "Brönx", plan.report.format_text()
    assert "Ã" not in plan.report.format_text()
    if variant == "utf8-cpg":
        assert "from the .cpg" in plan.report.encoding
    else:
        assert any("declares no encoding" in w for w in plan.report.warnings)


def test_shapefile_whose_cpg_is_wrong_is_refused_not_garbled(store, tmp_path, borough_zip):
    path = _shp_variant(borough_zip, tmp_path, "lie.zip", dbf=lambda d: d.replace(b"Bronx", "Brönx".encode("latin-1")),
                        cpg="UTF-8")
    err = only_error(refused(store, "borders", path, mapping={"nation": "BoroName"}))
    assert f"'{borough_zip[1]}.shp' is not valid utf-8" in err.reason and "--encoding" in err.reason
    plan = importer.read_file("borders", path, mapping={"nation": "BoroName"}, encoding="latin-1")
    assert next(e for e in plan.report.rejected if e.row == 5).value == "Brönx"


def test_shapefile_without_prj_and_projected_coordinates_is_refused(store, tmp_path, borough_zip):
    layer = borough_zip[1]
    path = _shp_variant(borough_zip, tmp_path, "noprj.zip", drop=("prj",))
    r = refused(store, "borders", path, defaults={"nation": "USA"})
    err = r.file_errors[0]
    assert "declares no coordinate reference system" in err.reason
    assert "not longitude/latitude" in err.reason and "--crs" in err.reason
    # the same file with its CRS given is fine
    ok = importer.read_file("borders", path, defaults={"nation": "USA"}, crs="EPSG:2263")
    assert ok.report.ok and ok.report.bounds[0] < -74.2
    # a .prj that is not a CRS is not silently ignored
    bogus = _shp_variant(borough_zip, tmp_path, "bogus.zip", drop=("prj",),
                         extra={f"{layer}.prj": b'PROJCS["made up",GEOGCS["nothing"]]'})
    err = only_error(refused(store, "borders", bogus, defaults={"nation": "USA"}))
    assert f"the .prj of '{layer}.shp' does not describe a known coordinate reference system" in err.reason


def test_nad27_geopackage_gets_the_datum_shift(nad27_gpkg):
    path, _ = nad27_gpkg
    plan = importer.read_file("borders", path, defaults={"nation": "USA"})
    r = plan.report
    raw = pyogrio.read_dataframe(path)
    assert r.ok and r.rows_read == len(raw)
    assert r.crs["declared"] == "EPSG:4267" and "NAD27 to WGS 84" in r.crs["transformation"]
    before = shapely.get_coordinates(raw.geometry.iloc[0])[0]  # Ashe county, first vertex, NAD27
    after = shapely.get_coordinates(plan.geometries[0])[0]
    # NAD27 -> WGS 84 moves points in North Carolina by some 10-40 m (here east and north)
    _, _, shift_m = GEOD.inv(before[0], before[1], after[0], after[1])
    assert 10 < shift_m < 40
    assert after[0] > before[0] and after[1] > before[1]
    expected = pyproj.Transformer.from_crs("EPSG:4267", "EPSG:4326", always_xy=True).transform(*before)
    assert after == pytest.approx(expected, abs=1e-9)


def test_mixed_geometry_fence_as_fortifications(store, built):
    fence = built["fence"]
    plan = importer.read_file("fortifications", fence.path, store=store)
    r = plan.report
    assert r.ok, r.format_text()
    assert r.rows_read == len(json.loads(fence.path.read_text())["features"]) == r.accepted
    assert r.geometry_types == fence.geometry_types
    assert plan.records.kind.value_counts().to_dict() == fence.kinds
    lines = plan.records[plan.records.geometry.map(lambda g: g.geom_type == "LineString")]
    km = sum(GEOD.geometry_length(g) for g in lines.geometry) / 1000
    assert km == pytest.approx(fence.line_km, rel=1e-6)
    assert plan.records.fortification_id.iloc[0] == fence.first_id
    before = snapshot(store)
    report = importer.commit(plan, store)
    assert report.status == "imported" and report.written == r.accepted
    after = snapshot(store)
    assert after["fortifications"] == before["fortifications"] + r.accepted
    on_border = store.cursor().execute("SELECT segment_id, count(*) FROM fortifications WHERE dataset = ? GROUP BY ALL",
                                       [report.dataset]).fetchall()
    assert on_border == [("MEX-USA", r.accepted)]
    again = importer.import_file("fortifications", fence.path, store)
    assert again.written == 0 and again.already_present == r.accepted
    assert snapshot(store) == after


def test_real_osm_border_fence_as_fortifications(store):
    osm = realdata(OSM_FENCE)
    plan = importer.read_file("fortifications", osm, store=store)
    r = plan.report
    assert r.ok, r.format_text()
    assert r.rows_read == 616 and r.accepted == 616
    assert r.geometry_types == {"LineString": 607, "Point": 9}
    kinds = plan.records.kind.value_counts().to_dict()
    assert kinds == {"fence": 400, "vehicle_barrier": 203, "gate": 9, "wall": 3, "other": 1}
    lines = plan.records[plan.records.geometry.map(lambda g: g.geom_type == "LineString")]
    km = sum(GEOD.geometry_length(g) for g in lines.geometry) / 1000
    assert 1040 < km < 1100  # the export's ~1,070 km of fence
    assert plan.records.fortification_id.iloc[0] == "osm_us_mexico_border_fence_2015.geojson:way/32323433"
    before = snapshot(store)
    report = importer.commit(plan, store)
    assert report.status == "imported" and report.written == 616
    after = snapshot(store)
    assert after["fortifications"] == before["fortifications"] + 616
    on_border = store.cursor().execute("SELECT segment_id, count(*) FROM fortifications WHERE dataset = ? GROUP BY ALL",
                                       [report.dataset]).fetchall()
    assert on_border == [("MEX-USA", 616)]
    again = importer.import_file("fortifications", osm, store)
    assert again.written == 0 and again.already_present == 616
    assert snapshot(store) == after


def test_missing_migrants_refused_whole_because_one_row_has_no_coordinates(store, built):
    path = built["mmp"]
    r = refused(store, "incidents", path, source_name="MMP-built")
    assert r.preset == "iom-mmp" and r.rows_read == fx.csv_record_count(path) == 4 and r.accepted == 3
    err = only_error(r)
    assert (err.row, err.field, err.record) == (3, "Location Coordinates", "51450") and err.reason == "no coordinates"
    assert "all-or-nothing" in r.format_text()


def test_missing_migrants_with_skip_invalid(store, built):
    path = built["mmp"]
    before = snapshot(store)
    r = importer.import_file("incidents", path, store, skip_invalid=True, now=NOW, source_name="MMP-built")
    assert r.status == "imported" and r.policy == "skip-invalid"
    assert r.written == 3 and r.rejected_rows == 1
    assert snapshot(store)["incidents"] == before["incidents"] + 3
    row = stored_incident(store, "MMP-built:52673")
    assert row.occurred_at == pd.Timestamp("2019-12-30") and row.time_precision == "day"
    assert row.threat_type == "illegal_crossing" and row.severity == 3 and row.confidence == pytest.approx(0.4)
    assert abs(row.lat - 35.568972356329) < 1e-9 and abs(row.lon - -1.289773129748) < 1e-9
    assert "Hypothermia" in row.description and row.dataset == "import:MMP-built" and not row.synthetic
    ceuta = stored_incident(store, "MMP-built:52666")
    assert ceuta.severity == 4 and ceuta.confidence == pytest.approx(0.95)  # 12 dead; source quality 5
    assert stored_incident(store, "MMP-built:31092").severity == 2  # no one dead or missing
    again = importer.import_file("incidents", path, store, skip_invalid=True, now=NOW, source_name="MMP-built")
    assert again.written == 0 and again.already_present == 3
    assert snapshot(store)["incidents"] == before["incidents"] + 3


def test_real_missing_migrants_export(store):
    mmp = realdata(MMP)
    r = refused(store, "incidents", mmp)
    assert r.preset == "iom-mmp" and r.rows_read == 5987 == fx.csv_record_count(mmp) and r.accepted == 5986
    err = only_error(r)
    assert (err.row, err.field, err.record) == (3098, "Location Coordinates", "51450") and err.reason == "no coordinates"
    before = snapshot(store)
    r = importer.import_file("incidents", mmp, store, skip_invalid=True, now=NOW)
    assert r.status == "imported" and r.policy == "skip-invalid"
    assert r.written == 5986 and r.rejected_rows == 1
    assert snapshot(store)["incidents"] == before["incidents"] + 5986
    row = stored_incident(store, "IOM-MMP:52673")
    assert row.occurred_at == pd.Timestamp("2019-12-30") and row.time_precision == "day"
    assert abs(row.lat - 35.568972356329) < 1e-9 and abs(row.lon - -1.289773129748) < 1e-9
    again = importer.import_file("incidents", mmp, store, skip_invalid=True, now=NOW)
    assert again.written == 0 and again.already_present == 5986


# -- formats --------------------------------------------------------------------------------
KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>Evros assets</name>
<Folder><name>Posts</name>
 <Placemark><name>Post Kastanies</name><ExtendedData><Data name="kind"><value>border post</value></Data>
 </ExtendedData><Point><coordinates>26.0312,41.6461</coordinates></Point></Placemark>
 <Placemark><name>Tower 7</name><ExtendedData><Data name="kind"><value>watchtower</value></Data>
 </ExtendedData><Point><coordinates>26.1021,41.7203,0</coordinates></Point></Placemark>
</Folder>
<Folder><name>Fences</name>
 <Placemark><name>Fence A</name><ExtendedData><Data name="kind"><value>fence</value></Data></ExtendedData>
 <LineString><coordinates>26.00,41.60 26.05,41.65 26.10,41.70</coordinates></LineString></Placemark>
</Folder>
</Document></kml>"""


@pytest.mark.parametrize("kind", ["kml", "kmz"])
def test_kml_and_kmz_with_two_folders(store, tmp_path, kind):
    if kind == "kml":
        path = write(tmp_path / "evros.kml", KML)
    else:
        path = tmp_path / "evros.kmz"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml", KML)
            z.writestr("files/icon.png", b"\x89PNG")
    plan = importer.read_file("fortifications", path, store=store)
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.source_layers == ["Posts", "Fences"]
    assert plan.records.kind.tolist() == ["border_post", "watchtower", "fence"]
    assert plan.records.name.tolist() == ["Post Kastanies", "Tower 7", "Fence A"]
    report = importer.commit(plan, store)
    assert report.written == 3
    assert importer.import_file("fortifications", path, store).written == 0
    only = importer.read_file("fortifications", path, layer_name="Fences")
    assert only.report.rows_read == 1 and only.records.kind.tolist() == ["fence"]


def test_geoparquet_round_trip(store, tmp_path):
    import geopandas as gpd

    frame = gpd.GeoDataFrame({
        "sensor_id": ["S-1", "S-2", "S-3"],
        "type": ["radar", "Thermal camera", "seismic"],
        "range_km": [25.0, 8.0, 0.5],
        "azimuth": [90.0, 180.0, None],
        "fov": [120.0, 45.0, None],
        "status": ["online", "degraded", "down"],
    }, geometry=gpd.points_from_xy([26.0, 26.1, 26.2], [41.6, 41.7, 41.8]), crs="EPSG:4326")
    path = tmp_path / "sensors.parquet"
    frame.to_parquet(path)
    plan = importer.read_file("sensors", path)
    r = plan.report
    assert r.ok and r.format == "GeoParquet", r.format_text()
    rec = plan.records.set_index("sensor_id")
    assert rec.loc["sensors.parquet:S-1", "range_m"] == 25_000 and rec.loc["sensors.parquet:S-3", "fov_deg"] == 360
    assert rec.sensor_type.tolist() == ["radar", "thermal_camera", "seismic_sensor"]
    assert rec.status.tolist() == ["online", "degraded", "offline"]
    before = snapshot(store)
    assert importer.commit(plan, store).written == 3
    assert snapshot(store)["sensors"] == before["sensors"] + 3
    # the same rows projected (UTM 35N) come back to the same place
    utm = tmp_path / "sensors_utm.parquet"
    frame.to_crs("EPSG:32635").to_parquet(utm)
    back = importer.read_file("sensors", utm, source_name="sensors.parquet")
    assert np.allclose(back.records.lon, plan.records.lon, atol=1e-9)
    assert np.allclose(back.records.lat, plan.records.lat, atol=1e-9)
    assert importer.commit(back, store).written == 0  # same ids: not duplicated


def test_csv_with_wkt_column(tmp_path):
    path = write(tmp_path / "wkt.csv", "ref;when;type;geom\n"
                 "A1;2024-05-03 14:05;fence;LINESTRING (26 41.6, 26.1 41.7)\n"
                 "A2;2024-05-04;gate;POINT (26.05 41.65)\n")
    plan = importer.read_file("fortifications", path, mapping={"fortification_id": "ref"})
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.mapping["wkt"] == "geom"
    assert plan.records.kind.tolist() == ["fence", "gate"]
    assert [g.geom_type for g in plan.records.geometry] == ["LineString", "Point"]


def test_csv_with_lat_lon_columns_and_date_precisions(tmp_path):
    path = write(tmp_path / "events.csv", "event,Date,Category,Latitude,Longitude,Reporting Country\n"
                 "e1,2024-05-03T14:05:00+02:00,smuggling,41.30,26.50,GR\n"
                 "e2,2024-05,Drugs,41.31,26.51,Greece\n"
                 "e3,2023,drone,41.32,26.52,GRC\n"
                 "e4,\"March 3, 2024\",illegal crossing,41.33,26.53,300\n")
    plan = importer.read_file("incidents", path, mapping={"incident_id": "event"}, now=NOW)
    r = plan.report
    assert r.ok, r.format_text()
    rec = plan.records.set_index("incident_id")
    assert rec.time_precision.tolist() == ["second", "month", "year", "day"]
    assert rec.occurred_at.tolist() == [pd.Timestamp("2024-05-03 12:05"), pd.Timestamp("2024-05-01"),
                                        pd.Timestamp("2023-01-01"), pd.Timestamp("2024-03-03")]
    assert rec.threat_type.tolist() == ["smuggling", "drug_trafficking", "drone_incursion", "illegal_crossing"]
    assert set(rec.reporting_nation) == {"GRC"}
    assert rec.index.tolist() == ["events.csv:e1", "events.csv:e2", "events.csv:e3", "events.csv:e4"]


def test_csv_without_ids_is_idempotent_by_content(store, tmp_path):
    path = write(tmp_path / "noid.csv", "date,threat,lat,lon\n2024-05-03,smuggling,41.3,26.5\n"
                 "2024-05-04,smuggling,41.4,26.6\n2024-05-04,smuggling,41.4,26.6\n")
    first = importer.import_file("incidents", path, store, now=NOW)
    assert first.written == 2 and first.duplicates_in_file == 1
    before = snapshot(store)
    again = importer.import_file("incidents", path, store, now=NOW)
    assert again.written == 0 and again.already_present == 2
    assert snapshot(store) == before


def test_dry_run_writes_nothing(store, tmp_path):
    path = write(tmp_path / "dry.csv", "id,date,threat,lat,lon\n1,2024-05-03,smuggling,41.3,26.5\n")
    before = snapshot(store)
    r = importer.import_file("incidents", path, store, dry_run=True, now=NOW)
    assert r.status == "dry run" and r.ok and r.written is None and r.already_present == 0
    assert snapshot(store) == before
    assert "dry run, nothing was written" in r.format_text()


ACLED_COLUMNS = ["event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
                 "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
                 "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2", "admin3",
                 "location", "latitude", "longitude", "geo_precision", "source", "source_scale", "notes",
                 "fatalities", "tags", "timestamp"]


def _acled_row(**kw) -> dict:
    row = dict.fromkeys(ACLED_COLUMNS, "")
    row.update(year="2024", time_precision="1", disorder_type="Political violence", iso="804", region="Europe",
               country="Ukraine", admin1="Kharkiv", location="Vovchansk", geo_precision="1", source="Local media",
               source_scale="Subnational", fatalities="0", timestamp="1718000000")
    row.update(kw)
    return row


def test_acled_shaped_export(store, tmp_path):
    rows = [
        _acled_row(event_id_cnty="UKR1001", event_date="2024-06-01", event_type="Battles", sub_event_type="Armed clash",
                   actor1="Military Forces of Russia", actor2="Military Forces of Ukraine", latitude="50.2906",
                   longitude="36.9412", fatalities="12", notes="Clashes near the border."),
        _acled_row(event_id_cnty="UKR1002", event_date="2024-06-02", event_type="Explosions/Remote violence",
                   sub_event_type="Air/drone strike", latitude="50.30", longitude="36.95", time_precision="2"),
        _acled_row(event_id_cnty="UKR1003", event_date="15 June 2024", event_type="Strategic developments",
                   sub_event_type="Disrupted weapons use", latitude="50.31", longitude="36.96", time_precision="3",
                   geo_precision="3"),
        _acled_row(event_id_cnty="UKR1004", event_date="2024-06-20", event_type="Protests",
                   sub_event_type="Peaceful protest", latitude="50.0", longitude="36.2", iso="", country="Ukraine"),
    ]
    path = tmp_path / "acled_export.csv"
    pd.DataFrame(rows, columns=ACLED_COLUMNS).to_csv(path, index=False)
    plan = importer.read_file("incidents", path, now=NOW)
    r = plan.report
    assert r.ok and r.preset == "acled", r.format_text()
    rec = plan.records.set_index("incident_id")
    assert rec.index.tolist() == ["ACLED:UKR1001", "ACLED:UKR1002", "ACLED:UKR1003", "ACLED:UKR1004"]
    assert rec.threat_type.tolist() == ["armed_incursion", "drone_incursion", "weapons_trafficking", "other"]
    assert rec.severity.tolist() == [4, 3, 1, 1]
    assert rec.time_precision.tolist() == ["day", "week", "month", "day"]  # ACLED codes 1, 2, 3 kept
    assert rec.occurred_at.iloc[2] == pd.Timestamp("2024-06-01")  # month precision: the month's start
    assert set(rec.reporting_nation) == {"UKR"}
    assert rec.location_error_m.tolist()[:3] == [2000.0, 2000.0, 100000.0]
    assert "Military Forces of Russia vs Military Forces of Ukraine" in rec.description.iloc[0]
    report = importer.commit(plan, store)
    assert report.written == 4
    stored = stored_incident(store, "ACLED:UKR1001")
    assert stored.segment_id == "RUS-UKR" and stored.source == "ACLED"
    # an unknown ACLED event type is refused by name
    bad = path.with_name("acled_bad.csv")
    pd.DataFrame([_acled_row(event_id_cnty="X1", event_date="2024-06-01", event_type="Invasion",
                             sub_event_type="Alien", latitude="50", longitude="36")], columns=ACLED_COLUMNS).to_csv(bad, index=False)
    err = only_error(refused(store, "incidents", bad))
    assert err.field == "event_type/sub_event_type" and "unknown threat type 'Invasion / Alien'" in err.reason


def test_border_lines_replace_a_segment(store, tmp_path):
    ref = queries.df("segments_geo", store=store).set_index("segment_id")
    old_km = ref.loc["ESP-PRT", "length_km"]
    lines = [
        {"type": "Feature", "properties": {"iso_a": "PRT", "iso_b": "ESP"},
         "geometry": {"type": "LineString", "coordinates": [[-8.88, 41.87], [-8.2, 42.1], [-7.9, 41.9]]}},
        {"type": "Feature", "properties": {"iso_a": "Spain", "iso_b": "Portugal"},
         "geometry": {"type": "LineString", "coordinates": [[-7.9, 41.9], [-7.0, 41.95], [-6.9, 41.0]]}},
    ]
    path = write(tmp_path / "iberia.geojson", feature_collection(*lines))
    before = snapshot(store)
    plan = importer.read_file("borders", path)
    assert plan.report.ok, plan.report.format_text()
    seg = plan.records.iloc[0]
    assert (seg.segment_id, seg.nation_a, seg.nation_b, seg.rows) == ("ESP-PRT", "ESP", "PRT", 2)
    expected_km = sum(GEOD.geometry_length(shapely.geometry.shape(f["geometry"])) for f in lines) / 1000
    assert seg.length_km == pytest.approx(expected_km, rel=1e-9)
    report = importer.commit(plan, store)
    assert report.replaced == 1 and report.written == 0
    after = snapshot(store)
    assert after["segments"] == before["segments"] and after["segment_agreements"] == before["segment_agreements"]
    assert after["segments_fingerprint"] != before["segments_fingerprint"]
    now_ref = queries.df("segments_geo", store=store).set_index("segment_id")
    assert now_ref.loc["ESP-PRT", "length_km"] == pytest.approx(expected_km) != pytest.approx(old_km)
    importer.commit(importer.read_file("borders", path), store)
    assert snapshot(store) == after  # idempotent


def test_sensor_defaults_and_coverage(tmp_path):
    path = write(tmp_path / "sites.csv", "site,kind,range,bearing,lat,lon\n"
                 "T1,thermal camera,5 km,45,41.6,26.0\nR1,radar,,,41.7,26.1\nX1,periscope,2 nmi,,41.8,26.2\n")
    plan = importer.read_file("sensors", path, mapping={"sensor_id": "site"})
    r = plan.report
    assert r.ok, r.format_text()
    rec = plan.records.set_index("sensor_id")
    assert rec.range_m.tolist() == [5000.0, 25000.0, 3704.0]
    assert rec.fov_deg.tolist() == [45.0, 120.0, 360.0]
    assert rec.sensor_type.tolist() == ["thermal_camera", "radar", "other"]
    assert any("typical range" in w for w in r.warnings) and any("'periscope'" in w for w in r.warnings)
    assert any("recorded as online" in w for w in r.warnings)


# -- bad input: each gets its own message and changes nothing --------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
                         b'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')

    def log_message(self, *args):
        pass


@pytest.fixture()
def web_server(monkeypatch):
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    _Recorder.hits = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_geojson_crs_link_is_refused_and_never_fetched(store, tmp_path, web_server):
    from borderwatch.importers import sources

    crs = {"type": "link", "properties": {"href": f"{web_server}/crs.wkt", "type": "ogcwkt"}}
    path = write(tmp_path / "link.geojson", feature_collection(point_feature(26.5, 41.3, id="1"), crs=crs))
    err = only_error(refused(store, "fortifications", path))
    assert err.row is None and err.field == "crs" and "links to" in err.reason and "never fetches" in err.reason
    # and GDAL itself, under the importer's settings, cannot reach the server either
    sources._gdal_read(path)
    assert _Recorder.hits == []


def test_kml_network_link_and_entities_are_refused(store, tmp_path, web_server):
    link = KML.replace("</Document>", f"<NetworkLink><Link><href>{web_server}/more.kml</href></Link></NetworkLink></Document>")
    err = only_error(refused(store, "fortifications", write(tmp_path / "link.kml", link)))
    assert "NetworkLink" in err.reason and "never fetches" in err.reason
    xxe = KML.replace('<?xml version="1.0" encoding="UTF-8"?>',
                      '<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace(
                          "Fence A", "&x;")
    err = only_error(refused(store, "fortifications", write(tmp_path / "xxe.kml", xxe)))
    assert "DTD" in err.reason
    assert _Recorder.hits == []


def test_unknown_epsg_in_geojson(store, tmp_path):
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::99999"}}
    err = only_error(refused(store, "fortifications", write(tmp_path / "u.geojson",
                                                            feature_collection(point_feature(1, 2), crs=crs))))
    assert err.field == "crs" and "unknown coordinate reference system 'urn:ogc:def:crs:EPSG::99999'" in err.reason


def test_geojson_named_projected_crs_is_reprojected(tmp_path):
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32635"}}
    x, y = pyproj.Transformer.from_crs(4326, 32635, always_xy=True).transform(26.5, 41.3)
    plan = importer.read_file("fortifications", write(tmp_path / "p.geojson",
                                                      feature_collection(point_feature(x, y, kind="gate"), crs=crs)))
    g = plan.records.geometry.iloc[0]
    assert plan.report.ok and abs(g.x - 26.5) < 1e-9 and abs(g.y - 41.3) < 1e-9


def test_nan_and_infinite_coordinates(store, tmp_path):
    text = feature_collection(point_feature(26.5, 41.3), point_feature(0, 0)).replace("[0, 0]", "[NaN, 41.3]")
    err = only_error(refused(store, "fortifications", write(tmp_path / "nan.geojson", text)))
    assert (err.row, err.field) == (2, "geometry") and "NaN or Infinity" in err.reason
    text = text.replace("NaN", "Infinity")
    err = only_error(refused(store, "fortifications", write(tmp_path / "inf.geojson", text)))
    assert err.row == 2 and "NaN or Infinity" in err.reason


def test_duplicate_json_keys(store, tmp_path):
    text = feature_collection(point_feature(26.5, 41.3, kind="gate"), point_feature(26.6, 41.4, kind="fence"))
    text = text.replace('"kind": "fence"', '"kind": "fence", "kind": "wall"')
    err = only_error(refused(store, "fortifications", write(tmp_path / "dup.geojson", text)))
    assert (err.row, err.field) == (2, "kind") and "appears twice" in err.reason


def test_invalid_json_variants(store, tmp_path):
    text = feature_collection(point_feature(26.5, 41.3)).replace("]}", "],}")  # trailing comma
    err = only_error(refused(store, "fortifications", write(tmp_path / "trail.geojson", text)))
    assert err.row is None and err.reason.startswith("not valid JSON") and "line 1" in err.reason
    ring = {"type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}}
    err = only_error(refused(store, "borders", write(tmp_path / "ring.geojson", feature_collection(ring)),
                             defaults={"nation": "FRA"}))
    assert err.row == 1 and "ring is not closed" in err.reason


def test_kml_coordinates_that_are_not_numbers(store, tmp_path):
    bad = KML.replace("26.1021,41.7203,0", "abc,def")
    err = only_error(refused(store, "fortifications", write(tmp_path / "abc.kml", bad)))
    assert (err.layer, err.row, err.field) == ("Posts", 2, "coordinates")
    assert "'abc,def' are not numbers" in err.reason and "Tower 7" in err.reason


def test_geojson_must_be_utf8(store, tmp_path):
    text = json.dumps({"type": "FeatureCollection", "features": [point_feature(26.5, 41.3, name="Kapıkule")]},
                      ensure_ascii=False).encode("utf-8")
    err = only_error(refused(store, "fortifications", write(tmp_path / "latin.geojson",
                                                            text.replace("ı".encode(), b"\xfd"))))
    assert "must be UTF-8" in err.reason and "byte 0xfd on line 1" in err.reason


def test_lat_lon_text_column(store, tmp_path):
    path = write(tmp_path / "ll.csv", 'id,date,threat,Coordinates\n1,2024-05-03,smuggling,"41.3, 26.5"\n'
                 '2,2024-05-03,smuggling,"141.3, 26.5"\n')
    err = only_error(refused(store, "incidents", path))
    assert (err.row, err.field) == (2, "Coordinates") and "looks like 'longitude, latitude'" in err.reason
    plan = importer.read_file("incidents", path, skip_invalid=True, now=NOW)
    assert (plan.records.lon.iloc[0], plan.records.lat.iloc[0]) == (26.5, 41.3)


def test_zero_zero_coordinates_are_suspicious(store, tmp_path):
    path = write(tmp_path / "zero.csv", "id,date,threat,lat,lon\n1,2024-05-03,smuggling,41.3,26.5\n2,2024-05-03,smuggling,0,0\n")
    err = only_error(refused(store, "incidents", path))
    assert err.row == 2 and "exactly 0, 0" in err.reason


def test_zip_slip_and_zip_bomb_and_links(store, tmp_path):
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("nybb.shp", b"x")
        z.writestr("../../evil.shp", b"x")
    err = only_error(refused(store, "borders", slip))
    assert "'../../evil.shp'" in err.reason and "zip-slip" in err.reason
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as z:
        z.writestr(zipfile.ZipInfo("/etc/cron.d/x.kml"), b"x")
    assert "absolute path" in only_error(refused(store, "borders", absolute)).reason
    bomb = tmp_path / "bomb.kmz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("doc.kml", b"<kml>" + b" " * (20 * 1024**2) + b"</kml>")
    assert "zip bomb" in only_error(refused(store, "fortifications", bomb)).reason
    link = tmp_path / "link.zip"
    info = zipfile.ZipInfo("nybb.shp")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(link, "w") as z:
        z.writestr(info, "/etc/passwd")
    assert "symbolic link" in only_error(refused(store, "borders", link)).reason


def test_shapefile_missing_dbf_and_corrupt_header(store, tmp_path, borough_zip):
    nodbf = _shp_variant(borough_zip, tmp_path, "nodbf.zip", drop=("dbf",))
    err = only_error(refused(store, "borders", nodbf))
    assert "has no attribute table (.dbf)" in err.reason
    corrupt = _shp_variant(borough_zip, tmp_path, "corrupt.zip", shp=lambda d: b"\x00\x00\x00\x00" + d[4:])
    assert f"header of '{borough_zip[1]}.shp' is corrupt" in only_error(refused(store, "borders", corrupt)).reason


def _gpkg_copy(source: pathlib.Path, tmp_path: pathlib.Path, name: str, *statements) -> pathlib.Path:
    path = tmp_path / name
    shutil.copy(source, path)
    con = sqlite3.connect(path)
    for fn in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # used by the file's R-tree triggers
        con.create_function(fn, 1, lambda blob: 0)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()
    return path


def test_geopackage_undefined_and_unknown_srs(store, tmp_path, nad27_gpkg):
    undefined = _gpkg_copy(nad27_gpkg[0], tmp_path, "undef.gpkg", "UPDATE gpkg_geometry_columns SET srs_id = 0",
                           "UPDATE gpkg_contents SET srs_id = 0")
    plan = importer.read_file("borders", undefined, defaults={"nation": "USA"})
    assert plan.report.ok  # NAD27 degrees fit longitude/latitude: accepted, and said so
    assert any("undefined SRS (srs_id 0)" in w and "read as WGS 84" in w for w in plan.report.warnings)
    unknown = _gpkg_copy(nad27_gpkg[0], tmp_path, "unknown.gpkg", "UPDATE gpkg_spatial_ref_sys SET organization_coordsys_id = 99999, "
                         "definition = 'undefined' WHERE srs_id = 4267")
    err = only_error(refused(store, "borders", unknown, defaults={"nation": "USA"}))
    assert "EPSG:99999" in err.reason and "not a known coordinate reference system" in err.reason


def test_geopackage_invalid_geometry_blob(store, tmp_path, nad27_gpkg):
    source, table = nad27_gpkg
    path = _gpkg_copy(source, tmp_path, "blob.gpkg", f"UPDATE \"{table}\" SET geom = X'47500003DEADBEEF' WHERE fid = 3")
    err = only_error(refused(store, "borders", path, defaults={"nation": "USA"}))
    assert (err.row, err.field) == (3, "geometry") and "blob of feature 3 is invalid" in err.reason


def test_duplicate_column_names(store, tmp_path):
    path = write(tmp_path / "dupcol.csv", "id,date,threat,lat,lon,threat\n1,2024-05-03,smuggling,41.3,26.5,drugs\n")
    err = only_error(refused(store, "incidents", path))
    assert err.field == "threat" and "two columns are named 'threat' (columns 3 and 6)" in err.reason


def test_csv_encodings(store, tmp_path):
    text = "id,date,threat,lat,lon,notes\n1,2024-05-03,smuggling,41.3,26.5,Grenzübergang Höhe Kilometer 12\n"
    path = write(tmp_path / "latin1.csv", text.encode("cp1252"))
    detected = importer.read_file("incidents", path)  # not UTF-8: detected, and the report says how sure it is
    assert detected.report.encoding.startswith("Windows-1252 (detected)") and detected.report.encoding_confidence
    assert detected.records.description.iloc[0] == "Grenzübergang Höhe Kilometer 12"
    plan = importer.read_file("incidents", path, encoding="cp1252")
    assert plan.report.ok and plan.records.description.iloc[0] == "Grenzübergang Höhe Kilometer 12"
    utf16 = write(tmp_path / "utf16.csv", text.encode("utf-16"))
    plan = importer.read_file("incidents", utf16)
    assert plan.report.ok and plan.records.description.iloc[0].startswith("Grenzübergang")
    bom = write(tmp_path / "bom.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert importer.read_file("incidents", bom).records.incident_id.iloc[0] == "bom.csv:1"


def test_out_of_range_and_unparseable_values(store, tmp_path):
    path = write(tmp_path / "bad.csv", "id,date,threat,lat,lon,reporting_nation,severity\n"
                 "1,2024-05-03,smuggling,41.3,26.5,GRC,2\n"
                 "2,2024-05-03,smuggling,95.0,26.5,GRC,2\n"
                 "3,2024-13-45,smuggling,41.3,26.5,GRC,2\n"
                 "4,yesterday,smuggling,41.3,26.5,GRC,2\n"
                 "5,2024-05-03,smuggling,41.3,26.5,XYZ,2\n"
                 "6,2024-05-03,piracy,41.3,26.5,GRC,2\n"
                 "7,2024-05-03,smuggling,41.3,abc,GRC,2\n"
                 "8,,smuggling,41.3,26.5,GRC,9\n"
                 "9,2031-01-01,smuggling,41.3,26.5,GRC,2\n")
    r = refused(store, "incidents", path)
    got = {(e.row, e.field): e.reason for e in r.rejected}
    assert got[(2, "lat")] == "latitude 95 is outside -90..90"
    assert got[(3, "date")].startswith("invalid date '2024-13-45'")
    assert got[(4, "date")].startswith("unparseable date 'yesterday'")
    assert got[(5, "reporting_nation")].startswith("unknown nation code 'XYZ'")
    assert got[(6, "threat")].startswith("unknown threat type 'piracy'")
    assert got[(7, "lon")] == "'abc' is not a longitude"
    assert got[(8, "date")] == "missing date (required)"
    assert got[(8, "severity")].startswith("severity '9' is not 1-4")
    assert got[(9, "date")] == "date '2031-01-01' is in the future"
    assert r.accepted == 1 and r.rejected_rows == 8
    # skip-invalid keeps the one good row and still lists the others
    plan = importer.read_file("incidents", path, skip_invalid=True, now=NOW)
    assert plan.report.ok and len(plan.records) == 1 and plan.report.rejected_rows == 8


def test_missing_required_field(store, tmp_path):
    path = write(tmp_path / "nothreat.csv", "id,date,lat,lon\n1,2024-05-03,41.3,26.5\n")
    err = only_error(refused(store, "incidents", path))
    assert err.row is None and err.field == "threat_type" and "--map threat_type=COLUMN" in err.reason
    plan = importer.read_file("incidents", path, defaults={"threat_type": "smuggling"}, now=NOW)
    assert plan.report.ok and plan.records.threat_type.tolist() == ["smuggling"]
    nogeom = write(tmp_path / "nogeom.csv", "id,date,threat\n1,2024-05-03,smuggling\n")
    err = only_error(refused(store, "incidents", nogeom))
    assert err.field == "geometry" and "no geometry" in err.reason


def test_ambiguous_and_explicit_date_formats(store, tmp_path):
    path = write(tmp_path / "slash.csv", "id,date,threat,lat,lon\n1,03/04/2024,smuggling,41.3,26.5\n")
    err = only_error(refused(store, "incidents", path))
    assert "ambiguous date '03/04/2024'" in err.reason
    plan = importer.read_file("incidents", path, date_format="%d/%m/%Y", now=NOW)
    assert plan.records.occurred_at.iloc[0] == pd.Timestamp("2024-04-03")
    inferred = write(tmp_path / "slash2.csv", "id,date,threat,lat,lon\n1,03/04/2024,smuggling,41.3,26.5\n"
                     "2,25/04/2024,smuggling,41.3,26.5\n")
    plan = importer.read_file("incidents", inferred, now=NOW)
    assert plan.records.occurred_at.tolist() == [pd.Timestamp("2024-04-03"), pd.Timestamp("2024-04-25")]


def test_layer_geometry_rules(store, tmp_path):
    poly = {"type": "Feature", "properties": {"kind": "wall"},
            "geometry": {"type": "Polygon", "coordinates": [[[26, 41], [26.1, 41], [26.1, 41.1], [26, 41]]]}}
    err = only_error(refused(store, "fortifications", write(tmp_path / "poly.geojson", feature_collection(poly))))
    assert err.field == "geometry" and "Polygon is not a fortification" in err.reason
    line = {"type": "Feature", "properties": {"date": "2024-05-03", "threat": "smuggling"},
            "geometry": {"type": "LineString", "coordinates": [[26, 41], [26.1, 41]]}}
    err = only_error(refused(store, "incidents", write(tmp_path / "line.geojson", feature_collection(line))))
    assert "incidents are points; this row has a LineString" in err.reason
    # a geometry collection of a post and a fence is split into two fortifications
    gc = {"type": "Feature", "properties": {"id": "G1", "kind": "fence"},
          "geometry": {"type": "GeometryCollection", "geometries": [
              {"type": "Point", "coordinates": [26, 41]}, {"type": "LineString", "coordinates": [[26, 41], [26.1, 41]]}]}}
    plan = importer.read_file("fortifications", write(tmp_path / "gc.geojson", feature_collection(gc)))
    assert plan.records.fortification_id.tolist() == ["gc.geojson:G1#1", "gc.geojson:G1#2"]


def test_invalid_polygon_repaired_or_refused(store, tmp_path):
    bowtie = {"type": "Feature", "properties": {"iso3": "AND"},
              "geometry": {"type": "Polygon", "coordinates": [[[1.4, 42.4], [1.6, 42.6], [1.6, 42.4], [1.4, 42.6], [1.4, 42.4]]]}}
    path = write(tmp_path / "bowtie.geojson", feature_collection(bowtie))
    plan = importer.read_file("borders", path)
    assert plan.report.ok and any("repaired" in w for w in plan.report.warnings)
    assert plan.outlines.geometry.iloc[0].is_valid and plan.outlines.geometry.iloc[0].area > 0.019
    before = snapshot(store)
    report = importer.commit(plan, store)
    assert report.replaced == 1 and snapshot(store) == before  # Andorra's outline replaced, nothing added
    names = dict(queries.rows("nation_names", store=store))
    assert names["AND"] == "Andorra"
    flat = {"type": "Feature", "properties": {"iso3": "AND"},
            "geometry": {"type": "Polygon", "coordinates": [[[1.4, 42.4], [1.5, 42.5], [1.6, 42.6], [1.4, 42.4]]]}}
    err = only_error(refused(store, "borders", write(tmp_path / "flat.geojson", feature_collection(flat))))
    assert "cannot be repaired" in err.reason


def test_conflicting_ids_in_one_file(store, tmp_path):
    path = write(tmp_path / "ids.csv", "id,date,threat,lat,lon\n7,2024-05-03,smuggling,41.3,26.5\n"
                 "7,2024-05-04,smuggling,41.4,26.6\n")
    err = only_error(refused(store, "incidents", path))
    assert (err.row, err.field) == (2, "id") and "also used by row 1 with different content" in err.reason


def test_unsupported_and_empty_files(store, tmp_path):
    assert "unsupported file type '.xlsx'" in only_error(refused(store, "incidents", write(tmp_path / "a.xlsx", "x"))).reason
    assert only_error(refused(store, "incidents", write(tmp_path / "e.csv", b""))).reason == "the file is empty"
    assert only_error(refused(store, "incidents", tmp_path / "missing.csv")).reason == "file not found"
    header_only = write(tmp_path / "h.csv", "id,date,threat,lat,lon\n")
    assert only_error(refused(store, "incidents", header_only)).reason == "the file has no records"


def test_mapping_errors_are_reported(store, tmp_path):
    path = write(tmp_path / "m.csv", "id,date,threat,lat,lon\n1,2024-05-03,smuggling,41.3,26.5\n")
    err = only_error(refused(store, "incidents", path, mapping={"occurred_at": "when"}))
    assert err.field == "mapping" and "names a column that is not in the file" in err.reason
    err = only_error(refused(store, "incidents", path, mapping={"colour": "id"}))
    assert "cannot map to 'colour'" in err.reason
    err = only_error(refused(store, "incidents", path, preset="acled"))
    assert "does not have the columns of an ACLED export" in err.reason


def test_commit_refuses_a_refused_plan(store, tmp_path):
    path = write(tmp_path / "r.csv", "id,date,threat,lat,lon\n1,2024-05-03,piracy,41.3,26.5\n")
    plan = importer.read_file("incidents", path)
    before = snapshot(store)
    with pytest.raises(importer.ImportRefused):
        importer.commit(plan, store)
    assert snapshot(store) == before


def test_progress_is_reported(tmp_path):
    path = write(tmp_path / "p.csv", "id,date,threat,lat,lon\n" + "".join(
        f"{i},2024-05-03,smuggling,41.3,{26 + i / 1000}\n" for i in range(1, 201)))
    calls = []
    importer.read_file("incidents", path, progress=lambda done, total: calls.append((done, total)), now=NOW)
    assert calls[0] == (0, 200) and calls[-1] == (200, 200)


# -- command line ---------------------------------------------------------------------------
def test_cli(tmp_path, monkeypatch, capsys):
    from borderwatch import cli

    monkeypatch.setenv("BORDERWATCH_STORE", str(tmp_path / "cli-store"))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    good = write(tmp_path / "ok.csv", "id,when,what,lat,lon\n1,2024-05-03,contraband,41.3,26.5\n")
    assert cli.main(["import", "incidents", str(good), "--dry-run", "--map", "occurred_at=when", "--map", "threat_type=what",
                     "--set", "reporting_nation=GRC", "--threat", "contraband=smuggling"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing was written" in out and "accepted: 1" in out and "reporting_nation <- =GRC" in out
    bad = write(tmp_path / "bad.csv", "id,date,threat,lat,lon\n1,2024-05-03,piracy,41.3,26.5\n")
    assert cli.main(["import", "incidents", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "REFUSED, nothing was written" in out and "row 1 (id 1), field threat: unknown threat type 'piracy'" in out
    assert "policy: all-or-nothing" in out
    assert cli.main(["import", "incidents", str(bad), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "refused" and data["rejected"][0]["row"] == 1 and data["rejected"][0]["field"] == "threat"
    assert cli.main(["import", "incidents", str(good), "--map", "occurred_at=when", "--map", "threat_type=what",
                     "--threat", "contraband=smuggling"]) == 0
    assert "written: 1 new" in capsys.readouterr().out


def test_large_files_are_validated_in_chunks_with_file_wide_rules(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK", 2)
    rows = "".join(f"{i},03/04/2024,smuggling,41.3,{26 + i / 100}\n" for i in range(1, 6))
    path = write(tmp_path / "chunks.csv", "id,date,threat,lat,lon\n" + rows + "6,25/04/2024,smuggling,41.3,26.5\n")
    calls = []
    plan = importer.read_file("incidents", path, now=NOW, progress=lambda d, t: calls.append(d))
    assert plan.report.ok, plan.report.format_text()
    # the last row settles day-first for every chunk
    assert set(plan.records.occurred_at.iloc[:5]) == {pd.Timestamp("2024-04-03")}
    assert calls == [0, 2, 4, 6]
    forts = write(tmp_path / "kinds.csv", "id,lat,lon,kind\n" + "".join(f"{i},41.3,{26 + i / 100},moat\n" for i in range(1, 6)))
    plan = importer.read_file("fortifications", forts)
    assert [w for w in plan.report.warnings if "kind" in w] == [
        "5 row(s) have no recognisable fortification kind (values 'moat'): recorded as 'other' "
        "(set one with --set kind=fence or map a column with --map kind=COLUMN)"]


# -- no row lost, padded or merged without a word ----------------------------------------------
GOOD_HEADER = "id,date,threat,lat,lon,notes\n"


def test_csv_rows_read_match_an_independent_count(tmp_path):
    text = (GOOD_HEADER + '1,2024-05-03,smuggling,41.3,26.5,"two\r\nlines"\r\n'
            '2,2024-05-03,smuggling,41.3,26.6,"a ""quoted"" word, and a comma"\r\n'
            "\r\n"
            "3,2024-05-03,smuggling,41.3,26.7,\r\n")
    path = write(tmp_path / "multi.csv", text)
    plan = importer.read_file("incidents", path, now=NOW)
    assert plan.report.ok, plan.report.format_text()
    assert plan.report.rows_read == fx.csv_record_count(path) - 1 == 3  # the oracle also counts the blank line
    assert plan.records.description.tolist()[:2] == ["two\r\nlines", 'a "quoted" word, and a comma']
    assert not plan.records.description.iloc[2]
    assert any("1 blank line(s) skipped (first: line 5)" in w for w in plan.report.warnings)


def test_unterminated_quote_is_refused_not_merged(store, tmp_path):
    path = write(tmp_path / "quote.csv", GOOD_HEADER + '1,2024-05-03,smuggling,41.3,26.5,"never closed\n'
                 "2,2024-05-03,smuggling,41.3,26.6,x\n3,2024-05-03,smuggling,41.3,26.7,y\n")
    with pytest.raises(Exception):  # the oracle agrees that the file is malformed
        fx.csv_record_count(path)
    err = only_error(refused(store, "incidents", path))
    assert err.row is None and "record starting on line 2 has a quoted field that is never closed" in err.reason
    assert "to line 4" in err.reason
    stray = write(tmp_path / "stray.csv", GOOD_HEADER + '1,2024-05-03,smuggling,41.3,26.5,"closed" then text\n')
    assert "record starting on line 2 is malformed" in only_error(refused(store, "incidents", stray)).reason


def test_ragged_rows_are_refused_not_padded_or_cut(store, tmp_path):
    path = write(tmp_path / "ragged.csv", GOOD_HEADER + "1,2024-05-03,smuggling,41.3,26.5,ok\n"
                 "2,2024-05-03,smuggling,41.3\n3,2024-05-03,smuggling,41.3,26.7,x,extra\n"
                 "4,2024-05-03,smuggling,41.3,26.8,fine\n")
    err = only_error(refused(store, "incidents", path, skip_invalid=True))  # a file problem: refused under either policy
    assert err.row is None
    assert ("2 record(s) do not have the header's 6 fields (comma-separated): line 3 (row 2) has 4; "
            "line 4 (row 3) has 7") in err.reason


def test_nul_bytes_are_refused(store, tmp_path):
    path = write(tmp_path / "nul.csv", (GOOD_HEADER + "1,2024-05-03,smuggling,41.3,26.5,cut\x00here\n").encode())
    err = only_error(refused(store, "incidents", path))
    assert err.field == "notes" and "line 2 (row 1), column 'notes' contains a NUL byte" in err.reason
    utf16_no_bom = write(tmp_path / "u16.csv", GOOD_HEADER.encode("utf-16-le"))
    assert "NUL" in only_error(refused(store, "incidents", utf16_no_bom)).reason


def _add_dbf_record(data: bytes) -> bytes:
    """One more record in a DBF (a copy of the last), with the header's count raised to match."""
    n, header_len, record_len = int.from_bytes(data[4:8], "little"), int.from_bytes(data[8:10], "little"), \
        int.from_bytes(data[10:12], "little")
    body = data[header_len:header_len + n * record_len]
    return data[:4] + (n + 1).to_bytes(4, "little") + data[8:header_len] + body + body[-record_len:] + b"\x1a"


def test_shapefile_record_count_mismatch_is_refused(store, tmp_path, borough_zip):
    path = _shp_variant(borough_zip, tmp_path, "extra.zip", dbf=_add_dbf_record)
    assert fx.dbf_record_count(_member(path, ".dbf")) == 6
    err = only_error(refused(store, "borders", path, defaults={"nation": "USA"}))
    assert f"the .dbf of '{borough_zip[1]}.shp' has 6 records but the .shp has 5 shapes" in err.reason
    truncated = _shp_variant(borough_zip, tmp_path, "short.zip", shx=lambda d: d[:-8])
    err = only_error(refused(store, "borders", truncated, defaults={"nation": "USA"}))
    assert "indexes 4 shapes but the .shp holds 5" in err.reason


def test_archive_with_two_entries_of_one_name_is_refused(store, tmp_path):
    path = tmp_path / "twice.kmz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, and writes it
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml", KML)
            z.writestr("doc.kml", KML.replace("Fence A", "Fence B"))
    err = only_error(refused(store, "fortifications", path))
    assert "two entries named 'doc.kml'" in err.reason and "ambiguous" in err.reason
    case = tmp_path / "case.zip"
    with zipfile.ZipFile(case, "w") as z:
        z.writestr("events.csv", GOOD_HEADER)
        z.writestr("EVENTS.csv", GOOD_HEADER)
    assert "two entries named 'events.csv' and 'EVENTS.csv'" in only_error(refused(store, "incidents", case)).reason


# -- the export variants people download ------------------------------------------------------
LEGACY_ACLED_COLUMNS = ["GWNO", "EVENT_ID_CNTY", "EVENT_ID_NO_CNTY", "EVENT_DATE", "YEAR", "TIME_PRECISION",
                        "EVENT_TYPE", "ACTOR1", "ALLY_ACTOR_1", "INTER1", "ACTOR2", "ALLY_ACTOR_2", "INTER2",
                        "INTERACTION", "COUNTRY", "ADMIN1", "ADMIN2", "ADMIN3", "LOCATION", "LATITUDE", "LONGITUDE",
                        "GEO_PRECISION", "SOURCE", "NOTES", "FATALITIES"]


def _legacy_acled(**kw) -> dict:
    row = dict.fromkeys(LEGACY_ACLED_COLUMNS, "")
    row.update(GWNO="369", YEAR="2015", TIME_PRECISION="1", COUNTRY="Ukraine", LATITUDE="50.29", LONGITUDE="36.94",
               GEO_PRECISION="1", SOURCE="Local media", FATALITIES="0")
    row.update(kw)
    return row


def test_acled_legacy_upper_case_layout(tmp_path):
    rows = [_legacy_acled(EVENT_ID_CNTY="UKR1", EVENT_DATE="01-January-2015", EVENT_TYPE="Battle-No change of territory",
                          ACTOR1="Military Forces of Ukraine", ALLY_ACTOR_1="Volunteer battalion", FATALITIES="2"),
            _legacy_acled(EVENT_ID_CNTY="UKR2", EVENT_DATE="9-May-15", EVENT_TYPE="Remote violence", TIME_PRECISION="2"),
            _legacy_acled(EVENT_ID_CNTY="UKR3", EVENT_DATE="21 March 2015", EVENT_TYPE="Riots/Protests", TIME_PRECISION="3"),
            _legacy_acled(EVENT_ID_CNTY="UKR4", EVENT_DATE="9-May-97", EVENT_TYPE="Violence against civilians")]
    path = tmp_path / "acled_legacy.csv"
    path.write_bytes(b"\xef\xbb\xbf" + pd.DataFrame(rows, columns=LEGACY_ACLED_COLUMNS).to_csv(index=False).encode())
    plan = importer.read_file("incidents", path, now=NOW)
    r = plan.report
    assert r.ok and r.preset == "acled", r.format_text()
    assert r.preset_variant.startswith("legacy upper-case layout") and "legacy upper-case layout" in r.format_text()
    rec = plan.records.set_index("incident_id")
    assert rec.threat_type.tolist() == ["armed_incursion", "armed_incursion", "other", "other"]
    assert rec.severity.tolist() == [3, 3, 2, 3]
    assert rec.time_precision.tolist() == ["day", "week", "month", "day"]
    assert rec.occurred_at.tolist() == [pd.Timestamp("2015-01-01"), pd.Timestamp("2015-05-09"),
                                        pd.Timestamp("2015-03-01"), pd.Timestamp("1997-05-09")]  # two-digit year rule
    assert set(rec.reporting_nation) == {"UKR"} and r.mapping["reporting_nation"] == "country"
    assert "with Volunteer battalion" in rec.description.iloc[0]


def test_two_digit_years():
    from borderwatch.importers.values import two_digit_year

    today = dt.date(2026, 12, 4)
    assert [two_digit_year(y, today) for y in (0, 20, 26, 27, 97)] == [2000, 2020, 2026, 1927, 1997]


IOM_CURRENT = ["Main ID", "Incident ID", "Incident Type", "Region of Incident", "Incident Date", "Incident year", "Month",
               "Number of Dead", "Minimum Estimated Number of Missing", "Total Number of Dead and Missing",
               "Number of Survivors", "Cause of Death", "Country of Incident", "Migration Route", "Location of death",
               "Information Source", "Coordinates", "UNSD Geographical Grouping", "Source Quality"]


def test_iom_current_download_windows_1252_crlf_wkt(tmp_path):
    rows = [["2023.MMP001", "2023.MMP001", "Incident", "Mediterranean", "2023-05-12", "2023", "May", "3", "", "3", "",
             "Drowning", "Italy", "Central Mediterranean", "Off Lampedusa,\r\n“near the harbour”",
             "Guardia Costiera – press", "POINT (12.6 35.5)", "Southern Europe", "4"],
            ["2023.MMP002", "2023.MMP002", "Incident", "Europe", "2023-06-01", "2023", "June", "1", "", "1", "",
             "Violence", "Bulgaria", "", "Near the border with Türkiye (Côte)", "Press", "POINT (26.6 41.9)",
             "Southern Europe", "3"]]
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows([IOM_CURRENT, *rows])
    path = write(tmp_path / "Missing_Migrants_Global_Figures_allData.csv", buf.getvalue().encode("cp1252"))
    plan = importer.read_file("incidents", path, now=NOW)
    r = plan.report
    assert r.ok and r.preset == "iom-mmp", r.format_text()
    assert r.preset_variant.startswith("current download")
    assert r.encoding.startswith("Windows-1252 (detected)") and r.encoding_confidence >= 0.55
    assert f"confidence {r.encoding_confidence:.2f}" in r.format_text()
    assert r.rows_read == fx.csv_record_count(path, encoding="cp1252") == 2
    rec = plan.records.set_index("incident_id")
    assert (rec.lon.iloc[0], rec.lat.iloc[0]) == (12.6, 35.5)  # WKT is longitude first
    assert "“near the harbour”" in rec.description.iloc[0] and "Türkiye" in rec.description.iloc[1]
    # the user's word wins over detection
    forced = importer.read_file("incidents", path, now=NOW, encoding="cp1250")
    assert forced.report.encoding == "cp1250 (as requested)" and forced.report.encoding_confidence is None


def test_iom_widely_shared_layout_keeps_month_precision(tmp_path):
    path = write(tmp_path / "mmp_shared.csv",
                 "Web ID,Region of Incident,Incident year,Reported Month,Number Dead,Total Dead and Missing,"
                 "Cause of Death,Location Description,Coordinates\n"
                 '1001,Mediterranean,2019,Dec,2,2,Drowning,Off Ceuta,"35.91, -5.35"\n'
                 '1002,Mediterranean,2018,March,1,1,Drowning,Off Melilla,"35.29, -2.93"\n')
    plan = importer.read_file("incidents", path, now=NOW)
    r = plan.report
    assert r.ok and r.preset_variant.startswith("widely shared layout"), r.format_text()
    assert plan.records.time_precision.tolist() == ["month", "month"]
    assert plan.records.occurred_at.tolist() == [pd.Timestamp("2019-12-01"), pd.Timestamp("2018-03-01")]
    assert (plan.records.lat.iloc[0], plan.records.lon.iloc[0]) == (35.91, -5.35)


def test_undetectable_encoding_is_refused(store, tmp_path):
    path = write(tmp_path / "noise.csv", b"id,date,threat,lat,lon,notes\n1,2024-05-03,smuggling,41.3,26.5," +
                 bytes(range(0x80, 0x100)) + b"\n")
    err = only_error(refused(store, "incidents", path))
    assert "not UTF-8: byte 0x80 on line 2" in err.reason and "--encoding" in err.reason
    assert "no encoding reads it as plausible text" in err.reason or "below 0.55" in err.reason


def test_border_lines_without_nations_get_the_pair_they_follow(store, tmp_path):
    ref = queries.df("segments_geo", store=store).set_index("segment_id")
    follow = shapely.from_wkb(bytes(ref.loc["ESP-PRT", "wkb"]))
    part = shapely.line_merge(follow) if follow.geom_type == "MultiLineString" else follow
    part = max(getattr(part, "geoms", [part]), key=lambda g: g.length)
    piece = shapely.ops.substring(part, 0.2, 0.5, normalized=True)  # 30% of the border, nothing said about it
    lost = shapely.LineString([(-3.0, 40.0), (-2.5, 40.3)])  # inside Spain, far from any border
    features = [{"type": "Feature", "properties": {"name": "official line"}, "geometry": shapely.geometry.mapping(g)}
                for g in (piece, lost)]
    path = write(tmp_path / "boundary.geojson", feature_collection(*features))
    r = refused(store, "borders", path)
    err = only_error(r)
    assert err.row == 2 and "follows no reference border closely enough" in err.reason
    assert any("inferred from the reference border" in w and "ESP-PRT (100%)" in w for w in r.warnings), r.warnings
    plan = importer.read_file("borders", path, skip_invalid=True, store=store)
    assert plan.report.ok and plan.records.segment_id.tolist() == ["ESP-PRT"]
    assert plan.report.details["nations inferred"] == "ESP-PRT (100%)"
    # the user's word still wins
    forced = importer.read_file("borders", path, defaults={"nation_a": "FRA", "nation_b": "ESP"}, store=store)
    assert forced.report.ok and set(forced.records.segment_id) == {"ESP-FRA"}


def test_dry_run_reports_the_same_totals_as_the_import(store, tmp_path):
    rows = "".join(f"d{i},2024-05-03,smuggling,41.3,{26 + i / 1000}\n" for i in range(1, 8))
    first = write(tmp_path / "totals1.csv", "id,date,threat,lat,lon\n" + "".join(rows.splitlines(True)[:3]))
    assert importer.import_file("incidents", first, store, now=NOW, source_name="totals").written == 3
    path = write(tmp_path / "totals2.csv", "id,date,threat,lat,lon\n" + rows + rows.splitlines(True)[0] +
                 "bad,2024-05-03,piracy,41.3,26.5\n")
    dry = importer.import_file("incidents", path, store, dry_run=True, now=NOW, source_name="totals", skip_invalid=True)
    real = importer.import_file("incidents", path, store, now=NOW, source_name="totals", skip_invalid=True)
    assert (dry.rows_read, dry.accepted, dry.rejected_rows, dry.duplicates_in_file) == \
        (real.rows_read, real.accepted, real.rejected_rows, real.duplicates_in_file) == (9, 8, 1, 1)
    assert dry.already_present == real.already_present == 3
    assert dry.records - dry.already_present == real.written


def test_nearest_segment_from_pieces_matches_the_whole_lines(store):
    from borderwatch import incident_store

    loc = incident_store.SegmentLocator(store)
    segs = reference.segments_frame(store)
    lines = np.asarray(segs.geometry.values)
    rng = np.random.default_rng(3)
    coords = shapely.get_coordinates(lines)
    pick = coords[rng.integers(0, len(coords), 400)]
    lon, lat = pick[:, 0] + rng.uniform(-0.6, 0.6, 400), np.clip(pick[:, 1] + rng.uniform(-0.6, 0.6, 400), -89, 89)
    got = loc.nearest(lon, lat)
    for x, y, k in zip(lon, lat, got):
        d = shapely.distance(shapely.Point(x, y), lines)  # every segment, whole
        if d.min() > incident_store.NEAREST_SEGMENT_MAX_DEG:
            assert k == -1
        else:
            assert k >= 0 and d[k] == pytest.approx(d.min(), abs=1e-12)


def test_nearest_segment_by_grid_cell_equals_a_search_point_by_point(store):
    """Cells settled once give the same segment as searching the tree for every point, for points
    anywhere (far from borders, near borders, near where segments meet), asked twice (memo)."""
    from borderwatch import incident_store

    loc = incident_store.SegmentLocator(store)
    coords = shapely.get_coordinates(np.asarray(reference.segments_frame(store).geometry.values))
    rng = np.random.default_rng(11)
    near = coords[rng.integers(0, len(coords), 3000)] + rng.normal(0, 0.3, (3000, 2))
    anywhere = np.column_stack([rng.uniform(-180, 180, 3000), rng.uniform(-85, 85, 3000)])
    pts = np.vstack([near, anywhere, coords[:500]])  # and exactly on vertices
    pts[:, 1] = np.clip(pts[:, 1], -89.9, 89.9)
    exact = np.full(len(pts), -1)
    found = loc.tree.query_nearest(shapely.points(pts), max_distance=incident_store.NEAREST_SEGMENT_MAX_DEG,
                                   all_matches=False)
    exact[found[0]] = loc.owner[found[1]]
    first = loc.nearest(pts[:, 0], pts[:, 1])
    again = loc.nearest(pts[:, 0], pts[:, 1])
    assert (first == exact).all() and (again == exact).all()
    assert (exact >= 0).sum() > 3000 and (exact == -1).sum() > 1000  # both kinds of answer were asked
    settled = np.array(list(loc._cells.values()))
    assert (settled >= 0).any() and (settled == incident_store.UNSETTLED).any()
    # coarse cells settle points wholesale; only what they leave unsettled reaches the finer ones
    level = {key: key // (incident_store._COLUMNS * incident_store._ROWS) for key in loc._cells}
    coarse = [v for key, v in loc._cells.items() if level[key] > 0]
    assert set(level.values()) == set(incident_store.LEVELS) and any(v >= 0 for v in coarse)
    nan = loc.nearest(np.array([np.nan, 10.0]), np.array([45.0, np.inf]))
    assert nan.tolist() == [-1, -1]


def test_column_texts_and_date_order_read_long_columns_as_short_ones():
    """Long columns take pyarrow's road; each value must read exactly as one value alone does."""
    from borderwatch.importers import values as vals

    columns = [[1, None, np.int64(-7), 2**40] * 30, [True, False, None] * 30, [1.5, 2.0, None, float("nan")] * 30,
               [" a ", "", None, "b"] * 30, [1, "x", 2.0] * 30]
    for column in columns:
        assert vals.texts(column) == [vals._text(v) for v in column]
    iso = ["2020-01-02T10:00:00Z"] * 100
    assert vals.slashed_order(iso) == (None, None)
    assert vals.slashed_order(iso + ["13/01/2020"]) == ("dmy", None)
    assert vals.slashed_order(iso + ["01/13/2020", None]) == ("mdy", None)
    assert vals.slashed_order(["13/01/2020", "01/13/2020"] + iso)[1] is not None
