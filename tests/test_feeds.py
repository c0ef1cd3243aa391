"""Live feeds: CoT parsing and mapping on real client messages, real TCP / UDP / JSON-lines / folder
round trips, hostile input, idempotency, the journal, and crash-and-restart of the service."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import queries
from borderwatch.feeds import cot, cotstream, jsonfeed, read_status
from borderwatch.feeds import journal as journal_mod
from borderwatch.feeds.records import Ignored, Rejected
from borderwatch.feeds.service import FeedConfig, FeedService
from borderwatch.filters import Filter

from conftest import REALDATA, ROOT
from feed_helpers import DECL, EL_PASO, _certs, iso, now_utc, event, uid, wait_until, stored, rows_by_id, send_tcp, send_udp, split_randomly, journal_failing_once  # noqa: F401

COT_DIR = REALDATA / "cot"

# -- client messages the tests write themselves --------------------------------------------------
# Written in the shapes the common TAK clients produce (attribute quoting, line breaks, element
# order, extra elements), so the same behaviours are tested with or without the real captures.
BUILT = {
    # GeoChat from a web client: chat element with a group, a link to the sender
    "chat": b"""<event version="2.0" uid="GeoChat.WEB-7.Ops.5b1e" type="b-t-f" how="h-g-i-g-o" time="2025-03-01T08:00:05Z" start="2025-03-01T08:00:06Z" stale="2025-03-02T08:00:06Z" access="Undefined">
    <point lat="52.2297" lon="21.0122" hae="101.5" ce="9999999" le="9999999"/>
    <detail>
        <__chat id="Ops" chatroom="Ops" senderCallsign="KILO-3" groupOwner="false" messageId="5b1e">
            <chatgrp id="Ops" uid0="ANDROID-kilo3" uid1="Ops"/>
        </__chat>
        <link uid="ANDROID-kilo3" type="a-f-G-U-C-I" relation="p-p"/>
        <remarks source="BAO.F.ATAK.ANDROID-kilo3" time="2025-03-01T08:00:05Z">crossing point quiet</remarks>
    </detail>
</event>""",
    # ATAK emergency, single quotes, a line break (&#10;) inside the callsign
    "emergency": b"""<event version='2.0' uid='emg-61a0-44c2' type='b-a-o' time='2025-05-10T22:14:03.250Z' start='2025-05-10T22:14:03.250Z' stale='2025-05-10T22:29:03.250Z' how='h-e' access='Undefined'>
  <point lat='52.0731' lon='23.6544' hae='142.0' ce='12.5' le='3.0' />
  <detail>
    <link uid='ANDROID-watch-12' type='a-f-G-U-C' relation='p-p'/>
    <contact callsign='PL-East&#10;Manual Alert: Shots fired'/>
    <emergency type='Manual Alert: Shots fired'>PL-East</emergency>
    <color argb='-1'/>
  </detail>
</event>""",
    # iTAK position report: one line, upper-case uid, takv, group, track
    "itak": b'<event version="2.0" uid="7D1F3C2A-0B9E-4E55-9C61-2A6B1F0D9E44" type="a-f-G-U-C" time="2025-06-01T10:15:00.00Z" start="2025-06-01T10:15:00.00Z" stale="2025-06-01T10:17:00.00Z" how="m-g"><point lat="31.7702" lon="-106.4901" hae="1140.2" ce="9999999" le="9999999" /><detail><contact callsign="BRAVO-2" endpoint="*:-1:stcp" /><uid Droid="BRAVO-2" /><__group name="Cyan" role="Team Lead" /><status battery="81" /><takv device="iPhone" platform="iTAK" os="18.1" version="2.12.0" /><track speed="1.40000000" course="92.50000000" /></detail></event>',
    # spot report marker: empty remarks, unknown hae/ce/le as 9999999.0
    "spotted": b"""<event version='2.0' uid='spot-8c4e-11f0' type='b-m-p-s-m' time='2025-02-11T14:02:17.100Z' start='2025-02-11T14:02:17.100Z' stale='2025-03-01T14:02:17.100Z' how='h-g-i-g-o'>
      <point lat='41.7104' lon='26.3370' hae='9999999.0' ce='9999999.0' le='9999999.0' />
      <detail>
        <status readiness='true'/>
        <archive/>
        <link uid='ANDROID-evros-4' production_time='2025-02-11T14:01:50.000Z' type='a-f-G-U-C' parent_callsign='EVROS 4' relation='p-p'/>
        <contact callsign='S 7'/>
        <remarks></remarks>
        <usericon iconsetpath='COT_MAPPING_SPOTMAP/b-m-p-s-m/-65536'/>
      </detail>
    </event>""",
    # UAS ground station: version "2", no `how`, the point after the detail, sensor, _flow-tags_
    "uas": b'<event version="2" uid="UAS-77QX2" type="a-f-A-M-H-Q" time="2025-04-20T09:30:12.500Z" start="2025-04-20T09:30:12.500Z" stale="2025-04-20T09:30:16.000Z" > <detail> <track course="210.0" slope="0" speed="4" > </track> <sensor elevation="-30" vfov="40" north="0" roll="0" range="250" azimuth="210" model="Quadcopter" fov="65" type="r-e" > </sensor> <link uid="ANDROID-gcs-1" type="a-f-G-U-C" relation="p-p" > </link> <_flow-tags_ TAK-Server-0a1b2c="2025-04-20T09:30:12Z" > </_flow-tags_> </detail> <point lat="60.8741" lon="28.1183" ce="0" hae="95.0" le="0" > </point></event>',
    # dispatch gateway: multi-line remarks, nested _flow-tags_ child element
    "newlines": b"""<event version="2.0" uid="dispatch-9-1204" type="a-f-G" how="m-g" time="2025-01-15T06:45:00Z" start="2025-01-15T06:45:00.250Z" stale="2025-01-15T06:50:00.250Z"><point lat="36.0143" lon="-5.6040" hae="0.0" ce="9999999.0" le="9999999.0"/><detail><contact callsign="UNIT 12"/><remarks>Call ID: 4471
Dispatch Number: 20250115-0031
Unit: 12
Status: En route</remarks><_flow-tags_ TAK-Server-0a1b2c="2025-01-15T06:45:00Z"><Gateway-2.1>2025-01-15T06:45:00.250Z</Gateway-2.1></_flow-tags_></detail></event>""",
    # WinTAK: attributes split over lines, single quotes
    "wintak": b"""<event version='2.0' uid='wintak-hq-3' type='a-f-G-E-V-C'
 time='2025-07-04T12:00:01.000Z' start='2025-07-04T12:00:01.000Z'
 stale='2025-07-04T12:00:31.000Z' how='h-e'>
<point lat='46.1822' lon='20.1010' hae='80.5' ce='9999999.0' le='9999999.0'/>
<detail>
<contact callsign='Szeged HQ' endpoint='10.0.0.5:4242:tcp'/>
<__group name='Blue' role='HQ'/>
<takv platform='WinTAK-CIV' device='DESKTOP' os='Windows 11' version='5.0.0'/>
</detail></event>""",
}
# key -> (uid, type, time, lat, lon, ce, how, outcome)
BUILT_EXPECTED = {
    "chat": ("GeoChat.WEB-7.Ops.5b1e", "b-t-f", "2025-03-01T08:00:05", 52.2297, 21.0122, None, "h-g-i-g-o", "ignored:chat"),
    "emergency": ("emg-61a0-44c2", "b-a-o", "2025-05-10T22:14:03.250000", 52.0731, 23.6544, 12.5, "h-e", ("armed_incursion", 4)),
    "itak": ("7D1F3C2A-0B9E-4E55-9C61-2A6B1F0D9E44", "a-f-G-U-C", "2025-06-01T10:15:00", 31.7702, -106.4901, None, "m-g",
             "ignored:friendly"),
    "spotted": ("spot-8c4e-11f0", "b-m-p-s-m", "2025-02-11T14:02:17.100000", 41.7104, 26.3370, None, "h-g-i-g-o", ("other", 2)),
    "uas": ("UAS-77QX2", "a-f-A-M-H-Q", "2025-04-20T09:30:12.500000", 60.8741, 28.1183, 0.0, None, "ignored:friendly"),
    "newlines": ("dispatch-9-1204", "a-f-G", "2025-01-15T06:45:00", 36.0143, -5.6040, None, "m-g", "ignored:friendly"),
    "wintak": ("wintak-hq-3", "a-f-G-E-V-C", "2025-07-04T12:00:01", 46.1822, 20.1010, None, "h-e", "ignored:friendly"),
}

# -- real client messages (../shared/realdata/cot), when present ---------------------------------
REAL_EXPECTED = {
    "nodecot__chat__334b766c2a.xml": ("f77dae64-3573-4dae-8447-c0c7a0219d7a", "b-t-f-r", "2026-07-02T16:19:28",
                                      49.2695677890608, -123.112677849291, None, "h-g-i-g-o", "ignored:chat"),
    "nodecot__cot-emergency__4f155b30e2.xml": ("17eaa1c4-e137-4328-b5e4-294d2a7fd01d", "b-a-o", "2026-02-04T13:40:15.895000",
                                               41.8838397, -87.6590334, 17.75, "h-e", ("armed_incursion", 4)),
    "nodecot__cot-itak__0efd12626f.xml": ("C94B9215-9BD4-4DBE-BDE1-83625F09153F", "a-f-G-E-V-C", "2023-07-18T15:23:09",
                                          41.52309645, -107.72376567, None, "m-g", "ignored:friendly"),
    "nodecot__cot-spotted__4cdba3c3d5.xml": ("9405e320-9356-41c4-8449-f46990aa17f8", "b-m-p-s-m", "2020-12-16T19:59:34.913000",
                                             38.85606343062312, -77.0563755018233, None, "h-g-i-g-o", ("other", 2)),
    "nodecot__cot-uas-tool__ca5c1cb5b6.xml": ("2983J8B001V013", "a-f-A-M-H-Q", "2024-04-24T16:37:38.002000",
                                              39.1, -108.6, 0.0, None, "ignored:friendly"),
    "nodecot__newlines__78b1bb4eb4.xml": ("layer-35-4707", "a-f-G", "2024-06-07T15:28:48",
                                          39.1, -105.1, None, "m-g", "ignored:friendly"),
    "pytak__test_takmsg2xml__6e1748258e.xml": ("aa0b0312", "a-f-G-E-V-C", "2020-02-08T18:10:44",
                                               43.97957317, -66.07737696, None, "h-e", "ignored:friendly"),
}
# the real file showing each client style, by the key of the built message in the same style
REAL_STYLE = {"chat": "nodecot__chat__334b766c2a.xml", "emergency": "nodecot__cot-emergency__4f155b30e2.xml",
              "itak": "nodecot__cot-itak__0efd12626f.xml", "spotted": "nodecot__cot-spotted__4cdba3c3d5.xml",
              "uas": "nodecot__cot-uas-tool__ca5c1cb5b6.xml", "newlines": "nodecot__newlines__78b1bb4eb4.xml",
              "wintak": "pytak__test_takmsg2xml__6e1748258e.xml"}


def real(name: str) -> bytes:
    """A real capture, or a skip naming the missing file."""
    path = COT_DIR / name
    if not path.is_file():
        pytest.skip(f"real CoT capture {path} is missing (../shared/realdata is not beside the repository)")
    return path.read_bytes()


def samples() -> dict[str, bytes]:
    """Every client message available: the built ones, plus the real captures when present."""
    out = dict(BUILT)
    if COT_DIR.is_dir():
        out.update({p.name: p.read_bytes() for p in sorted(COT_DIR.glob("*.xml"))})
    return out


def sample(source: str, key: str) -> tuple[bytes, tuple]:
    """(message, expected) for the built message ``key`` or the real capture in its style."""
    if source == "built":
        return BUILT[key], BUILT_EXPECTED[key]
    name = REAL_STYLE[key]
    return real(name), REAL_EXPECTED[name]


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _running(feed_store, tmp_path_factory):
    holder = {"config": FeedConfig(cot_tcp=0, cot_udp=0, json_tcp=0, json_open=True, batch_ms=50,
                                   watch=tmp_path_factory.mktemp("inbox"), watch_open=True, poll_s=0.05),
              "svc": None}
    yield holder
    if holder["svc"] is not None:
        holder["svc"].stop()


@pytest.fixture
def service(feed_store, _running) -> FeedService:
    """The in-process service on the module's store (restarted if a test stopped it)."""
    other = _running.get("tls")
    if other is not None and not other.stopping.is_set():
        other.stop()  # one service per store
    if _running["svc"] is None or _running["svc"].stopping.is_set():
        _running["svc"] = FeedService(feed_store, _running["config"]).start()
    return _running["svc"]


