"""Headline figures shared by the live map, the briefing pack and the command line."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

import queries
from layers import MapContext


@dataclasses.dataclass
class Headline:
    last_24h: int
    prev_24h: int
    by_threat: pd.DataFrame  # threat_type, last_24h, prev_24h
    hot_segments: int  # segments at high or critical impact in the filter window
    critical_segments: int
    coverage_pct: float  # share of the shown border length under online sensor coverage
    border_km: float

    @property
    def change_pct(self) -> float | None:
        return None if self.prev_24h == 0 else (self.last_24h - self.prev_24h) / self.prev_24h * 100


def headline(ctx: MapContext) -> Headline:
    day_start = ctx.now - dt.timedelta(hours=24)
    by = queries.df("headline_by_threat", ctx.filter, store=ctx.store, now=ctx.now, day_start=day_start,
                    prev_start=day_start - dt.timedelta(hours=24), day_end=ctx.now)
    stats = ctx.segment_stats
    km = float(stats.length_km.sum())
    covered = float(stats.covered_km.sum())
    return Headline(
        last_24h=int(by.last_24h.sum()) if len(by) else 0,
        prev_24h=int(by.prev_24h.sum()) if len(by) else 0,
        by_threat=by,
        hot_segments=int(stats.impact.isin(["high", "critical"]).sum()),
        critical_segments=int((stats.impact == "critical").sum()),
        coverage_pct=round(covered / km * 100, 1) if km else 0.0,
        border_km=km,
    )


def hotspots(ctx: MapContext, limit: int = 10) -> pd.DataFrame:
    """Segments with the highest incident rate per 100 km in the window, with coverage."""
    s = ctx.segment_stats
    s = s[s.n > 0].sort_values(["per_100km", "n"], ascending=False).head(limit)
    return s[["segment_id", "nation_a", "nation_b", "length_km", "n", "n_prev", "trend_pct", "per_100km",
              "impact", "coverage_pct", "fortifications"]].reset_index(drop=True)
