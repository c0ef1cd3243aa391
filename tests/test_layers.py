"""Map layers: what each draws for a filter and a view, the impact rule, and bounded payloads."""
from __future__ import annotations

import datetime as dt
import pathlib
import re

import folium
import pandas as pd
import pytest

import queries
from borderwatch import offline
from borderwatch.filters import Filter
from conftest import NOW
from borderwatch import situation
from layers import adapter, basemap, density, incidents, registry, segments, sensors, style
from layers.base import Built
from layers.base import MAX_HEX_CELLS, MAX_POINTS, MapContext, View

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORLD = View()
AEGEAN = View.around(41.0, 26.5, 8)
US_MEXICO = View.around(31.5, -108.0, 6)


def ctx_for(store, flt=Filter(window="30d"), view=WORLD, since=None):
    return MapContext(flt, view, NOW, since=since, store=store)


def render(store, ctx) -> tuple[str, dict]:
    """The map document and the layers' notes."""
    m = basemap.base_map(store)
    notes = {}
    for layer in registry.build_all(ctx):
        layer.group.add_to(m)
        notes.update(layer.notes)
    folium.LayerControl().add_to(m)
    return m.get_root().render(), notes


@pytest.mark.parametrize("count, expected, level", [
    (0, 0.0, "low"), (10, 10.0, "low"), (14, 10.0, "medium"), (3, 0.1, "medium"), (5, 0.5, "high"),
    (12, 1.0, "critical"), (40, 20.0, "high"), (70, 20.0, "critical"), (2, 0.0, "medium"), (1, 0.0, "low"),
])
def test_impact_rule(count, expected, level):
    assert style.impact_level(count, expected) == level


def test_registry_is_complete():
    keys = [m.KEY for m in registry.REGISTRY]
    assert keys == ["segments", "fortifications", "sensors", "density", "incidents", "patrols", "alerts", "feeds"]
    for module in registry.REGISTRY:
        assert module.TITLE and callable(module.build)


def test_segment_counts_match_pandas(small_store):
    flt = Filter(window="7d", threat_types=("illegal_crossing", "smuggling"))
    stats = ctx_for(small_store, flt).situation.segment_stats.set_index("segment_id")
    inc = small_store.cursor().execute("SELECT segment_id, occurred_at, threat_type FROM incidents").fetch_df()
    start, end = flt.time_range(NOW)
    m = (inc.occurred_at >= start) & (inc.occurred_at < end) & inc.threat_type.isin(flt.threat_types)
    expected = inc[m].groupby("segment_id").size()
    got = stats.n[stats.n > 0]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False, check_dtype=False)
    prev = inc[(inc.occurred_at >= start - (end - start)) & (inc.occurred_at < start) & inc.threat_type.isin(flt.threat_types)]
    assert stats.n_prev.sum() == len(prev)


def test_hot_segments_stand_out(small_store):
    stats = ctx_for(small_store, Filter(window="7d")).situation.segment_stats
    levels = stats.impact.value_counts()
    assert levels.get("critical", 0) + levels.get("high", 0) >= 1
    assert levels.get("low", 0) > len(stats) / 2  # most borders are quiet


def test_nation_filter_limits_segments(small_store):
    stats = ctx_for(small_store, Filter(window="30d", nations=("POL",))).situation.segment_stats
    assert set(stats.segment_id) == {"BLR-POL", "CZE-POL", "DEU-POL", "LTU-POL", "POL-RUS", "POL-SVK", "POL-UKR"}


def test_coverage_is_a_share_of_length(small_store):
    stats = ctx_for(small_store).situation.segment_stats
    assert stats.coverage_pct.between(0, 100).all()
    covered = stats[stats.coverage_pct > 0]
    assert len(covered) >= 10
    gaps = sensors.gap_features(ctx_for(small_store))
    assert gaps and all("uncovered" in g["properties"]["detail"] for g in gaps)


