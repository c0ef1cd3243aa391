"""Patrols: friendly position reports (PLI) kept as tracks.

A CoT event of a friendly or assumed-friendly track (``a-f-*``, ``a-a-*``) with a position is a
patrol position, not an incident report: its callsign, team and role (``__group``), speed and
course (``track``), platform (``takv``) and ``stale`` time are journalled like incidents (same
durability, same idempotency: one row per unit and report time) and stored in the ``patrols``
table. The live map's patrols layer (``layers/patrols.py``) shows the last known position and a
short track per unit, faded once stale and left out after a configurable time; the store writer
deletes positions older than ``--patrol-keep`` hours.
"""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa

import queries
from borderwatch import incident_store
from borderwatch.feeds import records
from borderwatch.feeds.records import Rejected
from borderwatch.filters import utcnow
from borderwatch.store import Store

DATASET = "feed:patrol"
KIND = "patrol"
_FRIENDLY = re.compile(r"a-[faFA](-.*)?")
DEFAULT_STALE = dt.timedelta(minutes=5)  # when an event states no stale time
SCHEMA = pa.schema([
    ("uid", pa.string()), ("callsign", pa.string()), ("nation", pa.string()), ("team", pa.string()),
    ("role", pa.string()), ("cot_type", pa.string()), ("platform", pa.string()),
    ("lon", pa.float64()), ("lat", pa.float64()), ("speed_mps", pa.float32()), ("course_deg", pa.float32()),
    ("reported_at", pa.timestamp("us")), ("stale_at", pa.timestamp("us")), ("segment_id", pa.string()),
    ("dataset", pa.string()), ("ingested_at", pa.timestamp("us")),
])


def is_position(ev) -> bool:
    """A friendly / assumed-friend track with a point (PLI). A Borderwatch extension that states
    an incident (threat, severity, description) makes it an incident report instead; one that
    only states the unit's nation (``<borderwatch nation="POL"/>``) keeps it a position."""
    ext = ev.extension
    if ext is not None and set(ext) - {"nation", "source"}:
        return False
    return ev.has_point and bool(_FRIENDLY.fullmatch(ev.type))


def to_record(ev, *, nation: str | None = None, now: dt.datetime | None = None) -> dict:
    """The journal record of a patrol position (``Rejected`` for an impossible one)."""
    lat, lon = records.check_location(ev.lat, ev.lon)
    reported = records.check_time(ev.time, "event time", now)
    stale = ev.stale or reported + DEFAULT_STALE
    speed = ev.speed if ev.speed is not None and 0 <= ev.speed < 1000 else None
    course = ev.course % 360 if ev.course is not None else None
    callsign = (ev.callsign or "").splitlines()[0].strip() if ev.callsign else ""
    if ev.extension and ev.extension.get("nation"):
        nation = records.check_nation(ev.extension["nation"])
    return {
        "kind": KIND, "uid": ev.uid, "callsign": records.clip(callsign or ev.uid, 80),
        "nation": nation, "team": records.clip(ev.team, 40) if ev.team else None,
        "role": records.clip(ev.role, 40) if ev.role else None, "cot_type": ev.type,
        "platform": records.clip(ev.platform, 40) if ev.platform else None,
        "lon": lon, "lat": lat, "speed_mps": speed, "course_deg": course,
        "reported_at": reported.isoformat(timespec="microseconds"),
        "stale_at": stale.isoformat(timespec="microseconds"), "dataset": DATASET,
        "extra": {"how": ev.how, "wire": ev.wire},
    }


def table(store: Store, recs: list[dict]) -> pa.Table:
    n = len(recs)
    lon = np.fromiter((r["lon"] for r in recs), float, n)
    lat = np.fromiter((r["lat"] for r in recs), float, n)
    loc = incident_store.locator(store)
    near = loc.nearest(lon, lat)
    seg = [loc.ids[i] if i >= 0 else None for i in near]
    cols = {name: pa.array([r.get(name) for r in recs], SCHEMA.field(name).type)
            for name in ("uid", "callsign", "nation", "team", "role", "cot_type", "platform", "speed_mps",
                         "course_deg", "dataset")}
    cols.update(
        lon=pa.array(lon), lat=pa.array(lat), segment_id=pa.array(seg, pa.string()),
        reported_at=pa.array([r["reported_at"] for r in recs]).cast(pa.timestamp("us")),
        stale_at=pa.array([r["stale_at"] for r in recs]).cast(pa.timestamp("us")),
        ingested_at=pa.repeat(pa.scalar(utcnow(), pa.timestamp("us")), n),
    )
    return pa.Table.from_arrays([cols[f.name] for f in SCHEMA], schema=SCHEMA)


def insert(store: Store, recs: list[dict]) -> int:
    """Store positions not stored yet (by unit and report time); returns how many were new."""
    if not recs:
        return 0
    t = table(store, recs)
    with store.transaction() as cur:
        before = queries.scalar("count_rows", store=store, idents={"table": "patrols"})
        cur.register("staged_patrols", t)
        try:
            queries.execute("insert_patrols", store=store)
        finally:
            cur.unregister("staged_patrols")
        after = queries.scalar("count_rows", store=store, idents={"table": "patrols"})
    return int(after - before)


def prune(store: Store, keep: dt.timedelta) -> None:
    """Delete positions reported more than ``keep`` ago."""
    with store.transaction():
        queries.execute("delete_old_patrols", store=store, before=utcnow() - keep)


__all__ = ["is_position", "to_record", "insert", "prune", "Rejected"]
