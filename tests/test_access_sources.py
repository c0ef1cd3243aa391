"""Feed sources on the Administration page, and counts that must not reveal rows a viewer may not
see: the import dry run's "already present" and the feed status shown on the live map."""
from __future__ import annotations

import json
import socket
import threading
import time

from streamlit.testing.v1 import AppTest

from borderwatch import access, audit, cli, importer
from borderwatch.views import live_map
from borderwatch.feeds import sources
from borderwatch.feeds.service import FeedConfig, FeedService
from borderwatch.feeds.status import describe, for_viewer
from conftest import ROOT, sign_in
from feed_helpers import env, iso, now_utc, store, stored, uid, viewer, wait_until  # noqa: F401 (fixtures)


def test_admin_page_lists_sources_without_tokens_adds_and_revokes(env):
    store = env
    token = sources.add("page_radar", "USA", "MEX", store=store)
    svc = FeedService(store, FeedConfig(bind="0.0.0.0", cot_tcp=0, cot_udp=None, json_tcp=0, watch_enabled=False))
    svc.start()
    try:  # the listeners' addresses and authentication, from the running service's status
        at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=120), store, name="src-admin").run()
        at.switch_page("pages/admin.py").run()
    finally:
        svc.stop()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "authentication" in d.value.columns).set_index("name")
    assert shown.loc["cot-tcp", ["bind", "authentication"]].tolist() == ["127.0.0.1", "none"]
    assert shown.loc["json-tcp", ["bind", "authentication"]].tolist() == ["0.0.0.0", "token"]
    assert any("Without authentication: cot" in c.value.replace("\\", "") for c in at.caption)
    table = next(d.value for d in at.dataframe if "release_to" in d.value.columns)
    assert table.set_index("name").loc["page_radar", ["nation", "release_to", "state"]].tolist() == \
        ["USA", "REL TO MEX", "active"]
    assert token not in table.to_string() and "token_hash" not in table.columns
    # add one from the form: the token is shown once and works
    at.text_input(key="adm_src_name").input("page_cam")
    at.text_input(key="adm_src_nation").input("MEX")
    at.text_input(key="adm_src_release").input("public")
    next(b for b in at.button if b.proto.label == "Add source").click().run()
    assert not at.exception, at.exception
    shown = next(s.value for s in at.success if "Token (shown once)" in s.value)
    new = shown.split("`")[1]
    assert sources.get("page_cam", store).token_hash == sources.token_hash(new)
    # a bad nation: a specific error, nothing added
    at.text_input(key="adm_src_name").input("page_bad")
    at.text_input(key="adm_src_nation").input("XXX")
    next(b for b in at.button if b.proto.label == "Add source").click().run()
    assert any("not a nation" in e.value for e in at.error) and sources.get("page_bad", store) is None
    # revoke from the page
    at.selectbox(key="adm_src_which").select("page_radar")
    at.button(key="adm_src_revoke").click().run()
    assert not at.exception, at.exception
    assert sources.get("page_radar", store).revoked
    assert any("page_radar revoked" in s.value.replace("\\", "") for s in at.success)
    table = next(d.value for d in at.dataframe if "release_to" in d.value.columns)
    assert table.set_index("name").loc["page_radar", "state"] == "revoked"
    entries = audit.entries(store, limit=20)
    assert {("source-added", "src-admin"), ("source-revoked", "src-admin")} <= set(zip(entries.action, entries.actor))