def mark(svc: FeedService) -> int:
    """The service's count of messages received so far (taken before sending)."""
    return svc.stats.counts["received"]


def settle(svc: FeedService, since: int | None = None, n: int = 0) -> None:
    """Wait until ``n`` more messages than ``since`` were received, and everything accepted is stored."""
    if since is not None:
        assert wait_until(lambda: svc.stats.counts["received"] >= since + n, 10), \
            f"{since + n - svc.stats.counts['received']} message(s) never arrived"
    assert svc.wait_idle(10), "the service did not commit what it accepted"


def last_rejects(svc: FeedService, n: int) -> list[str]:
    return [r["reason"] for r in list(svc.stats.rejects)[-n:]]


def test_every_real_file_is_covered():
    if not COT_DIR.is_dir():
        pytest.skip(f"real CoT captures {COT_DIR} are missing (../shared/realdata is not beside the repository)")
    assert {p.name for p in COT_DIR.glob("*.xml")} == set(REAL_EXPECTED)


SOURCES = ["built", "real"]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("key", sorted(BUILT))
def test_client_messages_parse_and_map(source, key):
    raw, expected = sample(source, key)
    ev_uid, ev_type, ev_time, lat, lon, ce, how, outcome = expected
    ev = cot.parse_event(raw)
    assert (ev.uid, ev.type, ev.how) == (ev_uid, ev_type, how)
    assert ev.time == dt.datetime.fromisoformat(ev_time)
    assert ev.lat == pytest.approx(lat) and ev.lon == pytest.approx(lon)
    assert ev.ce == ce  # 9999999 (unknown) becomes None
    assert ev.start is not None and ev.stale is not None and ev.stale >= ev.start
    if isinstance(outcome, str):
        with pytest.raises(Ignored) as info:
            cot.to_incident(ev)
        assert "not an incident report" in info.value.reason
        assert {"ignored:chat": "chat", "ignored:friendly": "friendly"}[outcome] in info.value.reason
    else:
        rec = cot.to_incident(ev)
        assert (rec["threat_type"], rec["severity"]) == outcome
        assert rec["incident_id"] == f"cot:{ev_uid}"
        assert rec["occurred_at"].startswith(ev_time[:19])
        assert rec["location_error_m"] == ce
        assert (rec["lat"], rec["lon"]) == (pytest.approx(lat), pytest.approx(lon))


DETAILS = {  # key -> (built value, real value)
    "itak": (("iTAK", "BRAVO-2"), ("iTAK", "DFPC-iSchmidt")),
    "wintak": (("WinTAK-CIV", "Szeged HQ"), ("WinTAK-CIV", "Eliopoli HQ")),
    "newlines": (["Call ID: 4471", "Dispatch Number: 20250115-0031"],
                 ["Incident ID: 6841390", "Master Incident Number: 05242024-0253042"]),
    "emergency": ("Shots fired", "Gunshot"),
}


@pytest.mark.parametrize("source", SOURCES)
def test_client_message_details(source):
    pick = 0 if source == "built" else 1
    itak = cot.parse_event(sample(source, "itak")[0])
    assert (itak.platform, itak.callsign) == DETAILS["itak"][pick]
    wintak = cot.parse_event(sample(source, "wintak")[0])
    assert (wintak.platform, wintak.callsign) == DETAILS["wintak"][pick]
    multiline = cot.parse_event(sample(source, "newlines")[0])  # remarks over several lines, _flow-tags_
    assert multiline.remarks.splitlines()[:2] == DETAILS["newlines"][pick]
    uas = cot.parse_event(sample(source, "uas")[0])  # no `how`, point after detail
    assert uas.how is None and uas.has_sensor and uas.version == "2"
    emergency = cot.to_incident(cot.parse_event(sample(source, "emergency")[0]))
    assert DETAILS["emergency"][pick] in emergency["description"]  # the emergency text is what makes it armed
    spot = cot.parse_event(sample(source, "spotted")[0])
    assert spot.remarks is None and spot.hae is None  # empty remarks, unknown height
    chat = cot.parse_event(sample(source, "chat")[0])
    assert chat.type.startswith("b-t-f")


@pytest.mark.parametrize("source", SOURCES)
def test_borderwatch_detail_extension_makes_any_report_precise(source):
    raw = sample(source, "itak")[0].replace(
        b"<detail>", b'<detail><borderwatch threat="smuggling" severity="3" confidence="0.9" nation="usa" '
                     b'source="patrol" description="Two mules with backpacks"/>')
    rec = cot.to_incident(cot.parse_event(raw))
    assert (rec["threat_type"], rec["severity"], rec["confidence"], rec["reporting_nation"]) == ("smuggling", 3, 0.9, "USA")
    assert rec["description"] == "Two mules with backpacks" and rec["location_error_m"] is None
    bad = raw.replace(b'threat="smuggling"', b'threat="aliens"')
    with pytest.raises(Rejected, match="unknown threat type"):
        cot.to_incident(cot.parse_event(bad))


@pytest.mark.parametrize("cot_type, remarks, expected", [
    ("a-h-A-M-F-Q", "", ("drone_incursion", 3)),
    ("a-u-A-C-F", "", ("drone_incursion", 2)),
    ("a-h-G-U-C-I", "", ("armed_incursion", 4)),
    ("a-s-G-E-W-R", "", ("armed_incursion", 3)),
    ("a-h-G", "", ("illegal_crossing", 3)),
    ("a-u-G", "", ("illegal_crossing", 2)),
    ("a-U-G", "", ("illegal_crossing", 2)),  # upper-case affiliation: an unknown ground track
    ("a-H-A", "", ("drone_incursion", 3)),
    ("a-h-G-E-V-C", "pickup loaded with cocaine", ("drug_trafficking", 3)),
    ("a-s-S", "boat with cigarettes contraband", ("smuggling", 2)),
    ("b-m-p-s-m", "fake passports found", ("document_fraud", 2)),
    ("b-a-o-opn", "", ("armed_incursion", 4)),
    ("b-a-o-tbl", "", ("other", 4)),
    ("b-a-g", "", ("illegal_crossing", 3)),
    ("b-r-f-h-c", "", ("other", 3)),
    ("b-a-o-can", "", "emergency cancelled"),
    ("b-t-f", "hello", "chat message"),
    ("t-x-c-t", "", "control"),
    ("a-f-G-U-C", "crossing", "friendly"),
    ("u-d-f", "", "no incident mapping"),
])
def test_cot_mapping_table(cot_type, remarks, expected):
    detail = f"<remarks>{remarks}</remarks>" if remarks else ""
    ev = cot.parse_event(event("m-1", cot_type, detail=detail))
    if isinstance(expected, str):
        with pytest.raises(Ignored, match=expected):
            cot.to_incident(ev)
    else:
        rec = cot.to_incident(ev)
        assert (rec["threat_type"], rec["severity"]) == expected


def test_control_messages_at_0_0_are_ignored_not_rejected():
    with pytest.raises(Ignored):
        cot.parse_incident(event("ping", "t-x-c-t", lat=0, lon=0))


# -- the stream splitter -------------------------------------------------------------------------
def test_splitter_cuts_back_to_back_events_whatever_the_packet_boundaries():
    msgs = [m.strip() for m in samples().values()]
    msgs.append(b"<!-- a comment with </event> inside -->" + event("c1", detail="<remarks><![CDATA[</event> <event>]]></remarks>"))
    stream = b"".join((DECL if i % 2 else b"") + m + b"\r\n" for i, m in enumerate(msgs))
    rng = random.Random(5)
    for _ in range(30):
        sp = cotstream.CotStreamSplitter()
        out = []
        for chunk in split_randomly(stream, rng):
            out += sp.feed(chunk)
        out += sp.close()
        assert [r for _, r in out if r] == []
        assert len(out) == len(msgs)
        parsed = [cot.parse_event(m) for m, _ in out]
        assert [p.uid for p in parsed] == [cot.parse_event(m).uid for m in msgs]


def test_splitter_recovers_after_broken_fragments_and_bounds_memory():
    good = [event(f"g{i}") for i in range(4)]
    stream = (good[0] + b"garbage between events " + b'<event uid="cut" type="a-h-G"><point lat="1" lon="2"/><deta'
              + DECL + good[1] + b"</orphan>" + good[2]
              + b'<event uid="big"><detail><remarks>' + b"x" * 200_000 + b"</remarks></detail></event>" + good[3])
    sp = cotstream.CotStreamSplitter(max_bytes=64 * 1024)
    out, peak = [], 0
    for chunk in split_randomly(stream, random.Random(1), sizes=(512, 4096, 65536)):
        out += sp.feed(chunk)
        peak = max(peak, sp.pending_bytes)
    out += sp.close()
    assert [cot.parse_event(m).uid for m, _ in out if m] == ["g0", "g1", "g2", "g3"]
    reasons = [r for _, r in out if r]
    assert len(reasons) == 4
    assert any("outside any event" in r for r in reasons)
    assert any("malformed XML" in r for r in reasons)
    assert any("closing tag with no open element" in r for r in reasons)
    assert any("oversized" in r for r in reasons)
    assert peak <= 64 * 1024 + 65536


# -- round trips through the running service -------------------------------------------------------
def test_tcp_stream_round_trip(service, feed_store):
    ids = [uid("tcp") for _ in range(12)]
    stream = b"".join((DECL if i % 3 == 0 else b"") + event(u, detail="<remarks>group crossing</remarks>") + b"\n"
                      for i, u in enumerate(ids))
    m = mark(service)
    send_tcp(service.ports["cot-tcp"], split_randomly(stream, random.Random(2)), pause=0.0005)
    settle(service, m, len(ids))
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}
    row = rows_by_id(feed_store, [f"cot:{ids[0]}"])[f"cot:{ids[0]}"]
    assert (row["threat_type"], row["segment_id"], row["dataset"], row["location_error_m"]) == \
        ("illegal_crossing", "MEX-USA", "feed:cot", 25.0)


