"""Releasability enforced in the query gateway, checked against an independent pandas oracle.

The oracle reads the raw tables of a fixture store and decides visibility in pandas from the rules
(owner, public, named nation, agreement membership at report time); the app's outputs for random
viewers and random filters must be computed over exactly the rows the oracle allows."""
from __future__ import annotations

import datetime as dt
import io
import random
import re

import h3
import pandas as pd
import pytest

import queries
from borderwatch import access
from borderwatch.domain import THREAT_TYPES
from borderwatch.filters import Filter
from conftest import NOW

INCIDENTS = 6_000
# membership dates changed in the fixture so that "member at the time of the report" matters
POL_SCHENGEN = dt.datetime.combine((NOW - dt.timedelta(days=20)).date(), dt.time())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from borderwatch import demo
    from borderwatch.store import Store

    st = Store(tmp_path_factory.mktemp("access_store"))
    demo.build_demo(st, seed=11, incidents=INCIDENTS, now=NOW, chunk=4_000, show_progress=False)
    with st.transaction() as cur:
        cur.execute("UPDATE agreement_members SET joined = ? WHERE agreement_id = 'schengen' AND iso3 = 'POL'",
                    [POL_SCHENGEN.date().isoformat()])
        cur.execute("UPDATE agreement_members SET joined = '2026' WHERE agreement_id = 'eu' AND iso3 = 'BGR'")
        # a few incidents explicitly released to nations and to Schengen, to exercise every rule
        cur.execute("UPDATE incidents SET release_public = FALSE, release_nations = ['POL', 'LTU'], "
                    "release_agreements = NULL WHERE hash(incident_id) % 17 = 0")
        cur.execute("UPDATE incidents SET release_public = FALSE, release_nations = NULL, "
                    "release_agreements = ['schengen'] WHERE hash(incident_id) % 13 = 0")
    yield st
    st.close()


# -- the oracle ---------------------------------------------------------------------------------
def _names(value) -> list:
    """A list column's value as a Python list (NULL -> [])."""
    return [] if value is None or value is pd.NA or (isinstance(value, float) and value != value) else list(value)


def _since(joined):
    if not isinstance(joined, str) or not joined:
        return pd.NaT
    if len(joined) == 4:
        return pd.Timestamp(int(joined) + 1, 1, 1)
    return pd.Timestamp(joined)


class Oracle:
    def __init__(self, store):
        cur = store.cursor()
        self.incidents = cur.execute("SELECT * EXCLUDE (h3), h3::VARCHAR AS h3 FROM incidents").fetch_df()
        self.sensors = cur.execute("SELECT sensor_id, segment_id, status, nation, reported_at, owner_nation, "
                                   "release_public, release_nations, release_agreements FROM sensors").fetch_df()
        self.forts = cur.execute("SELECT fortification_id, segment_id, kind, nation, reported_at, owner_nation, "
                                 "release_public, release_nations, release_agreements FROM fortifications").fetch_df()
        members = cur.execute("SELECT agreement_id, iso3, joined FROM agreement_members").fetch_df()
        members["since"] = [_since(j) for j in members.joined]
        self.members = members

    def visible(self, frame: pd.DataFrame, nation: str | None, owner_col: str, time_col: str) -> pd.Series:
        owner = frame.owner_nation.where(frame.owner_nation.notna(), frame[owner_col])
        ok = frame.release_public.astype("boolean").fillna(False).astype(bool)
        if nation is None:
            return ok
        ok |= owner == nation
        ok |= frame.release_nations.map(lambda v: nation in _names(v))
        mine = self.members[(self.members.iso3 == nation) & self.members.since.notna()]
        for agreement, since in zip(mine.agreement_id, mine.since):
            named = frame.release_agreements.map(lambda v, a=agreement: a in _names(v))
            ok |= named & (frame[time_col] >= since)
        return ok

    def incidents_for(self, nation):
        return self.incidents[self.visible(self.incidents, nation, "reporting_nation", "occurred_at")]

    def sensors_for(self, nation):
        return self.sensors[self.visible(self.sensors, nation, "nation", "reported_at")]

    def forts_for(self, nation):
        return self.forts[self.visible(self.forts, nation, "nation", "reported_at")]


