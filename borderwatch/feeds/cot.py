"""Cursor-on-Target (CoT): a safe parser and the CoT → incident mapping (the TCP stream splitter is
``borderwatch.feeds.cotstream``).

Parsing is safe by construction: a message longer than the size limit is refused before any
parser sees it, a message with a DTD or an entity declaration is refused before parsing, and the
C parser (lxml) runs with entity resolution, DTD loading and network access off, so entity
expansion ("billion laughs") and external entities (``file:///etc/passwd``, URLs) are never
processed.

The mapping from CoT to Borderwatch is the table ``COT_RULES`` (first matching type pattern wins),
refined by keywords in the free text and overridden by an explicit Borderwatch detail element::

    <detail><borderwatch threat="smuggling" severity="3" confidence="0.8" nation="USA"
                         source="patrol" description="..."/></detail>

The table, with the reasons behind it, is documented in docs/feeds.md.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re

from lxml import etree

from borderwatch.feeds import records
from borderwatch.feeds.records import Ignored, Rejected

MAX_MESSAGE_BYTES = 64 * 1024
DATASET = "feed:cot"
DEFAULT_SOURCE = "patrol"
_TYPE = re.compile(r"[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.*]+)*")
_MAX_UID = 200


@dataclasses.dataclass(slots=True)  # not frozen: a frozen dataclass is built at about 3 µs
class CotEvent:
    """The parts of a CoT event Borderwatch reads. Times are naive UTC; None where absent."""

    uid: str
    type: str
    time: dt.datetime
    start: dt.datetime | None
    stale: dt.datetime | None
    how: str | None = None
    version: str | None = None
    lat: float | None = None
    lon: float | None = None
    hae: float | None = None
    ce: float | None = None  # circular error (m); None = unknown (9999999)
    le: float | None = None
    has_point: bool = False
    callsign: str | None = None
    remarks: str | None = None
    emergency: str | None = None
    platform: str | None = None
    has_sensor: bool = False
    extension: dict | None = None  # attributes of <detail><borderwatch .../>
    raw_point: "dict | etree._Attrib | None" = None  # the <point> attributes as sent
    speed: float | None = None  # <track speed> m/s
    course: float | None = None  # <track course> degrees
    team: str | None = None  # <__group name>
    role: str | None = None  # <__group role>
    wire: str = "xml"  # "xml" or "protobuf" (TAK protocol version 1)


# -- parsing ---------------------------------------------------------------------------------
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False, collect_ids=False,
                          dtd_validation=False, remove_comments=True, remove_pis=True)


def _safe_xml(data: bytes):
    """Parse XML refusing any DTD, entity declaration or external reference (checked on the bytes
    before parsing; the parser itself also resolves no entity and fetches nothing)."""
    if b"<!" in data:  # one search where most messages have no markup declaration at all
        if b"<!DOCTYPE" in data:
            raise Rejected("DTD/DOCTYPE not allowed (entity expansion or external entity attempt)")
        if b"<!ENTITY" in data:
            raise Rejected("entity declarations not allowed (entity expansion attempt)")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Rejected(f"malformed XML: {records.clip(str(exc), 160)}") from None
    except (ValueError, UnicodeError) as exc:
        raise Rejected(f"unreadable XML: {records.clip(str(exc), 80)}") from None
    if root.getroottree().docinfo.internalDTD is not None:  # belt and braces
        raise Rejected("DTD/DOCTYPE not allowed (entity expansion or external entity attempt)")
    return root


def parse_event(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> CotEvent:
    """One CoT event → ``CotEvent``, or ``Rejected``: CoT XML (optionally with an XML declaration),
    or TAK protocol version 1 (protobuf) in mesh (``0xBF 0x01 0xBF``) or stream (``0xBF <varint>``) form."""
    root = parse_root(data, max_bytes=max_bytes)
    if root is None:
        from borderwatch.feeds import takv1

        return takv1.parse_event(data)
    return event_from_root(root)


def parse_root(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES):
    """The parsed root element of a CoT XML message, None for TAK protocol (``Rejected`` as
    ``parse_event``)."""
    if len(data) > max_bytes:
        raise Rejected(f"oversized message ({len(data):,} bytes > limit {max_bytes:,})")
    if data[:1] == b"\xbf":
        return None
    if not data.strip():
        raise Rejected("empty message")
    return _safe_xml(data)


def event_from_root(root) -> CotEvent:
    """The ``CotEvent`` of a parsed ``<event>`` element (``Rejected`` when it is not a valid one)."""
    if root.tag != "event":
        raise Rejected(f"root element is <{records.clip(root.tag, 30)}>, not a CoT <event>")
    a = root.attrib
    uid = (a.get("uid") or "").strip()
    if not uid:
        raise Rejected("event has no uid")
    if len(uid) > _MAX_UID or not uid.isprintable():
        raise Rejected(f"event uid is too long or not printable: {records.clip(uid, 40)!r}")
    cot_type = (a.get("type") or "").strip()
    if not cot_type:
        raise Rejected("event has no type")
    if not _TYPE.fullmatch(cot_type):
        raise Rejected(f"event type is not a CoT type: {records.clip(cot_type, 40)!r}")
    time_text, start_text, stale_text = a.get("time"), a.get("start"), a.get("stale")
    time = records.parse_time(time_text, "event time")
    # start is mostly the event time itself, and each is read once
    start = (time if start_text == time_text else records.parse_time(start_text, "event start")) if start_text else None
    stale = (time if stale_text == time_text else records.parse_time(stale_text, "event stale")) if stale_text else None
    if start and stale and stale < start:
        raise Rejected("event stale time precedes its start time")

    point, detail = point_and_detail(root)
    details = detail_fields(detail) if detail is not None else {}
    if point is None:
        return CotEvent(uid, cot_type, time, start, stale, a.get("how"), a.get("version"), **details)
    p = point.attrib  # lxml's attribute view: copying it into a dict costs more than the lookups saved
    hae, ce, le = _num(p.get("hae")), _num(p.get("ce")), _num(p.get("le"))
    unknown = records.UNKNOWN_ERROR_M
    # positional up to has_point: a dataclass built from 20 keywords costs twice as much
    return CotEvent(uid, cot_type, time, start, stale, a.get("how"), a.get("version"),
                    _num(p.get("lat")), _num(p.get("lon")), None if hae is not None and hae >= unknown else hae,
                    None if ce is not None and ce >= unknown else ce, None if le is not None and le >= unknown else le,
                    True, raw_point=p, **details)


def _children(element) -> dict:
    """The first child element of each tag name (as ``element.find(name)`` gives it), in one pass
    over the children: ``find`` goes through lxml's path machinery at about 2 µs a call."""
    kids: dict = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in kids:  # entity references and the like have no str tag
            kids[tag] = child
    return kids


