"""The border situation for one Filter at one time: the numbers every view agrees on.

Per-segment figures (incidents in the window, previous window and baseline, impact level and
the reason for it, trend, coverage, fortifications), the headline figures and the hotspot table.
The live map draws them, the analysis page tabulates them, the briefing exports print them; none
of this depends on the map view or on how anything is drawn.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd

import queries
from borderwatch import access, lazy
from borderwatch.words import plural
from borderwatch.filters import WINDOW_LABELS, Filter, utcnow
from borderwatch.store import Store, default_store
from layers import style

BASELINE_MAX_DAYS = 28
BASELINE_MIN_DAYS = 7
TREND_BUCKETS = 12


def window_words(flt: Filter, now: dt.datetime | None = None) -> tuple[str, str]:
    """(the filter window, the comparison period) in words: ("last 30 days", "previous 30 days")."""
    if flt.step:  # a playback step: "step 2026-12-01 06:00–12:00", "previous 6 hours"
        from borderwatch.playback import STEP_LABELS, label

        return f"step {label(*flt.time_range(now))}", f"previous {STEP_LABELS[flt.step]}"
    if flt.window != "custom":
        label = WINDOW_LABELS[flt.window]
        return label, label.replace("last", "previous", 1)
    start, end = flt.time_range(now)
    return (f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}",
            f"the {_duration(end - start)} before")


def _duration(span: dt.timedelta) -> str:
    hours = span.total_seconds() / 3600
    return plural(round(hours), "hour") if hours < 48 else plural(round(hours / 24), "day")


@dataclasses.dataclass
class Headline:
    window: str  # "last 30 days"
    previous_window: str  # "previous 30 days"
    incidents: int  # in the filter window
    previous: int  # in the period of the same length just before
    by_threat: pd.DataFrame  # threat_type, current, previous (threats with incidents only)
    hot_segments: int  # segments at high or critical impact in the filter window
    critical_segments: int
    coverage_pct: float  # share of the shown border length under online sensor coverage
    border_km: float

    @property
    def change_pct(self) -> float | None:
        return None if self.previous == 0 else (self.incidents - self.previous) / self.previous * 100

    def change_words(self) -> str:
        if self.change_pct is None:
            return f"none in the {self.previous_window}" if self.window != self.previous_window else "no previous data"
        return f"{self.change_pct:+.0f}% vs {self.previous_window}"


@dataclasses.dataclass
class Situation:
    filter: Filter
    now: dt.datetime = dataclasses.field(default_factory=utcnow)
    store: Store = dataclasses.field(default_factory=default_store)

    def q(self, name: str, **params) -> pd.DataFrame:
        """A named query under this filter; results are reused until the store changes."""
        return queries.df(name, self.filter, store=self.store, now=self.now, cache=True, **params)

    @lazy.cached_property
    def data_range(self) -> tuple[Any, Any, Any, int]:
        return tuple(queries.df("data_time_range", store=self.store, cache=True).iloc[0])

    @lazy.cached_property
    def segment_stats(self) -> pd.DataFrame:
        """Per filtered segment: counts, trend, impact level and its reason, coverage %, fortifications."""
        start, end = self.filter.time_range(self.now)
        window = end - start
        prev_start = start - window
        base_len = min(max(window * 4, dt.timedelta(days=BASELINE_MIN_DAYS)), dt.timedelta(days=BASELINE_MAX_DAYS))
        data_start = self.data_range[0]
        base_start = max(start - base_len, data_start) if data_start is not None else start - base_len
        df = self.q("segment_activity", win_start=start, win_end=end, prev_start=prev_start, base_start=base_start)
        base_days = max((start - base_start).total_seconds() / 86400, 0.0)
        win_days = window.total_seconds() / 86400
        if base_days >= 1:
            df["expected"] = df.n_base / base_days * win_days
            df["baseline"] = f"{base_days:.0f}-day baseline"
        else:  # no history before the window: compare with the average density of the shown borders
            per_km = df.n.sum() / max(df.length_km.sum(), 1)
            df["expected"] = per_km * df.length_km
            df["baseline"] = "average density of shown borders"
        df["impact"] = [style.impact_level(n, e) for n, e in zip(df.n, df.expected)]
        df["reason"] = [impact_reason(n, e, b) for n, e, b in zip(df.n, df.expected, df.baseline)]
        df["trend_pct"] = (df.n - df.n_prev) / df.n_prev.where(df.n_prev > 0) * 100
        df["per_100km"] = df.n / df.length_km.clip(lower=1) * 100
        cov = queries.df("segment_covered_km_all" if access.current().unrestricted else "segment_covered_km",
                         store=self.store, cache=True)
        df = df.merge(cov, on="segment_id", how="left")
        df["covered_km"] = df.covered_km.fillna(0.0).clip(upper=df.length_km)
        df["coverage_pct"] = (df.covered_km / df.length_km.clip(lower=0.001) * 100).round(1)
        forts = segment_fortifications(self.store)
        df["fortifications"] = [forts.get(s, "none") for s in df.segment_id]
        return df

    @lazy.cached_property
    def segment_trend(self) -> dict[str, list[int]]:
        """Incidents per segment in ``TREND_BUCKETS`` equal slices of the window (oldest first)."""
        buckets = TREND_BUCKETS
        start, end = self.filter.time_range(self.now)
        seconds = max((end - start).total_seconds() / buckets, 1.0)
        df = self.q("segment_trend", win_start=start, bucket_seconds=seconds)
        out: dict[str, list[int]] = {}
        for sid, b, n in zip(df.segment_id, df.bucket, df.n):
            if 0 <= b < buckets:
                out.setdefault(sid, [0] * buckets)[int(b)] += int(n)
        return out

    def headline(self) -> Headline:
        start, end = self.filter.time_range(self.now)
        by = self.q("headline_by_threat", win_start=start, prev_start=start - (end - start), win_end=end)
        by = by.astype({"current": "int64", "previous": "int64"})
        stats = self.segment_stats
        km = float(stats.length_km.sum())
        covered = float(stats.covered_km.sum())
        window, previous = window_words(self.filter, self.now)
        return Headline(
            window=window, previous_window=previous,
            incidents=int(by.current.sum()), previous=int(by.previous.sum()),
            by_threat=by[(by.current > 0) | (by.previous > 0)].reset_index(drop=True),
            hot_segments=int(stats.impact.isin(["high", "critical"]).sum()),
            critical_segments=int((stats.impact == "critical").sum()),
            coverage_pct=round(covered / km * 100, 1) if km else 0.0,
            border_km=km,
        )

    def hotspots(self, limit: int = 10) -> pd.DataFrame:
        """Segments with the highest incident rate per 100 km in the window, with coverage."""
        s = self.segment_stats
        s = s[s.n > 0].sort_values(["per_100km", "n"], ascending=False).head(limit)
        return s[["segment_id", "nation_a", "nation_b", "length_km", "n", "n_prev", "trend_pct", "per_100km",
                  "impact", "coverage_pct", "fortifications"]].reset_index(drop=True)


def impact_reason(n: float, expected: float, baseline: str) -> str:
    """Why a segment has its impact level, in the words of the rule (``style.IMPACT_RULE``)."""
    ratio = (n + 1.0) / (expected + 1.0)
    return (f"{plural(n, 'incident')} against {expected:,.1f} expected from the {baseline} "
            f"({ratio:.1f}× baseline)")


def segment_fortifications(store: Store) -> dict[str, str]:
    df = queries.df("segment_fortifications", store=store, cache=True)
    out: dict[str, str] = {}
    for sid, grp in df.groupby("segment_id"):
        out[sid] = ", ".join(plural(n, style.FORTIFICATION_LABELS.get(k, k), _plural_kind(k))
                             for k, n in zip(grp.kind, grp.n))
    return out


def _plural_kind(kind: str) -> str:
    label = style.FORTIFICATION_LABELS.get(kind, kind)
    return label[:-1] + "ies" if label.endswith("y") else label + ("es" if label.endswith(("ch", "sh", "s")) else "s")