@pytest.fixture(scope="module")
def oracle(store):
    return Oracle(store)


def _ids(name, flt, store, **kw):
    return set(queries.df(name, flt, store=store, now=NOW, **kw).iloc[:, 0])


def _random_filter(rng: random.Random, nations: list[str]) -> Filter:
    kw = {"window": rng.choice(["24h", "7d", "30d", "365d"])}
    if rng.random() < 0.5:
        kw["nations"] = tuple(rng.sample(nations, rng.randint(1, 3)))
    if rng.random() < 0.3:
        kw["agreements"] = (rng.choice(["schengen", "eu", "oas", "us-mex", "au"]),)
        kw["scope"] = rng.choice(["all", "internal", "external"])
    if rng.random() < 0.3:
        kw["threat_types"] = tuple(rng.sample(THREAT_TYPES, 3))
    if rng.random() < 0.3:
        kw["min_severity"] = rng.randint(2, 3)
    if rng.random() < 0.2:
        kw["bbox"] = (-30.0, 20.0, 60.0, 72.0)
    return Filter(**kw)


VIEWER_NATIONS = ["USA", "MEX", "POL", "LTU", "BGR", "DEU", "TUR", "GRC", "IND", "BLR"]
CASES = 12


@pytest.mark.parametrize("case", range(CASES))
def test_every_output_counts_only_rows_the_viewer_may_see(store, oracle, case):
    from borderwatch.exports import data
    from layers.base import MapContext, View

    rng = random.Random(1000 + case)
    nation = rng.choice(VIEWER_NATIONS + [None])
    role = rng.choice(access.ROLES)
    now = NOW - dt.timedelta(days=rng.choice([0, 0, 3, 30]))
    flt = _random_filter(rng, VIEWER_NATIONS)
    viewer = access.viewer_for("oracle", nation, role, store) if nation else access.NOBODY
    seen_inc = set(oracle.incidents_for(nation).incident_id)
    everyone = set(oracle.incidents.incident_id)
    assert seen_inc < everyone  # the rules hide something from every viewer

    def sys_ids(f, **kw):
        with access.viewing_as(access.SYSTEM):
            return set(queries.df("incident_ids", f, store=store, now=now).incident_id)

    system = sys_ids(flt)
    expected = system & seen_inc
    frame = oracle.incidents.set_index("incident_id").loc[sorted(expected)]
    with access.viewing_as(viewer):
        # the rows themselves: ids, count, table pages, the analysis detail of a hidden row
        got = set(queries.df("incident_ids", flt, store=store, now=now).incident_id)
        assert got == expected
        assert queries.scalar("incident_count", flt, store=store, now=now) == len(expected)
        page = queries.df("incident_page", flt, store=store, now=now, idents={"sort": "occurred_at", "direction": "DESC"},
                          limit=500, offset=0)
        assert set(page.incident_id) <= expected and len(page) == min(500, len(expected))
        hidden = sorted(everyone - seen_inc)
        assert queries.df("incident_detail", flt, store=store, now=now, incident_id=hidden[case],
                          owner_key=None, viewer_nation=nation).empty
        # density hexagons over the whole world: every count from visible rows only
        world = dict(vw=-180.0, vs=-90.0, ve=180.0, vn=90.0)
        res = 4
        cells = queries.df("incident_density", flt, store=store, now=now, res=res, max_cells=100_000, **world)
        want = frame.h3.map(lambda c: h3.cell_to_parent(h3.int_to_str(int(c)), res)).value_counts()
        got_cells = {h3.int_to_str(int(c)): int(n) for c, n in zip(cells.cell, cells.n)}
        assert got_cells == want.to_dict()
        # trends, breakdowns, briefing trend
        trend = queries.df("incident_trend", flt, store=store, now=now, idents={"bucket": "day"})
        assert int(trend.n.sum()) == len(expected)
        by_nation = queries.df("incident_breakdown", flt, store=store, now=now, idents={"dimension": "reporting_nation"})
        want_nat = frame.reporting_nation.fillna("<NA>").value_counts().to_dict()
        assert {(v if v is not None else "<NA>"): int(n) for v, n in zip(by_nation.value, by_nation.n)} == want_nat
        # live-map figures: headline (the window vs the one before it), per-segment counts behind impact levels
        ctx = MapContext(flt, View(), now, store=store)
        head = ctx.situation.headline()
        start, end = flt.time_range(now)
        before = flt.replace(window="custom", start=start - (end - start), end=start)
        assert head.incidents == len(expected)
        assert head.previous == len(sys_ids(before) & seen_inc)
        stats = ctx.situation.segment_stats.set_index("segment_id")
        want_seg = frame.segment_id.value_counts()
        got_seg = stats.n[stats.n > 0]
        assert got_seg.to_dict() == want_seg.reindex(got_seg.index).fillna(-1).astype(int).to_dict()
        assert int(stats.n.sum()) == int(frame.segment_id.notna().sum())
        assert int(stats.n_prev.sum()) == len({i for i in sys_ids(before) & seen_inc
                                               if oracle.incidents.set_index("incident_id").segment_id.get(i) is not None})
        hot = ctx.situation.hotspots(limit=1000)
        assert int(hot.n.sum()) == int(frame.segment_id.notna().sum())
        # sensors and fortifications on the map; coverage only from visible sensors
        seen_sen = set(oracle.sensors_for(nation).sensor_id)
        seen_fort = oracle.forts_for(nation)
        sens = queries.df("sensors_in_view", flt, store=store, now=now, grid=0.001, tolerance=0.01, max_rows=100_000, **world)
        assert set(sens.sensor_id) <= seen_sen
        forts = queries.df("fortifications_in_view", flt, store=store, now=now, tolerance=0.01, max_rows=100_000, **world)
        assert set(forts.fortification_id) <= set(seen_fort.fortification_id)
        counts = queries.df("segment_fortifications", store=store)
        assert int(counts.n.sum()) == len(seen_fort[seen_fort.segment_id.notna()])
        cov = ctx.coverage
        online = oracle.sensors_for(nation)
        assert set(cov.segment_id) == set(online[online.status == "online"].segment_id.dropna())
        # the segment figures' coverage comes from the same visible sensors
        covered = stats.covered_km[stats.covered_km > 0]
        assert covered.to_dict() == pytest.approx(cov.set_index("segment_id").covered_km.reindex(covered.index).to_dict())
        # exports: exactly the visible rows, marked with what they are releasable to
        buf = io.BytesIO()
        meta = data.write_csv(flt, buf, store=store, now=now)
        exported = set(pd.read_csv(io.BytesIO(buf.getvalue())).incident_id) if len(expected) else set()
        assert exported == expected and meta["rows"] == len(expected)
        if nation and len(expected):
            assert re.fullmatch(r"UNCLASSIFIED(//REL TO [A-Z, ]+)?", meta["marking"])
            if "REL TO" in meta["marking"]:
                assert nation in meta["marking"]
        brief_trend = queries.df("briefing_trend", flt, store=store, now=now, bucket_width=dt.timedelta(days=1),
                                 origin=start)
        assert int(brief_trend.n.sum()) == len(expected)