def point_and_detail(root):
    """The event's first <point> and <detail> children, in one pass (``find`` costs about 2 µs a call)."""
    point = detail = None
    for child in root:
        tag = child.tag
        if tag == "point":
            if point is None:
                point = child
        elif tag == "detail" and detail is None:
            detail = child
    return point, detail


def detail_fields(detail) -> dict:
    """The ``CotEvent`` fields found in a ``<detail>`` element."""
    fields: dict = {}
    kids = _children(detail)
    contact = kids.get("contact")
    if contact is not None:
        fields["callsign"] = contact.get("callsign")
    remarks = kids.get("remarks")
    if remarks is not None and (remarks.text or "").strip():
        fields["remarks"] = remarks.text.strip()
    emergency = kids.get("emergency")
    if emergency is not None:
        fields["emergency"] = (emergency.get("type") or emergency.text or "emergency").strip()
    takv = kids.get("takv")
    if takv is not None:
        fields["platform"] = takv.get("platform") or takv.get("device")
    track = kids.get("track")
    if track is not None:
        fields["speed"] = _finite(track.get("speed"))
        fields["course"] = _finite(track.get("course"))
    group = kids.get("__group")
    if group is not None:
        fields["team"] = group.get("name")
        fields["role"] = group.get("role")
    fields["has_sensor"] = "sensor" in kids
    ext = kids.get("borderwatch")
    if ext is not None:
        fields["extension"] = dict(ext.attrib)
        if (ext.text or "").strip() and "description" not in fields["extension"]:
            fields["extension"]["description"] = ext.text.strip()
    return fields


def _finite(text) -> float | None:
    value = _num(text) if isinstance(text, (str, type(None))) else float(text)
    return value if value is not None and math.isfinite(value) else None


def _num(text: str | None) -> float | None:
    """A number from an attribute; None when absent, NaN when not a number (checked later)."""
    if text is None:
        return None
    try:
        return float(text)  # float() itself takes surrounding blanks
    except ValueError:
        return None if text.strip() == "" else float("nan")


# -- mapping ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: str  # regular expression matched against the whole CoT type
    threat: str | None  # None: not an incident report (ignored)
    severity: int
    label: str

    def matches(self, cot_type: str) -> bool:
        return _compiled(self.pattern).fullmatch(cot_type) is not None


