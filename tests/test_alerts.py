"""Alert rules on constructed cases: each fires on its case and not on its near miss; a cause is
stored once within the hold-off; state changes are kept and audited; a nation's alerts are seen
by that nation only; the ``borderwatch alerts`` command."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

import borderwatch.alerts as alerts
from borderwatch import access, audit, reference
from borderwatch.feeds import writer
from borderwatch.store import Store
from conftest import ROOT

NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
SENSORS_CSV = """sensor_id,sensor_type,name,lon,lat,range_m,fov_deg,status,nation
T-ON,radar,El Paso radar,-106.45,31.78,6000,360,online,USA
T-DEG,thermal_camera,Columbus camera,-107.64,31.80,4000,360,degraded,USA
T-OFF,ground_sensor,Antelope Wells sensor,-108.53,31.34,3000,360,offline,USA
"""
P = "sensors.csv:"  # imported ids are prefixed with their file
C = "USA/" + P  # an alert cause names the sensor by owner and id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("BORDERWATCH_NOW", NOW.isoformat())
    s = Store(tmp_path_factory.mktemp("alerts-store"))
    reference.load_into(s)
    csv = tmp_path_factory.mktemp("files") / "sensors.csv"
    csv.write_text(SENSORS_CSV)
    from borderwatch import importer

    report = importer.import_file("sensors", csv, s)
    assert report.status == "imported" and report.written == 3
    yield s
    s.close()
    mp.undo()


_seq = iter(range(1_000_000))


def feed(store, lon, lat, *, hours_ago=1.0, threat="smuggling", nation="USA", severity=2, n=1) -> list[str]:
    """Incidents through the feed service's writer (as the live feeds store them)."""
    recs = []
    for _ in range(n):
        iid = f"T-INC-{next(_seq):05d}"
        recs.append({"incident_id": iid, "occurred_at": (NOW - dt.timedelta(hours=hours_ago)).isoformat(),
                     "threat_type": threat, "severity": severity, "confidence": 0.9, "reporting_nation": nation,
                     "source": "patrol", "description": "", "lon": lon, "lat": lat, "location_error_m": 10.0,
                     "dataset": "feed:test"})
    writer.store_records(store, recs)
    return [r["incident_id"] for r in recs]


def rule(store, kind, nation="USA", hold=60, **params) -> str:
    return alerts.add_rule(kind, params, nation=nation, hold_off_min=hold, viewer=access.SYSTEM, store=store)


def fire(store, rule_id, now=NOW) -> list[dict]:
    return alerts.evaluate(store, now, rule_id=rule_id)


def test_imported_sensors_are_heard_and_on_the_border(store):
    rows = {r[0]: r[1:] for r in store.cursor().execute(
        "SELECT sensor_id, segment_id, last_heard_at FROM sensors").fetchall()}
    assert {k: v[0] for k, v in rows.items()} == {P + "T-ON": "MEX-USA", P + "T-DEG": "MEX-USA", P + "T-OFF": "MEX-USA"}
    assert all(v[1] is not None for v in rows.values())


def test_sensor_status_fires_for_offline_not_for_degraded(store):
    offline = rule(store, "sensor_status", status="offline")
    raised = fire(store, offline)
    assert [a["cause"] for a in raised] == [C + "T-OFF:offline"]
    assert raised[0]["segment_id"] == "MEX-USA" and "Antelope Wells" in raised[0]["title"]
    degraded = rule(store, "sensor_status", status="degraded")
    assert sorted(a["cause"] for a in fire(store, degraded)) == [C + "T-DEG:degraded", C + "T-OFF:offline"]


def test_no_duplicate_within_hold_off_and_again_after_closing_past_it(store):
    rid = rule(store, "sensor_status", status="offline", hold=30)
    first = fire(store, rid)
    assert len(first) == 1
    assert fire(store, rid, NOW + dt.timedelta(minutes=5)) == []  # open: not again
    alerts.act(first[0]["alert_id"], "close", note="sensor replaced", viewer=access.SYSTEM, store=store)
    assert fire(store, rid, NOW + dt.timedelta(minutes=20)) == []  # closed within the hold-off
    again = fire(store, rid, NOW + dt.timedelta(minutes=45))  # closed and past it: the cause persists
    assert len(again) == 1 and again[0]["cause"] == C + "T-OFF:offline"


