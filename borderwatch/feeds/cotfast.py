"""The incident record of a plain CoT event read straight from lxml's elements.

At 20,000 events a second the listener processes' Python is most of a feed's CPU: the general way
(``cot.event_from_root`` → ``CotEvent`` → ``cot.to_incident``) copies the attributes into dicts,
builds a 25-field event object, then reads it back. Most events are plain: a hostile or suspect
track, or an alert, with a ``<point>`` and at most a contact and remarks in its ``<detail>``. For
those ``plain_record`` reads the attributes it needs into the journal record itself.

It gives the very record the general way gives, or None, and then the general way reads the
event: any event it is not sure of (an emergency,
a sensor, a device, a Borderwatch extension, a type that is not an incident report, anything that
would be refused) goes the general way, which gives the same answer and the same reasons as before.
"""
from __future__ import annotations

import datetime as dt

from borderwatch.feeds import records
from borderwatch.feeds.cot import (_TYPE, _MAX_UID, DATASET, DEFAULT_SOURCE, _confidence, point_and_detail, refine,
                                   rule_for)
from borderwatch.feeds.records import FeedError

# <detail> children that change the record and are read only by the general way
_GENERAL = frozenset(("emergency", "takv", "sensor", "borderwatch"))


def plain_record(root, *, nation: str | None, source: str | None, now: dt.datetime | None) -> dict | None:
    """The incident record of the parsed ``<event>`` ``root``, or None (the general way decides)."""
    if root.tag != "event":
        return None
    get = root.get
    uid, cot_type, time_text = get("uid"), get("type"), get("time")
    if not uid or not cot_type or not time_text:
        return None
    uid, cot_type = uid.strip(), cot_type.strip()
    if not uid or len(uid) > _MAX_UID or not uid.isprintable() or not _TYPE.fullmatch(cot_type):
        return None
    rule = rule_for(cot_type)
    if rule is None or rule.threat is None:
        return None  # not an incident report (or a patrol position): the general way says which
    start_text, stale_text = get("start"), get("stale")
    point, detail = point_and_detail(root)
    if point is None:
        return None
    callsign = remarks = None
    if detail is not None:
        seen = set()
        for child in detail:
            tag = child.tag
            if not isinstance(tag, str) or tag in seen:
                continue
            seen.add(tag)
            if tag in _GENERAL:
                return None
            if tag == "contact":
                callsign = child.get("callsign")
            elif tag == "remarks":
                text = child.text
                remarks = text.strip() if text else None
                remarks = remarks or None
    lat_text, lon_text, ce_text = point.get("lat"), point.get("lon"), point.get("ce")
    if lat_text is None or lon_text is None:
        return None
    try:
        time = records.parse_time(time_text, "event time")
        # start and stale are mostly the event time itself, and each is read once (as cot.event_from_root)
        start = (time if start_text == time_text else records.parse_time(start_text, "event start")) \
            if start_text else None
        stale = (time if stale_text == time_text else records.parse_time(stale_text, "event stale")) \
            if stale_text else None
        if start and stale and stale < start:
            return None
        lat, lon = records.check_location(_number(lat_text), _number(lon_text))
        ce = records.location_error(ce_text) if ce_text not in (None, "") else None
        occurred = records.check_time(time, "event time", now)
    except FeedError:
        return None
    label = rule.label
    description = label[0].upper() + label[1:]
    if callsign:
        description += f" reported by {callsign.splitlines()[0]}"
    description += f" [CoT {cot_type}]"
    if remarks:
        description += "\n" + remarks
    how = get("how")
    time_iso = time.isoformat()
    extra = {"uid": uid, "type": cot_type, "how": how, "callsign": callsign, "wire": "xml", "time": time_iso,
             "start": time_iso if start is time else start and start.isoformat(),
             "stale": time_iso if stale is time else stale and stale.isoformat()}
    return records.make_record(
        incident_id=f"cot:{uid}", occurred_at=occurred, occurred_iso=time_iso,
        threat_type=refine(rule.threat, remarks or ""), severity=rule.severity, lat=lat, lon=lon,
        location_error_m=ce, source=source or DEFAULT_SOURCE, confidence=_confidence(how),
        reporting_nation=nation, description=description, dataset=DATASET, extra=extra,
    )


def _number(text: str) -> float | None:
    """As ``cot._num``: None for blank text, NaN for text that is not a number (refused later)."""
    try:
        return float(text)
    except ValueError:
        return None if text.strip() == "" else float("nan")