# First match wins. Affiliation atoms (2nd atom of a-*): h hostile, j joker, k faker, s suspect,
# u unknown, p pending, f friend, a assumed friend, n neutral, o none. Battle dimension (3rd):
# A air, G ground, S sea surface, U subsurface, F special operations forces, P space.
COT_RULES: tuple[Rule, ...] = (
    Rule(r"b-t-f(-.*)?", None, 0, "chat message"),
    Rule(r"t-.*", None, 0, "TAK control or tasking message"),
    Rule(r"b-a-o-can", None, 0, "emergency cancelled"),
    Rule(r"b-a-o-opn", "armed_incursion", 4, "emergency: troops in contact"),
    Rule(r"b-a-o(-.*)?", "other", 4, "emergency alert"),
    Rule(r"b-a-g(-.*)?", "illegal_crossing", 3, "geofence breached"),
    Rule(r"b-r-f-h-c", "other", 3, "CASEVAC / MEDEVAC request"),
    Rule(r"b-m-p-s-m", "other", 2, "spot report marker"),
    Rule(r"a-[hjk]-A(-.*)?", "drone_incursion", 3, "hostile air track"),
    Rule(r"a-[sup]-A(-.*)?", "drone_incursion", 2, "suspect or unknown air track"),
    Rule(r"a-[hjk]-G-(U-C|E-W)(-.*)?", "armed_incursion", 4, "hostile armed ground unit"),
    Rule(r"a-[sup]-G-(U-C|E-W)(-.*)?", "armed_incursion", 3, "suspect armed ground unit"),
    Rule(r"a-[hjk]-F(-.*)?", "armed_incursion", 4, "hostile special operations forces"),
    Rule(r"a-[hjk]-[GS](-.*)?", "illegal_crossing", 3, "hostile ground or sea-surface track"),
    Rule(r"a-[sup]-[GS](-.*)?", "illegal_crossing", 2, "suspect or unknown ground or sea-surface track"),
    Rule(r"a-[hjksup]-U(-.*)?", "smuggling", 3, "hostile or unknown subsurface track"),
    Rule(r"a-[fano](-.*)?", None, 0, "position report of a friendly or neutral track"),
    Rule(r"a-[hjksup](-.*)?", "other", 2, "hostile or unknown track"),
)

# Free-text refinement: applied only when the rule gives a non-specific threat (other,
# illegal_crossing). Checked in order; the first keyword group found in the remarks or the
# emergency text wins.
KEYWORDS: tuple[tuple[str, str], ...] = (
    ("armed_incursion", r"gunshots?|gunfire|shots? fired|shooting|armed (?:men|group|persons?)|troops in contact"),
    ("drone_incursion", r"drones?|uavs?|uas|quadcopter|multicopter"),
    ("human_trafficking", r"human trafficking|trafficked|trafficking victims?"),
    ("drug_trafficking", r"drugs?|narcotics?|cocaine|heroin|cannabis|marijuana|methamphetamine|fentanyl"),
    ("weapons_trafficking", r"firearms?|ammunition|weapons? (?:cache|smuggling|trafficking)|rifles"),
    ("document_fraud", r"forged|counterfeit|fake (?:passports?|documents?|ids?)|false documents?"),
    ("smuggling", r"smuggl\w*|contraband|cigarettes"),
    ("illegal_crossing", r"crossing|crossed|migrants?|climb(?:ed|ing)? the (?:fence|wall)|fence breach"),
)
_KEYWORDS = tuple((threat, re.compile(r"\b(?:" + rx + r")\b", re.IGNORECASE)) for threat, rx in KEYWORDS)
# one pass over the text tells whether any keyword occurs (most remarks have none)
_ANY_KEYWORD = re.compile(r"\b(?:" + "|".join(rx for _, rx in KEYWORDS) + r")\b", re.IGNORECASE)
# the same patterns matched case-sensitively against ASCII text in lower case: the same answers
# for ASCII text (the keywords are lower-case ASCII), 3-4 times faster than IGNORECASE
_KEYWORDS_LOWER = tuple((threat, re.compile(rx.pattern)) for threat, rx in _KEYWORDS)
_ANY_KEYWORD_LOWER = re.compile(_ANY_KEYWORD.pattern)


@functools.lru_cache(maxsize=4096)
def rule_for(cot_type: str) -> Rule | None:
    if cot_type[:2] == "a-" and len(cot_type) > 2:
        # some devices send the affiliation in upper case (a-U-G): it means the same (a-u-G)
        cot_type = cot_type[:2] + cot_type[2].lower() + cot_type[3:]
    for rule in COT_RULES:
        if rule.matches(cot_type):
            return rule
    return None