def test_coverage_gap_fires_outside_coverage_only(store):
    rid = rule(store, "coverage_gap")
    covered = feed(store, -106.45, 31.765)  # inside the online radar's 6 km
    assert fire(store, rid) == []
    gap = feed(store, -109.5, 31.34)  # on the same border, far from any online sensor
    raised = fire(store, rid)
    assert len(raised) == 1 and raised[0]["segment_id"] == "MEX-USA"
    evidence = json.loads(raised[0]["evidence"])
    assert evidence == gap and covered[0] not in evidence


def test_coverage_gap_of_another_nation_is_not_seen(store):
    usa = rule(store, "coverage_gap", nation="USA", min_severity=4)
    mex = rule(store, "coverage_gap", nation="MEX", min_severity=4)
    hidden = feed(store, -110.5, 31.34, nation="MEX", severity=4)  # MEX's report, released to no one
    assert fire(store, usa) == []
    raised = fire(store, mex)
    assert len(raised) == 1 and json.loads(raised[0]["evidence"]) == hidden
    usa_viewer = access.viewer_for("usa-commander", "USA", "viewer", store)
    mex_viewer = access.viewer_for("mex-commander", "MEX", "viewer", store)
    seen_by_usa = set(alerts.alerts_frame(usa_viewer, store).alert_id)
    seen_by_mex = set(alerts.alerts_frame(mex_viewer, store).alert_id)
    assert raised[0]["alert_id"] in seen_by_mex and raised[0]["alert_id"] not in seen_by_usa
    assert all(n == "USA" for n in alerts.alerts_frame(usa_viewer, store).nation)
    with pytest.raises(alerts.AlertError, match="no alert"):
        alerts.act(raised[0]["alert_id"], "acknowledge", viewer=usa_viewer, store=store)


def test_segment_impact_fires_at_its_level_not_below(store):
    for day in range(2, 30, 4):  # a quiet baseline: 7 incidents over four weeks
        feed(store, -100.0, 49.0, hours_ago=24 * day, threat="illegal_crossing")
    feed(store, -100.0, 49.0, hours_ago=3, threat="illegal_crossing", n=5)  # 5 in the last 24 h: high
    high = rule(store, "segment_impact", level="high", window="24h", nations=["CAN"])
    critical = rule(store, "segment_impact", level="critical", window="24h", nations=["CAN"])
    raised = fire(store, high)
    assert [(a["segment_id"], a["title"]) for a in raised] == [("CAN-USA", "CAN-USA at high impact")]
    assert fire(store, critical) == []
    feed(store, -100.0, 49.0, hours_ago=2, threat="illegal_crossing", n=4)  # 9: critical
    assert [a["title"] for a in fire(store, critical)] == ["CAN-USA at critical impact"]


def test_threat_surge_against_baseline(store):
    for day in range(2, 28, 2):  # one drone a day every other day: 0.5 a day expected
        feed(store, 30.9, 63.5, hours_ago=24 * day, threat="drone_incursion", nation="FIN")
    rid = rule(store, "threat_surge", nation="FIN", threat_type="drone_incursion", area="FIN", window_hours=24,
               factor=3, min_incidents=3)
    feed(store, 30.9, 63.5, hours_ago=5, threat="drone_incursion", nation="FIN", n=2)  # (2+1)/(0.5+1) = 2×
    assert fire(store, rid) == []
    ids = feed(store, 30.9, 63.5, hours_ago=4, threat="drone_incursion", nation="FIN", n=3)  # 5: 4×
    raised = fire(store, rid)
    assert len(raised) == 1 and raised[0]["cause"] == "drone_incursion@FIN"
    assert set(ids) <= set(json.loads(raised[0]["evidence"]))
    other = rule(store, "threat_surge", nation="USA", threat_type="drone_incursion", area="FIN", min_incidents=3)
    assert fire(store, other) == []  # the USA may not see Finland's reports