def test_membership_counts_from_the_date_the_nation_joined(store, oracle):
    pol = access.viewer_for("p", "POL", "viewer", store)
    assert ("schengen", dt.datetime.combine(POL_SCHENGEN.date(), dt.time())) in pol.memberships
    schengen_only = oracle.incidents[oracle.incidents.release_agreements.map(lambda v: _names(v) == ["schengen"])
                                     & (oracle.incidents.owner_nation.fillna(oracle.incidents.reporting_nation) != "POL")
                                     & ~oracle.incidents.release_public.astype("boolean").fillna(False).astype(bool)]
    old = set(schengen_only[schengen_only.occurred_at < POL_SCHENGEN].incident_id)
    new = set(schengen_only[schengen_only.occurred_at >= POL_SCHENGEN].incident_id)
    assert old and new
    with access.viewing_as(pol):
        got = set(queries.df("incident_ids", Filter(window="365d"), store=store, now=NOW).incident_id)
    assert not (old & got), sorted(old & got)[:5]
    assert new <= got, sorted(new - got)[:5]
    bgr = access.viewer_for("b", "BGR", "viewer", store)  # joined the EU "2026": counts from 2027
    assert "eu" not in dict(bgr.memberships) or dict(bgr.memberships)["eu"] == dt.datetime(2027, 1, 1)


