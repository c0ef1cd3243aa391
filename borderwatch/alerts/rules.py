"""Alert rule kinds: what each watches, its parameters (checked), and how it is evaluated.

Every rule belongs to a nation and is evaluated as that nation sees the store: its queries run
through the gateway for a viewer of that nation, so an alert is only ever derived from rows the
nation may see (see docs/alerts.md). ``evaluate(kind, params, ...)`` returns the rule's current
*causes*: ``Cause(key, title, detail, segment_id, evidence)``; storing them once per hold-off is
``borderwatch.alerts``' job.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Callable

import queries
from borderwatch.domain import THREAT_LABELS, THREAT_TYPES
from borderwatch.filters import WINDOW_LABELS, WINDOWS, Filter
from borderwatch.situation import Situation
from borderwatch.words import plural

LEVELS = ("high", "critical")
SENSOR_STATES = {"degraded": ("degraded", "offline"), "offline": ("offline",)}
_ISO3 = re.compile(r"^[A-Z]{3}$")

KINDS = {
    "segment_impact": "a border segment reaches high or critical impact",
    "threat_surge": "a threat type surges in a nation's borders or an agreement area against its baseline",
    "coverage_gap": "an incident falls in a sensor coverage gap",
    "sensor_status": "a sensor goes degraded or offline",
    "feed_silent": "a live-feed source falls silent",
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "segment_impact": {"level": "high", "window": "24h", "nations": []},
    "threat_surge": {"threat_type": "", "area": "", "window_hours": 24, "factor": 2.0, "min_incidents": 5,
                     "baseline_days": 28},
    "coverage_gap": {"min_severity": 1, "nations": [], "lookback_hours": 24},
    "sensor_status": {"status": "offline", "nations": []},
    "feed_silent": {"minutes": 15, "source": ""},
}
DEFAULT_HOLD_OFF_MIN = 60


@dataclasses.dataclass(frozen=True)
class Cause:
    """Why a rule fires now. ``key`` names the cause (a segment, a sensor, a feed source...): one
    alert per rule and key within the hold-off."""
    key: str
    title: str
    detail: str
    segment_id: str | None = None
    evidence: tuple[str, ...] = ()  # incident or sensor ids behind it (the first 20)


# -- parameters ---------------------------------------------------------------------------------
def _number(params: dict, name: str, low: float, high: float, kind=float):
    value = params.get(name)
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def _codes(params: dict, name: str, known: set[str] | None) -> list[str]:
    raw = params.get(name) or []
    items = [s.strip().upper() for s in (raw.split(",") if isinstance(raw, str) else raw) if str(s).strip()]
    for code in items:
        if not _ISO3.match(code) or (known is not None and code not in known):
            raise ValueError(f"{name}: {code!r} is not a nation in the store (ISO3, e.g. USA)")
    return sorted(set(items))


def check(kind: str, params: dict | None, *, nations: set[str] | None = None,
          agreements: set[str] | None = None) -> dict[str, Any]:
    """The rule's parameters completed with defaults and checked; ValueError naming the bad one."""
    if kind not in KINDS:
        raise ValueError(f"rule kind must be one of {', '.join(KINDS)}, not {kind!r}")
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULTS[kind]))
    if unknown:
        raise ValueError(f"{kind} has no parameter {', '.join(unknown)} (it takes {', '.join(DEFAULTS[kind])})")
    p = {**DEFAULTS[kind], **{k: v for k, v in given.items() if v is not None}}
    if kind == "segment_impact":
        if p["level"] not in LEVELS:
            raise ValueError(f"level must be high or critical, not {p['level']!r}")
        if p["window"] not in WINDOWS:
            raise ValueError(f"window must be one of {', '.join(WINDOWS)}, not {p['window']!r}")
        p["nations"] = _codes(p, "nations", nations)
    elif kind == "threat_surge":
        if p["threat_type"] not in THREAT_TYPES:
            raise ValueError(f"threat_type must be one of {', '.join(THREAT_TYPES)}, not {p['threat_type']!r}")
        area = str(p["area"]).strip()
        if _ISO3.match(area.upper()) and (nations is None or area.upper() in nations):
            area = area.upper()
        elif not area or (agreements is not None and area not in agreements):
            raise ValueError(f"area must be a nation (ISO3, e.g. USA) or an agreement id in the store, not {area!r}")
        p["area"] = area
        p["window_hours"] = _number(p, "window_hours", 1, 24 * 31)
        p["factor"] = _number(p, "factor", 1.0, 100.0)
        p["min_incidents"] = _number(p, "min_incidents", 1, 1_000_000, int)
        p["baseline_days"] = _number(p, "baseline_days", 1, 365)
    elif kind == "coverage_gap":
        p["min_severity"] = _number(p, "min_severity", 1, 4, int)
        p["lookback_hours"] = _number(p, "lookback_hours", 1, 24 * 31)
        p["nations"] = _codes(p, "nations", nations)
    elif kind == "sensor_status":
        if p["status"] not in SENSOR_STATES:
            raise ValueError(f"status must be degraded (degraded or offline) or offline, not {p['status']!r}")
        p["nations"] = _codes(p, "nations", nations)
    elif kind == "feed_silent":
        p["minutes"] = _number(p, "minutes", 1, 7 * 1440)
        p["source"] = str(p["source"] or "").strip()
    return p