def test_import_dry_run_counts_only_rows_the_importer_may_see(env, tmp_path, capsys):
    store = env
    path = tmp_path / "owned.csv"
    path.write_text("id,date,threat,lat,lon,reporting_nation\n"
                    "own1,2026-10-30T08:00:00Z,smuggling,31.77,-106.45,USA\n"
                    "own2,2026-10-30T09:00:00Z,smuggling,31.78,-106.46,USA\n"
                    "own3,2026-10-30T10:00:00Z,smuggling,31.79,-106.47,USA\n", encoding="utf-8")
    assert cli.main(["import", "incidents", str(path), "--owner", "USA", "--release-to", "owner"]) == 0
    capsys.readouterr()
    counts = {}
    for nation in ("USA", "MEX"):
        with access.viewing_as(viewer(store, nation, "importer")):
            report = importer.import_file("incidents", path, store, dry_run=True)
        counts[nation] = report.already_present
        assert report.to_dict()["already_present"] == counts[nation]
    assert counts == {"USA": 3, "MEX": 0}
    # the command line acts for the whole store, or for the account named with --as
    assert cli.main(["import", "incidents", str(path), "--dry-run", "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["already_present"] == 3


def _send(port: int, token: str, ids: list[str]) -> None:
    lines = [json.dumps({"token": token})] + [
        json.dumps({"id": i, "time": iso(now_utc()), "lat": 52.1, "lon": 23.6, "threat_type": "smuggling"})
        for i in ids]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(("\n".join(lines) + "\n").encode())


def test_feed_status_counts_only_what_the_viewer_may_see(env):
    store = env
    pol = sources.add("pol_post", "POL", "owner", store=store)
    svc = FeedService(store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, watch_enabled=False,
                                        batch_ms=50)).start()
    try:
        ids = [uid("pol") for _ in range(5)]
        _send(svc.ports["json-tcp"], pol, ids)
        with socket.create_connection(("127.0.0.1", svc.ports["json-tcp"]), timeout=5) as s:
            s.sendall(b'{"token": "bwfs_wrong"}\n')  # a reject whose reason a viewer must not read
            s.recv(1)
        assert wait_until(lambda: sum(stored(store, [f"json:{i}" for i in ids]).values()) == 5, 10)
        assert svc.wait_idle()
        time.sleep(0.1)
        status = svc.status() | {"running": True}
    finally:
        svc.stop()
    admin = access.viewer_for("adm", "DEU", "admin", store)
    assert for_viewer(status, admin, store) is status
    seen = {n: for_viewer(status, viewer(store, n), store) for n in ("POL", "DEU")}
    assert seen["POL"]["events_per_minute"] == 1.0 and seen["POL"]["last_event_at"]  # 5 in the 5-minute window
    assert seen["DEU"]["events_per_minute"] == 0.0 and seen["DEU"]["last_event_at"] is None
    for shown in seen.values():
        assert shown["counts"] == {} and shown["rejects"] == [] and shown["connections"] is None
        assert all("received" not in l and "accepted" not in l for l in shown["listeners"])
        assert {l["authentication"] for l in shown["listeners"]} == {"token"}
    # the live map's status line, for each signed-in viewer
    lines = {}
    for nation in ("POL", "DEU"):
        with access.viewing_as(viewer(store, nation)):
            lines[nation] = describe(for_viewer(status, store=store))[1]
    assert "1/min" in lines["POL"] and "no event yet" in lines["DEU"] and "0/min" in lines["DEU"]
    assert not any("rejected" in line or "client(s)" in line for line in lines.values())
    full = describe(status)[1]
    assert "rejected" in full and "client(s) connected" in full
    with access.viewing_as(viewer(store, "DEU")):
        assert "rejected" not in live_map.feed_status(store)[1]


def test_live_map_status_line_for_two_viewers(env):
    """The live map's feed line, as each signed-in viewer sees it, from a running service's status."""
    from borderwatch.feeds.status import now_iso, write_status

    store = env
    token = sources.add("pol_map", "POL", "owner", store=store)
    svc = FeedService(store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, watch_enabled=False,
                                        batch_ms=50)).start()
    try:
        ids = [uid("polmap") for _ in range(3)]
        _send(svc.ports["json-tcp"], token, ids)
        with socket.create_connection(("127.0.0.1", svc.ports["json-tcp"]), timeout=5) as s:
            s.sendall(b'{"token": "bwfs_wrong"}\n')
            s.recv(1)
        assert wait_until(lambda: sum(stored(store, [f"json:{i}" for i in ids]).values()) == 3, 10)
        assert svc.wait_idle()
        status = svc.status()
    finally:
        svc.stop()
    stop = threading.Event()

    def heartbeat():  # the stopped service's last status, kept fresh as a running service keeps it
        while not stop.wait(0.5):
            write_status(store, status | {"state": "running", "updated_at": now_iso()})

    write_status(store, status | {"state": "running", "updated_at": now_iso()})
    beating = threading.Thread(target=heartbeat, daemon=True)
    beating.start()
    lines = {}
    try:
        for name, nation, role in (("pol-map-viewer", "POL", "viewer"), ("deu-map-viewer", "DEU", "viewer"),
                                   ("map-admin", "DEU", "admin")):
            at = sign_in(AppTest.from_file(str(ROOT / "app.py"), default_timeout=180), store, name=name,
                         nation=nation, role=role).run()
            assert not at.exception, at.exception
            lines[nation if role == "viewer" else "admin"] = next(
                c.value for c in at.caption if "Live feeds" in c.value).replace("\\", "")
    finally:
        stop.set()
        beating.join(5)
    assert "last event" in lines["POL"] and "no event yet" in lines["DEU"]
    assert not any("rejected" in lines[n] or "client(s)" in lines[n] for n in ("POL", "DEU"))
    assert "rejected" in lines["admin"] and "wrong token" in lines["admin"]