def test_udp_round_trip_with_real_messages(service, feed_store):
    ids = [uid("udp") for _ in range(5)]
    m = mark(service)
    clients = samples()
    send_udp(service.ports["cot-udp"], [DECL + event(u, "a-h-A-M-H-Q") for u in ids] + list(clients.values()))
    reports = [f"cot:{e[0]}" for e in list(BUILT_EXPECTED.values()) + list(REAL_EXPECTED.values())
               if not isinstance(e[-1], str)]
    wanted = [f"cot:{u}" for u in ids] + [r for r in reports if any(r[4:].encode() in m for m in clients.values())]
    settle(service, m, len(ids) + len(clients))
    assert stored(feed_store, wanted) == {i: 1 for i in wanted}
    rows = rows_by_id(feed_store, wanted)
    assert rows[f"cot:{ids[0]}"]["threat_type"] == "drone_incursion"
    # friendly positions are patrol positions, chat is ignored: neither becomes an incident
    assert not stored(feed_store, ["cot:wintak-hq-3", "cot:GeoChat.WEB-7.Ops.5b1e", "cot:aa0b0312"])
    assert service.status()["counts"]["ignored"] >= 1
    # (these captures are older than the 24 h of positions kept: stored, then pruned; see the patrol tests)


def test_json_lines_over_tcp(service, feed_store):
    t = iso(now_utc() - dt.timedelta(minutes=1))
    ids = [uid("js") for _ in range(3)]
    lines = [json.dumps({"id": i, "time": t, "lat": 41.3, "lon": 26.6, "threat_type": "human_trafficking",
                         "severity": 3, "source": "thermal_camera", "reporting_nation": "GRC",
                         "location_error_m": 40, "description": "van with 14 persons"}).encode() for i in ids]
    bad = [b'{"id": "x", "time": "' + t.encode() + b'", "lat": NaN, "lon": 1, "threat_type": "smuggling"}',
           b'{"id": "y", "id": "z", "time": "' + t.encode() + b'", "lat": 1, "lon": 1, "threat_type": "smuggling"}',
           b"[1, 2]", b"{not json"]
    stream = b"\r\n".join([lines[0], bad[0], lines[1], bad[1], bad[2], bad[3], lines[2]]) + b"\n"
    m = mark(service)
    send_tcp(service.ports["json-tcp"], split_randomly(stream, random.Random(3)), pause=0.0005)
    settle(service, m, 7)
    got = rows_by_id(feed_store, [f"json:{i}" for i in ids])
    assert set(got) == {f"json:{i}" for i in ids}
    row = got[f"json:{ids[0]}"]
    assert (row["threat_type"], row["severity"], row["source"], row["reporting_nation"], row["segment_id"]) == \
        ("human_trafficking", 3, "thermal_camera", "GRC", "GRC-TUR")
    reasons = last_rejects(service, 4)
    assert any("not a number JSON allows" in r for r in reasons)
    assert any("duplicate key" in r for r in reasons)
    assert any("expected a JSON object" in r for r in reasons)
    assert any("malformed JSON" in r for r in reasons)


def test_watched_folder(service, feed_store):
    inbox = service.watch_dir
    a, b, c = uid("f"), uid("f"), uid("f")
    t = iso(now_utc() - dt.timedelta(minutes=1))
    (inbox / "patrol.xml.tmp").write_bytes(DECL + event(a) + event(b) + b"<event uid='broken'>")
    os.replace(inbox / "patrol.xml.tmp", inbox / "patrol.xml")  # dropped atomically
    (inbox / "sensors.jsonl").write_text(
        json.dumps({"id": c, "time": t, "lat": 60.9, "lon": 27.9, "threat_type": "smuggling"}) + "\n"
        + json.dumps({"id": "naive", "time": "2026-01-01T00:00:00", "lat": 60.9, "lon": 27.9, "threat_type": "smuggling"}) + "\n")
    (inbox / "array.json").write_text(json.dumps([{"id": c, "time": t, "lat": 60.9, "lon": 27.9, "threat_type": "smuggling"}]))
    (inbox / "notes.txt").write_text("hello")
    assert wait_until(lambda: not [p for p in inbox.iterdir() if p.is_file()], 10), list(inbox.iterdir())
    settle(service, 0, 0)
    assert stored(feed_store, [f"cot:{a}", f"cot:{b}", f"json:{c}"]) == {f"cot:{a}": 1, f"cot:{b}": 1, f"json:{c}": 1}
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["array.json", "patrol.xml", "sensors.jsonl"]
    rejected = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert rejected == ["notes.txt", "notes.txt.rejects.txt", "patrol.xml.rejects.txt", "sensors.jsonl.rejects.txt"]
    assert "no time zone" in (inbox / "rejected" / "sensors.jsonl.rejects.txt").read_text()
    assert "stream ended inside an event" in (inbox / "rejected" / "patrol.xml.rejects.txt").read_text()


# -- hostile and broken input ---------------------------------------------------------------------
XXE_FILE = (b'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<event version="2.0" uid="xxe-%s" type="a-h-G" time="{t}" start="{t}" stale="{t}">'
            b'<point lat="31.7" lon="-106.4" ce="10" hae="0" le="0"/><detail><remarks>&xxe;</remarks></detail></event>')
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
          + b']><event uid="laughs" type="a-h-G" time="{t}"><point lat="1" lon="1"/><detail><remarks>&lol9;</remarks></detail></event>')
PARAM_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>'
                b'<event uid="pe" type="a-h-G" time="{t}"><point lat="1" lon="1"/></event>')


def _hostile(name: str) -> tuple[bytes, str]:
    t = iso(now_utc()).encode()
    cases = {
        "malformed XML": (b'<event uid="m" type="a-h-G" time="' + t + b'"><point lat="1" lon="1"></event>', "malformed XML"),
        "entity expansion": (LAUGHS.replace(b"{t}", t), "DTD/DOCTYPE not allowed"),
        "external entity": (XXE_FILE.replace(b"{t}", t).replace(b"%s", uid("x").encode()), "DTD/DOCTYPE not allowed"),
        "external parameter entity": (PARAM_ENTITY.replace(b"{t}", t), "DTD/DOCTYPE not allowed"),
        "oversized": (event("big", detail="<remarks>" + "A" * 70_000 + "</remarks>"), "oversized message"),
        "missing point": (event(uid("np"), point=False), "no <point>"),
        "missing uid": (event("", drop=("uid",)), "no uid"),
        "missing time": (event(uid("nt"), drop=("time",)), "missing event time"),
        "bad time": (event(uid("bt")).replace(b'time="', b'time="yesterday', 1), "not an ISO 8601 time"),
        "future time": (event(uid("ft"), when=now_utc() + dt.timedelta(days=2)), "in the future"),
        "lat 91": (event(uid("la"), lat=91), "latitude 91 is out of range"),
        "lon 181": (event(uid("lo"), lon=181), "longitude 181 is out of range"),
        "0,0 placeholder": (event(uid("zz"), lat=0, lon=0), "placeholder"),
        "NaN coordinates": (event(uid("nan"), lat="NaN"), "not a finite number"),
        "negative ce": (event(uid("ce"), ce="-5"), "negative"),
        "not an event": (b"<message>hello</message>", "not a CoT <event>"),
    }
    return cases[name]


HOSTILE = ["malformed XML", "entity expansion", "external entity", "external parameter entity", "oversized",
           "missing point", "missing uid", "missing time", "bad time", "future time", "lat 91", "lon 181",
           "0,0 placeholder", "NaN coordinates", "negative ce", "not an event"]


# a 70 kB message cannot travel in one UDP datagram (65,507 bytes at most): TCP only
@pytest.mark.parametrize("case, transport", [(c, t) for c in HOSTILE for t in ("tcp", "udp")
                                             if (c, t) != ("oversized", "udp")])
def test_hostile_input_is_rejected_and_neighbours_survive(service, feed_store, case, transport):
    bad, reason = _hostile(case)
    before, after = uid("before"), uid("after")
    rejected_before = service.stats.counts["rejected"]
    messages = [DECL + event(before), bad, DECL + event(after)]
    m = mark(service)
    if transport == "tcp":
        send_tcp(service.ports["cot-tcp"], split_randomly(b"".join(messages), random.Random(4), sizes=(7, 300, 4096)))
    else:
        send_udp(service.ports["cot-udp"], messages)
    settle(service, m, 3)
    ids = [f"cot:{before}", f"cot:{after}"]
    assert stored(feed_store, ids) == {i: 1 for i in ids}, f"valid neighbours of {case!r} lost"
    assert service.stats.counts["rejected"] == rejected_before + 1
    assert reason in last_rejects(service, 1)[0]
    log_lines = (service.dir / "rejects.log").read_text(encoding="utf-8").splitlines()
    assert reason in json.loads(log_lines[-1])["reason"]


def test_external_entity_never_reads_the_file(service, feed_store):
    u = uid("xxe")
    bad = _hostile("external entity")[0].replace(b'uid="xxe-', b'uid="' + u.encode() + b"-")
    m = mark(service)
    send_tcp(service.ports["cot-tcp"], [bad])
    settle(service, m, 1)
    assert "DTD/DOCTYPE not allowed" in last_rejects(service, 1)[0]
    assert not stored(feed_store, [f"cot:{u}-"])
    assert "root:" not in (service.dir / "rejects.log").read_text(encoding="utf-8")


def test_a_second_listener_process_shares_the_port_and_is_supervised(feed_store, service):
    """--listener-processes 2: the service hands every new CoT TCP connection to a child process
    (its own interpreter journals and writes the store) that parses there and hands journal lines back; nothing lost or duplicated, hostile
    input rejected there too, status truthful about each process, a killed child restarted."""
    service.stop()  # one service per store
    svc = FeedService(feed_store, FeedConfig(cot_tcp=0, cot_udp=None, json_tcp=None, watch_enabled=False,
                                             batch_ms=50, listener_processes=2)).start()
    try:
        assert svc.status()["processes"][1]["alive"]  # listening once the service runs
        port = svc.ports["cot-tcp"]

        def burst(n_conns: int) -> list[str]:
            ids = [[uid("rp") for _ in range(5)] for _ in range(n_conns)]
            socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n_conns)]
            for s, batch in zip(socks, ids):
                s.sendall(b"".join(DECL + event(u) for u in batch[:2]) + _hostile("external entity")[0]
                          + b"".join(DECL + event(u) for u in batch[2:]) + DECL + event(batch[0]))  # one re-send
            for s in socks:
                s.close()
            return [f"cot:{u}" for batch in ids for u in batch]

        rejected = svc.stats.counts["rejected"]
        m = mark(svc)
        ids = burst(16)
        settle(svc, m, 16 * 7)
        assert stored(feed_store, ids) == {i: 1 for i in ids}
        assert svc.stats.counts["rejected"] == rejected + 16
        st = svc.status()
        child = st["processes"][1]
        assert [p["name"] for p in st["processes"]] == ["service", "listener-2"]
        assert child["alive"] and child["pid"] != os.getpid()
        assert child["received"] > 0 and child["rejected"] > 0, "the child was given no connection"
        assert child["received"] == 16 * 7, "the service kept a connection while its child was ready"
        child_rejects = [r for r in svc.stats.rejects if f"(pid {child['pid']})" in r["peer"]]
        assert child_rejects and all("DTD/DOCTYPE not allowed" in r["reason"] for r in child_rejects)
        # the child dies: the service restarts it, says so, and keeps taking events on the port
        old = child["pid"]
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: svc.status()["parts"]["listener-2"]["restarts"] == 1
                          and svc.status()["processes"][1]["alive"]
                          and svc.status()["processes"][1]["pid"] != old, 15)
        m = mark(svc)
        more = burst(8)
        settle(svc, m, 8 * 7)
        assert stored(feed_store, more) == {i: 1 for i in more}
        assert svc.status()["healthy"]
    finally:
        svc.stop()
    assert svc.procs[0].proc.poll() is not None  # no child left behind