def test_feed_silent(store, tmp_path):
    from borderwatch.feeds.status import now_iso, silent_sources, write_status
    import time

    rid = rule(store, "feed_silent", minutes=10)
    assert fire(store, rid) == []  # no feed service ever ran here: nothing is silent
    t = time.time()
    status = {"state": "running", "started_at": now_iso(t - 3600), "updated_at": now_iso(t),
              "listeners": [{"name": "cot-tcp", "last_event_at": now_iso(t - 60)},
                            {"name": "json-tcp", "last_event_at": now_iso(t - 11 * 60)}]}
    write_status(store, status)
    raised = fire(store, rid)
    assert [a["cause"] for a in raised] == ["json-tcp"]
    assert [s["source"] for s in silent_sources(status | {"running": True}, 12)] == []  # the near miss


def test_state_changes_are_kept_and_audited(store):
    rid = rule(store, "sensor_status", status="degraded", hold=5)
    alert = fire(store, rid)[0]
    usa = access.viewer_for("usa-commander", "USA", "viewer", store)
    assert alerts.unacknowledged(usa, store)[0] >= 1
    before = alerts.unacknowledged(usa, store)[0]
    alerts.act(alert["alert_id"], "acknowledge", viewer=usa, store=store)
    assert alerts.unacknowledged(usa, store)[0] == before - 1
    with pytest.raises(alerts.AlertError, match="not new"):
        alerts.act(alert["alert_id"], "acknowledge", viewer=usa, store=store)
    alerts.act(alert["alert_id"], "assign", assignee="sector-7 team", viewer=usa, store=store)
    alerts.act(alert["alert_id"], "comment", note="camera icing up", viewer=usa, store=store)
    with pytest.raises(alerts.AlertError, match="empty"):
        alerts.act(alert["alert_id"], "comment", note="  ", viewer=usa, store=store)
    closed = alerts.act(alert["alert_id"], "close", note="heater fixed", viewer=usa, store=store)
    assert closed["state"] == "closed" and closed["acked_by"] == "usa-commander" and closed["closed_by"] == "usa-commander"
    hist = alerts.history(alert["alert_id"], usa, store)
    assert list(hist.action) == ["raised", "acknowledge", "assign", "comment", "close"]
    assert list(hist.actor) == ["system"] + ["usa-commander"] * 4
    assert hist.note.iloc[2] == "assigned to sector-7 team"
    log = audit.entries(store, limit=5000)
    mine = log[log.detail.str.contains(alert["alert_id"], regex=False)]
    assert set(mine.action) == {"alert-raised", "alert-acknowledged", "alert-assigned", "alert-commented", "alert-closed"}
    assert audit.verify(store) == []


def test_rule_editing_needs_analyst_and_own_nation(store):
    viewer = access.viewer_for("deu-viewer", "DEU", "viewer", store)
    with pytest.raises(alerts.AlertError, match="analyst role"):
        alerts.add_rule("sensor_status", {"status": "offline"}, viewer=viewer, store=store)
    analyst = access.viewer_for("deu-analyst", "DEU", "analyst", store)
    with pytest.raises(alerts.AlertError, match="DEU only"):
        alerts.add_rule("sensor_status", {"status": "offline"}, nation="POL", viewer=analyst, store=store)
    with pytest.raises(alerts.AlertError, match="level must be high or critical"):
        alerts.add_rule("segment_impact", {"level": "medium"}, viewer=analyst, store=store)
    with pytest.raises(alerts.AlertError, match="no parameter colour"):
        alerts.add_rule("sensor_status", {"colour": "red"}, viewer=analyst, store=store)
    rid = alerts.add_rule("sensor_status", {"status": "offline"}, viewer=analyst, store=store)
    assert list(alerts.rules_frame(analyst, store).rule_id) == [rid]  # only DEU's rules
    alerts.change_rule(rid, enabled=False, hold_off_min=15, viewer=analyst, store=store)
    assert not alerts.rules_frame(analyst, store, rule_id=rid).enabled.iloc[0]
    alerts.remove_rule(rid, viewer=analyst, store=store)
    assert alerts.rules_frame(analyst, store).empty


