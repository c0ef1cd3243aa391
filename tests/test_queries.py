"""Every named query in ``queries/`` runs against the tiny hand-made store.

Reading queries run with sample values for the parameters they declare (and each identifier a
placeholder allows) and must return what the hand-made rows say. Writing queries run inside a
transaction that is rolled back, except those that read a ``staged`` table a writer registers:
those run through the writers that own them (building the tiny store, an import of each layer,
patrol positions, the scenario), and the test checks they were among the queries run.
"""
from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

import queries
import tiny_store as tiny
from borderwatch.filters import Filter
from borderwatch.store import LAKE

NOW = tiny.NOW
VIEW = {"vw": -120.0, "vs": 20.0, "ve": -90.0, "vn": 40.0}
SAMPLES = {
    **VIEW, "tolerance": 0.01, "grid": 0.0001, "max_rows": 100, "max_cells": 100, "res": 4, "limit": 10, "offset": 0,
    "since": NOW - dt.timedelta(days=365), "until": NOW, "before": NOW - dt.timedelta(days=400), "at": NOW,
    "stamped_at": NOW, "after_snapshot": 0, "win_start": NOW - dt.timedelta(days=7), "win_end": NOW, "prev_start": NOW - dt.timedelta(days=14),
    "base_start": NOW - dt.timedelta(days=35), "cur_start": NOW - dt.timedelta(days=7), "cur_end": NOW,
    "origin": NOW - dt.timedelta(days=7), "bucket_width": dt.timedelta(days=1), "bucket_seconds": 86400,
    "incident_id": "t-3", "segment_id": "MEX-USA", "segment_ids": ["MEX-USA"], "ids": ["t-1", "t-2"],
    "viewer_nation": "USA", "owner_key": None,  # which of two nations' rows under one id (incident_detail)
    "uids": ["unit-1"], "track_points": 5, "codes": ["USA", "MEX"], "iso3": "MEX", "key": "tiny", "value": "1",
    "dataset": "tiny", "synthetic": True, "min_severity": 1, "echo": True, "seed": "1", "ingested_at": NOW,
    "owner": "USA", "public": False, "nations": ["MEX"], "agreements": ["us-mex"],
    "account": "tiny-user", "nation": "USA", "role": "analyst", "password_hash": "x", "must_change": True,
    "disabled": False, "action": "sign_in", "actor": "tiny-user", "address": "127.0.0.1", "detail": "",
    "filter_text": "", "outcome": "ok", "row_count": 0, "seq": 1, "logged_at": NOW, "prev_hash": "", "hash": "h",
    "source": "tiny_radar", "token_hash": "0" * 64, "cert_sha256": None,
    "lake": LAKE, "first": 0, "last": 1,  # DuckLake's table functions (the feed writer's known ids)
    # app sessions (borderwatch/sessions.py)
    "id_hash": "1" * 64, "idle_until": NOW + dt.timedelta(minutes=30), "expires_at": NOW + dt.timedelta(hours=12),
    # alerts (borderwatch/alerts/)
    "all": True, "alert_id": "A-1", "rule_id": "R-1", "rule_name": "tiny rule", "kind": "sensor_status",
    "cause": "sensor:s-thermal", "title": "Sensor offline", "evidence": "{}", "raised_at": NOW, "state": "new",
    "note": "", "by": "tiny-user", "enabled": True, "hold_off_min": 60, "params": "{}", "assignee": "",
    "acked_at": None, "acked_by": None, "closed_at": None, "closed_by": None, "occurred_since": NOW - dt.timedelta(days=7),
    "statuses": ["offline", "degraded"], "ats": [NOW], "owners": ["USA"],
}
WRITING = re.compile(r"^\s*(INSERT|DELETE|UPDATE|CREATE|DROP|ALTER)\b", re.IGNORECASE | re.MULTILINE)
# what some reading queries must return on the tiny store (all rows visible: the system viewer)
EXPECTED_SCALARS = {"incident_count": 8, "feed_incident_count": 0, "nation_exists": True}


def _declared(name: str) -> tuple[set[str], list[str]]:
    text = queries.text(name)
    params = {p for p in re.findall(r"\$(\w+)", text) if not p.startswith(("f_", "a_"))}
    idents = re.findall(r"\{\{ident:(\w+)\}\}", text)
    return params, idents


def _run(name: str, store) -> pd.DataFrame | None:
    params, idents = _declared(name)
    unknown = params - set(SAMPLES)
    assert not unknown, f"{name}: add sample values for {sorted(unknown)}"
    kwargs = {p: SAMPLES[p] for p in params}
    idents_used = {i: queries.IDENTIFIERS[i][0] for i in idents}
    if "table" in idents:
        idents_used["table"] = "incidents"
    flt = Filter(window="365d")
    if WRITING.search(queries.text(name)):
        class RolledBack(Exception):
            pass

        with pytest.raises(RolledBack):
            with store.transaction():
                queries.execute(name, flt, store=store, now=NOW, idents=idents_used, **kwargs)
                raise RolledBack
        return None
    return queries.df(name, flt, store=store, now=NOW, idents=idents_used, **kwargs)


def _staged(name: str) -> bool:
    return re.search(r"\bstaged\w*\b", queries.text(name)) is not None


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("tiny-queries"))


@pytest.mark.parametrize("name", [n for n in queries.names() if not _staged(n)])
def test_query_runs_on_the_tiny_store(name, store):
    before = queries.scalar("count_rows", store=store, idents={"table": "incidents"})
    result = _run(name, store)
    if name in EXPECTED_SCALARS:
        assert result.iloc[0, 0] == EXPECTED_SCALARS[name]
    if name == "incident_ids":
        assert set(result.iloc[:, 0]) == {i for i, *_ in tiny.INCIDENTS}
    if name == "locate_incident":
        assert len(result) == 1
    if name == "segment_choices":
        assert set(result.iloc[:, 0]) == set(tiny.SEGMENTS)
    # nothing a test ran here was kept: writes were rolled back
    assert queries.scalar("count_rows", store=store, idents={"table": "incidents"}) == before


