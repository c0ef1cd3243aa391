"""The map tools on the pages, with Streamlit's AppTest: the military-symbol toggle follows and
writes the link, its symbols reach the map's layers; the analysis page's area map carries the
drawing tools and its incidents map the page's points."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from borderwatch.views.ui import md
from conftest import ROOT, sign_in
from test_pages_live import folium_args


def run_app(page: str = "app.py", **query) -> AppTest:
    at = sign_in(AppTest.from_file(str(ROOT / page), default_timeout=120))
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_military_symbols_from_the_link_and_back(app_env):
    at = run_app(window="365d", lat="31.8", lon="-106.5", z="9", symbols="2525")
    assert not at.exception
    toggle = at.sidebar.toggle(key="bw_milsym")
    assert toggle.value is True
    args = folium_args(at)
    assert "bwMilsymbol" in args["feature_group"] and "milsymbol/milsymbol.js" in args["feature_group"]
    assert "SHGPUCI" in args["feature_group"] or "OSIP" in args["feature_group"]  # incident codes in view
    assert "leaflet.draw/leaflet.draw.js" in " ".join(args["js_links"])  # the measuring tool's plugin
    toggle.set_value(False).run()
    assert not at.exception
    assert "symbols" not in at.query_params
    args = folium_args(at)
    assert "bwMilsymbol" not in args["feature_group"] and "bwMilLegendControl.remove" in args["feature_group"]


def test_bad_symbols_value_is_said_and_plain_is_shown(app_env):
    at = run_app(window="7d", symbols="nato<b>")
    assert not at.exception
    assert at.sidebar.toggle(key="bw_milsym").value is False
    assert any(r"ignored symbols\=nato\<b\>" in w.value for w in at.warning), [w.value for w in at.warning]


@pytest.fixture
def analysis(app_env):
    at = run_app(window="365d", nations="USA", area="POLYGON((-110 31,-108 31,-108 33,-110 33,-110 31))")
    at.switch_page("pages/analysis.py").run()
    assert not at.exception, at.exception
    return at


def test_analysis_area_tab_has_the_drawing_tools(analysis):
    at = analysis
    at.session_state["an_tab"] = "Area of interest"
    at.run()
    assert not at.exception, at.exception
    args = folium_args(at)
    assert "window.drawnItems = new L.FeatureGroup()" in args["script"] and "-108" in args["script"]
    assert any("41\\,911 km²" in m.value for m in at.markdown), [m.value for m in at.markdown]


def test_map_click_selects_the_row(analysis):
    at = analysis
    table = at.dataframe[0].value
    assert 0 < len(table) <= 50
    target = table.iloc[3]
    # a click on a point, as streamlit-folium reports it (its tooltip names the incident)
    at.session_state["an_page_map"] = {"last_object_clicked": {"lat": float(target.lat), "lng": float(target.lon)},
                                       "last_object_clicked_tooltip": f"{target.incident_id} — Smuggling"}
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["an_selected"] == target.incident_id
    args = folium_args(at)
    assert args["script"].count("bw-selected") == 1
    assert any(md(target.incident_id) in m.value for m in at.markdown)  # its details are shown