def test_cli(store, monkeypatch, capsys):
    from borderwatch import cli as cli_mod
    from borderwatch import store as store_mod

    env = {"BORDERWATCH_STORE": str(store.path), "BORDERWATCH_NOW": NOW.isoformat(), "PATH": "/usr/bin:/bin"}
    # the installed command, once, as a separate process
    out = subprocess.run([sys.executable, "-m", "borderwatch.cli", "alerts", "add", "sensor_status", "--nation", "USA",
                          "--param", "status=offline", "--hold-off", "90"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rid = out.stdout.split()[1]
    monkeypatch.setenv("BORDERWATCH_STORE", str(store.path))
    store_mod.reset_default_store()

    def cli(*args):
        code = cli_mod.main(["alerts", *args])
        got = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, got.out, got.err)

    try:
        assert rid in cli("rules").stdout
        bad = cli("add", "sensor_status", "--nation", "USA", "--param", "status=broken")
        assert bad.returncode == 1 and "status must be degraded" in bad.stderr
        assert "new alert(s)" in cli("evaluate").stdout
        listed = [json.loads(line) for line in cli("list", "--state", "new", "--json").stdout.splitlines()]
        mine = [a for a in listed if a["rule_id"] == rid]
        assert len(mine) == 1
        ack = cli("ack", mine[0]["alert_id"], "--note", "seen")
        assert ack.returncode == 0 and "acknowledged" in ack.stdout
        assert cli("ack", mine[0]["alert_id"]).returncode == 1
        assert "closed" in cli("close", mine[0]["alert_id"]).stdout
        assert "acknowledge" in cli("history", mine[0]["alert_id"]).stdout
        assert cli("remove", rid).returncode == 0 and rid not in cli("rules").stdout
        assert cli("--as", "nobody-here", "list").returncode == 2
    finally:
        store_mod.reset_default_store()


# -- the app ------------------------------------------------------------------------------------
@pytest.fixture
def app_env(store, monkeypatch):
    from borderwatch import store as store_mod

    monkeypatch.setenv("BORDERWATCH_STORE", str(store.path))
    monkeypatch.setenv("BORDERWATCH_NOW", NOW.isoformat())
    monkeypatch.setenv("BORDERWATCH_REFRESH_SECONDS", "0")
    monkeypatch.chdir(ROOT)
    store_mod.reset_default_store()
    yield store
    store_mod.reset_default_store()


def _app(store, name, role, nation="USA"):
    from streamlit.testing.v1 import AppTest

    from conftest import sign_in

    return sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180), store, name=name, nation=nation,
                   role=role)


def test_live_map_header_counts_unacknowledged_alerts_and_haloes_segments(app_env):
    store = app_env
    rule(store, "sensor_status", status="offline", hold=600)
    alerts.evaluate(store, NOW)
    usa = access.viewer_for("usa-watch", "USA", "viewer", store)
    n, segments = alerts.unacknowledged(usa, store)
    assert n >= 1 and "MEX-USA" in segments
    at = _app(store, "usa-watch", "viewer").run()
    assert not at.exception, at.exception
    links = [el for el in at.main if "page_link" in str(getattr(el, "proto", ""))[:200] or
             getattr(el, "type", "") == "page_link"]
    labels = [getattr(el.proto, "label", "") for el in links]
    assert any(f"{n} unacknowledged alert" in label for label in labels), labels
    comps = [el for el in at.main if getattr(el, "type", "") == "component_instance"
             or "streamlit_folium" in str(getattr(el, "proto", ""))[:400]]
    args = json.loads(comps[0].proto.json_args)
    assert "Alerted segments (unacknowledged)" in args["layer_control"]
    assert "unacknowledged alert" in args["feature_group"] and "MEX-USA" in args["feature_group"]
    assert "bw-alert-halo" in args["feature_group"]  # the halo flashes (keyframes in the map's stylesheet)
    data = next(c.value.replace("\\", "") for c in at.caption if "sensors last heard" in c.value)
    assert "sensors last heard 12:00 UTC (0 s ago) from imported file sensors.csv" in data
    assert "border segments from Natural Earth" in data


