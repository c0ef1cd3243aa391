"""JSON incident reports: one object per line (JSON lines) over TCP, or in dropped files.

Schema (docs/feeds.md has it with examples)::

    {"id": "radar7-000123",              required; 1-128 chars of A-Z a-z 0-9 . _ : @ / + -
     "time": "2026-11-01T12:00:00Z",     required; ISO 8601 with a time zone
     "lat": 31.77, "lon": -106.45,       required; WGS84 degrees; 0,0 is refused as a placeholder
     "threat_type": "smuggling",         required; one of borderwatch.domain.THREAT_TYPES
     "severity": 3,                      optional 1-4 (low, moderate, high, critical); default 2
     "confidence": 0.8,                  optional 0-1; default 0.5
     "description": "...",               optional text (up to 2000 characters kept)
     "source": "radar",                  optional lower-case word; default "feed"
     "reporting_nation": "USA",          optional ISO 3166-1 alpha-3
     "location_error_m": 50,             optional metres, >= 0
     "release_to": "MEX,schengen"}       optional, from a feed source only: public, owner, or nations and
                                         agreements; default the source's releasability

Over TCP, the first line of a connection names its sender: ``{"token": "bwfs_..."}``, a feed
source's token (``borderwatch sources add``; see borderwatch/feeds/sources.py). The source's nation
then owns every record and is its reporting nation (a record stating another one is refused), its
releasability applies, and its name is the default ``source``. ``--json-open`` also accepts
connections that send no token (the site's ``--nation`` owns their records).

Unknown fields, duplicate keys, NaN / Infinity and non-object lines are refused, each with its
reason. ``id`` makes re-sends idempotent: the incident id is ``json:<id>``; the first wins.
"""
from __future__ import annotations

import datetime as dt
import json
import re

from borderwatch.feeds import records
from borderwatch.feeds.records import Rejected

MAX_LINE_BYTES = 64 * 1024
DATASET = "feed:json"
DEFAULT_SOURCE = "feed"
REQUIRED = ("id", "time", "lat", "lon", "threat_type")
OPTIONAL = ("severity", "confidence", "description", "source", "reporting_nation", "location_error_m", "release_to",
            "sensor_id")
_ID = re.compile(r"[A-Za-z0-9._:@/+\-]{1,128}")


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise Rejected(f"duplicate key {records.clip(key, 30)!r}")
        out[key] = value
    return out


def _no_constant(name):
    raise Rejected(f"{name} is not a number JSON allows")


