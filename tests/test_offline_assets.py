"""Maps must work with no network: local assets in Streamlit, inlined in exports."""

from __future__ import annotations

from pathlib import Path

import branca.colormap
import folium
import folium.plugins
import pytest

import browser
from borderwatch import offline
from borderwatch.offline import (
    ABSOLUTE_URL_PREFIX,
    STREAMLIT_URL_PREFIX,
    OfflineAssetError,
    check_map,
    external_urls,
    inline_assets_html,
    install_assets,
    offline_map,
    scan_classes,
    use_local_assets,
)

APPS_DIR = Path(__file__).resolve().parent / "apps"
OFFLINE_MAP_APP = APPS_DIR / "offline_map_app.py"

UNUSED_MAP_ASSETS = {
    "bootstrap",
    "awesome_markers",
    "bootstrap_css",
    "glyphicons_css",
    "awesome_markers_font_css",
    "awesome_markers_css",
    "awesome_rotate_css",
}


@pytest.fixture
def local_assets():
    """Apply the default local asset URLs, and restore them after the test."""
    use_local_assets()
    yield
    use_local_assets()


def build_map() -> folium.Map:
    """Every kind of element the dashboard uses."""
    m = offline_map([50.5, 14.0], zoom_start=7)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": "Sector A"},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[12.5, 50.0], [15.5, 50.0], [15.5, 51.2], [12.5, 50.0]]],
                    },
                }
            ],
        },
        name="Sector A",
        tooltip=folium.GeoJsonTooltip(fields=["name"]),
        popup=folium.GeoJsonPopup(fields=["name"]),
    ).add_to(m)
    posts = folium.FeatureGroup(name="Posts").add_to(m)
    folium.CircleMarker(
        [50.6, 14.0], radius=8, popup=folium.Popup("<b>Post 1</b>"), tooltip="Post 1"
    ).add_to(posts)
    cluster = folium.plugins.MarkerCluster(name="Sensors").add_to(m)
    for lat, lon in [(50.9, 13.0), (50.91, 13.02), (50.3, 15.0)]:
        folium.Marker([lat, lon], icon=folium.DivIcon(html="<div>S</div>")).add_to(cluster)
    folium.Marker([50.2, 13.5], tooltip=folium.Tooltip("default Leaflet icon")).add_to(m)
    folium.LayerControl().add_to(m)
    return m


# --------------------------------------------------------------------------- #
# Unit tests
# --------------------------------------------------------------------------- #


def test_used_classes_reference_no_external_url(local_assets):
    assert scan_classes() == {}
    map_names = {name for name, _ in folium.Map.default_js + folium.Map.default_css}
    assert not map_names & UNUSED_MAP_ASSETS
    assert [name for name, _ in folium.plugins.MarkerCluster.default_css] == [
        "markerclustercss",
        "markerclusterdefaultcss",
    ]


def test_use_local_assets_is_idempotent_and_retargetable(local_assets):
    before = (list(folium.Map.default_js), list(folium.Map.default_css))
    use_local_assets()
    assert (folium.Map.default_js, folium.Map.default_css) == before
    assert all(url.startswith(STREAMLIT_URL_PREFIX + "/") for _, url in before[0] + before[1])

    use_local_assets(ABSOLUTE_URL_PREFIX + "/")
    urls = [url for _, url in folium.Map.default_js + folium.plugins.MarkerCluster.default_css]
    assert all(url.startswith(ABSOLUTE_URL_PREFIX + "/") for url in urls)
    assert offline.local_assets_prefix() == ABSOLUTE_URL_PREFIX


def test_use_local_assets_refuses_an_external_prefix():
    with pytest.raises(ValueError):
        use_local_assets("https://cdn.example.org/vendor")


def test_rendered_map_has_no_external_url(local_assets):
    m = build_map()
    html = m.get_root().render()
    assert external_urls(html) == []
    assert check_map(m) == []
    for target in (
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "jquery/jquery.min.js",
        "leaflet.markercluster/leaflet.markercluster.js",
        "leaflet.markercluster/MarkerCluster.Default.css",
    ):
        assert f"{STREAMLIT_URL_PREFIX}/{target}" in html


def test_check_map_flags_what_streamlit_folium_would_fetch(local_assets):
    m = folium.Map()  # OpenStreetMap tiles
    branca.colormap.LinearColormap(["green", "red"], vmin=0, vmax=1).add_to(m)
    problems = "\n".join(check_map(m))
    assert "d3" in problems
    assert "tile.openstreetmap.org" in problems