def test_alerts_page_acknowledge_and_rules_by_role(app_env):
    store = app_env
    rid = rule(store, "sensor_status", status="degraded", hold=600)
    alerts.evaluate(store, NOW, rule_id=rid)
    at = _app(store, "usa-desk", "viewer")
    at.run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Alerts"
    at.selectbox(key="al_state").set_value("new").run()
    new = alerts.alerts_frame(access.viewer_for("x", "USA", "viewer", store), store, state="new")
    assert len(new) >= 1
    picked = at.selectbox(key="al_pick").value
    assert picked in set(new.alert_id)
    at.text_area(key="al_note").input("on it")
    next(b for b in at.button if b.label == "Acknowledge").click().run()
    assert not at.exception, at.exception
    assert any("acknowledge recorded" in s.value for s in at.success)
    row = alerts.alerts_frame(access.SYSTEM, store, alert_id=picked).iloc[0]
    assert row.state == "acknowledged" and row.acked_by == "usa-desk"
    hist = alerts.history(picked, access.SYSTEM, store)
    assert list(hist.action)[-1] == "acknowledge" and hist.note.iloc[-1] == "on it"
    # a viewer sees the rules but cannot set them
    assert any("Rules are set by analysts" in c.value for c in at.caption)
    assert not [f for f in at.get("form") if getattr(f, "form_id", "") == "al_add_rule"]
    # an analyst adds one from the page
    an = _app(store, "usa-rules", "analyst")
    an.run()
    an.switch_page("pages/alerts.py").run()
    an.selectbox(key="al_kind").set_value("feed_silent").run()
    an.number_input(key="al_p_feed_silent_minutes").set_value(20)
    an.text_input(key="al_rule_name").input("JSON feed watch")
    next(b for b in an.button if b.label == "Add rule").click().run()
    assert not an.exception, an.exception
    added = alerts.rules_frame(access.SYSTEM, store)
    mine = added[added.name == "JSON feed watch"]
    assert len(mine) == 1 and mine.nation.iloc[0] == "USA" and json.loads(mine.params.iloc[0])["minutes"] == 20


# -- data age -----------------------------------------------------------------------------------
def _ctx(store, now):
    from borderwatch.filters import Filter
    from layers.base import MapContext, View

    return MapContext(Filter(window="7d"), View.around(31.6, -107.5, 8), now, store=store)


def _render(store, group) -> str:
    from layers import basemap

    m = basemap.base_map(store)
    m.add_child(group)
    return m.get_root().render()


def test_sensors_fade_and_say_their_age_once_not_heard_for_the_stale_age(store, monkeypatch):
    from layers import sensors

    monkeypatch.setenv("BORDERWATCH_STALE_MINUTES", "90")
    with access.viewing_as(access.SYSTEM):
        fresh = sensors.build(_ctx(store, NOW + dt.timedelta(minutes=80)))
        old = sensors.build(_ctx(store, NOW + dt.timedelta(minutes=100)))
    assert fresh.notes["stale_sensors"] == 0 and old.notes["stale_sensors"] == 3
    fresh_html, old_html = (_render(store, b.group) for b in (fresh, old))
    assert "last heard 80 min ago (2026-11-01 12:00 UTC)" in fresh_html and "OLD" not in fresh_html
    assert "last heard 1.7 h ago (2026-11-01 12:00 UTC) \\u00b7 OLD" in old_html
    assert '"opacity":0.28' in old_html and '"opacity":0.8' in fresh_html  # faded outline (0.8 × 0.35)