def refine(threat: str, text: str) -> str:
    if threat not in ("other", "illegal_crossing") or not text:
        return threat
    if text.isascii():
        text, any_keyword, keywords = text.lower(), _ANY_KEYWORD_LOWER, _KEYWORDS_LOWER
    else:  # Unicode case folding (e.g. the Kelvin sign as k) as IGNORECASE does it
        any_keyword, keywords = _ANY_KEYWORD, _KEYWORDS
    if not any_keyword.search(text):
        return threat
    for candidate, rx in keywords:
        if rx.search(text):
            return candidate
    return threat


def _confidence(how: str | None) -> float:
    """Machine-derived positions (how m-*) are trusted a little more than human entries (h-*)."""
    if how and how.startswith("m-"):
        return 0.7
    if how and how.startswith("h-"):
        return 0.6
    return 0.5


def to_incident(ev: CotEvent, *, nation: str | None = None, now: dt.datetime | None = None,
                source: str | None = None) -> dict:
    """The incident record for a CoT event; ``Ignored`` when it is not an incident report."""
    ext = ev.extension
    rule = rule_for(ev.type)
    if ext is None:
        if rule is None:
            raise Ignored(f"not an incident report: CoT type {ev.type} has no incident mapping")
        if rule.threat is None:
            raise Ignored(f"not an incident report: {rule.label} ({ev.type})")
    if not ev.has_point:
        raise Rejected("event has no <point>")
    if ev.raw_point is not None and ("lat" not in ev.raw_point or "lon" not in ev.raw_point):
        raise Rejected("event <point> lacks lat or lon")
    lat, lon = records.check_location(ev.lat, ev.lon)
    if ev.raw_point and ev.raw_point.get("ce") not in (None, ""):
        ce = records.location_error(ev.raw_point.get("ce"))
    else:
        ce = None
    occurred = records.check_time(ev.time, "event time", now)

    text = "\n".join(t for t in (ev.emergency, ev.remarks) if t)
    if rule is not None and rule.threat is not None:
        threat, severity, label = refine(rule.threat, text), rule.severity, rule.label
    else:
        threat, severity, label = "other", 2, rule.label if rule else "report"
    confidence = _confidence(ev.how)
    default_source = source or DEFAULT_SOURCE  # the sending client's, when its certificate names one
    source = default_source
    reporting_nation = nation
    description_override = None
    if ext is not None:
        if ext.get("threat"):
            threat = records.check_threat(ext["threat"])
        if ext.get("severity"):
            severity = records.check_severity(ext["severity"])
        if ext.get("confidence"):
            confidence = records.check_confidence(ext["confidence"])
        if ext.get("nation"):
            reporting_nation = records.check_nation(ext["nation"])
        source = records.check_source(ext.get("source"), default_source)
        description_override = ext.get("description")
    elif ev.has_sensor and ev.type.startswith("a-") and "-A" in ev.type:
        source = "uav"
    description = description_override or _describe(ev, label)
    time_iso = ev.time.isoformat()
    extra = {"uid": ev.uid, "type": ev.type, "how": ev.how, "callsign": ev.callsign, "wire": ev.wire,
             "time": time_iso, "start": time_iso if ev.start is ev.time else _iso(ev.start),
             "stale": time_iso if ev.stale is ev.time else _iso(ev.stale)}
    return records.make_record(
        incident_id=f"cot:{ev.uid}", occurred_at=occurred, occurred_iso=time_iso, threat_type=threat, severity=severity,
        lat=lat, lon=lon, location_error_m=ce, source=source, confidence=confidence,
        reporting_nation=reporting_nation, description=description, dataset=DATASET, extra=extra,
    )


def _describe(ev: CotEvent, label: str) -> str:
    head = label[0].upper() + label[1:]
    if ev.emergency and ev.emergency.lower() not in label.lower():
        head += f": {ev.emergency}"
    who = f" reported by {ev.callsign.splitlines()[0]}" if ev.callsign else ""
    via = f" ({ev.platform})" if ev.platform else ""
    out = f"{head}{who}{via} [CoT {ev.type}]"
    if ev.remarks:
        out += "\n" + ev.remarks
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_incident(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, nation: str | None = None,
                   now: dt.datetime | None = None, source: str | None = None) -> dict:
    """Bytes of one CoT event → incident record (or ``Rejected`` / ``Ignored``)."""
    return to_incident(parse_event(data, max_bytes=max_bytes), nation=nation, now=now, source=source)