def test_density_resolution_follows_zoom(small_store):
    world_res, world = density.cells(ctx_for(small_store, Filter(window="365d"), WORLD))
    close_res, close = density.cells(ctx_for(small_store, Filter(window="365d"), AEGEAN))
    assert world_res < close_res
    assert len(world) <= MAX_HEX_CELLS and len(close) <= MAX_HEX_CELLS
    assert world.n.sum() == queries.scalar("incident_count_in_view", Filter(window="365d"), store=small_store, now=NOW,
                                           **WORLD.params())


def test_points_only_when_few_enough(small_store):
    ctx = ctx_for(small_store, Filter(window="30d"), WORLD)
    html, notes = render(small_store, ctx)
    assert notes["incidents_in_view"] > MAX_POINTS
    assert "L.markerClusterGroup(" not in html
    ctx2 = ctx_for(small_store, Filter(window="7d"), AEGEAN)
    html2, notes2 = render(small_store, ctx2)
    assert 0 < notes2["incidents_in_view"] <= MAX_POINTS
    assert "L.markerClusterGroup(" in html2


def test_new_incidents_are_ringed(small_store):
    ctx = ctx_for(small_store, Filter(window="30d"), WORLD, since=NOW - dt.timedelta(days=1))
    html, notes = render(small_store, ctx)
    # the scenario was ingested at NOW, i.e. after "since": all of its incidents count as new (capped)
    assert notes["new_incidents"] == 200 and style.NEW_INCIDENT_COLOR in html
    ctx2 = ctx_for(small_store, Filter(window="30d"), WORLD, since=NOW)
    assert render(small_store, ctx2)[1]["new_incidents"] == 0


@pytest.mark.parametrize("flt, view", [
    (Filter(window="365d"), WORLD),
    (Filter(window="30d"), US_MEXICO),
    (Filter(window="7d"), AEGEAN),
    (Filter(window="24h", min_severity=3), WORLD),
])
def test_payload_is_bounded_and_offline(small_store, flt, view):
    offline.use_local_assets()
    html, _ = render(small_store, ctx_for(small_store, flt, view, since=NOW - dt.timedelta(hours=1)))
    assert len(html.encode()) < 2_000_000
    assert offline.external_urls(html) == []


def test_data_text_is_never_evaluated_as_a_template(tmp_path):
    """folium compiles rendered scripts once more as Jinja: data text must not be evaluated."""
    import json as _json

    from borderwatch import importer, incident_store, reference
    from borderwatch.store import Store

    store = Store(tmp_path / "store")
    reference.load_into(store)
    evil = "{{ 7*7 }} {% if true %}yes{% endif %} {# c #}"
    rows = pd.DataFrame([{"incident_id": "t-1", "occurred_at": NOW - dt.timedelta(hours=1), "threat_type": "smuggling",
                          "lon": 26.3, "lat": 41.7, "description": evil, "source": evil}])
    incident_store.insert_incidents(store, incident_store.prepare_incidents(rows, store, dataset="test"))
    path = tmp_path / "forts.geojson"
    path.write_text(_json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": evil, "kind": "watchtower"},
         "geometry": {"type": "Point", "coordinates": [26.31, 41.71]}}]}))
    report = importer.import_file("fortifications", path, store)
    assert report.ok, report.format_text()
    html, _ = render(store, ctx_for(store, Filter(window="24h"), AEGEAN))
    shown = html.replace("\\u0026", "&")  # JSON in the page escapes '&'
    assert shown.count("&#123;&#123; 7*7 &#125;&#125;") >= 2  # the incident popup and the fortification tooltip
    assert not re.search(r"(?<![\d.])49 (?:yes|&#123;%)", html) and " yes " not in html
    store.close()


# -- segments on top, their popup, words, plugins, layer toggles, the adapter -------------------------
def test_segments_draw_above_density_and_sensors(small_store):
    ctx = ctx_for(small_store, Filter(window="365d"), AEGEAN)
    html, _ = render(small_store, ctx)
    panes = dict(basemap.PANES)
    assert panes["bwSegments"] > panes["bwSensors"] and panes["bwSegments"] > panes["bwDensity"]
    assert panes["bwPoints"] > panes["bwSegments"]
    assert '"bwSegments"' in html and 'pane: "bwDensity"' in html and 'pane: "bwSegments"' in html
    # coverage gaps are drawn over the segments but never take their hover or click
    gap_layer = next(c for b in [sensors.build(ctx)] for c in adapter.children(b.group)
                     if getattr(c, "pane", None) == "bwSegments")
    assert gap_layer.interactive is False