def test_broken_tak_protocol_datagrams_are_rejected(service):
    before = service.stats.counts["rejected"]
    send_udp(service.ports["cot-udp"], [b"\xbf\x01\xbf\x12\x34garbage", b"\xbf\x05abc"])
    assert wait_until(lambda: service.stats.counts["rejected"] == before + 2, 5)
    reasons = last_rejects(service, 2)
    assert "TAK protocol message could not be decoded" in reasons[0]
    assert "length 5 but 3 bytes follow" in reasons[1]


@pytest.mark.parametrize("obj, reason", [
    ({"time": "T", "lat": 1, "lon": 1, "threat_type": "smuggling"}, "missing field(s): id"),
    ({"id": "a", "time": "T", "lon": 1, "threat_type": "smuggling"}, "missing field(s): lat"),
    ({"id": "a", "time": "T", "lat": 91, "lon": 1, "threat_type": "smuggling"}, "latitude 91"),
    ({"id": "a", "time": "T", "lat": 1, "lon": -181, "threat_type": "smuggling"}, "longitude -181"),
    ({"id": "a", "time": "T", "lat": 0, "lon": 0, "threat_type": "smuggling"}, "placeholder"),
    ({"id": "a", "time": "T", "lat": "1", "lon": 1, "threat_type": "smuggling", "colour": "red"}, "unknown field(s): colour"),
    ({"id": "a", "time": "T", "lat": 1, "lon": 1, "threat_type": "aliens"}, "unknown threat type"),
    ({"id": "a", "time": "T", "lat": 1, "lon": 1, "threat_type": "smuggling", "severity": 7}, "severity must be"),
    ({"id": "a b", "time": "T", "lat": 1, "lon": 1, "threat_type": "smuggling"}, "id must be"),
    ({"id": "a", "time": "2026-01-01T00:00:00", "lat": 1, "lon": 1, "threat_type": "smuggling"}, "no time zone"),
    ({"id": "a", "time": "T", "lat": True, "lon": 1, "threat_type": "smuggling"}, "latitude is missing or not a number"),
])
def test_json_validation(obj, reason):
    t = iso(now_utc() - dt.timedelta(minutes=1))
    obj = {k: (t if v == "T" else v) for k, v in obj.items()}
    with pytest.raises(Rejected) as info:
        jsonfeed.parse_line(json.dumps(obj).encode())
    assert reason in info.value.reason


def test_json_line_splitter_skips_oversized_lines_without_buffering():
    sp = jsonfeed.LineSplitter(max_bytes=1000)
    out = sp.feed(b'{"a": 1}\n' + b"x" * 5000)
    assert sp.pending_bytes == 0
    out += sp.feed(b"yyy\n{\"b\": 2}\n")
    assert [m for m, _ in out if m] == [b'{"a": 1}', b'{"b": 2}']
    assert [r for _, r in out if r][0].startswith("oversized message (5,004 bytes")


def test_connection_limit(service):
    old = service.config.max_connections
    service.config.max_connections = 2
    socks = []
    try:
        socks = [socket.create_connection(("127.0.0.1", service.ports["cot-tcp"]), timeout=5) for _ in range(3)]
        assert wait_until(lambda: any("connection refused" in r for r in last_rejects(service, 3)), 5)
        closed = 0
        for s in socks:
            s.settimeout(0.3)
            try:
                closed += s.recv(16) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass  # still open
        assert closed == 1
    finally:
        service.config.max_connections = old
        for s in socks:
            s.close()


def test_service_keeps_running_with_many_clients(service, feed_store):
    """Slow and idle clients, half-sent events and abrupt disconnects do not block others."""
    idle = [socket.create_connection(("127.0.0.1", service.ports["cot-tcp"]), timeout=5) for _ in range(5)]
    try:
        idle[0].sendall(b'<event uid="half" type="a-h-G"><point lat=')  # never finished
        idle[1].sendall(DECL[:20])
        ids = [uid("busy") for _ in range(20)]
        m = mark(service)
        send_tcp(service.ports["cot-tcp"], [event(u) for u in ids])
        settle(service, m, len(ids))
        assert len(stored(feed_store, [f"cot:{u}" for u in ids])) == 20
        assert wait_until(lambda: service.status()["connections"] >= 5, 5)
    finally:
        for s in idle:
            s.close()
    assert wait_until(lambda: service.status()["connections"] == 0, 5)
    assert any("stream ended inside an event" in r for r in last_rejects(service, 5))


# -- idempotency ---------------------------------------------------------------------------------
def test_resends_are_idempotent_first_one_wins(service, feed_store):
    u = uid("dup")
    first = event(u, "a-h-G", detail="<remarks>first</remarks>")
    second = event(u, "a-h-A", detail="<remarks>second</remarks>", when=now_utc())
    dups_before = service.stats.counts["duplicates"]
    m = mark(service)
    send_tcp(service.ports["cot-tcp"], [first])
    settle(service, m, 1)
    send_tcp(service.ports["cot-tcp"], [second, first])
    send_udp(service.ports["cot-udp"], [first])
    j = json.dumps({"id": u, "time": iso(now_utc()), "lat": 1.5, "lon": 1.5, "threat_type": "smuggling"}).encode()
    send_tcp(service.ports["json-tcp"], [j + b"\n", j + b"\n"])
    settle(service, m, 1 + 4)
    assert service.stats.counts["duplicates"] == dups_before + 4
    assert stored(feed_store, [f"cot:{u}", f"json:{u}"]) == {f"cot:{u}": 1, f"json:{u}": 1}
    row = rows_by_id(feed_store, [f"cot:{u}"])[f"cot:{u}"]
    assert row["threat_type"] == "illegal_crossing" and "first" in row["description"]


# -- status and the live map ---------------------------------------------------------------------
def test_status_for_the_app(service, feed_store):
    m = mark(service)
    send_tcp(service.ports["cot-tcp"], [event(uid("st"))])
    settle(service, m, 1)
    service.write_status()
    st = read_status(feed_store)
    assert st["state"] == "running" and st["running"] is True
    assert {l["name"] for l in st["listeners"]} == {"cot-tcp", "cot-udp", "json-tcp", "folder"}
    assert all(l["port"] > 0 for l in st["listeners"] if l["protocol"] != "folder")
    assert st["last_event_at"] and st["events_per_minute"] > 0 and len(st["per_minute"]) == 5
    for key in ("received", "accepted", "stored", "duplicates", "rejected", "ignored", "pending"):
        assert key in st["counts"]
    assert st["counts"]["rejected"] == len(st["rejects"]) or len(st["rejects"]) == 20
    assert st["caught_up"] is True and st["store_error"] is None


def test_status_badge(service, feed_store):
    from borderwatch.feeds.status import describe

    service.write_status()
    level, text = describe(read_status(feed_store))
    assert level in ("ok", "warn") and text.startswith("Live feeds running") and "/min" in text
    assert describe(read_status(feed_store.path / "nowhere"))[0] == "down"


def test_read_status_without_a_service(tmp_path):
    assert read_status(tmp_path)["state"] == "not started"
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "status.json").write_text(json.dumps({"state": "running", "updated_at": "2020-01-01T00:00:00Z"}))
    st = read_status(tmp_path)
    assert st["state"] == "unresponsive" and st["running"] is False


def test_live_map_query_sees_ingested_incidents(service, feed_store):
    since = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) - dt.timedelta(seconds=2)
    u = uid("live")
    t0 = time.monotonic()
    send_tcp(service.ports["cot-tcp"], [event(u, when=now_utc())])
    seen = wait_until(lambda: f"cot:{u}" in set(queries.df("new_incidents", Filter(window="24h"), store=feed_store,
                                                           since=since, max_rows=500).incident_id), 10, step=0.01)
    assert seen, "an ingested incident must reach the live map's query"
    assert time.monotonic() - t0 < 3.0


# -- simulate ------------------------------------------------------------------------------------
def test_simulate_sends_realistic_traffic(service, feed_store):
    from borderwatch.feeds.simulate import Simulator

    before = dict(service.stats.counts)
    sim = Simulator(feed_store, cot_tcp=f"127.0.0.1:{service.ports['cot-tcp']}",
                    cot_udp=f"127.0.0.1:{service.ports['cot-udp']}", json_tcp=f"127.0.0.1:{service.ports['json-tcp']}",
                    units=4, seed=3)
    summary = sim.run(rate=400, duration=10, count=120)
    assert summary["sent"] == 120 and summary["by_channel"]["cot-tcp"] > 0 and summary["by_channel"]["json-tcp"] > 0
    settle(service, before.get("received", 0), 120)
    counts = service.stats.counts
    assert counts["rejected"] == before.get("rejected", 0), last_rejects(service, 3)
    assert counts["accepted"] > before.get("accepted", 0)
    assert counts["ignored"] > before.get("ignored", 0)  # position reports and chat


# -- journal -------------------------------------------------------------------------------------
def test_journal_torn_tail_and_corrupt_line_are_skipped(tmp_path):
    d = tmp_path / "journal"
    d.mkdir()
    lines = [journal_mod.encode({"n": i}) for i in range(5)]
    corrupt = lines[2][:12] + b"X" + lines[2][13:]
    (d / "00000001.log").write_bytes(lines[0] + lines[1] + corrupt + lines[3] + lines[4][:-7])  # torn tail
    (d / "00000002.log").write_bytes(lines[4])
    items, pos = journal_mod.JournalReader(d).read((1, 0), (2, len(lines[4])), 100)
    assert [r["n"] for _, r in items] == [0, 1, 3, 4]
    assert pos == (2, len(lines[4]))


def test_replay_after_commit_before_checkpoint_is_exactly_once(feed_store, tmp_path):
    """A crash after the store commit but before the checkpoint: the replay re-inserts nothing."""
    from borderwatch.feeds.status import FeedStats
    from borderwatch.feeds.writer import StoreWriter, store_records

    ids = [uid("cp") for _ in range(6)]
    recs = [cot.parse_incident(event(u)) for u in ids]
    for r in recs:
        r["extra"]["channel"] = "cot-tcp"
    d = tmp_path / "journal"
    d.mkdir()
    (d / "00000001.log").write_bytes(b"".join(journal_mod.encode(r) for r in recs))
    assert store_records(feed_store, recs[:4]) == 4  # committed; checkpoint still at the start
    j = journal_mod.Journal(d)
    j.open()
    stats = FeedStats()
    w = StoreWriter(feed_store, j, stats, batch_ms=10)
    w.start()
    assert wait_until(lambda: not w.behind() and stats.counts["stored"] + stats.counts["duplicates"] == 6, 10)
    w.stop()
    j.close()
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}
    assert (stats.counts["stored"], stats.counts["duplicates"], stats.replayed) == (2, 4, 6)
    assert journal_mod.segments(d) == [2]  # the replayed segment is deleted once committed


