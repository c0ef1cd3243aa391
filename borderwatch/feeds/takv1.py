"""TAK protocol version 1: CoT as protobuf (the ``TakMessage`` definitions of the ``takproto``
package), in its two wire forms:

- mesh (UDP): ``0xBF 0x01 0xBF`` then one ``TakMessage``;
- stream (TCP, TLS, and unicast UDP from some clients): ``0xBF``, the message length as a
  protobuf varint, then the ``TakMessage``.

``parse_event`` turns either form into the same ``cot.CotEvent`` an XML event gives, so the
mapping, validation and idempotency are shared. The free-form part of the detail (``xmlDetail``:
remarks, emergency, sensor, the Borderwatch extension...) is parsed with the same safe XML parser
as CoT XML (no DTD, no entities).
"""
from __future__ import annotations

import datetime as dt

from google.protobuf.message import DecodeError
from takproto.constants import DEFAULT_MESH_HEADER, TAKProtoVer
from takproto.functions import msg2proto
from takproto.proto import TakMessage

from borderwatch.feeds import records
from borderwatch.feeds.records import Ignored, Rejected

MESH = bytes(DEFAULT_MESH_HEADER)  # b"\xbf\x01\xbf"
MAGIC = 0xBF
_EPOCH = dt.datetime(1970, 1, 1)


def read_varint(buf, i: int) -> tuple[int, int] | None:
    """(value, index after it) of the protobuf varint at ``buf[i]``; None when incomplete;
    ``Rejected`` when longer than 10 bytes."""
    value = shift = 0
    n = len(buf)
    for k in range(i, min(n, i + 10)):
        b = buf[k]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, k + 1
        shift += 7
    if n - i >= 10:
        raise Rejected("malformed TAK protocol frame: length varint longer than 10 bytes")
    return None


def payload_of(data: bytes) -> bytes:
    """The ``TakMessage`` bytes of one mesh or stream message (a UDP datagram, or a frame)."""
    if data[:3] == MESH:
        return data[3:]
    got = read_varint(data, 1)
    if got is None:
        raise Rejected("malformed TAK protocol frame: truncated length")
    length, start = got
    if length != len(data) - start:
        raise Rejected(f"malformed TAK protocol frame: length {length:,} but {len(data) - start:,} bytes follow")
    return data[start:]


def _time(ms: int, what: str) -> dt.datetime | None:
    if not ms:
        return None
    try:
        return _EPOCH + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise Rejected(f"{what} {ms} ms is out of range") from None


def parse_event(data: bytes):
    from borderwatch.feeds import cot

    msg = TakMessage()
    try:
        msg.ParseFromString(payload_of(data))
    except DecodeError as exc:
        raise Rejected(f"TAK protocol message could not be decoded: {records.clip(str(exc), 80)}") from None
    if not msg.HasField("cotEvent"):
        raise Ignored("not an incident report: TAK protocol control message (no CoT event)")
    e = msg.cotEvent
    uid = e.uid.strip()
    if not uid:
        raise Rejected("event has no uid")
    if len(uid) > cot._MAX_UID or not uid.isprintable():
        raise Rejected(f"event uid is too long or not printable: {records.clip(uid, 40)!r}")
    if not e.type:
        raise Rejected("event has no type")
    if not cot._TYPE.fullmatch(e.type):
        raise Rejected(f"event type is not a CoT type: {records.clip(e.type, 40)!r}")
    time = _time(e.sendTime, "event time")
    if time is None:
        raise Rejected("missing event time")
    start, stale = _time(e.startTime, "event start"), _time(e.staleTime, "event stale")
    if start and stale and stale < start:
        raise Rejected("event stale time precedes its start time")
    unknown = records.UNKNOWN_ERROR_M
    fields: dict = {
        "has_point": True, "lat": e.lat, "lon": e.lon,
        "hae": e.hae if e.hae < unknown else None,
        # protobuf cannot tell 0 from absent: a circular error of 0 is taken as unknown
        "ce": e.ce if 0 < e.ce < unknown else None,
        "le": e.le if e.le < unknown else None,
        "raw_point": {"lat": e.lat, "lon": e.lon, "ce": e.ce if 0 < e.ce else None},
    }
    d = e.detail
    if d.xmlDetail:
        fields.update(cot.detail_fields(cot._safe_xml(b"<detail>" + d.xmlDetail.encode("utf-8") + b"</detail>")))
    if d.HasField("contact") and d.contact.callsign:
        fields["callsign"] = d.contact.callsign
    if d.HasField("takv") and (d.takv.platform or d.takv.device):
        fields["platform"] = d.takv.platform or d.takv.device
    if d.HasField("track"):
        fields["speed"], fields["course"] = d.track.speed, d.track.course
    if d.HasField("group"):
        fields["team"], fields["role"] = d.group.name or None, d.group.role or None
    return cot.CotEvent(uid=uid, type=e.type, time=time, start=start, stale=stale, how=e.how or None,
                        version=None, wire="protobuf", **fields)


def encode(message: TakMessage, *, stream: bool = True) -> bytes:
    """A ``TakMessage`` in stream (TCP/TLS) or mesh (UDP) form."""
    return bytes(msg2proto(message, TAKProtoVer.STREAM if stream else TAKProtoVer.MESH))
