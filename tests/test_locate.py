"""The search box: coordinates (decimal, DMS, MGRS), segments, incidents and gazetteer places."""
from __future__ import annotations

import math

import pytest

from borderwatch import locate
from borderwatch.locate import LocateError

EL_PASO = (31.7587, -106.4869)


def near(target, lat, lon, tol=0.01):
    return abs(target.lat - lat) <= tol and abs(target.lon - lon) <= tol


@pytest.mark.parametrize("text, lat, lon", [
    ("31.7587, -106.4869", *EL_PASO),
    ("31.7587 -106.4869", *EL_PASO),
    ("31.7587N 106.4869W", *EL_PASO),
    ("106.4869W 31.7587N", *EL_PASO),          # letters say which is which
    ("N31.7587 W106.4869", *EL_PASO),
    ("31°45′31″N 106°29′13″W", 31.75861, -106.48694),
    ("31°45'31\"N, 106°29'13\"W", 31.75861, -106.48694),
    ("31 45 31 N 106 29 13 W", 31.75861, -106.48694),
    ("-33.45; -70.66", -33.45, -70.66),
    ("  0, 0 ", 0.0, 0.0),
])
def test_coordinates_in_every_common_notation(text, lat, lon):
    t = locate.locate(text)
    assert t.kind == "coordinate"
    assert near(t, lat, lon, 1e-3), (t.lat, t.lon)


@pytest.mark.parametrize("text, why", [
    ("95, 10", "Latitude 95"),
    ("-106.4869, 31.7587", "latitude comes first"),
    ("31.76, 190", "Longitude 190"),
    ("31,76", "decimal comma"),
    ("31.76N 31.76S", "two latitudes"),
    ("31 45 106 29", "not one coordinate pair"),
    ("31°75′N 106°W", "below 60"),
    ("-31.76N, 106W", "minus sign and a hemisphere"),
])
def test_bad_coordinates_are_refused_with_a_reason_never_swapped(text, why):
    with pytest.raises(LocateError, match=why):
        locate.locate(text)


def test_mgrs_flies_to_the_centre_of_its_square_at_a_zoom_for_its_precision():
    import mgrs

    ref = mgrs.MGRS().toMGRS(*EL_PASO)  # 1 m precision, 10 digits
    fine = locate.locate(ref)
    assert fine.kind == "mgrs" and near(fine, *EL_PASO, 1e-4) and fine.zoom == 16
    spaced = locate.locate(f"{ref[:5]} {ref[5:10]} {ref[10:]}")
    assert (spaced.lat, spaced.lon) == (fine.lat, fine.lon)
    paris = mgrs.MGRS().toMGRS(48.8566, 2.3522)
    coarse = locate.locate(paris[:5])  # a 100 km square: its centre, ~50 km from its corner
    corner = mgrs.MGRS().toLatLon(paris[:5] + "0000000000")
    assert coarse.zoom < fine.zoom
    assert 0.35 < coarse.lat - corner[0] < 0.55 and 0.5 < coarse.lon - corner[1] < 0.9


@pytest.mark.parametrize("text, why", [("13RCR123", "even number of digits"), ("99RCR", "zone 99")])
def test_bad_mgrs_is_refused(text, why):
    with pytest.raises(LocateError, match=why):
        locate.locate(text)


def test_segment_fits_its_bounds_in_either_order(small_store):
    a = locate.locate("MEX-USA", store=small_store)
    b = locate.locate("usa – mex", store=small_store)
    assert a == b and a.kind == "segment"
    west, south, east, north = a.bounds
    assert -118 < west < -116 and -98 < east < -96 and 25 < south < 27 and 32 < north < 33.5
    assert west < a.lon < east and south < a.lat < north and 3 <= a.zoom <= 6


def test_segment_that_does_not_exist(small_store):
    with pytest.raises(LocateError, match="no land border segment between FRA and USA"):
        locate.locate("USA-FRA", store=small_store)


