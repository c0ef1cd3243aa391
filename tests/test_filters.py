"""The Filter: validation, words, URL round trip, and its SQL against an independent pandas check."""
from __future__ import annotations

import datetime as dt

import pytest

import queries
from borderwatch.filters import Filter
from oracles import expected_ids
from conftest import NOW


def test_url_round_trip_keeps_every_field():
    f = Filter(nations=("USA", "MEX"), agreements=("us-mex",), scope="internal",
               threat_types=("drug_trafficking", "smuggling"), window="custom",
               start=dt.datetime(2026, 10, 1), end=dt.datetime(2026, 10, 15, 6, 30), min_severity=3,
               bbox=(-120.5, 25.0, -95.25, 35.0), text="tunnel", segments=("MEX-USA",),
               area_wkt="POLYGON ((-110 30, -100 30, -100 33, -110 33, -110 30))")
    assert Filter.from_params(f.to_params()) == f


def test_malformed_url_values_fall_back_to_defaults():
    f = Filter.from_params({"window": "forever", "severity": "9", "bbox": "1,2,x", "threats": "bogus,smuggling",
                            "scope": "sideways"})
    assert f == Filter(threat_types=("smuggling",))


def test_shared_links_with_broken_values_still_open():
    cut = Filter.from_params({"area": "POLYGON((1 2", "nations": "USA"})
    assert cut == Filter(nations=("USA",))
    aware = Filter.from_params({"window": "custom", "start": "2024-01-01T00:00+02:00", "end": "2024-02-01T00:00"})
    assert aware.start == dt.datetime(2023, 12, 31, 22, 0) and aware.window == "custom"
    mixed = Filter.from_params({"window": "custom", "start": "2024-01-01T00:00+02:00", "end": "bad"})
    assert mixed.window == "30d"


@pytest.mark.parametrize("kwargs, message", [
    ({"area_wkt": "POINT (1 2)"}, "polygon"),
    ({"area_wkt": "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"}, "not valid"),
    ({"area_wkt": "POLYGON ((0 0, 400 0, 400 10, 0 0))"}, "longitude/latitude"),
    ({"bbox": (170, -10, -170, 10)}, "antimeridian"),
    ({"scope": "inside"}, "scope"),
    ({"window": "2w"}, "window"),
    ({"window": "custom"}, "custom window"),
    ({"threat_types": ("piracy",)}, "unknown threat type"),
    ({"min_severity": 7}, "min_severity"),
    ({"bbox": (10, 50, 20, 40)}, "bbox"),
])
def test_invalid_filters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Filter(**kwargs)


def test_describe_says_what_is_filtered():
    f = Filter(nations=("POL",), agreements=("schengen",), scope="external", threat_types=("illegal_crossing",),
               window="7d", min_severity=2, text="boat")
    words = f.describe(now=NOW, names={"POL": "Poland", "schengen": "Schengen Area"})
    for part in ("last 7 days", "2026-10-25 12:00Z", "illegal crossing", "moderate or above", "Poland",
                 "Schengen Area", "external borders", '"boat"'):
        assert part in words


def test_user_values_never_enter_sql_text():
    evil = "x'); DROP TABLE incidents; --"
    f = Filter(nations=(evil,), text=evil)
    sql, params = queries.render("incident_ids", f, now=NOW)
    assert "DROP" not in sql and evil.upper() in params["f_nations"]
    assert params["f_text"].startswith("%x')")


def test_identifiers_come_from_an_allow_list():
    with pytest.raises(queries.QueryError, match="table must be one of"):
        queries.render("count_rows", idents={"table": "incidents; DROP TABLE segments"})


# -- SQL against pandas ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def frames(small_store):
    cur = small_store.cursor()
    inc = cur.execute("SELECT * EXCLUDE (shared_under) FROM incidents").fetch_df()
    scopes = cur.execute("SELECT * FROM segment_agreements").fetch_df()
    return inc, scopes


CASES = [
    Filter(window="365d"),
    Filter(window="30d"),
    Filter(window="7d", nations=("USA",)),
    Filter(window="365d", nations=("POL", "LTU"), threat_types=("illegal_crossing", "drone_incursion")),
    Filter(window="365d", agreements=("schengen",), scope="internal"),
    Filter(window="365d", agreements=("schengen",), scope="external"),
    Filter(window="365d", agreements=("schengen", "eu"), scope="all", min_severity=3),
    Filter(window="custom", start=dt.datetime(2026, 6, 1), end=dt.datetime(2026, 7, 1), threat_types=("smuggling",)),
    Filter(window="365d", bbox=(-118.0, 30.0, -105.0, 34.0)),
    Filter(window="365d", text="kg"),
    Filter(window="365d", segments=("GRC-TUR", "BGR-TUR"), min_severity=2),
    Filter(window="365d", area_wkt="POLYGON ((20 35, 30 35, 30 45, 20 45, 20 35))"),
]


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.slug())
def test_filter_sql_matches_pandas(f, frames, small_store):
    inc, scopes = frames
    got = {r[0] for r in queries.rows("incident_ids", f, store=small_store, now=NOW)}
    want = expected_ids(f, inc, scopes)
    assert got == want
    if f.window == "365d" and not (f.text or f.area_wkt or f.bbox):
        assert want, "case should select something on the scenario"


def test_scope_partitions_agreement_borders(frames):
    _, scopes = frames
    schengen = scopes[scopes.agreement_id == "schengen"]
    internal = set(schengen[schengen.scope == "internal"].segment_id)
    external = set(schengen[schengen.scope == "external"].segment_id)
    assert {"DEU-FRA", "AUT-DEU", "ESP-FRA"} <= internal
    assert {"BLR-POL", "FIN-RUS", "GRC-TUR"} <= external
    assert not internal & external