# -- crash and restart ---------------------------------------------------------------------------
def _start_cli(store_path: pathlib.Path, batch_ms: int) -> subprocess.Popen:
    env = dict(os.environ, BORDERWATCH_STORE=str(store_path), PYTHONPATH=str(ROOT))
    env.pop("BORDERWATCH_NOW", None)
    return subprocess.Popen(
        [sys.executable, "-m", "borderwatch.cli", "feeds", "--cot-tcp", "0", "--cot-udp", "0", "--json-tcp", "0",
         "--json-open", "--batch-ms", str(batch_ms), "--no-watch", "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _running_status(store, proc, timeout=20.0) -> dict:
    def ready():
        st = read_status(store)
        return st if st.get("pid") == proc.pid and st["state"] == "running" else None

    st = wait_until(ready, timeout, step=0.05)
    if not st:
        proc.kill()
        raise AssertionError("service did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])
    return st


def _ports(st: dict) -> dict:
    return {l["name"]: l["port"] for l in st["listeners"] if l.get("port")}


def _send_mixed(ports: dict, ids: list[str], json_ids: list[str]) -> None:
    stream = b"".join((DECL if i % 2 else b"") + event(u) for i, u in enumerate(ids[: len(ids) // 2]))
    send_tcp(ports["cot-tcp"], split_randomly(stream, random.Random(6), sizes=(100, 1000, 5000)))
    send_udp(ports["cot-udp"], [event(u) for u in ids[len(ids) // 2:]])
    t = iso(now_utc() - dt.timedelta(minutes=1))
    send_tcp(ports["json-tcp"], [b"".join(json.dumps({"id": j, "time": t, "lat": 52.1, "lon": 23.6,
                                                      "threat_type": "illegal_crossing"}).encode() + b"\n"
                                          for j in json_ids)])


@pytest.mark.slow
def test_crash_and_restart_loses_and_duplicates_nothing(feed_store, service):
    service.stop()  # one service per store: the in-process one steps aside
    store = feed_store
    ids = [uid("crash") for _ in range(60)]
    json_ids = [uid("crashj") for _ in range(20)]
    want = [f"cot:{u}" for u in ids] + [f"json:{j}" for j in json_ids]

    # 1. events accepted (journalled), then kill -9 before any store commit
    proc = _start_cli(store.path, batch_ms=60_000)
    try:
        ports = _ports(_running_status(store, proc))
        _send_mixed(ports, ids, json_ids)
        assert wait_until(lambda: read_status(store)["counts"]["accepted"] >= len(want), 15, step=0.05), \
            read_status(store)["counts"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert not stored(store, want), "nothing should have been committed yet"

    # 2. restart: the journal is replayed; resend some of the same events as clients would
    proc = _start_cli(store.path, batch_ms=50)
    try:
        ports = _ports(_running_status(store, proc))
        send_tcp(ports["cot-tcp"], [event(u) for u in ids[:10]])
        more = [uid("crash2") for _ in range(40)]
        send_tcp(ports["cot-tcp"], [event(u) for u in more])
        assert wait_until(lambda: read_status(store)["counts"]["accepted"] >= 50, 15, step=0.05)
        # 3. kill -9 again, this time while the store writer is busy
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    want += [f"cot:{u}" for u in more]

    proc = _start_cli(store.path, batch_ms=50)
    try:
        _running_status(store, proc)
        assert wait_until(lambda: len(stored(store, want)) == len(want), 20, step=0.1)
        assert wait_until(lambda: read_status(store)["caught_up"], 10)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    counts = stored(store, want)
    assert set(counts) == set(want) and set(counts.values()) == {1}
    assert read_status(store)["state"] == "stopped"


def test_journal_write_failure_rejects_those_events_and_recovers(tmp_path, monkeypatch):
    j, failed, durable = journal_failing_once(journal_mod, tmp_path / "journal", monkeypatch)
    first = j.submit({"n": 1})
    assert j.wait(first, 5) is False
    second = j.submit({"n": 2})
    assert j.wait(second, 5) is True
    end = j.durable_position()
    j.close()
    assert failed and "No space left on device" in failed[0][1]
    assert [r["n"] for r in durable] == [2]
    items, _ = journal_mod.JournalReader(tmp_path / "journal").read((1, 0), end, 100)
    assert [r["n"] for _, r in items] == [2]  # the unconfirmed record is never replayed


def test_store_outage_is_retried_without_loss(feed_store, tmp_path, monkeypatch):
    from borderwatch.feeds import writer as writer_mod
    from borderwatch.feeds.status import FeedStats

    real = writer_mod.store_records
    calls = {"n": 0}

    def flaky(store, recs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("catalog is locked")
        return real(store, recs)

    monkeypatch.setattr(writer_mod, "store_records", flaky)
    monkeypatch.setattr(writer_mod.StoreWriter, "RETRY_START_S", 0.05, raising=False)
    j = journal_mod.Journal(tmp_path / "journal")
    j.open()
    stats = FeedStats()
    w = writer_mod.StoreWriter(feed_store, j, stats, batch_ms=10)
    w.start()
    ids = [uid("outage") for _ in range(3)]
    for u in ids:
        rec = cot.parse_incident(event(u))
        rec["extra"]["channel"] = "cot-tcp"
        j.submit(rec)
    assert wait_until(lambda: stats.store_error is not None, 5)
    assert wait_until(lambda: stats.counts["stored"] == 3, 15)
    w.stop()
    j.close()
    assert stats.store_error is None and calls["n"] == 3
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}


def test_graceful_stop_commits_everything_accepted(service, feed_store, tmp_path):
    service.stop()
    svc = FeedService(feed_store, FeedConfig(cot_tcp=0, cot_udp=None, json_tcp=None, watch_enabled=False,
                                             batch_ms=60_000)).start()
    try:
        ids = [uid("grace") for _ in range(15)]
        m = mark(svc)
        send_tcp(svc.ports["cot-tcp"], [event(u) for u in ids])
        assert wait_until(lambda: svc.stats.counts["received"] >= m + 15 and svc.stats.counts["accepted"] >= 15, 10)
        assert not stored(feed_store, [f"cot:{u}" for u in ids])  # the next commit is a minute away
    finally:
        svc.stop()
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}
    assert read_status(feed_store)["state"] == "stopped"


def test_command_line_options():
    from borderwatch.cli import build_parser

    args = build_parser().parse_args(["feeds", "--cot-tcp", "0", "--cot-udp", "off", "--json-tcp", "9999",
                                      "--batch-ms", "100", "--nation", "usa"])
    assert (args.cot_tcp, args.cot_udp, args.json_tcp, args.batch_ms, args.bind) == (0, None, 9999, 100, "127.0.0.1")
    args = build_parser().parse_args(["simulate", "--cot-tcp", "8087", "--cot-udp", "off", "--count", "10"])
    assert (args.cot_tcp, args.cot_udp, args.json_tcp, args.count) == ("127.0.0.1:8087", "off", "127.0.0.1:8089", 10)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["feeds", "--cot-tcp", "70000"])


# -- one bad message never stops a listener; supervision; truthful status -------------------------
SURROGATE = b'{"id": "sur", "time": "%s", "lat": 1.5, "lon": 1.5, "threat_type": "smuggling", "description": "bad \\ud800 text"}'
HUGE_INT = b'{"id": "huge", "time": "%s", "lat": 1.5, "lon": 1.5, "threat_type": "smuggling", "severity": ' + b"9" * 5000 + b"}"


def _json_line(ident: str, t: str) -> bytes:
    return json.dumps({"id": ident, "time": t, "lat": 41.3, "lon": 26.6, "threat_type": "smuggling"}).encode()


def test_lone_surrogate_huge_integer_and_bom_reject_only_that_message(service, feed_store):
    t = iso(now_utc() - dt.timedelta(minutes=1))
    a, b, c, d = (uid("js") for _ in range(4))
    lines = [_json_line(a, t), SURROGATE % t.encode(), HUGE_INT % t.encode(),
             b"\xef\xbb\xbf" + _json_line(b, t),  # a line starting with a UTF-8 byte order mark
             _json_line(c, t)]
    m = mark(service)
    send_tcp(service.ports["json-tcp"], [b"\n".join(lines) + b"\n"])
    send_tcp(service.ports["cot-tcp"], [event(d)])  # the other TCP listener keeps reading
    settle(service, m, len(lines) + 1)
    assert stored(feed_store, [f"json:{a}", f"json:{b}", f"json:{c}", f"cot:{d}"]) == \
        {f"json:{a}": 1, f"json:{b}": 1, f"json:{c}": 1, f"cot:{d}": 1}
    reasons = last_rejects(service, 2)
    assert "lone surrogate (\\ud800)" in reasons[0] and "description" in reasons[0]
    assert "more digits than allowed" in reasons[1]
    st = service.status()
    assert st["healthy"] is True and all(p["state"] == "ok" and p["restarts"] == 0 for p in st["parts"].values())
    assert {"tcp", "udp", "watch", "journal", "store-writer", "status"} <= set(st["parts"])


def test_json_defects_are_specific_rejects():
    t = iso(now_utc()).encode()
    with pytest.raises(Rejected, match="lone surrogate"):
        jsonfeed.parse_line(SURROGATE % t)
    with pytest.raises(Rejected, match="more digits than allowed"):
        jsonfeed.parse_line(HUGE_INT % t)
    assert jsonfeed.parse_line(b"\xef\xbb\xbf" + _json_line("bom", t.decode()))["incident_id"] == "json:bom"


def test_watched_folder_file_with_bad_lines_is_handled_once(service, feed_store):
    inbox = service.watch_dir
    t = iso(now_utc() - dt.timedelta(minutes=1))
    good = uid("fs")
    (inbox / "surrogate.jsonl").write_bytes(b"\xef\xbb\xbf" + _json_line(good, t) + b"\n" + (SURROGATE % t.encode()) + b"\n")
    assert wait_until(lambda: not (inbox / "surrogate.jsonl").exists(), 10)
    settle(service, 0, 0)
    assert stored(feed_store, [f"json:{good}"]) == {f"json:{good}": 1}
    assert (inbox / "processed" / "surrogate.jsonl").exists()
    assert "message 2: field 'description' holds a lone surrogate" in \
        (inbox / "rejected" / "surrogate.jsonl.rejects.txt").read_text(encoding="utf-8")


def test_watched_folder_file_that_cannot_be_taken_is_moved_aside(service, monkeypatch):
    inbox = service.watch_dir
    calls = []
    real = service.process_file

    def failing(path):
        calls.append(path.name)
        if path.name == "unreadable.xml":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(service, "process_file", failing)
    (inbox / "unreadable.xml").write_bytes(event(uid("ur")))
    assert wait_until(lambda: (inbox / "rejected" / "unreadable.xml").exists(), 10)
    time.sleep(0.5)  # several polls: no retry
    assert calls.count("unreadable.xml") == 1
    report = (inbox / "rejected" / "unreadable.xml.rejects.txt").read_text(encoding="utf-8")
    assert "file could not be handled: PermissionError" in report and "Permission denied" in report
    assert "file could not be handled" in last_rejects(service, 1)[0]


def test_crashed_listener_is_restarted_and_reported(service, feed_store, monkeypatch):
    from borderwatch.feeds import health as health_mod
    from borderwatch.feeds.status import describe

    monkeypatch.setattr(health_mod, "PAUSE_S", 0.01)
    real = service.handle
    boom = {"n": 0}

    def handle(channel, peer, message, fmt):
        if message == b"CRASH":
            boom["n"] += 1
            raise MemoryError("simulated failure outside message validation")
        return real(channel, peer, message, fmt)

    monkeypatch.setattr(service, "handle", handle)
    send_udp(service.ports["cot-udp"], [b"CRASH"])
    assert wait_until(lambda: service.status()["parts"]["udp"]["restarts"] == 1, 5)
    after = uid("restart")
    m = mark(service)
    send_udp(service.ports["cot-udp"], [event(after)])  # the restarted listener works
    settle(service, m, 1)
    assert stored(feed_store, [f"cot:{after}"]) == {f"cot:{after}": 1}
    st = service.status()
    assert st["parts"]["udp"]["state"] == "ok" and "MemoryError" in st["parts"]["udp"]["last_error"]
    service.write_status()
    level, text = describe(read_status(feed_store))
    assert level == "warn" and "udp ok, restarted 1×" in text and "MemoryError" in text
    # the restart stays visible for this run: reset the counter so later tests see a clean status
    service.health.parts["udp"].update(restarts=0, last_error=None)


def test_part_that_keeps_crashing_fails_the_service(feed_store, service, monkeypatch):
    from borderwatch.feeds import health as health_mod
    from borderwatch.feeds.status import describe

    service.stop()
    monkeypatch.setattr(health_mod, "MAX_RESTARTS", 2)
    monkeypatch.setattr(health_mod, "PAUSE_S", 0.01)
    svc = FeedService(feed_store, FeedConfig(cot_tcp=None, cot_udp=0, json_tcp=None, watch_enabled=False)).start()
    try:
        monkeypatch.setattr(svc, "handle", lambda *a: (_ for _ in ()).throw(MemoryError("always")))
        for _ in range(3):
            send_udp(svc.ports["cot-udp"], [b"x"])
            time.sleep(0.1)
        assert wait_until(lambda: svc.failed, 5)
        svc.write_status()
        st = read_status(feed_store)
        assert st["state"] == "failed" and st["running"] is False and st["healthy"] is False
        assert st["parts"]["udp"]["state"] == "failed"
        level, text = describe(st)
        assert level == "down" and "udp failed" in text
    finally:
        svc.stop()


def test_dead_thread_is_reported(service, feed_store):
    from borderwatch.feeds.status import describe

    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    service.health.register("probe", gone)  # a part whose thread has ended without being stopped
    try:
        service.write_status()
        st = read_status(feed_store)
        assert st["healthy"] is False and st["parts"]["probe"]["state"] == "dead"
        assert describe(st)[0] == "down"
    finally:
        with service.health.lock:
            service.health.parts.pop("probe")
            service.health.threads.pop("probe")


def test_status_is_not_caught_up_while_the_journal_replays(feed_store, service):
    from borderwatch.feeds.status import describe

    service.stop()
    ids = [uid("rp") for _ in range(300)]
    d = service.dir / "journal"
    recs = [cot.parse_incident(event(u)) for u in ids]
    for r in recs:
        r["extra"]["channel"] = "cot-tcp"
    nxt = (journal_mod.segments(d) or [0])[-1] + 1
    journal_mod.segment_path(d, nxt).write_bytes(b"".join(journal_mod.encode(r) for r in recs))
    svc = FeedService(feed_store, FeedConfig(cot_tcp=0, cot_udp=None, json_tcp=None, watch_enabled=False,
                                             batch_ms=1500)).start()
    try:
        st = svc.status()
        assert st["caught_up"] is False and st["replaying"] is True
        svc.write_status()
        level, text = describe(read_status(feed_store))
        assert level == "warn" and "replaying" in text
        assert wait_until(lambda: svc.status()["caught_up"], 20)
        assert svc.status()["replaying"] is False and svc.stats.replayed == 300
    finally:
        svc.stop()
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}


def test_command_exits_non_zero_when_a_part_keeps_failing(feed_store, service, monkeypatch, tmp_path):
    """`borderwatch feeds` stops with exit status 3 when a part is given up."""
    import threading as _t

    from borderwatch.cli.feeds import run as cmd_feeds
    from borderwatch.feeds import health as health_mod
    from borderwatch.cli import build_parser

    service.stop()
    monkeypatch.setenv("BORDERWATCH_STORE", str(feed_store.path))
    monkeypatch.setattr(health_mod, "MAX_RESTARTS", 1)
    monkeypatch.setattr(health_mod, "PAUSE_S", 0.01)
    monkeypatch.setattr(FeedService, "handle", lambda self, *a: (_ for _ in ()).throw(MemoryError("always")))
    args = build_parser().parse_args(["feeds", "--cot-tcp", "off", "--cot-udp", "0", "--json-tcp", "off",
                                      "--no-watch", "--log-level", "ERROR"])

    def sender():
        st = wait_until(lambda: (lambda s: s if s.get("pid") == os.getpid() and s["state"] == "running" else None)(
            read_status(feed_store)), 20, step=0.05)
        port = _ports(st)["cot-udp"]
        for _ in range(10):
            send_udp(port, [b"x"])
            time.sleep(0.1)

    t = _t.Thread(target=sender, daemon=True)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    t.start()
    try:
        assert cmd_feeds(args) == 3
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
    t.join(5)
    assert read_status(feed_store)["state"] == "failed"


# -- TAK protocol version 1 (protobuf), TLS, and a real client library (pytak) -------------------
import asyncio  # noqa: E402
import configparser  # noqa: E402

import takproto  # noqa: E402


def tak_stream(xml: bytes) -> bytes:
    return bytes(takproto.xml2proto(xml, takproto.TAKProtoVer.STREAM))


def tak_mesh(xml: bytes) -> bytes:
    return bytes(takproto.xml2proto(xml, takproto.TAKProtoVer.MESH))


def test_tak_protocol_frames_parse_like_xml():
    xml = event("pb-1", "a-h-G", detail="<remarks>two with cocaine</remarks><track speed='1.5' course='90'/>")
    want = cot.parse_incident(xml)
    for data in (tak_stream(xml), tak_mesh(xml)):
        rec = cot.parse_incident(data)
        assert rec["extra"].pop("wire") == "protobuf"
        assert {k: v for k, v in rec.items() if k != "extra"} == {k: v for k, v in want.items() if k != "extra"}
    ev = cot.parse_event(tak_stream(xml))
    assert (ev.speed, ev.course, ev.callsign) == (1.5, 90.0, "TEST-1")
    with pytest.raises(Rejected, match="DTD/DOCTYPE not allowed|malformed XML"):  # xmlDetail is parsed safely
        m = takproto.functions.xml2message(event("pb-2"))
        m.cotEvent.detail.xmlDetail = '<!DOCTYPE x [<!ENTITY a "b">]><remarks>&a;</remarks>'
        cot.parse_event(takproto.functions.msg2proto(m, takproto.TAKProtoVer.MESH))


def test_tak_stream_frames_mixed_with_xml_whatever_the_packet_boundaries():
    ids = [uid("mix") for _ in range(10)]
    parts = [tak_stream(event(u)) if i % 2 else DECL + event(u) for i, u in enumerate(ids)]
    stream = b"".join(parts)
    for _ in range(10):
        sp = cotstream.CotStreamSplitter()
        out = []
        for chunk in split_randomly(stream, random.Random(_)):
            out += sp.feed(chunk)
        out += sp.close()
        assert [r for _, r in out if r] == []
        assert [cot.parse_event(m).uid for m, _ in out] == ids
    sp = cotstream.CotStreamSplitter(max_bytes=1000)  # an oversized frame is skipped as it streams
    big = b"\xbf" + bytes([0x90, 0x4e]) + b"x" * 10_000  # length 10,000
    out = sp.feed(big[:3000]) + sp.feed(big[3000:]) + sp.feed(parts[1])
    assert sp.pending_bytes < 1000
    assert out[0] == (None, "oversized message (10,000 bytes > limit 1,000)")
    assert cot.parse_event(out[1][0]).uid == ids[1]


def test_ten_tak_stream_frames_over_tcp_are_ten_events(service, feed_store):
    ids = [uid("pbtcp") for _ in range(10)]
    m = mark(service)
    rejected = service.stats.counts["rejected"]
    send_tcp(service.ports["cot-tcp"], split_randomly(b"".join(tak_stream(event(u)) for u in ids), random.Random(8)))
    settle(service, m, 10)
    assert service.stats.counts["rejected"] == rejected
    assert stored(feed_store, [f"cot:{u}" for u in ids]) == {f"cot:{u}": 1 for u in ids}


def pytak_send(url: str, messages: list[bytes], *, proto: int, tls: dict | None = None) -> None:
    """Send CoT XML with the pytak client library (TAK_PROTO=1: it converts to TAK protocol)."""
    import pytak

    async def run():
        cfg = configparser.ConfigParser()
        cfg["pytak"] = {"COT_URL": url, "TAK_PROTO": str(proto), **(tls or {})}
        conf = cfg["pytak"]
        reader, writer = await pytak.protocol_factory(conf)
        tx = pytak.TXWorker(asyncio.Queue(), conf, writer)
        for m in messages:
            await tx.send_data(m)
        if hasattr(writer, "drain"):
            await writer.drain()
        writer.close()
        if hasattr(writer, "wait_closed"):
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # in a thread of its own: another test's library (the browser driver) may keep an event loop
    # running in this thread
    errors = []
    t = threading.Thread(target=lambda: errors.extend(_run_catching(lambda: asyncio.run(run()))))
    t.start()
    t.join(60)
    assert not t.is_alive(), "pytak did not finish"
    if errors:
        raise errors[0]


def _run_catching(fn) -> list:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        return [exc]
    return []


@pytest.fixture(scope="module")
def tls_service(feed_store, tmp_path_factory, _running):
    certs = _certs(tmp_path_factory.mktemp("certs"))
    holder = {"certs": certs, "running": _running}
    yield holder
    if holder.get("svc") is not None:
        holder["svc"].stop()


def _tls_svc(feed_store, tls_service):
    """Stop the module's plain service and run one with every listener including TLS."""
    running = tls_service["running"]
    if tls_service.get("svc") is None or tls_service["svc"].stopping.is_set():
        if running["svc"] is not None:
            running["svc"].stop()
        c = tls_service["certs"]
        tls_service["svc"] = running["tls"] = FeedService(feed_store, FeedConfig(
            cot_tcp=0, cot_udp=0, json_tcp=None, watch_enabled=False, batch_ms=50, cot_tls=0,
            tls_cert=c["server"][0], tls_key=c["server"][1], tls_ca=c["ca"], tls_clients=c["clients"])).start()
    return tls_service["svc"]


def _pytak_tls(c: dict, who: str) -> dict:
    return {"PYTAK_TLS_CLIENT_CERT": c[who][0], "PYTAK_TLS_CLIENT_KEY": c[who][1], "PYTAK_TLS_CLIENT_CAFILE": c["ca"]}


@pytest.mark.parametrize("transport", ["tcp", "udp", "tls"])
@pytest.mark.parametrize("proto", [0, 1], ids=["xml", "protobuf"])
def test_pytak_client_sends_xml_and_protobuf(feed_store, tls_service, transport, proto, monkeypatch):
    from borderwatch.feeds import takv1

    svc = _tls_svc(feed_store, tls_service)
    decoded = []
    real_parse = takv1.parse_event
    monkeypatch.setattr(takv1, "parse_event", lambda data: decoded.append(data[:3]) or real_parse(data))
    c = tls_service["certs"]
    ids = [uid(f"pytak{transport}{proto}") for _ in range(5)]
    msgs = [event(u, "a-h-G", detail="<remarks>group crossing with contraband</remarks>") for u in ids]
    m = mark(svc)
    port = svc.ports[{"tcp": "cot-tcp", "udp": "cot-udp", "tls": "cot-tls"}[transport]]
    scheme = {"tcp": "tcp", "udp": "udp+wo", "tls": "tls"}[transport]
    pytak_send(f"{scheme}://127.0.0.1:{port}", msgs, proto=proto,
               tls=_pytak_tls(c, "bravo") if transport == "tls" else None)
    settle(svc, m, 5)
    rows = rows_by_id(feed_store, [f"cot:{u}" for u in ids])
    assert set(rows) == {f"cot:{u}" for u in ids}
    row = rows[f"cot:{ids[0]}"]
    assert (row["threat_type"], row["severity"], row["segment_id"]) == ("smuggling", 3, "MEX-USA")
    if transport == "tls":
        assert (row["source"], row["reporting_nation"]) == ("patrol", "USA")  # from the allow-list
    assert len(decoded) == (5 if proto else 0)  # pytak really sent TAK protocol (or XML)


def test_tls_client_mapped_by_fingerprint_and_mixed_wire_formats(feed_store, tls_service):
    import ssl

    svc = _tls_svc(feed_store, tls_service)
    c = tls_service["certs"]
    ctx = ssl.create_default_context(cafile=c["ca"])
    ctx.load_cert_chain(*c["sensor"])
    ids = [uid("tlsmix") for _ in range(4)]
    m = mark(svc)
    with socket.create_connection(("127.0.0.1", svc.ports["cot-tls"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(DECL + event(ids[0]) + tak_stream(event(ids[1])) + event(ids[2]) + tak_stream(event(ids[3])))
    settle(svc, m, 4)
    rows = rows_by_id(feed_store, [f"cot:{u}" for u in ids])
    assert {r["source"] for r in rows.values()} == {"thermal_camera"} and len(rows) == 4


@pytest.mark.parametrize("who, reason", [("unlisted", "CN=INTRUDER"), ("stranger", "TLS handshake failed"),
                                         (None, "TLS handshake failed")])
def test_tls_refuses_unlisted_or_unknown_certificates(feed_store, tls_service, who, reason):
    import ssl

    svc = _tls_svc(feed_store, tls_service)
    c = tls_service["certs"]
    ctx = ssl.create_default_context(cafile=c["ca"])
    if who:
        ctx.load_cert_chain(*c[who])
    u = uid("tlsbad")
    rejected = svc.stats.counts["rejected"]
    with contextlib.suppress(OSError):
        with socket.create_connection(("127.0.0.1", svc.ports["cot-tls"]), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(event(u))
                s.recv(1)
    assert wait_until(lambda: svc.stats.counts["rejected"] > rejected, 5)
    assert reason in last_rejects(svc, 1)[0]
    if who == "unlisted":
        assert "is not in the allow-list" in last_rejects(svc, 1)[0]
    time.sleep(0.2)
    assert not stored(feed_store, [f"cot:{u}"])
    assert svc.status()["healthy"]


def test_tls_allow_list_errors_are_specific(tmp_path):
    from borderwatch.feeds.tls import AllowList

    for text, msg in [("cn:A", "expected 'IDENTITY SOURCE [NATION]'"), ("sha256:abc patrol", "64 hex digits"),
                      ("ou:A patrol", "cn:NAME or sha256"), ("cn:A Patrol!", "source must be"),
                      ("cn:A patrol XX", "alpha-3"), ("# nothing", "no client listed")]:
        (tmp_path / "a.txt").write_text(text + "\n")
        with pytest.raises(ValueError, match=re.escape(msg)):
            AllowList(tmp_path / "a.txt")


# -- patrols: friendly positions ------------------------------------------------------------------
def pli(u: str, lat: float, lon: float, when: dt.datetime, *, callsign: str, team="Cyan", stale_min=5.0,
        nation: str | None = None, speed="1.4", course="92.5") -> bytes:
    ext = f'<borderwatch nation="{nation}"/>' if nation else ""
    return (f'<event version="2.0" uid="{u}" type="a-f-G-U-C" how="m-g" time="{iso(when)}" start="{iso(when)}" '
            f'stale="{iso(when + dt.timedelta(minutes=stale_min))}"><point lat="{lat}" lon="{lon}" hae="10" '
            f'ce="9999999" le="9999999"/><detail><contact callsign="{callsign}"/><__group name="{team}" role="Team Lead"/>'
            f'<takv platform="ATAK-CIV" version="5.1"/><track speed="{speed}" course="{course}"/>{ext}</detail></event>').encode()


def test_patrol_positions_tracks_and_layer(service, feed_store):
    import folium

    from layers.base import MapContext, View
    from layers import patrols as patrol_layer

    from borderwatch.feeds import patrols

    now = now_utc()
    patrols.prune(feed_store, dt.timedelta(days=-1))  # start without other tests' (simulated) patrols
    a, b, c, d = (uid("unit") for _ in range(4))
    reports = [pli(a, 31.70 + k * 0.01, -106.40, now - dt.timedelta(minutes=6 - k), callsign="ALPHA-1", stale_min=10)
               for k in range(4)]
    reports.append(pli(b, 52.10, 23.66, now - dt.timedelta(minutes=20), callsign="PL-East &lt;b&gt;", team="Red",
                       nation="POL", stale_min=5))  # stale: its report ran out 15 minutes ago
    reports.append(pli(c, 60.90, 27.95, now - dt.timedelta(hours=3), callsign="OLD-ONE"))  # long gone
    m = mark(service)
    send_tcp(service.ports["cot-tcp"], reports + [reports[3]])  # the last report re-sent
    xml_d = pli(d, 41.27, 26.60, now - dt.timedelta(minutes=1), callsign="GR-7", nation="GRC", speed="8.0")
    send_udp(service.ports["cot-udp"], [tak_mesh(xml_d)])  # TAK protocol from another client
    settle(service, m, len(reports) + 2)
    everywhere = dict(vw=-180, ve=180, vs=-90, vn=90)
    rows = queries.df("patrols_latest", Filter(window="24h"), store=feed_store, since=now - dt.timedelta(hours=1),
                      until=now, max_rows=500, **everywhere)
    mine = rows[rows.uid.isin([a, b, c, d])].set_index("uid")
    assert set(mine.index) == {a, b, d}  # c reported 3 h ago: older than the hour asked for
    assert (mine.loc[a, "callsign"], mine.loc[a, "team"], mine.loc[a, "platform"]) == ("ALPHA-1", "Cyan", "ATAK-CIV")
    assert mine.loc[a, "lat"] == pytest.approx(31.73) and mine.loc[a, "segment_id"] == "MEX-USA"
    assert mine.loc[a, "speed_mps"] == pytest.approx(1.4) and mine.loc[a, "course_deg"] == pytest.approx(92.5)
    assert (mine.loc[b, "nation"], mine.loc[d, "nation"], mine.loc[d, "speed_mps"]) == ("POL", "GRC", 8.0)
    track = queries.df("patrol_tracks", store=feed_store, since=now - dt.timedelta(hours=1), until=now, uids=[a],
                       track_points=20)
    assert list(track.lat.round(2)) == [31.70, 31.71, 31.72, 31.73]  # oldest first, the re-send stored once

    def render(flt: Filter, at=now) -> str:
        ctx = MapContext(filter=flt, view=View(-180, -60, 180, 80, 3), now=at, store=feed_store)
        fmap = folium.Map(location=[40, 0], zoom_start=3, tiles=None)
        patrol_layer.build(ctx).group.add_to(fmap)
        return fmap.get_root().render()

    page = render(Filter(window="24h"))
    assert "ALPHA-1" in page and "GR-7" in page and "OLD-ONE" not in page
    assert "PL-East &lt;b&gt;" in page and "PL-East <b>" not in page  # escaped
    assert "STALE" in page and "20 min old" in page and "(stale, 20 min old)" in page
    assert page.count('"fillOpacity": 0.35') == 1 and page.count('"fillOpacity": 0.95') == 2  # one faded marker
    assert '"dashArray": "4 6"' not in page  # the stale unit has one position: no track to dash
    assert page.count('"opacity": 0.8') == 1  # ALPHA-1's track
    usa = render(Filter(window="24h", nations=("USA",)))
    assert "ALPHA-1" in usa and "GR-7" not in usa and "PL-East" not in usa
    schengen = render(Filter(window="24h", agreements=("schengen",)))
    assert "GR-7" in schengen and "PL-East" in schengen and "ALPHA-1" not in schengen
    # a briefing two hours later: everything is older than the hour a unit stays on the map
    assert "ALPHA-1" not in render(Filter(window="24h"), now + dt.timedelta(hours=2))


def test_patrol_layer_removal_time_is_configurable(service, feed_store, monkeypatch):
    import folium

    from layers.base import MapContext, View
    from layers import patrols as patrol_layer

    from borderwatch.feeds import patrols

    now = now_utc()
    u = uid("unit")  # stored directly: the service's own path is tested above
    ev = cot.parse_event(pli(u, 31.75, -106.45, now - dt.timedelta(minutes=30), callsign="SLOW-3"))
    assert patrols.insert(feed_store, [patrols.to_record(ev)]) == 1

    def shown() -> bool:
        from borderwatch import access

        ctx = MapContext(filter=Filter(window="24h"), view=View(-107, 31, -106, 32, 9), now=now, store=feed_store)
        fmap = folium.Map(location=[31.7, -106.4], zoom_start=9, tiles=None)
        # as the command line sees it (whatever an earlier AppTest left in this process)
        with access.viewing_as(access.SYSTEM):
            patrol_layer.build(ctx).group.add_to(fmap)
        return "SLOW-3" in fmap.get_root().render()

    assert shown()
    monkeypatch.setenv("BORDERWATCH_PATROL_REMOVE_MINUTES", "20")
    assert not shown()


def test_patrol_records_and_pruning(feed_store):
    from borderwatch.feeds import patrols

    ev = cot.parse_event(pli("p-x", 31.7, -106.4, now_utc() - dt.timedelta(days=3), callsign="GONE"))
    assert patrols.is_position(ev)
    rec = patrols.to_record(ev)
    assert (rec["kind"], rec["callsign"], rec["team"]) == ("patrol", "GONE", "Cyan")
    assert patrols.insert(feed_store, [rec]) == 1 and patrols.insert(feed_store, [rec]) == 0
    patrols.prune(feed_store, dt.timedelta(days=1))
    assert not len(queries.df("patrol_tracks", store=feed_store, since=dt.datetime(2000, 1, 1), until=now_utc(),
                              uids=["p-x"], track_points=5))
    incident = cot.parse_event(event("p-y", "a-f-G", detail='<borderwatch threat="smuggling"/>'))
    assert not patrols.is_position(incident)  # an explicit incident stays an incident
    with pytest.raises(Rejected, match="latitude"):
        patrols.to_record(cot.parse_event(pli("p-z", 95, 1, now_utc(), callsign="X")))


# -- CoT out --------------------------------------------------------------------------------------
class TakListener:
    """A local TAK endpoint: accepts connections (TCP or TLS) and splits what arrives into events."""

    def __init__(self, tls_context=None):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.tls = tls_context
        self.messages: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                return
        sp = cotstream.CotStreamSplitter()
        with conn:
            while data := conn.recv(65536):
                self.messages += [m for m, _ in sp.feed(data) if m]

    def close(self):
        self.server.close()


def _json_incident(ident: str, severity: int, threat="smuggling", lat=31.76, lon=-106.45) -> bytes:
    t = iso(now_utc() - dt.timedelta(minutes=1))
    return json.dumps({"id": ident, "time": t, "lat": lat, "lon": lon, "threat_type": threat, "severity": severity,
                       "description": f"pickup truck <{ident}> & two persons"}).encode() + b"\n"


@pytest.mark.parametrize("wire", ["xml", "protobuf"])
def test_cot_out_publishes_new_incidents_with_stable_uid(feed_store, service, wire):
    service.stop()
    listener = TakListener()
    svc = FeedService(feed_store, FeedConfig(cot_tcp=0, cot_udp=None, json_tcp=0, json_open=True, watch_enabled=False, batch_ms=50,
                                             cot_out=f"tcp://127.0.0.1:{listener.port}", cot_out_release="all", cot_out_severity=3,
                                             cot_out_segments=False,
                                             cot_out_stale_min=30, cot_out_protobuf=wire == "protobuf")).start()
    try:
        hi, lo, drone, echo = uid("out"), uid("out"), uid("out"), uid("out")
        m = mark(svc)
        send_tcp(svc.ports["json-tcp"], [_json_incident(hi, 3), _json_incident(lo, 1),
                                         _json_incident(drone, 4, "drone_incursion", 52.1, 23.65)])
        send_tcp(svc.ports["cot-tcp"], [event(echo, "a-h-G")])  # came in as CoT: not sent back
        settle(svc, m, 4)
        assert wait_until(lambda: len(listener.messages) >= 2, 10)
        time.sleep(0.5)
        events = [cot.parse_event(x) for x in listener.messages]
        assert all(e.wire == wire for e in events)
        got = {e.uid: e for e in events}
        assert set(got) == {f"borderwatch.json:{hi}", f"borderwatch.json:{drone}"}  # severity >= 3, no echo
        e = got[f"borderwatch.json:{hi}"]
        assert e.type == "a-h-G" and got[f"borderwatch.json:{drone}"].type == "a-h-A"
        assert (e.stale - e.time).total_seconds() == pytest.approx(30 * 60, abs=1)
        assert (e.lat, e.lon) == (pytest.approx(31.76), pytest.approx(-106.45))
        assert f"pickup truck <{hi}> & two persons" in e.remarks and "MEX-USA" in e.remarks
        assert "segments=MEX-USA" in e.remarks and "lat=31.7600" in e.remarks  # the link back to the view
        assert (e.extension["threat"], e.extension["severity"]) == ("smuggling", "3")
        # the receiving side maps it back to the same incident (a Borderwatch at another site)
        rec = cot.to_incident(e)
        assert (rec["threat_type"], rec["severity"]) == ("smuggling", 3)
        assert svc.status()["cot_out"]["sent"] == 2
    finally:
        svc.stop()
    # a restart neither repeats what was sent nor skips what arrives meanwhile
    listener.messages.clear()
    svc = FeedService(feed_store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, json_open=True, watch_enabled=False, batch_ms=50,
                                             cot_out=f"tcp://127.0.0.1:{listener.port}", cot_out_release="all",
                                             cot_out_segments=False)).start()
    try:
        later = uid("out")
        m = mark(svc)
        send_tcp(svc.ports["json-tcp"], [_json_incident(later, 4)])
        settle(svc, m, 1)
        assert wait_until(lambda: listener.messages, 10)
        time.sleep(0.5)
        assert [cot.parse_event(x).uid for x in listener.messages] == [f"borderwatch.json:{later}"]
    finally:
        svc.stop()
        listener.close()
    (service.dir / "cotout.json").unlink()


def test_cot_out_over_tls_and_reconnects(feed_store, service, tls_service):
    import ssl

    service.stop()
    running = tls_service["running"]
    if running.get("tls") is not None:
        running["tls"].stop()
    c = tls_service["certs"]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*c["server"])
    server_ctx.load_verify_locations(c["ca"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # the TAK server wants our client certificate
    listener = TakListener(server_ctx)
    svc = FeedService(feed_store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, json_open=True, watch_enabled=False, batch_ms=50,
                                             cot_out=f"tls://127.0.0.1:{listener.port}", cot_out_release="all", cot_out_ca=c["ca"],
                                             cot_out_cert=c["bravo"][0], cot_out_key=c["bravo"][1],
                                             cot_out_segments=False)).start()
    try:
        first = uid("tlsout")
        m = mark(svc)
        send_tcp(svc.ports["json-tcp"], [_json_incident(first, 4)])
        settle(svc, m, 1)
        assert wait_until(lambda: listener.messages, 10)
        assert cot.parse_event(listener.messages[0]).uid == f"borderwatch.json:{first}"
        # the endpoint goes away and comes back on the same port: the publisher reconnects
        svc.publisher.close()  # as if the connection had dropped
        second = uid("tlsout")
        send_tcp(svc.ports["json-tcp"], [_json_incident(second, 4)])
        assert wait_until(lambda: len(listener.messages) >= 2, 15)
        assert cot.parse_event(listener.messages[-1]).uid == f"borderwatch.json:{second}"
        assert listener.connections == 2
    finally:
        svc.stop()
        listener.close()
    (service.dir / "cotout.json").unlink()


def test_cot_out_sends_only_what_the_network_may_see(small_store):
    """The TAK network counts as a viewer: public (default), a nation, or all."""
    import pandas as pd

    from borderwatch import access
    from borderwatch.feeds.cotout import network_viewer

    def sent(release):
        with access.viewing_as(network_viewer(release, small_store)):
            return queries.df("cot_out_incidents", store=small_store, since=dt.datetime(2000, 1, 1), min_severity=1,
                              echo=True, max_rows=10**7)
    everything, public, usa = sent("all"), sent("public"), sent("USA")
    raw = small_store.cursor().execute("SELECT incident_id, release_public, coalesce(owner_nation, reporting_nation) AS owner "
                                       "FROM incidents").fetch_df()
    assert set(everything.incident_id) == set(raw.incident_id)
    assert set(public.incident_id) == set(raw[raw.release_public.fillna(False).astype(bool)].incident_id)
    assert set(public.incident_id) < set(usa.incident_id) < set(everything.incident_id)
    assert set(raw[raw.owner == "USA"].incident_id) <= set(usa.incident_id)
    for bad in ("US", "everyone", ""):
        if bad:
            with pytest.raises(ValueError, match="public, all or a nation"):
                network_viewer(bad, small_store)
    assert isinstance(everything, pd.DataFrame)


def test_cot_out_sends_a_segment_once_when_its_impact_level_changes(feed_store, tmp_path):
    """Segment impact levels go out as CoT drawn lines with a stable uid per segment: a change
    fires once, no change sends nothing, a restart remembers what was sent, and the level is
    computed only over incidents the TAK network may see."""
    from borderwatch import access
    from borderwatch.feeds import cotsegments
    from borderwatch.feeds.cotout import CotPublisher
    from borderwatch.feeds.writer import store_records

    tag = uid("seg")
    listener = TakListener()
    url = f"tcp://127.0.0.1:{listener.port}"
    everyone = CotPublisher(feed_store, url, release="all", state_file=tmp_path / "all.json")
    public = CotPublisher(feed_store, url, release="public", state_file=tmp_path / "public.json")
    try:
        everyone.publish_segments()
        public.publish_segments()
        assert wait_until(lambda: len(listener.messages) >= everyone.segments_sent + public.segments_sent, 10)
        # a quiet segment (low for everyone), then 12 incidents on it in the last hour, owned by USA
        # and released to no one else: the public network must not see the level rise
        levels = cotsegments.current_levels(feed_store, access.SYSTEM, everyone.segment_shapes)
        quiet = min((s for s in levels if s.level == "low" and s.n == 0),
                    key=lambda s: sum(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(s.line, s.line[1:])))
        t = (now_utc() - dt.timedelta(minutes=30)).replace(tzinfo=None)
        recs = [{"incident_id": f"{tag}-{k}", "occurred_at": t.isoformat(), "threat_type": "smuggling",
                 "severity": 3, "confidence": 0.8, "reporting_nation": "USA", "source": "test",
                 "lon": quiet.mid[1], "lat": quiet.mid[0], "dataset": "feed"} for k in range(12)]
        assert store_records(feed_store, recs) == 12
        listener.messages.clear()
        assert public.publish_segments() == 0  # nothing it may see changed
        assert everyone.publish_segments() == 1
        assert wait_until(lambda: listener.messages, 10)
        time.sleep(0.3)
        assert len(listener.messages) == 1
        ev = cot.parse_event(listener.messages[0])
        assert (ev.uid, ev.type) == (f"borderwatch.segment.{quiet.segment_id}", "u-d-f")
        assert (ev.stale - ev.time).total_seconds() == pytest.approx(60 * 60, abs=1)
        level = next(s.level for s in cotsegments.current_levels(feed_store, access.SYSTEM, everyone.segment_shapes)
                     if s.segment_id == quiet.segment_id)
        assert level in ("high", "critical")
        assert f"impact level low → {level}" in ev.remarks
        assert quiet.nation_a in ev.remarks and quiet.nation_b in ev.remarks
        assert "Why: 12 incidents against" in ev.remarks
        assert f"segments={quiet.segment_id}" in ev.remarks  # the link back to the view
        assert b'<link point="' in listener.messages[0] and b"strokeColor" in listener.messages[0]
        with pytest.raises(Ignored):  # another Borderwatch does not take it for an incident
            cot.to_incident(ev)
        # no change: nothing is sent, now or after a restart from the saved state
        assert everyone.publish_segments() == 0
        everyone.close()
        again = CotPublisher(feed_store, url, release="all", state_file=tmp_path / "all.json")
        assert again.publish_segments() == 0
        time.sleep(0.3)
        assert len(listener.messages) == 1
    finally:
        everyone.close()
        public.close()
        listener.close()
        with feed_store.transaction() as cur:
            cur.execute("DELETE FROM incidents WHERE incident_id LIKE ?", [f"{tag}-%"])


def test_cot_out_address_is_checked():
    from borderwatch.feeds.cotout import parse_url

    assert parse_url("tls://tak.local:8089") == ("tls", "tak.local", 8089)
    for bad in ("udp://x:1", "tcp://x", "x:8087", "tcp://:8087"):
        with pytest.raises(ValueError, match="tcp://HOST:PORT"):
            parse_url(bad)


def test_the_site_nation_owns_json_records_that_state_none(feed_store, service):
    """``feeds --nation`` names the nation that owns records stating none (JSON as CoT), so a
    signed-in viewer of that nation sees them on the live map."""
    service.stop()  # one service per store at a time
    svc = FeedService(feed_store, FeedConfig(cot_tcp=None, cot_udp=None, json_tcp=0, json_open=True, watch_enabled=False,
                                             batch_ms=50, nation="MEX")).start()
    try:
        plain, stated = uid("own"), uid("own")
        m = mark(svc)
        send_tcp(svc.ports["json-tcp"], [_json_incident(plain, 2),
                                         json.dumps({"id": stated, "time": iso(now_utc()), "lat": 31.76, "lon": -106.45,
                                                     "threat_type": "smuggling", "reporting_nation": "USA"}).encode() + b"\n"])
        settle(svc, m, 2)
    finally:
        svc.stop()
    rows = dict(feed_store.cursor().execute(
        "SELECT incident_id, reporting_nation FROM incidents WHERE incident_id IN (?, ?)",
        [f"json:{plain}", f"json:{stated}"]).fetchall())
    assert rows == {f"json:{plain}": "MEX", f"json:{stated}": "USA"}
