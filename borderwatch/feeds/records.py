"""What every feed format turns a message into: an incident record, or a reason it is not one.

A parser either returns an incident record (a plain dict, JSON-serialisable, with the columns
``borderwatch.incident_store.prepare_incidents`` needs) or raises:

- ``Rejected``: the message is broken or hostile (malformed, missing fields, impossible values);
- ``Ignored``: the message is well formed but is not an incident report (a chat line, a friendly
  unit's position report, a control message).

Both carry a one-line reason that is logged and shown in the feed status.
"""
from __future__ import annotations

import datetime as dt
import math
import re

from borderwatch.domain import THREAT_TYPES

# columns of an incident record, as journalled and handed to prepare_incidents
INCIDENT_FIELDS = ("incident_id", "occurred_at", "time_precision", "threat_type", "severity", "confidence",
                   "reporting_nation", "source", "description", "lon", "lat", "location_error_m")
MAX_DESCRIPTION = 2000
MAX_FUTURE = dt.timedelta(hours=1)  # clock skew tolerated between a device and the service
EARLIEST = dt.datetime(1990, 1, 1)
UNKNOWN_ERROR_M = 9_999_999.0  # CoT's "unknown" for ce / le / hae
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?P<zone>Z|z|[+-]\d{2}:?\d{2})?"
)
_NATION = re.compile(r"[A-Z]{3}")
_SOURCE = re.compile(r"[a-z0-9_]{1,40}")


class FeedError(Exception):
    """Base of the two outcomes that are not an incident record."""

    kind = "error"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Rejected(FeedError):
    """Broken or hostile input: dropped, with its reason logged."""

    kind = "rejected"


class Ignored(FeedError):
    """Well-formed input that is not an incident report (chat, friendly positions...)."""

    kind = "ignored"


