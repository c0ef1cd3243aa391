"""Map tools without a browser: drawn-shape checks, the link round trip of a drawn area and of the
symbol mode, the npm assets' integrity check, the military symbol codes (checked by milsymbol
itself under Node when it is there) and the map elements."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile

import pytest
import shapely

from borderwatch import drawing, links, npm_assets
from borderwatch.filters import Filter
from layers import maptools, milsym

BOX = {"type": "Feature", "properties": {},
       "geometry": {"type": "Polygon", "coordinates": [[[-110, 31], [-108, 31], [-108, 33], [-110, 33], [-110, 31]]]}}


def polygon(coords):
    return {"type": "Polygon", "coordinates": [coords]}


# -- drawn shapes ------------------------------------------------------------------------------------
def test_drawn_rectangle_becomes_area_and_survives_the_link():
    wkt = drawing.drawn_area(BOX)
    assert shapely.from_wkt(wkt).bounds == (-110, 31, -108, 33)
    flt = Filter(window="365d", nations=("USA",), area_wkt=wkt)
    again, notices = Filter.from_url(flt.to_params())
    assert again == flt and notices == []
    sql, params = flt.sql("incident", "i")
    assert "ST_GeomFromText($f_area)" in sql and params["f_area"] == wkt  # bound, never in the SQL text
    assert "-110" not in sql


def test_drawn_on_a_wrapped_world_is_brought_back():
    shifted = polygon([[250, 31], [252, 31], [252, 33], [250, 33], [250, 31]])
    assert shapely.from_wkt(drawing.drawn_area(shifted)).bounds == (-110, 31, -108, 33)


@pytest.mark.parametrize("shape, reason", [
    (None, "nothing was drawn"),
    ({"type": "Point", "coordinates": [1, 2]}, "not a point"),
    ({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "not a linestring"),
    (polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]), "edges must not cross"),
    (polygon([[-100, 0], [100, 0], [100, 60], [-100, 60], [-100, 0]]), "too large"),
    (polygon([[10, 10], [10.0001, 10], [10.0001, 10.0001], [10, 10.0001], [10, 10]]), "too small"),
    (polygon([[170, 0], [190, 0], [190, 10], [170, 10], [170, 0]]), "antimeridian"),
    ({"type": "Polygon", "coordinates": "x"}, "not readable"),
    (polygon([[i * 1e-3, (i % 2) * 1e-3] for i in range(2100)] + [[0, 0]]), "vertices"),
])
def test_bad_drawings_are_refused_with_a_reason(shape, reason):
    with pytest.raises(drawing.DrawingError, match=reason):
        drawing.drawn_area(shape)


def test_geodesic_area_of_a_one_degree_cell():
    cell = shapely.box(0, 0, 1, 1)
    assert drawing.area_km2(cell) == pytest.approx(12_308, rel=0.002)  # WGS84, at the equator
    assert drawing.latest_drawing([BOX, {"type": "Feature", "geometry": polygon([[0, 0], [1, 0], [1, 1], [0, 0]])}])[
        "geometry"]["coordinates"][0][1] == [1, 0]
    assert drawing.latest_drawing([]) is None and drawing.latest_drawing(None) is None


# -- the symbol mode in the link ---------------------------------------------------------------------
def test_symbols_in_the_link():
    assert links.symbols_from_url("symbols=2525&window=7d") == ("military", [])
    assert links.symbols_from_url({"window": "7d"}) == ("plain", [])
    mode, notices = links.symbols_from_url({"symbols": "<b>x"})
    assert mode == "plain" and notices and "symbols=<b>x" in notices[0]
    assert links.symbols_param("military") == {"symbols": "2525"} and links.symbols_param("plain") == {}
    flt, notices = Filter.from_url("window=7d&symbols=2525")  # a known key: no "not a parameter" notice
    assert flt.window == "7d" and notices == []


# -- npm assets --------------------------------------------------------------------------------------
def fake_tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_npm_tarball_is_checked_against_its_pin(tmp_path):
    files = {"dist/x.js": b"x()", "LICENSE": b"MIT"}
    tarball = fake_tarball(files)
    pkg = npm_assets.NpmPackage("x", "1.0.0", npm_assets.integrity_of(tarball), "x",
                                (("dist/x.js", "x.js"), ("LICENSE", "LICENSE")))
    npm_assets.extract(pkg, tarball, tmp_path)
    assert (tmp_path / "vendor/x/x.js").read_bytes() == b"x()" and npm_assets.is_installed(pkg, tmp_path)

    other = tmp_path / "other"
    tampered = fake_tarball({**files, "dist/x.js": b"evil()"})
    with pytest.raises(npm_assets.NpmAssetError, match="does not match its pinned integrity"):
        npm_assets.extract(pkg, tampered, other)
    assert not (other / "vendor").exists()  # nothing copied
    missing = npm_assets.NpmPackage("x", "1.0.0", npm_assets.integrity_of(tarball), "x", (("dist/y.js", "y.js"),))
    with pytest.raises(npm_assets.NpmAssetError, match="has no file dist/y.js"):
        npm_assets.extract(missing, tarball, other)


def test_setup_without_npm_says_so_in_one_sentence(monkeypatch):
    monkeypatch.setattr(npm_assets.shutil, "which", lambda _name: None)
    with pytest.raises(npm_assets.NpmAssetError, match="^npm is missing: install Node.js with npm"):
        npm_assets.fetch(npm_assets.PACKAGES[0])


def test_pins_are_real_sha512():
    for pkg in npm_assets.PACKAGES:
        assert pkg.integrity.startswith("sha512-") and len(pkg.integrity) == 95
    assert {p.name for p in npm_assets.PACKAGES} == {"leaflet-draw", "milsymbol"}


# -- military symbol codes ---------------------------------------------------------------------------
def test_cot_types_become_2525_codes():
    assert milsym.cot_sidc("a-f-G-U-C-I") == "SFGPUCI-----"
    assert milsym.cot_sidc("a-h-A-M-F-Q") == "SHAPMFQ-----"
    assert milsym.cot_sidc("a-f-G") == "SFGP--------"
    for odd in (None, "", "b-m-p", "a-x-G", "a-f-Z-U", "a-f-G-<script>"):
        assert milsym.cot_sidc(odd).startswith("SFG") and len(milsym.cot_sidc(odd)) == 12
    assert milsym.sensor_sidc("radar", "offline")[3] == "D" and milsym.sensor_sidc("radar")[3] == "P"


def all_codes() -> list[str]:
    codes = set(milsym.THREAT_SIDC.values()) | set(milsym.FORTIFICATION_SIDC.values())
    codes |= {milsym.sensor_sidc(t, s) for t in milsym.SENSOR_SIDC for s in ("online", "offline")}
    codes |= {milsym.cot_sidc(t) for t in ("a-f-G-U-C", "a-f-G-U-C-I", "a-f-G-E-V", "a-f-A-M-F-Q")}
    return sorted(codes)


def test_every_code_is_valid_for_milsymbol():
    from borderwatch import app_setup

    script = app_setup.STATIC_DIR / "vendor" / "milsymbol" / "milsymbol.js"
    if not shutil.which("node") or not script.is_file():
        pytest.skip("needs Node.js and the milsymbol file from `make setup`")
    check = ("const ms = require(process.argv[1]); const out = {};"
             "for (const c of process.argv.slice(2)) { const s = new ms.Symbol(c, {size: 20});"
             " out[c] = [s.isValid(), s.asSVG().length]; } console.log(JSON.stringify(out));")
    codes = all_codes()
    result = json.loads(subprocess.run(["node", "-e", check, str(script), *codes], capture_output=True, text=True,
                                       check=True, timeout=60).stdout)
    assert {c for c, (ok, size) in result.items() if not ok or size < 200} == set()
    assert set(result) == set(codes)


def test_points_element_sends_each_code_once():
    rows = [(31.0 + i / 100, -106.0, milsym.threat_sidc("smuggling" if i % 2 else "armed_incursion"), "tip", "")
            for i in range(300)]
    el = milsym.points_element(rows, "incidents", milsym.threat_labels())
    assert len(el.codes) == 2 and {p[2] for p in el.points} == {0, 1}
    assert el.legend == {milsym.THREAT_SIDC["armed_incursion"]: "Armed incursion",
                         milsym.THREAT_SIDC["smuggling"]: "Smuggling"}


# -- map elements ------------------------------------------------------------------------------------
def test_tool_elements_render_offline_with_the_drawn_area():
    from borderwatch import offline

    offline.use_local_assets()
    m = offline.offline_map([31, -106], zoom_start=6)
    area = shapely.geometry.mapping(shapely.from_wkt(drawing.drawn_area(BOX)))
    m.add_child(maptools.AreaDraw(area))
    m.add_child(maptools.Measure())
    assert offline.check_map(m) == []
    html = m.get_root().render()
    assert "window.drawnItems = new L.FeatureGroup()" in html and "-108.0" in html
    assert "leaflet.draw/leaflet.draw.js" in html and 'title = title' in html
    assert "Measure a distance" in html and "geodesicArea" in html
