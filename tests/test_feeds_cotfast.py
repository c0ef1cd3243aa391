"""The plain CoT event read straight into its record gives the very record (or the very refusal)
the general way gives, over events of every kind; and plain events do take that way."""
from __future__ import annotations

import datetime as dt
import itertools
import types

import pytest

from borderwatch.feeds import cot, cotfast, records, worker
from borderwatch.feeds.records import FeedError
from feed_helpers import DECL, event, iso, now_utc

NOW = now_utc()
WHEN = NOW - dt.timedelta(minutes=2)

TYPES = ("a-h-G", "a-s-G-U-C", "a-u-A", "a-H-A-M-F-Q", "a-f-G", "a-n-A", "b-a-o-opn", "b-a-o-can", "b-a-g",
         "b-t-f", "t-x-c-t", "a-h-U", "a-p-S", "b-m-p-s-m", "u-d-f", "a-h-G-E-W-D")
DETAILS = ("", "<remarks>  migrants seen crossing the fence </remarks>", "<remarks>drone overhead</remarks>",
           "<remarks>   </remarks>", "<remarks>Gunfire reported</remarks><remarks>second</remarks>",
           "<contact callsign='SECOND'/>", "<emergency type='911 Alert'/>", "<sensor/>", "<takv platform='ATAK'/>",
           '<borderwatch threat="smuggling" severity="3"/>', "<track speed='3' course='90'/><__group name='Cyan'/>",
           "<remarks>Kelvin \u212a-9 crossing</remarks>", "<remarks>x&amp;y &lt;z&gt;</remarks>")
POINTS = ({}, {"lat": "", "lon": "-106.4"}, {"lat": "91"}, {"ce": "9999999"}, {"ce": ""}, {"ce": "-3"}, {"ce": "abc"},
          {"lat": "0", "lon": "0"}, {"lat": " 31.7 ", "lon": "-106.48"}, {"lat": "nan"})


def _event(cot_type="a-h-G", detail="", point=None, attrs=None, *, decl=False, callsign='callsign="TEST-1"'):
    a = {"version": "2.0", "uid": "u-1", "type": cot_type, "how": "h-e", "time": iso(WHEN), "start": iso(WHEN),
         "stale": iso(WHEN + dt.timedelta(minutes=10))}
    a.update(attrs or {})
    head = " ".join(f'{k}="{v}"' for k, v in a.items() if v is not None)
    p = {"lat": "31.76", "lon": "-106.48", "hae": "100", "ce": "25.0", "le": "9999999.0"}
    p.update(point if isinstance(point, dict) else {})
    pt = "<point " + " ".join(f'{k}="{v}"' for k, v in p.items() if v is not None) + "/>" if point != "none" else ""
    contact = f"<contact {callsign}/>" if callsign is not None else ""
    return (DECL if decl else b"") + f"<event {head}>{pt}<detail>{contact}{detail}</detail></event>".encode()


ATTRS = ({}, {"start": None, "stale": None}, {"start": iso(WHEN), "stale": iso(WHEN)},
         {"stale": iso(WHEN - dt.timedelta(minutes=1))}, {"start": "2026-13-01T00:00:00Z"},
         {"time": None}, {"time": "yesterday"}, {"time": iso(NOW + dt.timedelta(hours=3))},
         {"time": "1980-01-01T00:00:00Z"}, {"time": iso(WHEN).replace("Z", "+02:00")},
         {"uid": " padded "}, {"uid": ""}, {"uid": "x" * 201}, {"uid": "tab\there"}, {"type": ""}, {"type": "a h G"},
         {"how": "m-g"}, {"how": None}, {"version": None})
CLIENTS = (None, types.SimpleNamespace(nation="MEX", source="drone"), types.SimpleNamespace(nation=None, source=None))


def _general(message: bytes, **kw):
    try:
        return worker.event_record(cot.parse_event(message), **kw)
    except FeedError as exc:
        return type(exc).__name__, exc.reason


def _now_way(message: bytes, **kw):
    try:
        return worker.cot_record(message, max_message=cot.MAX_MESSAGE_BYTES, **kw)
    except FeedError as exc:
        return type(exc).__name__, exc.reason


def _cases():
    for cot_type, detail in itertools.product(TYPES, DETAILS):
        yield _event(cot_type, detail)
    for attrs, point in itertools.product(ATTRS, POINTS):
        yield _event("a-s-G", "<remarks>drugs</remarks>", point, attrs)
    yield _event(point="none")
    yield _event(callsign=None)
    yield _event(callsign='callsign=""')
    yield _event(callsign='callsign="LINE1&#10;LINE2"')
    yield _event(decl=True)
    yield b"<notevent/>"


@pytest.mark.parametrize("client,nation,patrols", [(None, None, True), (CLIENTS[1], "USA", True),
                                                    (CLIENTS[2], "POL", False)])
def test_the_plain_way_gives_what_the_general_way_gives(client, nation, patrols):
    kw = dict(nation=nation, keep_patrols=patrols, client=client, now=NOW)
    cases = list(_cases())
    plain = 0
    for message in cases:
        assert _now_way(message, **kw) == _general(message, **kw), message
        plain += cotfast.plain_record(cot.parse_root(message), nation=nation, source=None, now=NOW) is not None
    assert plain > len(cases) // 4  # the plain way is taken for the plain events


def test_plain_events_take_the_plain_way(monkeypatch):
    taken = []
    real = cotfast.plain_record
    monkeypatch.setattr(cotfast, "plain_record", lambda root, **kw: taken.append(real(root, **kw)) or taken[-1])
    rec = worker.cot_record(event("bench-1", detail="<remarks>smugglers with cigarettes</remarks>"),
                            max_message=cot.MAX_MESSAGE_BYTES, nation="USA", keep_patrols=True, now=NOW)
    assert taken and taken[0] == rec
    assert rec["threat_type"] == "smuggling" and rec["reporting_nation"] == "USA" and rec["incident_id"] == "cot:bench-1"
    assert rec["description"].endswith("[CoT a-h-G]\nsmugglers with cigarettes")
    for other in (event("f-1", "a-f-G"), event("e-1", detail="<emergency>Ring the bell</emergency>")):
        taken.clear()
        worker.cot_record(other, max_message=cot.MAX_MESSAGE_BYTES, nation=None, keep_patrols=True, now=NOW)
        assert taken == [None]  # a patrol position, an emergency: the general way


def test_refusals_keep_their_reasons():
    with pytest.raises(records.Rejected, match="latitude 91 is out of range"):
        worker.cot_record(_event(point={"lat": "91"}), max_message=cot.MAX_MESSAGE_BYTES, nation=None,
                          keep_patrols=True, now=NOW)
    with pytest.raises(records.Ignored, match="chat message"):
        worker.cot_record(_event("b-t-f"), max_message=cot.MAX_MESSAGE_BYTES, nation=None, keep_patrols=True, now=NOW)
    with pytest.raises(records.Rejected, match="oversized"):
        worker.cot_record(_event(), max_message=50, nation=None, keep_patrols=True, now=NOW)


def test_real_client_captures_give_the_same_record_both_ways():
    """Extra check on real clients' messages (../shared/realdata/cot), when present."""
    from conftest import realdata

    files = sorted(realdata("cot").glob("*.xml"))
    if not files:
        pytest.skip("no real CoT captures in ../shared/realdata/cot")
    for path in files:
        message = path.read_bytes()
        for client, nation, patrols in ((None, None, True), (CLIENTS[1], "USA", False)):
            kw = dict(nation=nation, keep_patrols=patrols, client=client, now=NOW)
            assert _now_way(message, **kw) == _general(message, **kw), path.name