def describe(kind: str, p: dict) -> str:
    """The rule in words, as shown in lists."""
    where = f" on borders of {', '.join(p['nations'])}" if p.get("nations") else ""
    if kind == "segment_impact":
        return f"a segment{where} at {p['level']} impact or above ({WINDOW_LABELS[p['window']]})"
    if kind == "threat_surge":
        return (f"{THREAT_LABELS[p['threat_type']].lower()} in {p['area']}: at least {p['min_incidents']} in "
                f"{p['window_hours']:g} h and {p['factor']:g}× the {p['baseline_days']:g}-day baseline")
    if kind == "coverage_gap":
        return f"an incident of severity {p['min_severity']}+{where} outside online sensor coverage"
    if kind == "sensor_status":
        return f"a sensor{where} {' or '.join(SENSOR_STATES[p['status']])}"
    return f"{p['source'] or 'any feed source'} silent for {p['minutes']:g} min"


# -- evaluation ---------------------------------------------------------------------------------
class _Current(Situation):
    """The situation read afresh: a rule is evaluated right after a commit, in the writer's own
    process, where the result cache (keyed by the catalog's snapshot) may not have seen it yet."""

    def q(self, name: str, **params):
        return queries.df(name, self.filter, store=self.store, now=self.now, **params)


def _segment_impact(p: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    stats = _Current(Filter(nations=tuple(p["nations"]), window=p["window"]), now, store).segment_stats
    wanted = LEVELS[LEVELS.index(p["level"]):]
    out = []
    for r in stats[stats.impact.isin(wanted)].itertuples(index=False):
        out.append(Cause(r.segment_id, f"{r.segment_id} at {r.impact} impact",
                         f"{r.reason}; {WINDOW_LABELS[p['window']]}", r.segment_id))
    return out


def _threat_surge(p: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    area = p["area"]
    flt = Filter(nations=(area,)) if _ISO3.match(area) else Filter(agreements=(area,))
    flt = flt.replace(threat_types=(p["threat_type"],))
    window = dt.timedelta(hours=p["window_hours"])
    base = dt.timedelta(days=p["baseline_days"])
    row = queries.rows("alert_threat_counts", flt, store=store, now=now, win_start=now - window, win_end=now,
                       base_start=now - window - base)[0]
    n, n_base, ids = int(row[0] or 0), int(row[1] or 0), tuple(row[2] or ())
    expected = n_base / (base / window)
    ratio = (n + 1.0) / (expected + 1.0)
    if n < p["min_incidents"] or ratio < p["factor"]:
        return []
    label = THREAT_LABELS[p["threat_type"]]
    return [Cause(f"{p['threat_type']}@{area}", f"{label} surge in {area}",
                  f"{plural(n, 'incident')} in the last {p['window_hours']:g} h against {expected:,.1f} expected "
                  f"from the {p['baseline_days']:g}-day baseline ({ratio:.1f}×)", None, ids)]


def _coverage_gap(p: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    # incidents that arrived within the hold-off: an alert for them, if raised, is still within it
    flt = Filter(nations=tuple(p["nations"]), min_severity=p["min_severity"])
    df = queries.df("alert_gap_incidents", flt, store=store, now=now, since=now - hold_off,
                    occurred_since=now - dt.timedelta(hours=p["lookback_hours"]))
    return [Cause(r.segment_id, f"{plural(r.n, 'incident')} in a coverage gap on {r.segment_id}",
                  f"outside every online sensor's coverage; latest at {r.last_at:%Y-%m-%d %H:%M} UTC",
                  r.segment_id, tuple(r.ids)) for r in df.itertuples(index=False)]


def _sensor_status(p: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    df = queries.df("alert_sensor_status", Filter(nations=tuple(p["nations"])), store=store, now=now,
                    statuses=list(SENSOR_STATES[p["status"]]))
    out = []
    for r in df.itertuples(index=False):
        heard = "never heard" if r.last_heard_at is None or str(r.last_heard_at) == "NaT" else \
            f"last heard {r.last_heard_at:%Y-%m-%d %H:%M} UTC"
        # a sensor is its owner and its id: two nations' sensors under one id are two causes
        owner = r.owner_key if isinstance(r.owner_key, str) else ""
        out.append(Cause(f"{owner}/{r.sensor_id}:{r.status}", f"Sensor {r.name or r.sensor_id} {r.status}",
                         f"{r.sensor_type.replace('_', ' ')} of {owner or 'no nation'} on {r.segment_id or 'no segment'}; "
                         f"{heard}", r.segment_id, (r.sensor_id,)))
    return out


def _feed_silent(p: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    from borderwatch.feeds.status import read_status, silent_sources

    return [Cause(s["source"], f"Feed source {s['source']} silent", s["text"])
            for s in silent_sources(read_status(store), p["minutes"], p["source"])]


EVALUATORS: dict[str, Callable[..., list[Cause]]] = {
    "segment_impact": _segment_impact, "threat_surge": _threat_surge, "coverage_gap": _coverage_gap,
    "sensor_status": _sensor_status, "feed_silent": _feed_silent,
}


def evaluate(kind: str, params: dict, now: dt.datetime, store, hold_off: dt.timedelta) -> list[Cause]:
    """The rule's causes now, for the viewer the caller set (the rule's nation)."""
    return EVALUATORS[kind](params, now, store, hold_off)
