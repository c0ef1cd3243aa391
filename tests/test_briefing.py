"""Briefing exports: PNG snapshot, PDF briefing pack, offline HTML map; the CLI and the page."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from streamlit.testing.v1 import AppTest

from borderwatch import offline
from borderwatch.exports import briefing, render, snapshot
from borderwatch.exports.snapshot import ExportSpec
from borderwatch.filters import Filter
from borderwatch.views.ui import md
from conftest import NOW, ROOT, sign_in
from layers import registry, style
from layers.base import MapContext, View

MARKING = "UNCLASSIFIED // FOR OFFICIAL USE ONLY"
TITLE = "Grenzlage Süd — Tagesbriefing"  # not Latin-1: the PDF must embed a Unicode font
WORLD_URL = "window=30d&lat=30&lon=20&z=2"
US_MEXICO_URL = "window=7d&nations=USA,MEX&lat=31.5&lon=-106&z=5"

needs_chromium = pytest.mark.skipif(not render.available(), reason=render.missing_message())


def spec_for(url: str = WORLD_URL, **kw) -> ExportSpec:
    return ExportSpec.from_params(url, now=NOW, title=kw.pop("title", TITLE), marking=kw.pop("marking", MARKING), **kw)


def flat(text: str) -> str:
    return " ".join(text.split())


# -- the spec: DTG, names, link, extent --------------------------------------------------------

def test_dtg_filename_and_link(monkeypatch):
    spec = spec_for(US_MEXICO_URL)
    assert spec.dtg == "011200Z NOV 26"
    assert spec.iso_time == "2026-11-01 12:00 UTC"
    assert spec.filename("pdf") == "borderwatch_7d_MEX+USA_011200ZNOV26.pdf"
    monkeypatch.setenv("BORDERWATCH_BASE_URL", "https://bw.example.mil/app/")
    link = spec.link()
    assert link.startswith("https://bw.example.mil/app/?")
    reopened = ExportSpec.from_params(link, now=NOW)
    assert reopened.filter == spec.filter
    assert reopened.view_params() == spec.view_params() == {"lat": "31.5000", "lon": "-106.0000", "z": "5"}


def test_defaults_and_marking_colours(monkeypatch):
    monkeypatch.delenv("BORDERWATCH_MARKING", raising=False)
    assert ExportSpec.create(Filter(), now=NOW).marking == "UNCLASSIFIED"
    monkeypatch.setenv("BORDERWATCH_MARKING", "RESTRICTED")
    spec = ExportSpec.create(Filter(), now=NOW, title="  ")
    assert spec.marking == "RESTRICTED" and spec.title == snapshot.DEFAULT_TITLE
    assert snapshot.marking_colours("UNCLASSIFIED // FOUO")[0] == "#007a33"
    assert snapshot.marking_colours("SECRET//NOFORN")[0] == "#c8102e"
    assert snapshot.marking_colours("TOP SECRET")[0] == "#ff8c00"


@pytest.mark.parametrize("view", [View(), View.around(31.5, -106, 5), View.around(41.0, 26.5, 8, 900, 500)])
@pytest.mark.parametrize("size", [(1600, 952), (1050, 625)])
def test_snapshot_extent_contains_the_live_view(view, size):
    lat, lon, zoom = snapshot.fit(view, *size)
    shown = View.around(lat, lon, zoom, *size)
    v = view.clamped()
    assert shown.west <= v.west + 1e-6 and shown.east >= v.east - 1e-6
    assert shown.south <= v.south + 1e-6 and shown.north >= v.north - 1e-6
    # and not much more: the next zoom step would no longer hold it
    bigger = View.around(lat, lon, zoom + snapshot.ZOOM_SNAP, *size)
    assert bigger.west > v.west or bigger.east < v.east or bigger.south > v.south or bigger.north < v.north \
        or zoom == 0


def test_synthetic_label_follows_the_data():
    assert snapshot.shows_synthetic(pd.DataFrame({"layer": ["incidents"], "dataset": ["scenario"],
                                                  "synthetic": [True], "n": [3]}))
    assert not snapshot.shows_synthetic(pd.DataFrame({"layer": ["incidents"], "dataset": ["import:a.csv"],
                                                      "synthetic": [False], "n": [3]}))
    assert not snapshot.shows_synthetic(pd.DataFrame(columns=["layer", "dataset", "synthetic", "n"]))


def test_trend_buckets_cover_the_window(small_store):
    for window, bars in (("24h", 24), ("7d", 28), ("30d", 30), ("365d", 53)):
        spec = spec_for(f"window={window}")
        ctx = MapContext(spec.filter, spec.view, NOW, store=small_store)
        table, width = briefing.trend(ctx)
        assert len(table) == bars, window
        n = small_store.cursor().execute(
            "SELECT count(*) FROM incidents WHERE occurred_at >= ? AND occurred_at < ?",
            list(spec.filter.time_range(NOW))).fetchone()[0]
        assert int(table.to_numpy().sum()) == n


# -- offline HTML (no browser needed to make it) --------------------------------------------------

@pytest.fixture(scope="module")
def html_export(small_store):
    return briefing.html_export(spec_for(US_MEXICO_URL), store=small_store).decode("utf-8")


def test_html_export_is_standalone(html_export):
    assert offline.external_urls(html_export) == []
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*\bhref=|<img[^>]*\bsrc=(?![\"']?data:)", html_export)
    assert html_export.count(MARKING) >= 2  # top and bottom banners
    assert "Grenzlage Süd" in html_export and "011200Z NOV 26" in html_export
    assert "window.bwReady" in html_export and "bw-basemap-data" in html_export
    for module in registry.REGISTRY:  # the live map's layers, in its layer control
        assert module.TITLE in html_export
    for colour in style.IMPACT_COLORS.values():  # styled from the shared definitions (legend included)
        assert colour in html_export


@pytest.mark.browser
def test_html_export_renders_with_the_network_blocked(html_export, page_factory, tmp_path):
    path = tmp_path / "map.html"
    path.write_text(html_export, encoding="utf-8")
    session = page_factory()  # every request off localhost is aborted and recorded
    session.page.goto(path.as_uri())
    session.page.wait_for_function("() => window.bwReady === true", timeout=60_000)
    drawn = session.page.evaluate("() => document.querySelectorAll('.leaflet-container path').length")
    assert drawn > 100
    # the layers (not only the basemap) are drawn, in their map panes
    basemap_paths = session.page.evaluate("() => document.querySelectorAll('.leaflet-bwBasemap-pane path').length")
    assert drawn - basemap_paths > 20
    assert session.page.evaluate("() => document.querySelectorAll('.leaflet-bwSegments-pane path').length") > 5
    assert session.blocked == [] and session.failed == [] and session.console_errors == []


# -- PNG -----------------------------------------------------------------------------------------

def _rgb(colour: str) -> np.ndarray:
    c = colour.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], float)


class ColourCounts:
    """The distinct colours of an image area with their pixel counts."""

    def __init__(self, pixels: np.ndarray):
        packed = pixels.astype(np.int64) @ np.array([65536, 256, 1])
        values, self.counts = np.unique(packed, return_counts=True)
        self.colours = np.column_stack([values >> 16, (values >> 8) & 255, values & 255]).astype(float)

    def __len__(self) -> int:
        return len(self.counts)

    def like(self, colours, opacity: float, tol: float = 10) -> int:
        """Pixels within ``tol`` (per channel) of a colour drawn at ``opacity`` over land or sea."""
        hit = np.zeros(len(self.colours), bool)
        for colour in colours:
            for bg in (style.BASEMAP_LAND, style.BASEMAP_SEA):
                target = _rgb(colour) * opacity + _rgb(bg) * (1 - opacity)
                hit |= np.abs(self.colours - target).max(axis=1) <= tol
        return int(self.counts[hit].sum())


@pytest.fixture(scope="module")
def world_png(small_store):
    if not render.available():
        pytest.skip(render.missing_message())
    return briefing.png_export(spec_for(WORLD_URL), store=small_store)


@pytest.mark.browser
def test_png_snapshot_shows_the_layers(world_png):
    from PIL import Image

    image = Image.open(io.BytesIO(world_png))
    assert image.format == "PNG" and image.size == snapshot.PNG_SIZE
    rgb = np.asarray(image.convert("RGB")).astype(float)
    h, w, _ = rgb.shape
    # marking banners at top and bottom, in the marking's colour
    banner = _rgb(snapshot.marking_colours(MARKING)[0])
    for row in (3, h - 4):
        assert (np.abs(rgb[row] - banner).max(axis=1) <= 2).mean() > 0.7
    # the map area: between the banners, without the title box (top left) and the legend (right)
    mask = np.zeros((h, w), bool)
    mask[snapshot.BANNER_PX + 2:h - snapshot.BANNER_PX - 2, :w - 300] = True
    mask[:220, :600] = False
    area = ColourCounts(rgb[mask])
    assert len(area) > 1000, "map area looks blank"
    assert area.like([style.BASEMAP_LAND], 1.0, 2) > 50_000
    assert area.like([style.BASEMAP_SEA], 1.0, 2) > 50_000
    assert area.like(style.IMPACT_COLORS.values(), 0.9) > 500  # border segments
    assert area.like(style.DENSITY_RAMP, 0.62) > 2_000  # incident density hexagons
    assert area.like(style.SENSOR_COLORS.values(), 0.9) > 200  # sensor sites


@pytest.mark.browser
@needs_chromium
def test_render_blocks_the_network():
    html = ('<html><body><img src="http://example.com/x.png"><script>'
            'fetch("https://example.org/y").catch(function(){}).then(function(){window.bwReady=true;});'
            "</script></body></html>")
    capture = render.render_image(html, 300, 200)
    assert set(capture.blocked) == {"http://example.com/x.png", "https://example.org/y"}
    assert capture.image.startswith(b"\x89PNG")


# -- PDF -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world_pdf(small_store):
    if not render.available():
        pytest.skip(render.missing_message())
    spec = spec_for(WORLD_URL)
    return spec, briefing.build_pdf(spec, store=small_store)


@pytest.mark.browser
def test_pdf_briefing_pack(world_pdf, small_store):
    spec, data = world_pdf
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    texts = [flat(page.extract_text()) for page in reader.pages]
    for text in texts:  # marking at top and bottom of every page
        assert text.count(MARKING) >= 2, text[:200]
    first, second = texts[0], " ".join(texts[1:])
    assert TITLE in first
    assert "011200Z NOV 26" in first and "2026-11-01 12:00 UTC" in first
    assert flat(spec.filter.describe(NOW, snapshot.names(small_store))) in first
    assert "SYNTHETIC SCENARIO" in first
    for label in ("Incidents, last 30 days", "vs previous 30 days", "Segments at high / critical impact",
                  "Border under online sensors", "Top threats, last 30 days"):
        assert label in first
    assert reader.pages[0].images, "no map image on page 1"
    assert "Hotspots" in second and "Incident trend" in second and "Data sources" in second
    assert "Natural Earth" in second and "SYNTHETIC SCENARIO" in second
    assert spec.link() in second.replace(" ", "")
    uris = [a.get_object()["/A"]["/URI"] for p in reader.pages for a in p.get("/Annots", [])
            if "/A" in a.get_object() and "/URI" in a.get_object()["/A"]]
    assert spec.link() in uris
    assert reader.metadata.title == f"{TITLE} 011200Z NOV 26"


@pytest.mark.browser
def test_pdf_hotspots_match_the_figures(world_pdf, small_store):
    spec, data = world_pdf
    text = flat(PdfReader(io.BytesIO(data)).pages[1].extract_text())
    ctx = MapContext(spec.filter, spec.view, NOW, store=small_store)
    names = snapshot.names(small_store)
    for row in ctx.situation.hotspots().head(3).itertuples(index=False):
        assert names.get(row.nation_a, row.nation_a).split()[0] in text
        assert f"{row.per_100km:,.1f}" in text


# -- command line --------------------------------------------------------------------------------

def run_cli(args, env, cwd) -> subprocess.CompletedProcess:
    run_env = dict(env)
    run_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "borderwatch.cli", "brief", *args], env=run_env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.browser
@needs_chromium
def test_cli_brief_writes_the_three_files(small_store_env, tmp_path):
    out = tmp_path / "briefings"
    done = run_cli(["--out", str(out), "--filter-url", f"http://localhost:8501/?{US_MEXICO_URL}",
                    "--window", "24h", "--marking", MARKING, "--title", TITLE], small_store_env, tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(out.iterdir())
    assert [p.name for p in written] == [f"borderwatch_24h_MEX+USA_011200ZNOV26.{f}" for f in ("html", "pdf", "png")]
    assert sorted(done.stdout.split()) == sorted(str(p) for p in written)
    pdf = PdfReader(str(out / "borderwatch_24h_MEX+USA_011200ZNOV26.pdf"))
    assert "last 24 h" in flat(pdf.pages[0].extract_text()) and "Mexico" in pdf.pages[0].extract_text()
    assert (out / "borderwatch_24h_MEX+USA_011200ZNOV26.png").read_bytes().startswith(b"\x89PNG")


def test_cli_without_chromium_still_writes_html(small_store_env, tmp_path):
    env = dict(small_store_env, BORDERWATCH_CHROMIUM=str(tmp_path / "no-chromium"))
    done = run_cli(["--out", str(tmp_path), "--filter-url", US_MEXICO_URL], env, tmp_path)
    assert done.returncode == 1
    assert [p.name for p in tmp_path.glob("*.html")] == ["borderwatch_7d_MEX+USA_011200ZNOV26.html"]
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob("*.pdf"))
    errors = [line for line in done.stderr.splitlines() if line.startswith("borderwatch brief:")]
    assert len(errors) == 2 and all("need Debian's chromium" in e and "make browser" in e for e in errors)


def test_cli_rejects_unknown_values(small_store_env, tmp_path):
    done = run_cli(["--out", str(tmp_path), "--nations", "USA,XXX", "--threats", "piracy"], small_store_env, tmp_path)
    assert done.returncode == 2
    assert "XXX" in done.stderr and "piracy" in done.stderr
    assert not list(tmp_path.iterdir())
    # the link is read by the app's one link reader: what the app would ignore, a scheduled job refuses
    done = run_cli(["--out", str(tmp_path), "--filter-url", "window=9y&lat=abc&lon=10&severity=7"], small_store_env,
                   tmp_path)
    assert done.returncode == 2
    assert all(f"{key}=" in done.stderr for key in ("window", "lat", "severity")), done.stderr
    assert not list(tmp_path.iterdir())


# -- the page ------------------------------------------------------------------------------------


def briefing_page(**query) -> AppTest:
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180))
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    at.switch_page("pages/briefing.py").run()
    return at


def download_buttons(at) -> dict[str, bool]:
    return {b.proto.label: b.proto.disabled for b in at.get("download_button")}


@pytest.mark.browser
@needs_chromium
def test_briefing_page(app_env):
    at = briefing_page(window="7d", nations="USA", lat="31.5", lon="-106", z="5")
    assert not at.exception
    assert download_buttons(at) == {"PNG snapshot": False, "PDF briefing pack": False, "Offline HTML map": False}
    assert [t.value for t in at.main.text_input] == [snapshot.DEFAULT_TITLE, "UNCLASSIFIED"]
    assert any(md("live map's current view") in c.value and "United States" in c.value for c in at.caption)
    assert len(at.get("image")) == 1
    assert any("?v=1" in c.value and "nations=USA" in c.value for c in at.code)


def test_briefing_page_without_chromium(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("BORDERWATCH_CHROMIUM", str(tmp_path / "no-chromium"))
    at = briefing_page(window="24h")
    assert not at.exception
    assert download_buttons(at) == {"PNG snapshot": True, "PDF briefing pack": True, "Offline HTML map": False}
    assert any("need Debian's chromium" in w.value for w in at.warning)