def test_url_parameters_narrow_but_never_widen(store, oracle):
    """A shared link naming nations whose rows the opener may not see shows the opener's rows only."""
    link = Filter.from_params({"nations": "USA,MEX,POL", "window": "365d"})
    for nation in ("USA", "POL"):
        with access.viewing_as(access.viewer_for("v", nation, "analyst", store)):
            got = set(queries.df("incident_ids", link, store=store, now=NOW).incident_id)
        assert got <= set(oracle.incidents_for(nation).incident_id)
        assert got  # and still shows what it may
    with access.viewing_as(access.SYSTEM):
        everything = set(queries.df("incident_ids", link, store=store, now=NOW).incident_id)
    assert got < everything


def test_queries_over_layer_tables_all_pass_the_access_rule():
    """Every query reading incidents, sensors or fortifications carries a filter or access
    placeholder, except the writers' own bookkeeping listed here with the reason."""
    internal = {
        "feed_incident_count": "feed service's own count of what it stored (status, tests)",
        "feed_incidents": "feed service's check that accepted events are stored exactly once",
        "feed_known_ids": "feed store writer's in-memory set of stored identities (hashes; never shown)",
        "import_fortifications": "writer", "import_sensors": "writer", "insert_incidents": "writer",
        "delete_incident_dataset": "writer (an import's replace: only the owners it writes, its own nation for an account)",
        "import_staged_stored_ids": "writer (an import's choice of insert query, under the writer lock; never shown)",
        "refresh_segment_coverage": "derived table for unrestricted use; viewers get segment_coverage",
    }
    reads = re.compile(r"(from|join)\s+(incidents|sensors|fortifications)\b", re.I)
    unguarded = {n for n in queries.names()
                 if reads.search(queries.text(n)) and not re.search(r"\{\{(filter|filter_notime|access):", queries.text(n))}
    assert unguarded == set(internal)


def test_no_viewer_in_the_app_server_means_public_rows_only(store, oracle, monkeypatch):
    monkeypatch.setattr(access, "_in_app_server", lambda: True)
    got = set(queries.df("incident_ids", Filter(window="365d"), store=store, now=NOW).incident_id)
    assert got == set(oracle.incidents_for(None).incident_id) & got and got
    assert all(oracle.incidents.set_index("incident_id").release_public.loc[sorted(got)])


def test_release_to_parsing():
    assert access.Release.parse("public") == access.Release(public=True)
    assert access.Release.parse("owner") == access.Release()
    assert access.Release.parse("USA, MEX,schengen") == access.Release(False, ("MEX", "USA"), ("schengen",))
    with pytest.raises(ValueError, match="'usa'"):
        access.Release.parse("usa", known_agreements=["schengen"])
    with pytest.raises(ValueError, match="combined"):
        access.Release.parse("public,USA")
    assert access.combine_marking("UNCLASSIFIED", {"USA", "MEX"}) == "UNCLASSIFIED//REL TO MEX, USA"
    assert access.combine_marking("UNCLASSIFIED", None) == "UNCLASSIFIED"



