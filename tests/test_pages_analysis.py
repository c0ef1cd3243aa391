"""The analysis and import pages under AppTest: they run on the small store, their widgets work,
and the area of interest and the drill-down change the one Filter (and so the URL)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from borderwatch.filters import Filter
from conftest import NOW, ROOT, sign_in

TIMEOUT = 120


@pytest.fixture
def app(small_store, monkeypatch):
    monkeypatch.setenv("BORDERWATCH_STORE", str(small_store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.chdir(ROOT)
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT), small_store)
    at.query_params["window"] = "365d"
    at.query_params["nations"] = "USA"
    at.run()
    at.switch_page("pages/analysis.py").run()
    assert not at.exception, at.exception
    return at


def show_tab(at: AppTest, name: str) -> AppTest:
    at.session_state["an_tab"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def current_filter(at: AppTest) -> Filter:
    return at.session_state["bw_filter"]


def test_incident_table_shows_a_page_of_rows(app):
    assert app.title[0].value == "Incident analysis"
    assert current_filter(app) == Filter(window="365d", nations=("USA",))
    table = app.dataframe[0].value
    assert len(table) == 50 and {"incident_id", "occurred_at", "threat_type"} <= set(table.columns)
    assert list(table.occurred_at) == sorted(table.occurred_at, reverse=True)
    first_page = list(table.incident_id)
    app.number_input(key="an_page").set_value(2).run()
    assert not app.exception
    assert not set(app.dataframe[0].value.incident_id) & set(first_page)
    app.selectbox(key="an_sort").set_value("severity").run()
    app.selectbox(key="an_dir").set_value("ASC").run()
    table = app.dataframe[0].value
    assert app.number_input(key="an_page").value == 1, "a new order starts again at page 1"
    assert list(table.severity.str[0].astype(int)) == sorted(table.severity.str[0].astype(int))


@pytest.mark.parametrize("tab", ["Trends", "Breakdowns", "Hotspots", "Area of interest", "Export"])
def test_every_tab_runs(app, tab):
    show_tab(app, tab)
    text = " ".join(m.value for m in app.markdown) + " ".join(c.value for c in app.caption)
    if tab == "Trends":
        assert app.metric[0].label == "Incidents in the window" and len(app.get("vega_lite_chart")) >= 2
        app.radio(key="an_bucket").set_value("month").run()
        assert not app.exception
    if tab == "Breakdowns":
        for dim in ("segment_id", "severity", "source", "threat_type"):
            app.radio(key="an_dimension").set_value(dim).run()
            assert not app.exception and len(app.dataframe[0].value) > 0
    if tab == "Hotspots":
        assert "per 100 km" in text and set(app.dataframe[0].value.segment_id) == {"MEX-USA", "CAN-USA"}
    if tab == "Area of interest":
        assert "Draw a rectangle or a polygon" in text and "measure distances and areas" in text
    if tab == "Export":
        assert "incidents** match" in text
        assert len(app.get("download_button")) == 3


def test_drill_down_from_a_hotspot_filters_the_incidents(app):
    show_tab(app, "Hotspots")
    segment = app.selectbox(key="an_drill_segment").value
    app.button(key="an_drill").click().run()
    assert not app.exception
    assert current_filter(app).segments == (segment,)
    assert app.query_params["segments"] == segment
    assert app.session_state["an_tab"] == "Incidents"
    table = app.dataframe[0].value
    assert len(table) and set(table.segment_id) == {segment}
    assert app.multiselect(key="an_segments").value == [segment]
    app.button(key="an_clear_area").click().run()
    assert current_filter(app).segments == ()


def test_typed_area_of_interest_goes_into_the_filter(app):
    app.text_input(key="an_area_text").input("-112,30,-104,33").run()
    assert not app.exception
    area = current_filter(app).area_wkt
    assert area.startswith("POLYGON") and app.query_params["area"] == area
    assert app.dataframe[0].value.incident_id.size > 0
    app.text_input(key="an_area_text").input("POINT (1 2)").run()
    assert any("Area not applied" in e.value for e in app.sidebar.error)
    assert current_filter(app).area_wkt == area, "a bad area leaves the last good one in place"


def test_segment_choice_in_the_sidebar(app):
    app.multiselect(key="an_segments").set_value(["MEX-USA"]).run()
    assert current_filter(app).segments == ("MEX-USA",)
    assert set(app.dataframe[0].value.segment_id) == {"MEX-USA"}
