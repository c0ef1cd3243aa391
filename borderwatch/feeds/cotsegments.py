"""CoT out for border segments: a TAK marker per segment whose impact level changes.

Every ``every_s`` the publisher computes each segment's impact level over the last 24 hours (the
live map's rule, ``layers.style.IMPACT_RULE``) *as the TAK network would see it*: only over the
incidents releasable to it (``--cot-out-release``), so a hidden incident never raises a level the
network sees. A segment whose level differs from the last one sent gets one CoT event: a drawn
line (``u-d-f``) along the segment in the level's colour, with a stable uid per segment
(``borderwatch.segment.<id>``) so an update replaces the marker on the devices, a stale time, and
remarks naming the nations, the level (and the one before), why, and a link back to the view.
A segment never sent counts as ``low``: at the first start only segments above low are sent, and
a level unchanged since it was sent sends nothing (it is re-sent only shortly before its marker
would go stale on the devices). A CoT ``u-d-*`` drawing is not an incident: another Borderwatch
receiving it ignores it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import shapely

from borderwatch import access
from borderwatch.filters import Filter
from borderwatch.store import Store

UID_PREFIX = "borderwatch.segment."
WINDOW = "24h"
MAX_VERTICES = 64  # a drawn line on a handheld: enough to follow the border, small on the wire
# ARGB colours of the live map's impact levels (layers.style.IMPACT_COLORS), as TAK wants them
_LEVEL_ORDER = ("low", "medium", "high", "critical")


@dataclasses.dataclass
class SegmentLevel:
    segment_id: str
    nation_a: str
    nation_b: str
    level: str
    reason: str
    n: int
    line: list[tuple[float, float]]  # (lat, lon) vertices, at most MAX_VERTICES
    mid: tuple[float, float]  # (lat, lon) halfway along the segment


def _argb(hex_colour: str) -> int:
    """``#rrggbb`` → the signed 32-bit ARGB integer TAK uses for stroke colours (opaque)."""
    value = 0xFF000000 | int(hex_colour.lstrip("#"), 16)
    return value - (1 << 32)


def _shape(geom) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """The longest part of a segment's line, thinned to at most MAX_VERTICES, and its midpoint."""
    parts = shapely.get_parts(geom)
    line = max(parts, key=lambda g: g.length) if len(parts) else geom
    coords = shapely.get_coordinates(line)
    if len(coords) > MAX_VERTICES:
        keep = np.unique(np.linspace(0, len(coords) - 1, MAX_VERTICES).round().astype(int))
        coords = coords[keep]
    mid = line.interpolate(0.5, normalized=True)
    return [(float(y), float(x)) for x, y in coords], (float(mid.y), float(mid.x))


class SegmentShapes:
    """Segment lines for CoT, cached until the border segments change."""

    def __init__(self):
        self.key = None
        self.shapes: dict[str, tuple] = {}

    def get(self, store: Store) -> dict[str, tuple]:
        import queries
        from borderwatch.reference import segments_frame

        key = queries.scalar("segments_fingerprint", store=store)
        if key != self.key:
            segs = segments_frame(store)
            self.shapes = {sid: _shape(g) for sid, g in zip(segs.segment_id, segs.geometry)}
            self.key = key
        return self.shapes


def _fresh_situation(flt: Filter, now: dt.datetime, store: Store):
    """The live map's per-segment figures, read afresh: the feed service writes in this very
    process, and a result cached under the store's snapshot id must not hide its own writes."""
    import functools

    import queries
    from borderwatch.situation import Situation

    class Fresh(Situation):
        def q(self, name: str, **params):
            return queries.df(name, self.filter, store=self.store, now=self.now, **params)

        @functools.cached_property
        def data_range(self):
            return tuple(queries.df("data_time_range", store=self.store).iloc[0])

    return Fresh(flt, now, store)


def current_levels(store: Store, viewer: access.Viewer, shapes: SegmentShapes,
                   now: dt.datetime | None = None) -> list[SegmentLevel]:
    """Every segment's impact level over the last 24 h, counting only incidents ``viewer`` may see."""
    from borderwatch.filters import utcnow

    with access.viewing_as(viewer):
        stats = _fresh_situation(Filter(window=WINDOW), now or utcnow(), store).segment_stats
    lines = shapes.get(store)
    out = []
    for r in stats.itertuples(index=False):
        if r.segment_id not in lines:
            continue
        line, mid = lines[r.segment_id]
        out.append(SegmentLevel(r.segment_id, r.nation_a, r.nation_b, r.impact, r.reason, int(r.n), line, mid))
    return out


def changes(levels: list[SegmentLevel], sent: dict[str, dict], now: dt.datetime,
            stale: dt.timedelta) -> list[tuple[SegmentLevel, str]]:
    """(segment, level before) for each segment whose level differs from the one last sent (a
    segment never sent counts as low), or whose marker is about to go stale on the devices."""
    out = []
    for s in levels:
        last = sent.get(s.segment_id)
        before = last["level"] if last else "low"
        if s.level != before:
            out.append((s, before))
        elif last and s.level != "low" and now >= dt.datetime.fromisoformat(last["at"]) + stale * 0.9:
            out.append((s, before))
    return out


def event_xml(s: SegmentLevel, before: str, *, now: dt.datetime, stale: dt.timedelta, link: str) -> bytes:
    """One segment's impact level as a CoT drawn line (``u-d-f``) in the level's colour."""
    from borderwatch.feeds.cotout import _iso
    from layers import style

    change = f"{before} → {s.level}" if before != s.level else f"{s.level} (unchanged)"
    remarks = (f"Segment {s.segment_id} ({s.nation_a} / {s.nation_b}): impact level {change} "
               f"over the last 24 hours.\nWhy: {s.reason}.\n{link}")
    colour = _argb(style.IMPACT_COLORS.get(s.level, "#808080"))
    vertices = "".join(f'<link point="{lat:.6f},{lon:.6f}"/>' for lat, lon in s.line)
    lat, lon = s.mid
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<event version="2.0" uid={quoteattr(UID_PREFIX + s.segment_id)} type="u-d-f" how="h-e" '
            f'time="{_iso(now)}" start="{_iso(now)}" stale="{_iso(now + stale)}">'
            f'<point lat="{lat:.6f}" lon="{lon:.6f}" hae="9999999.0" ce="9999999.0" le="9999999.0"/>'
            f'<detail>{vertices}'
            f'<strokeColor value="{colour}"/><strokeWeight value="{2 + _LEVEL_ORDER.index(s.level)}.0"/>'
            f'<contact callsign={quoteattr(f"{s.segment_id} {s.level}")}/>'
            f'<remarks>{escape(remarks)}</remarks>'
            f'<link url={quoteattr(link)} relation="r-u" mime="text/html" remarks="Borderwatch live map"/>'
            f'<borderwatch_segment id={quoteattr(s.segment_id)} level="{s.level}" previous="{before}" '
            f'incidents="{s.n}" nation_a={quoteattr(s.nation_a or "")} nation_b={quoteattr(s.nation_b or "")}/>'
            f'</detail></event>').encode("utf-8")
