"""The app frame and the live map page, run with Streamlit's AppTest (no browser, no JavaScript)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import NOW, ROOT, sign_in


def run_app(**query) -> AppTest:
    at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120))
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)


def folium_args(at) -> dict:
    comps = [el for el in at.main if getattr(el, "type", "") == "component_instance"
             or "streamlit_folium" in str(getattr(el, "proto", ""))[:400]]
    assert comps, "no st_folium component on the page"
    proto = comps[0].proto
    return json.loads(proto.json_args) if getattr(proto, "json_args", None) else {}


def test_live_map_page_renders(app_env):
    at = run_app(window="7d")
    assert not at.exception
    assert int(metric(at, "Incidents, last 7 days").replace(",", "")) > 0
    assert metric(at, "Last updated (UTC)") == "12:00:00"
    assert any("SYNTHETIC SCENARIO" in m.value for m in at.markdown)
    assert any("last 7 days" in c.value for c in at.caption)
    args = folium_args(at)
    links = args["js_links"] + args["css_links"]
    assert links and all(link.startswith("../../app/static/vendor/") for link in links)
    assert "Border segments (impact level)" in args["layer_control"]
    assert "feature_group_feature_group_0" in args["feature_group"]
    assert "http://" not in args["script"] + args["feature_group"] and "https://" not in args["script"]


def test_filter_from_url_and_back(app_env):
    at = run_app(nations="USA", threats="drug_trafficking", window="30d", severity="2", lat="31.5", lon="-108", z="6")
    assert not at.exception
    assert at.sidebar.multiselect(key="bw_nations").value == ["USA"]
    assert at.sidebar.multiselect(key="bw_threats").value == ["drug_trafficking"]
    assert any("Drug trafficking".lower() in c.value.lower() and "United States" in c.value for c in at.caption)
    # changing a widget changes the URL, keeping the map view
    at.sidebar.selectbox(key="bw_window").set_value("24h").run()
    assert not at.exception
    qp = at.query_params
    assert qp["window"] == "24h" and qp["nations"] == "USA" and qp["z"] == "6"


def test_filter_change_changes_figures(app_env):
    at = run_app(window="30d")
    everywhere = metric(at, "High / critical segments"), metric(at, "Border under online sensors")
    at.sidebar.multiselect(key="bw_nations").set_value(["POL"]).run()
    assert not at.exception
    poland = metric(at, "High / critical segments"), metric(at, "Border under online sensors")
    assert poland != everywhere
    assert any("Poland" in c.value for c in at.caption)


def test_headline_follows_the_window_with_its_comparison_period(app_env, small_store):
    """The headline figures and the threat table use the chosen window and the period before it;
    only the change carries an arrow; the table lists exactly the threats that occurred."""
    from borderwatch import access
    from borderwatch.filters import Filter
    from borderwatch.situation import Situation

    for window, words, previous in (("30d", "last 30 days", "previous 30 days"), ("24h", "last 24 h", "previous 24 h")):
        at = run_app(window=window)
        assert not at.exception
        viewer = access.viewer_for("test-admin", "USA", "admin", small_store)  # who run_app signs in
        with access.viewing_as(viewer):
            head = Situation(Filter(window=window), NOW, small_store).headline()
        incidents = next(m for m in at.metric if m.label == f"Incidents, {words}")
        assert int(incidents.value.replace(",", "")) == head.incidents
        start, end = Filter(window=window).time_range(NOW)
        cur = small_store.cursor().execute(
            "SELECT occurred_at, reporting_nation, owner_nation, release_public, release_nations, release_agreements "
            "FROM incidents WHERE occurred_at >= ? AND occurred_at < ?", [start - (end - start), end])
        names = [d[0] for d in cur.description]
        seen = [r["occurred_at"] for r in (dict(zip(names, row)) for row in cur.fetchall())
                if access.visible(r, "incident", viewer)]  # the rule in Python, row by row
        n, prev = sum(t >= start for t in seen), sum(t < start for t in seen)
        assert head.incidents == n and head.previous == prev
        if prev:
            assert incidents.proto.delta == f"{(n - prev) / prev * 100:+.0f}% vs {previous}"
        for m in at.metric:  # no arrow on values that are not changes
            if not m.label.startswith("Incidents,"):
                assert not m.proto.delta, (m.label, m.proto.delta)
        from borderwatch.views import live_map

        table = live_map.threat_rows(head)
        assert list(table.columns) == ["threat", "current", "previous"]
        assert len(table) == len(head.by_threat) and ((table.current > 0) | (table.previous > 0)).all()
        assert table.current.sum() == n
        shown = next(h.proto.body for h in at.get("html"))  # the page shows exactly these rows
        assert shown.count("<tr>") == len(table) + 1 and f"<th>{words}</th>" in shown


def test_a_view_inside_the_drawn_extent_draws_the_same_again():
    """The layers are drawn for the view plus a margin. The map frame reports its view right after
    the first draw, and again after each pan: inside the drawn extent, at the same zoom and moments
    later, the same extent and time are drawn again (cached queries, identical layers: nothing to
    redraw in the browser); outside it, later, or filtered otherwise, the map is drawn anew."""
    import datetime as dt

    from borderwatch.views import live_map
    from borderwatch.filters import Filter
    from layers.base import MapContext, View

    flt, now = Filter(window="30d"), NOW
    first, _, _ = live_map.context(flt, None, (30.0, 20.0, 4), None)
    assert first.view == live_map.View.around(30.0, 20.0, 4, *live_map.FIRST_VIEW_PX)
    assert first.extent == first.view.padded(live_map.DRAW_MARGIN)  # the margin is drawn, the view counted
    drawn = live_map.Drawn(flt, first.extent, now, None)
    screen = (1140, 820)
    inside = View.around(30.0, 20.0, 4, *screen)
    ctx = lambda **kw: MapContext(kw.get("flt", flt), kw.get("view", inside), kw.get("now", now + dt.timedelta(seconds=2)),
                                  store=None)
    assert drawn.covers(ctx(), refresh_s=30) and drawn.covers(ctx(), refresh_s=0)
    assert not drawn.covers(ctx(now=now + dt.timedelta(seconds=20)), refresh_s=30)  # time to refresh
    assert not drawn.covers(ctx(), refresh_s=3)  # a 3 s refresh must redraw on every tick
    assert not drawn.covers(ctx(flt=Filter(window="7d")), refresh_s=30)
    assert not drawn.covers(ctx(view=View.around(30.0, 110.0, 4, *screen)), refresh_s=30)
    assert not drawn.covers(ctx(view=View.around(30.0, 20.0, 5, *screen)), refresh_s=30)
    # after a pan, the map is drawn for the view it reports, with the margin around it
    view, _, _ = live_map.view_from_state(
        {"bounds": {"_southWest": {"lat": inside.south, "lng": inside.west},
                    "_northEast": {"lat": inside.north, "lng": inside.east}}, "zoom": 4, "center": {"lat": 30, "lng": 20}},
        (0, 0, 2))
    panned = live_map.context(flt, {"bounds": {"_southWest": {"lat": view.south, "lng": view.west},
                                               "_northEast": {"lat": view.north, "lng": view.east}},
                                    "zoom": 4, "center": {"lat": 30, "lng": 20}}, (0, 0, 2), None)[0]
    drawn = live_map.Drawn(flt, panned.extent, now, None)
    width, height = view.east - view.west, view.north - view.south
    shifted = lambda dx, dy: View(view.west + dx * width, view.south + dy * height, view.east + dx * width,
                                  view.north + dy * height, view.zoom)
    assert drawn.covers(ctx(view=shifted(0.2, -0.2)), refresh_s=30)  # a small pan: nothing is redrawn
    assert not drawn.covers(ctx(view=shifted(0.3, 0)), refresh_s=30)  # beyond the margin: drawn anew
    assert not drawn.covers(ctx(view=shifted(0, -0.3)), refresh_s=30)


def test_the_map_frame_is_moved_only_when_the_page_means_to_move_it():
    """Handing the frame back the view it reported would move the map again: a second redraw of every
    line after each pan, and a jump back if the user panned on meanwhile. The frame keeps the centre
    and zoom it was told until the page moves the map (search box); a move to the same place again
    still happens."""
    from borderwatch.views import live_map

    first = live_map.frame_view(None, (48.0, 20.0), 5, move=False)
    assert first == ((48.0, 20.0), 5)
    assert live_map.frame_view(first, (48.7, 21.3), 6, move=False) == first  # the frame's own report
    flown = live_map.frame_view(first, (31.7, -106.4), 11, move=True)
    assert flown == ((31.7, -106.4), 11)
    again = live_map.frame_view(flown, (31.7, -106.4), 11, move=True)
    assert again != flown and again[0] == pytest.approx(flown[0]) and again[1] == 11


def test_a_pan_reported_by_the_frame_does_not_move_it_back(app_env):
    at = run_app(window="7d", lat="48", lon="20", z="5")
    told = folium_args(at)
    assert told["center"] == [48.0, 20.0] and told["zoom"] == 5
    at.session_state["live_map"] = {"bounds": {"_southWest": {"lat": 44.0, "lng": 14.0},
                                               "_northEast": {"lat": 54.0, "lng": 32.0}},
                                    "center": {"lat": 49.0, "lng": 23.0}, "zoom": 5}
    at.run()
    assert not at.exception
    args = folium_args(at)
    assert args["center"] == told["center"] and args["zoom"] == told["zoom"]


def go(at):
    next(b for b in at.sidebar.button if b.label == "Go").click().run()


def test_search_box_flies_the_map_and_the_link_follows(app_env):
    at = run_app(window="7d")
    at.sidebar.text_input(key="bw_go_text").input("Ciudad Juárez")
    go(at)
    assert not at.exception
    args = folium_args(at)
    assert args["center"] == pytest.approx([31.72024, -106.46084], abs=1e-4) and args["zoom"] == 11
    assert any(c.value.startswith("Showing Ciudad Juárez") and "MEX" in c.value for c in at.sidebar.caption)
    assert [at.query_params[k] for k in ("lat", "lon", "z")] in (["31.7202", "-106.4608", "11"],
                                                                 [["31.7202"], ["-106.4608"], ["11"]])
    # a nation: the map fits its mainland, and places of that name are offered
    at.sidebar.text_input(key="bw_go_text").input("Mexico")
    go(at)
    assert not at.exception
    args = folium_args(at)
    assert args["center"][0] == pytest.approx(23.6, abs=0.5) and args["center"][1] == pytest.approx(-101.9, abs=0.5)
    assert args["zoom"] == 4 and at.query_params["z"] in ("4", ["4"])
    assert any(c.value.replace("\\", "").startswith("Showing Mexico (MEX). Other matches: Mexico,")
               for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]
    # something that is nowhere: a reason, and the map stays where it was
    at.sidebar.text_input(key="bw_go_text").input("95, 10")
    go(at)
    assert not at.exception
    assert any("Latitude 95" in e.value for e in at.sidebar.error)
    assert folium_args(at)["zoom"] == 4


def _write_url_script():
    import streamlit as st

    from borderwatch.filters import Filter
    from borderwatch.views import ui

    ui.write_url(Filter(window="7d"), {"lat": 31.5, "lon": -106.4, "z": 9},
                 symbols=st.session_state.get("shown_symbols"), theme=st.session_state.get("shown_theme"))


@pytest.mark.parametrize("theme, symbols", [("dark", "military"), ("light", "plain")])
def test_a_map_rerun_with_the_url_from_before_keeps_the_display_and_symbols(theme, symbols):
    """A rerun of the live map's fragment may carry the browser's URL from before the display or
    symbol mode was written: the page passes what it shows, and the URL keeps that."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_write_url_script)
    stale = {"window": "7d"} if theme == "dark" else {"window": "7d", "theme": "dark", "symbols": "2525"}
    for key, value in stale.items():
        at.query_params[key] = value
    at.session_state["shown_theme"], at.session_state["shown_symbols"] = theme, symbols
    at.run()
    assert not at.exception
    params = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert params.get("theme") == ("dark" if theme == "dark" else None)
    assert params.get("symbols") == ("2525" if symbols == "military" else None)
    assert params["lat"] == "31.5000" and params["window"] == "7d"
    # a caller that does not know them keeps what the URL says
    at.session_state["shown_theme"] = at.session_state["shown_symbols"] = None
    at.run()
    again = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert again.get("theme") == params.get("theme") and again.get("symbols") == params.get("symbols")