def test_silent_feed_banner_on_the_map(store):
    import time

    from borderwatch.feeds.status import now_iso, write_status
    from layers import age, registry

    t = time.time()
    base = {"state": "running", "started_at": now_iso(t - 3600), "updated_at": now_iso(t)}
    write_status(store, base | {"listeners": [{"name": "cot-udp", "last_event_at": now_iso(t - 30)}]})
    with access.viewing_as(access.SYSTEM):
        quiet = age.build(_ctx(store, NOW))
        assert quiet.notes == {"feed_silent": False} and "bw-feed-banner" not in _render(store, quiet.group)
        write_status(store, base | {"listeners": [{"name": "cot-udp", "last_event_at": now_iso(t - 25 * 60)}]})
        ctx = _ctx(store, NOW)
        built = registry.build_all(ctx)
        loud = built[-1]
        assert loud.notes == {"feed_silent": True}
        page = _render(store, loud.group)
        assert "bw-feed-banner" in page and "Live feed silent" in page and "cot-udp silent for 25 min" in page
    write_status(store, {"state": "stopped", "updated_at": now_iso(t)})  # leave no silent feed behind


def test_briefing_lists_the_alerts_of_its_window_for_its_viewer(store):
    import io

    from pypdf import PdfReader

    from borderwatch.exports import briefing
    from borderwatch.exports.snapshot import ExportSpec
    from borderwatch.filters import Filter

    rid = rule(store, "sensor_status", status="offline", hold=5, nation="USA")
    raised = fire(store, rid, NOW - dt.timedelta(hours=3))
    assert len(raised) == 1
    late = fire(store, rule(store, "sensor_status", status="offline", nation="USA"), NOW + dt.timedelta(hours=2))
    spec = ExportSpec.create(Filter(window="24h"), now=NOW)
    usa = access.viewer_for("usa-briefer", "USA", "briefer", store)
    mex = access.viewer_for("mex-briefer", "MEX", "briefer", store)
    with access.viewing_as(usa):
        frame = briefing.briefed_alerts(spec, store)
    assert raised[0]["alert_id"] in set(frame.alert_id) and late[0]["alert_id"] not in set(frame.alert_id)
    with access.viewing_as(mex):
        assert set(briefing.briefed_alerts(spec, store).nation) <= {"MEX"}
    pdf = briefing.BriefingPDF(spec)
    pdf.add_page()
    briefing._alerts_table(pdf, frame)
    text = " ".join(PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0].extract_text().split())
    assert f"Alerts raised in the window ({len(frame)})" in text and "Antelope Wells sensor offline" in text


# -- evaluated as data arrives ------------------------------------------------------------------
def _wait(fn, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.2)
    return False


def _of_rule(store, rid):
    frame = alerts.alerts_frame(access.SYSTEM, store)
    return frame[frame.rule_id == rid]


def test_feed_service_raises_alerts_after_its_commits(store, monkeypatch, tmp_path):
    import socket

    from borderwatch.feeds.service import FeedConfig, FeedService

    monkeypatch.delenv("BORDERWATCH_NOW", raising=False)  # the feed service lives in real time
    rid = rule(store, "coverage_gap", nation="GRC", hold=600)
    svc = FeedService(store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, json_open=True, batch_ms=50, watch=tmp_path,
                                        watch_open=True,
                                        poll_s=0.05)).start()
    try:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps({"id": "gap-1", "time": now, "lat": 41.3, "lon": 26.6, "threat_type": "smuggling",
                           "severity": 3, "source": "patrol", "reporting_nation": "GRC"}) + "\n"
        with socket.create_connection(("127.0.0.1", svc.ports["json-tcp"]), timeout=10) as conn:
            conn.sendall(line.encode())
        assert _wait(lambda: rid in set(alerts.alerts_frame(access.SYSTEM, store, state="new").rule_id)), \
            "no alert after the feed's commit"
    finally:
        svc.stop()
    raised = _of_rule(store, rid)
    assert len(raised) == 1 and raised.segment_id.iloc[0] == "GRC-TUR"
    assert json.loads(raised.evidence.iloc[0]) == ["json:gap-1"]