def parse_time(text: str | None, what: str, *, require_zone: bool = False) -> dt.datetime:
    """An ISO 8601 time as naive UTC; a time without zone is UTC unless ``require_zone``."""
    if text is None or not str(text).strip():
        raise Rejected(f"missing {what}")
    text = str(text).strip()
    # fast path for what TAK clients send: 2026-11-01T12:00:00[.fff...]Z
    if (len(text) >= 20 and text[-1] == "Z" and text[4] == "-" and text[7] == "-" and text[10] == "T"
            and text[13] == ":" and text[16] == ":" and text[19:20] in ("Z", ".") and text[:4].isdigit()):
        try:
            value = dt.datetime.fromisoformat(text[:-1])
        except ValueError:
            value = None
        if value is not None and value.tzinfo is None:
            return value
    m = _ISO_TIME.fullmatch(text)
    if not m:
        raise Rejected(f"{what} is not an ISO 8601 time: {clip(text, 40)!r}")
    if require_zone and not m.group("zone"):
        raise Rejected(f"{what} has no time zone (add 'Z' for UTC): {text!r}")
    try:
        value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise Rejected(f"{what} is not a valid time: {text!r} ({exc})") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def wall_clock() -> dt.datetime:
    """The real current UTC time (naive). Deliberately not ``filters.utcnow``: a pinned
    ``BORDERWATCH_NOW`` replays a store, but live reports arrive on the real clock."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def check_time(value: dt.datetime, what: str, now: dt.datetime | None = None) -> dt.datetime:
    now = now or wall_clock()
    if value < EARLIEST:
        raise Rejected(f"{what} {value:%Y-%m-%dT%H:%M:%SZ} is implausibly old")
    if value > now + MAX_FUTURE:
        ahead = (value - now).total_seconds() / 60
        raise Rejected(f"{what} {value:%Y-%m-%dT%H:%M:%SZ} is {ahead:.0f} min in the future")
    return value


def to_float(value, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise Rejected(f"{what} is missing or not a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise Rejected(f"{what} is not a number: {clip(str(value), 30)!r}") from None
    if not math.isfinite(out):
        raise Rejected(f"{what} is not a finite number: {value!r}")
    return out


def check_location(lat, lon) -> tuple[float, float]:
    """Validated (lat, lon): in range, finite, and not the 0,0 placeholder."""
    lat = to_float(lat, "latitude")
    lon = to_float(lon, "longitude")
    if not -90.0 <= lat <= 90.0:
        raise Rejected(f"latitude {lat:g} is out of range (-90..90)")
    if not -180.0 <= lon <= 180.0:
        raise Rejected(f"longitude {lon:g} is out of range (-180..180)")
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        raise Rejected("location 0,0 is a placeholder, not a position")
    return lat, lon


def location_error(value) -> float | None:
    """A circular error in metres; None when unknown (CoT's 9999999)."""
    if value is None or value == "":
        return None
    err = to_float(value, "location error (ce)")
    if err < 0:
        raise Rejected(f"location error {err:g} m is negative")
    if err >= UNKNOWN_ERROR_M:
        return None
    return err


def check_threat(value) -> str:
    if value not in THREAT_TYPES:
        raise Rejected(f"unknown threat type {clip(str(value), 40)!r} (expected one of {', '.join(THREAT_TYPES)})")
    return value


def check_severity(value) -> int:
    if isinstance(value, bool):
        raise Rejected("severity must be an integer 1-4")
    try:
        sev = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        sev = None
    if sev not in (1, 2, 3, 4):
        raise Rejected(f"severity must be an integer 1-4, not {clip(str(value), 20)!r}")
    return sev


def check_confidence(value) -> float:
    conf = to_float(value, "confidence")
    if not 0.0 <= conf <= 1.0:
        raise Rejected(f"confidence {conf:g} is outside 0-1")
    return conf


def check_nation(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _NATION.fullmatch(value.upper()):
        raise Rejected(f"reporting nation must be an ISO 3166-1 alpha-3 code, not {clip(str(value), 20)!r}")
    return value.upper()


def check_source(value, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _SOURCE.fullmatch(value):
        raise Rejected(f"source must be a short lower-case word (a-z, 0-9, _), not {clip(str(value), 40)!r}")
    return value


def clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def excerpt(data: bytes | str, n: int = 120) -> str:
    """A short printable excerpt of a message, for reject logs."""
    if isinstance(data, bytes):
        data = data[: n * 4].decode("utf-8", "replace")
    text = " ".join(data.split())
    return clip(text, n).encode("utf-8", "replace").decode("utf-8")  # lone surrogates shown as '?'


def iso_us(value: dt.datetime, iso: str | None = None) -> str:
    """``value.isoformat(timespec="microseconds")`` of a naive time, from ``value.isoformat()``
    (``iso``, when known) without the keyword call, which costs a microsecond more."""
    if value.tzinfo is not None:
        return value.isoformat(timespec="microseconds")
    iso = iso or value.isoformat()
    return iso if value.microsecond else iso + ".000000"


def make_record(*, incident_id: str, occurred_at: dt.datetime, threat_type: str, severity: int,
                lat: float, lon: float, source: str, description: str = "", confidence: float = 0.5,
                reporting_nation: str | None = None, location_error_m: float | None = None,
                dataset: str, extra: dict | None = None, occurred_iso: str | None = None) -> dict:
    """An incident record as journalled (times as ISO text, naive UTC). ``occurred_iso``:
    ``occurred_at.isoformat()`` when the caller has it already."""
    return {
        "incident_id": incident_id,
        "occurred_at": iso_us(occurred_at, occurred_iso),
        "time_precision": "second",
        "threat_type": threat_type,
        "severity": int(severity),
        "confidence": float(confidence),
        "reporting_nation": reporting_nation,
        "source": source,
        "description": clip(description or "", MAX_DESCRIPTION),
        "lon": float(lon),
        "lat": float(lat),
        "location_error_m": location_error_m,
        "dataset": dataset,
        "extra": extra or {},
    }