def _releasable_to(row, members: pd.DataFrame) -> set[str] | None:
    """Nations a row may go to (None = everyone), from the oracle's own reading of the rules."""
    if row.release_public is True:
        return None
    out = {row.owner_nation if isinstance(row.owner_nation, str) else row.reporting_nation}
    out |= set(_names(row.release_nations))
    for agreement in _names(row.release_agreements):
        m = members[(members.agreement_id == agreement) & (members.since <= row.occurred_at)]
        out |= set(m.iso3)
    return out


@pytest.mark.parametrize("nation, params", [("MEX", {"nations": "MEX", "window": "30d"}),
                                            ("POL", {"nations": "POL,LTU", "window": "7d"}),
                                            ("USA", {"window": "24h"})])
def test_export_marking_is_computed_from_the_rows_included(store, oracle, nation, params, tmp_path):
    from borderwatch.exports import data

    flt = Filter.from_params(params)
    viewer = access.viewer_for("m", nation, "analyst", store)
    with access.viewing_as(viewer):
        result = data.export_incidents(flt, "geojson", tmp_path, store=store, now=NOW)
    import json

    meta = json.loads(result.path.read_text())["metadata"]
    with access.viewing_as(viewer):
        ids = set(queries.df("incident_ids", flt, store=store, now=NOW).incident_id)
    rows = oracle.incidents[oracle.incidents.incident_id.isin(ids)]
    common = None
    for row in rows.itertuples():
        allowed = _releasable_to(row, oracle.members)
        if allowed is not None:
            common = allowed if common is None else common & allowed
    want = "UNCLASSIFIED" if common is None else f"UNCLASSIFIED//REL TO {', '.join(sorted(common))}"
    assert meta["marking"] == want, (meta["marking"], want)
    assert common is None or nation in common  # what a viewer exports is always releasable to the viewer


def test_briefings_carry_the_marking_of_their_rows(store, oracle):
    from borderwatch.exports import briefing, render
    from borderwatch.exports.snapshot import ExportSpec

    spec = ExportSpec.from_params("window=30d&nations=MEX&lat=25&lon=-103&z=5", now=NOW)
    viewer = access.viewer_for("m", "MEX", "briefer", store)
    with access.viewing_as(viewer):
        marking = briefing.marking_of(spec, store)
        page = briefing.export(spec, "html", store=store).decode()
    assert marking.startswith("UNCLASSIFIED//REL TO ") and "MEX" in marking
    assert f'<meta name="classification" content="{marking}">' in page
    assert page.count(marking) >= 3  # metadata, top banner, bottom banner
    with access.viewing_as(access.SYSTEM):
        assert briefing.marking_of(spec, store) != marking  # everyone's rows: a different marking
    if not render.available():
        pytest.skip(render.missing_message())
    import pypdf

    with access.viewing_as(viewer):
        pdf = pypdf.PdfReader(io.BytesIO(briefing.export(spec, "pdf", store=store)))
        png = briefing.export(spec, "png", store=store)
    assert marking in pdf.metadata.subject
    for p in pdf.pages:
        assert p.extract_text().count(marking) >= 2  # top and bottom banner of every page
    assert b"tEXtClassification\0" + marking.encode() in png


def test_unrestricted_coverage_reads_the_derived_table_with_the_same_figures(store):
    world = dict(vw=-180.0, vs=-90.0, ve=180.0, vn=90.0, tolerance=0.01)
    with access.viewing_as(access.SYSTEM):
        computed = queries.df("segment_coverage", store=store, **world).set_index("segment_id").covered_km
        derived = queries.df("segment_coverage_all", store=store, **world).set_index("segment_id").covered_km
    pd.testing.assert_series_equal(computed.sort_index(), derived.sort_index(), rtol=1e-6)