def test_imports_raise_alerts(store, tmp_path):
    from borderwatch import importer

    rid = rule(store, "coverage_gap", nation="USA", hold=600, min_severity=3)
    csv = tmp_path / "reports.csv"
    csv.write_text("incident_id,occurred_at,threat_type,severity,reporting_nation,lon,lat\n"
                   f"imp-1,{(NOW - dt.timedelta(hours=2)).isoformat()},smuggling,3,USA,-111.5,31.4\n")
    report = importer.import_file("incidents", csv, store)
    assert report.status == "imported", report
    raised = _of_rule(store, rid)
    assert len(raised) == 1 and json.loads(raised.evidence.iloc[0]) == ["reports.csv:imp-1"]


def test_a_detection_naming_its_sensor_updates_when_it_was_last_heard(store):
    from borderwatch.feeds import jsonfeed

    at = NOW + dt.timedelta(minutes=2)  # after the import that first heard of it
    # the sensor of the record's owner (here its reporting nation, USA, where the sensor stands)
    rec = jsonfeed.to_incident({"id": "det-1", "time": at.isoformat() + "Z", "lat": 31.79, "lon": -107.64,
                                "threat_type": "illegal_crossing", "sensor_id": P + "T-DEG",
                                "reporting_nation": "USA"}, now=NOW)
    older = jsonfeed.to_incident({"id": "det-2", "time": (at - dt.timedelta(hours=5)).isoformat() + "Z", "lat": 31.79,
                                  "lon": -107.64, "threat_type": "illegal_crossing", "sensor_id": P + "T-DEG",
                                  "reporting_nation": "USA"}, now=NOW)
    unowned = jsonfeed.to_incident({"id": "det-4", "time": at.isoformat() + "Z",
                                    "lat": 31.79, "lon": -107.64, "threat_type": "illegal_crossing",
                                    "sensor_id": P + "T-DEG"}, now=NOW)
    before = dict(store.cursor().execute("SELECT sensor_id, last_heard_at FROM sensors").fetchall())
    writer.store_records(store, [unowned])  # no owner nor nation: not USA's sensor, nothing moves
    assert dict(store.cursor().execute("SELECT sensor_id, last_heard_at FROM sensors").fetchall()) == before
    writer.store_records(store, [rec])
    writer.store_records(store, [older])  # an older report does not turn the clock back
    after = dict(store.cursor().execute("SELECT sensor_id, last_heard_at FROM sensors").fetchall())
    assert after[P + "T-DEG"] == at and before[P + "T-DEG"] != at
    assert after[P + "T-ON"] == before[P + "T-ON"]
    with pytest.raises(Exception, match="sensor_id must be"):
        jsonfeed.to_incident({"id": "det-3", "time": at.isoformat() + "Z", "lat": 31.79, "lon": -107.64,
                              "threat_type": "illegal_crossing", "sensor_id": "no spaces allowed"}, now=NOW)


def test_scenario_sensors_were_last_heard_by_their_status():
    from borderwatch import scenario

    rows = [{"status": s} for s in ("online", "degraded", "offline") * 50]
    scenario.last_heard(rows, 7, NOW)
    minutes = {s: [(NOW - r["last_heard_at"]).total_seconds() / 60 for r in rows if r["status"] == s]
               for s in ("online", "degraded", "offline")}
    for status, (low, high) in scenario.LAST_HEARD_MIN.items():
        assert all(low - 1 <= m <= high for m in minutes[status]), status
    assert max(minutes["online"]) < min(minutes["offline"])  # offline sensors have been silent longest
    again = [{"status": r["status"]} for r in rows]
    scenario.last_heard(again, 7, NOW)
    assert [r["last_heard_at"] for r in again] == [r["last_heard_at"] for r in rows]  # same seed, same times


def test_nobody_sees_no_alert(store):
    fire(store, rule(store, "sensor_status", status="degraded"))
    assert not alerts.alerts_frame(access.SYSTEM, store, state="new").empty
    assert alerts.alerts_frame(access.NOBODY, store).empty
    assert alerts.unacknowledged(access.NOBODY, store) == (0, [])
    assert not alerts.may_edit_rules(access.NOBODY)