def test_segment_popup_reads_like_a_person_wrote_it(small_store):
    flt = Filter(window="30d", threat_types=("smuggling",))
    ctx = ctx_for(small_store, flt, US_MEXICO)
    feats = segments.features(ctx)
    assert feats
    stats = ctx.situation.segment_stats.set_index("segment_id")
    for f in feats:
        popup, sid = f["properties"]["popup"], f["properties"]["segment"]
        row = stats.loc[sid]
        for word in ("Nations", "Impact", row.impact, "expected from the", "Incidents", "Coverage", "Fortifications"):
            assert word in popup, (word, popup)
        link = re.search(r'href="([^"]+)"', popup).group(1).replace("&amp;", "&")
        assert link.startswith("../../analysis?") and f"segments={sid}" in link and "threats=smuggling" in link
        assert "_blank" in popup
        assert not re.search(r"\bnan\b|\bNone\b", popup)
        assert not re.search(r"(?<![\d,])1 (incidents|fences|walls|checkpoints|watchtowers|gates)\b", popup), popup
        if row.n:
            assert "<svg class=\"bw-spark\"" in popup
        assert "impact" in f["properties"]["detail"]
    shown = {f["properties"]["segment"]: f["properties"]["popup"] for f in feats}
    for sid in stats[stats.n == 1].index.intersection(list(shown)):
        assert "1 incident in the window" in shown[sid]


def test_segment_trend_adds_up_to_the_window(small_store):
    sit = ctx_for(small_store, Filter(window="30d")).situation
    trend = sit.segment_trend
    stats = sit.segment_stats.set_index("segment_id")
    assert trend and all(len(v) == situation.TREND_BUCKETS for v in trend.values())
    for sid, values in trend.items():
        assert sum(values) == stats.n[sid]


def test_words_for_counts_and_missing_values():
    assert situation.plural(1, "incident") == "1 incident"
    assert situation.plural(2, "incident") == "2 incidents"
    assert situation.plural(1234, "watchtower") == "1,234 watchtowers"
    assert incidents.known(float("nan"), "unknown") == "unknown" and incidents.known(None) == ""
    assert incidents.known("gate 4") == "gate 4"
    assert situation.window_words(Filter(window="7d")) == ("last 7 days", "previous 7 days")
    custom = Filter(window="custom", start=dt.datetime(2026, 11, 1), end=dt.datetime(2026, 11, 3))
    assert situation.window_words(custom) == ("2026-11-01 00:00 – 2026-11-03 00:00", "the 2 days before")


def test_one_caption_for_page_and_exports(small_store):
    ctx = ctx_for(small_store, Filter(window="7d"), AEGEAN, since=NOW)
    built = registry.build_all(ctx)
    notes = {k: v for b in built for k, v in b.notes.items()}
    text = registry.caption(built, ctx.situation)
    assert text.startswith("Density: H3 resolution") and "in view" in text and text.endswith(".")
    assert f"{notes['incidents_in_view']:,} incident" in text
    page = registry.caption(built, ctx.situation, updated=NOW)
    assert page.startswith("Last updated 2026-11-01 12:00:00 UTC; density: H3 resolution")
    one = registry.caption([Built(folium.FeatureGroup(), {"incidents_in_view": 1, "new_incidents": 1})], ctx.situation)
    assert "1 incident in view" in one and "1 new incident since" in one


def test_data_age_names_layers_that_have_rows_but_no_time(monkeypatch):
    """A layer with rows but no recorded time (a store from before sensors had a last-heard time)
    is not "no sensors": its source is named and the missing time said."""
    from layers import age

    fresh = {"incidents": (NOW, ["scenario"]), "sensors": (None, ["scenario"]), "fortifications": (None, [])}
    monkeypatch.setattr(age, "freshness", lambda store: fresh)
    text = age.caption(None, NOW)
    assert "sensors from synthetic scenario (time not recorded)" in text
    assert "no sensors" not in text and "no fortifications" in text and "no patrols" in text
    assert "incidents ingested 12:00 UTC (0 s ago) from synthetic scenario" in text