def test_queries_reading_staged_rows_run_through_their_writers(tmp_path, monkeypatch):
    """The writers that register ``staged`` tables run every such query on the tiny world."""
    import json

    from borderwatch import access, demo, importer
    from borderwatch.feeds import patrols

    ran: set[str] = set()
    real = queries.render

    def recording(name, *a, **kw):
        ran.add(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(queries, "render", recording)
    store = tiny.build(tmp_path / "store")
    point = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-104.5, 32.01]}}
    files = {
        "sensors": {**point, "properties": {"sensor_id": "imp-s", "sensor_type": "radar", "status": "online"}},
        "fortifications": {**point, "properties": {"fortification_id": "imp-f", "kind": "watchtower"}},
        "incidents": {**point, "properties": {"incident_id": "imp-i", "occurred_at": "2026-10-30T10:00:00Z",
                                              "threat_type": "smuggling", "reporting_nation": "USA"}},
    }
    for layer, feature in files.items():
        path = tmp_path / f"{layer}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
        report = importer.import_file(layer, path, store)
        assert report.status == "imported", report.format_text()
        again = importer.import_file(layer, path, store)  # the same file again: found present, none new
        assert again.written == 0, again.format_text()
        dry = importer.import_file(layer, path, store, dry_run=True)
        assert dry.already_present == 1, dry.format_text()
        if layer != "incidents":  # an import's --owner/--release-to on a layer of sites, and its replace
            owned = importer.import_file(layer, path, store, owner="USA", release=access.Release(nations=("MEX",)),
                                         replace=True)
            assert (owned.replaced, owned.written) == (1, 1), owned.format_text()
            owner = store.cursor().execute(f"SELECT owner_nation, release_nations FROM {layer} WHERE dataset = ?",
                                           [report.dataset]).fetchall()
            assert owner == [("USA", ["MEX"])]
    # a large-file import (CSV incidents, read in chunks and staged): dry run, import, again
    csv = tmp_path / "incidents.csv"
    csv.write_text("incident_id,occurred_at,threat_type,lon,lat\ncsv-1,2026-10-30T10:00:00Z,smuggling,-104.2,32.02\n"
                   "csv-2,2026-10-30T11:00:00Z,illegal_crossing,-104.3,32.03\n"
                   "csv-1,2026-10-30T10:00:00Z,smuggling,-104.2,32.02\n")  # a repeated row: kept once
    assert importer.import_file("incidents", csv, store, dry_run=True).accepted == 3  # rows read and valid
    assert importer.import_file("incidents", csv, store).written == 2
    assert importer.import_file("incidents", csv, store, dry_run=True).already_present == 2
    # a file with stored and new ids: the new rows are inserted beside the stored ones
    # (a file of new ids only is registered with the lake as a data file instead)
    (tmp_path / "later").mkdir()
    more = tmp_path / "later" / "incidents.csv"  # the same file name: ids are named after the file
    more.write_text("incident_id,occurred_at,threat_type,lon,lat\ncsv-1,2026-10-30T10:00:00Z,smuggling,-104.2,32.02\n"
                    "csv-3,2026-10-30T12:00:00Z,smuggling,-104.4,32.04\n")
    assert importer.import_file("incidents", more, store).written == 1
    from borderwatch.importers import lakefiles

    with monkeypatch.context() as m:  # as with a shared catalog or a bucket: new rows inserted, not registered
        m.setattr(lakefiles, "usable", lambda store, cur: False)
        (tmp_path / "newer").mkdir()
        newer = tmp_path / "newer" / "incidents.csv"
        newer.write_text("incident_id,occurred_at,threat_type,lon,lat\ncsv-4,2026-10-30T13:00:00Z,smuggling,-104.5,32.05\n")
        assert importer.import_file("incidents", newer, store).written == 1
    # replacing them (an import's "replace": the rows of the owners it writes, see delete_incident_dataset)
    assert importer.import_file("incidents", csv, store, replace=True).replaced == 4
    assert importer.import_file("incidents", tmp_path / "incidents.geojson", store, replace=True).replaced == 1
    position = {"uid": "unit-1", "callsign": "Alpha", "nation": "USA", "team": None, "role": None,
                "cot_type": "a-f-G-U-C", "platform": None, "lon": -105.0, "lat": 32.1, "speed_mps": 1.0,
                "course_deg": 90.0, "reported_at": (NOW - dt.timedelta(minutes=5)).isoformat(),
                "stale_at": (NOW + dt.timedelta(minutes=5)).isoformat(), "dataset": "feed:cot"}
    assert patrols.insert(store, [position]) == 1
    from borderwatch import incident_store
    from borderwatch.feeds import knownids

    report = {"incident_id": "feed-1", "occurred_at": NOW - dt.timedelta(hours=1), "threat_type": "smuggling",
              "severity": 2, "lon": -104.6, "lat": 32.06, "description": "", "source": "patrol"}
    table = incident_store.prepare_incidents(pd.DataFrame([report]), store, dataset="feed:test", owner="USA")
    assert incident_store.insert_incidents(store, table, known=knownids.for_store(store)) == 1  # the feed writer's way
    demo.build_demo(store, seed=1, incidents=200, now=NOW, chunk=100, show_progress=False)
    missing = sorted(n for n in queries.names() if _staged(n) and n not in ran)
    assert missing == []