def test_install_assets_copies_and_is_idempotent(tmp_path):
    install_assets(tmp_path)
    vendor = tmp_path / "vendor"
    leaflet_js = vendor / "leaflet" / "leaflet.js"
    expected = {
        "leaflet/leaflet.js",
        "leaflet/leaflet.css",
        "leaflet/images/layers.png",
        "leaflet/images/layers-2x.png",
        "leaflet/images/marker-icon.png",
        "leaflet/images/marker-icon-2x.png",
        "leaflet/images/marker-shadow.png",
        "jquery/jquery.min.js",
        "leaflet.markercluster/leaflet.markercluster.js",
        "leaflet.markercluster/MarkerCluster.css",
        "leaflet.markercluster/MarkerCluster.Default.css",
    }
    present = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file()}
    assert expected <= present
    assert not [p for p in present if "/." in f"/{p}"], "temporary files left behind"
    assert leaflet_js.read_bytes().startswith(b"/* @preserve\n * Leaflet 1.9.3")

    stamp = leaflet_js.stat().st_mtime_ns
    install_assets(tmp_path)
    assert leaflet_js.stat().st_mtime_ns == stamp

    leaflet_js.write_text("corrupted")
    offline._installed.clear()
    install_assets(tmp_path)
    assert leaflet_js.read_bytes().startswith(b"/* @preserve")


def test_inline_export_is_self_contained(local_assets):
    html = inline_assets_html(build_map())
    assert external_urls(html) == []
    assert "<script src" not in html and 'rel="stylesheet"' not in html
    assert STREAMLIT_URL_PREFIX not in html
    assert "Leaflet 1.9.3" in html  # Leaflet's code, licence header included
    assert "MarkerClusterGroup" in html
    assert "jQuery v3.7.1" in html
    assert "url(\"data:image/png;base64," in html  # leaflet.css images
    assert "leafletjs.com\"" not in html


def test_inline_export_refuses_external_tiles(local_assets):
    with pytest.raises(OfflineAssetError, match="tile.openstreetmap.org"):
        inline_assets_html(folium.Map(location=[50, 14]))


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('<script src="https://cdn.example.org/a.js"></script>', ["https://cdn.example.org/a.js"]),
        ("<link rel=stylesheet href=//cdn.example.org/a.css>", ["//cdn.example.org/a.css"]),
        ("background: url('http://img.example.org/x.png')", ["http://img.example.org/x.png"]),
        ('@import "https://fonts.example.org/f.css";', ["https://fonts.example.org/f.css"]),
        ('import x from "https://esm.example.org/x.js"', ["https://esm.example.org/x.js"]),
        ('var p = "<a href=\\"https://example.org\\">x</a>";', ["https://example.org"]),
        (
            'L.tileLayer("https://tile.example.org/{z}/{x}/{y}.png")',
            ["https://tile.example.org/{z}/{x}/{y}.png"],
        ),
        ('<svg xmlns="http://www.w3.org/2000/svg"></svg> /* https://leafletjs.com */', []),
        ('<script src="../../app/static/vendor/leaflet/leaflet.js"></script>', []),
        ('<img src="data:image/png;base64,AAAA"> url(#default#VML)', []),
    ],
)
def test_external_urls(snippet, expected):
    assert external_urls(snippet) == expected


# --------------------------------------------------------------------------- #
# Browser tests (Debian chromium, every off-site request aborted and recorded)
# --------------------------------------------------------------------------- #


def _assert_offline(session) -> None:
    assert session.blocked == [], "requests left localhost"
    assert session.failed == [], "asset loads failed"
    assert session.console_errors == []


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("base_url_path", ["", "borderwatch"], ids=["root", "sub-path"])
def test_streamlit_map_renders_offline(
    streamlit_app, page_factory, tmp_path, base_url_path
):
    install_assets(APPS_DIR / "static")
    url = streamlit_app(OFFLINE_MAP_APP, base_url_path=base_url_path)
    session = page_factory(url)
    page = session.page

    browser.wait_for_app(page)
    frame = browser.map_frame(page)
    page.screenshot(path=str(tmp_path / "offline_map.png"), full_page=True)

    assert browser.app_exceptions(page) == []
    assert frame.locator("path.leaflet-interactive").count() >= 2  # polygon + circle
    assert frame.locator(".marker-cluster").count() >= 1
    assert frame.locator(".leaflet-control-layers").count() == 1
    attribution = frame.locator(".leaflet-control-attribution")
    assert attribution.inner_text().strip() == "Leaflet"
    assert attribution.locator("a").count() == 0
    scripts = frame.evaluate("() => [...document.scripts].map(s => s.src).filter(Boolean)")
    assert any(s.endswith("/app/static/vendor/leaflet/leaflet.js") for s in scripts), scripts
    _assert_offline(session)


@pytest.mark.browser
def test_inline_export_renders_offline(page_factory, local_assets, tmp_path):
    export = tmp_path / "map.html"
    export.write_text(inline_assets_html(build_map()), encoding="utf-8")
    session = page_factory()
    page = session.page
    page.goto(export.as_uri())

    page.wait_for_function(
        "() => document.querySelectorAll('path.leaflet-interactive').length >= 2"
        " && document.querySelector('.marker-cluster')"
        " && document.querySelector('img.leaflet-marker-icon')?.complete"
    )
    page.screenshot(path=str(tmp_path / "export.png"))
    icon = page.locator("img.leaflet-marker-icon").first
    assert icon.get_attribute("src").startswith("data:image/png")
    assert icon.evaluate("img => img.naturalWidth") > 0
    _assert_offline(session)