def test_plugins_come_with_the_first_render_whatever_the_view(small_store):
    """streamlit-folium loads scripts once, with the base map: the clustering plugin must be among
    them even when the first view has no points (a later zoom brings them in a partial update)."""
    offline.use_local_assets()
    m = basemap.base_map(small_store)
    m.get_root().render()
    html = m.get_root().header.render()
    assert "leaflet.markercluster.js" in html and "MarkerCluster.css" in html


def test_layer_toggles_remember_switched_off_layers(small_store):
    m = basemap.base_map(small_store)
    for layer in registry.build_all(ctx_for(small_store, Filter(window="7d"), AEGEAN)):
        layer.group.add_to(m)
    control = basemap.LayerToggles(collapsed=True)
    m.add_child(control)
    html = m.get_root().render()
    assert "window.bwHiddenLayers" in html and "removeLayer(overlays[name])" in html
    for module in registry.REGISTRY:
        assert module.TITLE in html


def test_adapter_reaches_folium_children_and_the_partial_update_script(small_store):
    m = basemap.base_map(small_store)
    kinds = [type(c).__name__ for c in adapter.children(m)]
    assert "MapPanes" in kinds and "PluginAssets" in kinds
    assert adapter.remove_children(m, lambda c: type(c).__name__ == "PluginAssets") == 1
    assert "PluginAssets" not in [type(c).__name__ for c in adapter.children(m)]
    group = registry.build_all(ctx_for(small_store, Filter(window="7d"), AEGEAN))[0].group
    script = adapter.feature_group_script(group, m, idx=0)
    assert "feature_group_feature_group_0" in script and "map_div.addLayer" in script


def test_map_elements_are_named_without_a_system_call(monkeypatch):
    """Element ids come from a process-local generator (layers.adapter.fast_element_ids): unique
    32-hex-digit names, and no os.urandom call (which releases the interpreter lock) per element."""
    import os
    import re

    import folium

    def no_system_randomness(n):
        raise AssertionError("an element id asked the system for random bytes")

    monkeypatch.setattr(os, "urandom", no_system_randomness)
    import branca.element
    monkeypatch.setattr(branca.element, "urandom", no_system_randomness, raising=False)
    names = {folium.FeatureGroup().get_name() for _ in range(5000)}
    assert len(names) == 5000
    assert all(re.fullmatch(r"feature_group_[0-9a-f]{32}", n) for n in names)


def test_the_same_drawing_gives_the_same_script_and_the_extent_decides_what_is_drawn(small_store):
    """streamlit-folium leaves the drawn layers alone when their script is unchanged: drawing the same
    extent again (a small pan on the live map) must give the same script byte for byte. The layers
    draw for the extent; the caption counts the view."""
    view = View.around(31.5, -108.0, 7, 1000, 600)
    extent = view.padded(0.25)
    ctx = lambda v: MapContext(Filter(window="30d"), v, NOW, since=NOW - dt.timedelta(hours=1), store=small_store,
                               drawn_extent=extent)

    def scripts(c):
        m = basemap.base_map(small_store)
        built = registry.build_all(c)
        return [adapter.feature_group_script(b.group, m, idx=i) for i, b in enumerate(built)], built

    first, built1 = scripts(ctx(view))
    panned = View(view.west + 0.3, view.south, view.east + 0.3, view.north, view.zoom)
    again, built2 = scripts(ctx(panned))
    assert first == again
    whole = registry.build_all(MapContext(Filter(window="30d"), extent, NOW, store=small_store))
    in_extent = next(b.notes for b in whole if "incidents_in_view" in b.notes)["incidents_in_view"]
    in_view = next(b.notes for b in built1 if "incidents_in_view" in b.notes)["incidents_in_view"]
    assert 0 < in_view < in_extent