def test_nation_by_name_or_code_fits_its_mainland_and_places_follow(small_store):
    mexico = locate.candidates("Mexico", store=small_store)
    assert mexico[0].kind == "nation" and mexico[0].label == "Mexico (MEX)"
    west, south, east, north = mexico[0].bounds
    assert -118 < west < -116 and -88 < east < -86 and 14 < south < 15 and 32 < north < 33
    assert 3 <= mexico[0].zoom <= 5 and all(t.kind == "place" for t in mexico[1:])
    assert locate.locate("mex", store=small_store) == mexico[0]
    assert locate.locate("United States", store=small_store).label == "United States of America (USA)"
    russia = locate.locate("russia", store=small_store)  # the store's name ("Russian Federation" in ISO 3166)
    assert russia.kind == "nation" and russia.bounds[0] > 20  # its mainland, not a box across the antimeridian
    assert locate.locate("Luxembourg", store=small_store).zoom > locate.locate("Brazil", store=small_store).zoom
    assert locate.locate("in", store=small_store).kind == "place"  # a two-letter code is not read as a nation


def test_incident_id_through_the_gateway(small_store):
    incident_id, lat, lon = small_store.cursor().execute(
        "SELECT incident_id, lat, lon FROM incidents ORDER BY incident_id LIMIT 1").fetchone()
    t = locate.locate(incident_id, store=small_store)
    assert t.kind == "incident" and (t.lat, t.lon) == (lat, lon) and incident_id in t.label


def test_places_accents_optional_largest_first_and_qualified(small_store):
    juarez = locate.locate("ciudad juarez", store=small_store)
    assert juarez.kind == "place" and near(juarez, 31.72, -106.46, 0.05) and "MEX" in juarez.label
    assert locate.locate("Ciudad Juárez", store=small_store) == juarez
    nogales = locate.candidates("Nogales", store=small_store)
    assert [t.label.split(",")[1].split()[0] for t in nogales[:3]] == ["MEX", "MEX", "USA"]
    us = locate.locate("Nogales, USA", store=small_store)
    assert near(us, 31.34, -110.93, 0.05)
    assert locate.locate("nogales, United States", store=small_store) == us
    assert locate.locate("ciudad ju", store=small_store).label.startswith("Ciudad Juárez")  # a prefix


@pytest.mark.parametrize("text, why", [
    ("", "Type a place"),
    ("x" * 500, "at most 120"),
    ("Atlantisville Ruins", "Nothing matches"),
    ("Nogales, Narnia", "not a nation name"),
    ("[x](http://127.0.0.1:9/) **b**", "Nothing matches"),
    ("USA' OR '1'='1", "Nothing matches"),
])
def test_nothing_found_says_why(small_store, text, why):
    with pytest.raises(LocateError, match=why):
        locate.locate(text, store=small_store)


def test_view_is_url_parameters():
    view = locate.locate("31.7587, -106.4869").view()
    assert view == {"lat": "31.75870", "lon": "-106.48690", "z": str(locate.COORDINATE_ZOOM)}
    assert all(math.isfinite(float(v)) for v in view.values())


def test_gazetteer_file_is_complete_and_sane():
    import csv

    with locate.PLACES_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 30_000
    assert all(-90 <= float(r["lat"]) <= 90 and -180 <= float(r["lon"]) <= 180 and len(r["iso3"]) == 3 for r in rows)
    pops = [int(r["population"]) for r in rows]
    assert pops == sorted(pops, reverse=True)


def test_command_line(small_store_env):
    import json
    import subprocess
    import sys

    run = lambda *a: subprocess.run([sys.executable, "-m", "borderwatch.cli", "locate", *a],  # noqa: E731
                                    env=small_store_env, capture_output=True, text=True, timeout=120)
    ok = run("MEX-USA")
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 1, (ok.stdout, ok.stderr)
    record = json.loads(ok.stdout)
    assert record["kind"] == "segment" and "z=" in record["link"] and "lat=" in record["link"]
    several = run("Nogales", "--all")
    assert len(several.stdout.splitlines()) >= 3
    bad = run("95, 10")
    assert bad.returncode == 1 and "Latitude 95" in bad.stderr and "Traceback" not in bad.stderr