def loads(data: bytes | str):
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError:
        raise Rejected("not UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark (files saved by some editors)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise Rejected(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise Rejected("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        if "digits" in str(exc):
            raise Rejected("malformed JSON: a number with more digits than allowed (4,300)") from None
        raise Rejected(f"malformed JSON: {records.clip(str(exc), 80)}") from None


def _check_text(obj: dict) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as \\ud800 escaped in JSON)."""
    for key, value in obj.items():
        for what, text in (("field name", key), (f"field {key!r}", value)):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    bad = text[exc.start:exc.end].encode("unicode_escape").decode("ascii")
                    raise Rejected(f"{records.clip(what, 40)} holds a lone surrogate ({bad}): not valid Unicode text") from None


def to_incident(obj, *, now: dt.datetime | None = None, source: str | None = None) -> dict:
    """A decoded JSON object → incident record, or ``Rejected`` with the first problem found."""
    if not isinstance(obj, dict):
        raise Rejected(f"expected a JSON object, got {type(obj).__name__}")
    _check_text(obj)
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise Rejected(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(obj) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise Rejected(f"unknown field(s): {', '.join(records.clip(k, 30) for k in unknown[:5])}")
    ident = obj["id"]
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not _ID.fullmatch(str(ident)):
        raise Rejected(f"id must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -, not {records.clip(str(ident), 40)!r}")
    if not isinstance(obj["time"], str):
        raise Rejected("time must be an ISO 8601 string")
    occurred = records.check_time(records.parse_time(obj["time"], "time", require_zone=True), "time", now)
    lat, lon = records.check_location(obj["lat"], obj["lon"])
    threat = records.check_threat(obj["threat_type"])
    severity = records.check_severity(obj["severity"]) if obj.get("severity") is not None else 2
    confidence = records.check_confidence(obj["confidence"]) if obj.get("confidence") is not None else 0.5
    description = obj.get("description") or ""
    if not isinstance(description, str):
        raise Rejected("description must be a string")
    err = obj.get("location_error_m")
    if err is not None:
        err = records.to_float(err, "location_error_m")
        if err < 0:
            raise Rejected(f"location_error_m {err:g} is negative")
    release_to = obj.get("release_to")
    if release_to is not None and not isinstance(release_to, str):
        raise Rejected('release_to must be a string: public, owner, or nations and agreements (e.g. "MEX,schengen")')
    extra = {"id": str(ident)}
    sensor = obj.get("sensor_id")
    if sensor is not None:  # the sensor that detected it: heard from at the detection's time
        if isinstance(sensor, bool) or not isinstance(sensor, (str, int)) or not _ID.fullmatch(str(sensor)):
            raise Rejected(f"sensor_id must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -, "
                           f"not {records.clip(str(sensor), 40)!r}")
        extra["sensor_id"] = str(sensor)
    rec = records.make_record(
        incident_id=f"json:{ident}", occurred_at=occurred, threat_type=threat, severity=severity,
        lat=lat, lon=lon, location_error_m=err, confidence=confidence,
        source=records.check_source(obj.get("source"), source or DEFAULT_SOURCE),
        reporting_nation=records.check_nation(obj.get("reporting_nation")),
        description=description, dataset=DATASET, extra=extra,
    )
    if release_to is not None:
        rec["release_to"] = release_to  # checked against the sender (borderwatch/feeds/sources.py)
    return rec


def parse_line(line: bytes | str, *, max_bytes: int = MAX_LINE_BYTES, now: dt.datetime | None = None,
               source: str | None = None) -> dict:
    if len(line) > max_bytes:
        raise Rejected(f"oversized message ({len(line):,} bytes > limit {max_bytes:,})")
    return to_incident(loads(line), now=now, source=source)


def is_hello(line: bytes) -> bool:
    """Whether a line looks like a connection's token line (checked properly by the source gate)."""
    return line.lstrip()[:10].replace(b" ", b"").startswith(b'{"token"')


class LineSplitter:
    """Cuts a byte stream into lines; a line longer than the limit is skipped, not buffered."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES):
        self.max_bytes = max_bytes
        self.buf = bytearray()
        self.skipping = 0  # bytes of an oversized line skipped so far

    def feed(self, data: bytes) -> list[tuple[bytes | None, str | None]]:
        out: list[tuple[bytes | None, str | None]] = []
        self.buf += data
        while True:
            j = self.buf.find(b"\n")
            if j < 0:
                break
            line = bytes(self.buf[:j])
            del self.buf[:j + 1]
            if self.skipping:
                size = self.skipping + len(line) + 1
                self.skipping = 0
                out.append((None, f"oversized message ({size:,} bytes > limit {self.max_bytes:,})"))
            elif len(line) > self.max_bytes:
                out.append((None, f"oversized message ({len(line):,} bytes > limit {self.max_bytes:,})"))
            elif line.strip():
                out.append((line.rstrip(b"\r"), None))
        if len(self.buf) > self.max_bytes:
            self.skipping += len(self.buf)
            self.buf.clear()
        return out

    def close(self) -> list[tuple[bytes | None, str | None]]:
        out: list[tuple[bytes | None, str | None]] = []
        if self.skipping:
            out.append((None, f"oversized message ({self.skipping + len(self.buf):,} bytes > limit {self.max_bytes:,})"))
        elif self.buf.strip():
            out.append((bytes(self.buf), None))  # a last line without newline still counts
        self.buf.clear()
        self.skipping = 0
        return out

    @property
    def pending_bytes(self) -> int:
        return len(self.buf)
