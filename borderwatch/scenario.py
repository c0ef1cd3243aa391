"""The synthetic scenario: fortifications, sensors and incidents along real border segments.

Everything here is invented (``synthetic = TRUE``, dataset ``scenario``) and labelled as such
wherever it is shown. It is deterministic for a seed and a reference time ``now``. Which borders
are busy, and with what, is a scenario design choice meant to look plausible to an analyst, not a
statement of fact about any border.

Incidents cluster at hotspots (crossing points, known routes) along each segment, with a daily
rhythm (night-time peak in local solar time), a seasonal rhythm (summer peak) and a few segments
surging in the last days so that impact levels differ. They are generated and written in chunks
so memory does not grow with the incident count.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
from typing import Callable, Iterator

import h3.api.numpy_int as h3i
import numpy as np
import pyarrow as pa
import shapely

from borderwatch.domain import (CONDITIONS, FORTIFICATION_LINES, GEOD, SENSOR_TYPES,
                                coverage_polygon)
from borderwatch.hexgrid import H3_RES

ANCHORS = 2048  # points per segment used to place things along it
HISTORY_DAYS = 365

# segment -> (weight, threat profile); every other segment gets a small background weight
HOT_SEGMENTS: dict[str, tuple[float, str]] = {
    "MEX-USA": (10.0, "southwest"),
    "GTM-MEX": (3.0, "migration_trafficking"),
    "COL-VEN": (3.0, "trafficking"),
    "BRA-PRY": (1.5, "trafficking"),
    "BOL-PER": (1.2, "trafficking"),
    "GRC-TUR": (3.5, "migration"),
    "BGR-TUR": (2.0, "migration"),
    "BLR-POL": (3.5, "hybrid"),
    "BLR-LTU": (2.0, "hybrid"),
    "BLR-LVA": (1.2, "hybrid"),
    "FIN-RUS": (1.0, "hybrid"),
    "EST-RUS": (0.8, "hybrid"),
    "ESP-MAR": (3.0, "migration"),
    "HUN-SRB": (2.5, "migration"),
    "BIH-HRV": (2.0, "migration"),
    "RUS-UKR": (4.0, "conflict"),
    "BLR-UKR": (1.0, "conflict"),
    "SYR-TUR": (2.5, "conflict"),
    "IRN-TUR": (2.0, "migration_trafficking"),
    "AFG-IRN": (3.0, "migration_trafficking"),
    "AFG-PAK": (3.5, "conflict"),
    "IND-PAK": (2.5, "conflict"),
    "BGD-IND": (3.5, "migration_trafficking"),
    "MMR-THA": (2.0, "trafficking"),
    "LBY-TUN": (1.5, "migration"),
    "LBY-NER": (1.5, "migration_trafficking"),
    "KOR-PRK": (0.4, "conflict"),
}

PROFILES: dict[str, dict[str, float]] = {
    "southwest": {"illegal_crossing": .46, "drug_trafficking": .18, "human_trafficking": .10, "smuggling": .14,
                  "weapons_trafficking": .05, "document_fraud": .05, "drone_incursion": .02},
    "migration": {"illegal_crossing": .62, "human_trafficking": .14, "smuggling": .12, "document_fraud": .10,
                  "drug_trafficking": .02},
    "migration_trafficking": {"illegal_crossing": .40, "human_trafficking": .15, "drug_trafficking": .18,
                              "smuggling": .20, "document_fraud": .05, "weapons_trafficking": .02},
    "trafficking": {"drug_trafficking": .38, "smuggling": .32, "illegal_crossing": .18, "weapons_trafficking": .07,
                    "human_trafficking": .05},
    "hybrid": {"illegal_crossing": .55, "drone_incursion": .12, "human_trafficking": .10, "smuggling": .15,
               "document_fraud": .03, "armed_incursion": .05},
    "conflict": {"armed_incursion": .22, "drone_incursion": .28, "weapons_trafficking": .18, "smuggling": .14,
                 "illegal_crossing": .18},
    "background": {"illegal_crossing": .40, "smuggling": .30, "drug_trafficking": .12, "document_fraud": .08,
                   "human_trafficking": .05, "weapons_trafficking": .05},
}
BASE_SEVERITY = {"illegal_crossing": 1, "smuggling": 1, "document_fraud": 1, "drug_trafficking": 2,
                 "human_trafficking": 3, "weapons_trafficking": 3, "drone_incursion": 2, "armed_incursion": 3,
                 "other": 1}
SOURCES = ("patrol", "radar", "thermal_camera", "ground_sensor", "uav", "checkpoint", "informant", "partner_agency")
SOURCE_P = (.30, .14, .16, .10, .08, .12, .04, .06)
NIGHT_THREATS = {"illegal_crossing", "smuggling", "drug_trafficking", "human_trafficking", "weapons_trafficking"}

SENSOR_MIX = {"radar": .22, "thermal_camera": .30, "optical_camera": .16, "seismic_sensor": .20, "uav_orbit": .08,
              "aerostat": .04}  # share of each sensor type among the scenario's sites


@dataclasses.dataclass
class Geometry:
    """Segments prepared for sampling: anchor points along each line."""
    ids: list[str]
    nation_a: list[str]
    nation_b: list[str]
    lengths_km: np.ndarray
    anchors: np.ndarray  # (n, ANCHORS, 2) lon/lat

    @classmethod
    def from_segments(cls, segments) -> "Geometry":
        frac = np.linspace(0.0, 1.0, ANCHORS)
        anchors = np.empty((len(segments), ANCHORS, 2))
        for i, geom in enumerate(segments.geometry):
            anchors[i] = _sample_along(shapely.line_merge(geom), frac)
        return cls(list(segments.segment_id), list(segments.nation_a), list(segments.nation_b),
                   np.asarray(segments.length_km, dtype=float), anchors)

    def point_at(self, seg: np.ndarray, f: np.ndarray) -> np.ndarray:
        """The anchor nearest to fraction f of each segment (always a point on the border)."""
        return self.anchors[seg, np.round(np.clip(f, 0, 1) * (ANCHORS - 1)).astype(int)]

    def normal_at(self, seg: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Unit normal (in local km space) to the line at fraction f."""
        idx = np.clip(np.round(f * (ANCHORS - 1)).astype(int), 1, ANCHORS - 2)
        d = self.anchors[seg, idx + 1] - self.anchors[seg, idx - 1]
        lat = np.radians(self.anchors[seg, idx, 1])
        dx, dy = d[:, 0] * np.cos(lat), d[:, 1]
        norm = np.hypot(dx, dy)
        norm[norm == 0] = 1
        return np.stack([-dy / norm, dx / norm], axis=1)


def _sample_along(line, frac: np.ndarray) -> np.ndarray:
    """Points at fractions of the total length of a (multi)line, part by part (no jumps across gaps)."""
    parts = list(line.geoms) if line.geom_type == "MultiLineString" else [line]
    lengths = np.array([p.length for p in parts])
    ends = np.cumsum(lengths)
    dist = frac * ends[-1]
    which = np.minimum(np.searchsorted(ends, dist, side="left"), len(parts) - 1)
    local = dist - (ends[which] - lengths[which])
    out = np.empty((len(frac), 2))
    for k, part in enumerate(parts):
        m = which == k
        if m.any():
            out[m] = shapely.get_coordinates(shapely.line_interpolate_point(part, local[m]))
    return out


def km_offset(lonlat: np.ndarray, dx_km: np.ndarray, dy_km: np.ndarray) -> np.ndarray:
    lat = lonlat[:, 1]
    out = lonlat.copy()
    out[:, 0] += dx_km / (111.32 * np.maximum(np.cos(np.radians(lat)), 0.05))
    out[:, 1] = np.clip(lat + dy_km / 110.57, -89.9, 89.9)
    out[:, 0] = (out[:, 0] + 180) % 360 - 180
    return out


@dataclasses.dataclass
class Plan:
    """Per-segment scenario parameters derived from the seed."""
    weight: np.ndarray  # probability of an incident being on each segment
    profile: list[str]
    hotspots: list[np.ndarray]  # fractions along the segment
    hotspot_p: list[np.ndarray]
    hotspot_sigma: np.ndarray  # spread along the line, as a fraction
    surge: np.ndarray  # extra share of a segment's incidents placed in the last 72 h
    side: np.ndarray  # +1 / -1: which side sensors and posts sit


def plan(geo: Geometry, seed: int) -> Plan:
    rng = np.random.default_rng([seed, 1])
    n = len(geo.ids)
    weight = np.empty(n)
    profile = []
    for i, sid in enumerate(geo.ids):
        if sid in HOT_SEGMENTS:
            w, prof = HOT_SEGMENTS[sid]
        else:
            w, prof = 0.03 * math.sqrt(max(geo.lengths_km[i], 1) / 100) * rng.lognormal(0, 0.8), "background"
        weight[i] = w
        profile.append(prof)
    weight /= weight.sum()
    hotspots, hotspot_p = [], []
    for i in range(n):
        k = int(rng.integers(2, 7))
        hotspots.append(np.sort(rng.uniform(0.03, 0.97, k)))
        hotspot_p.append(rng.dirichlet(np.full(k, 1.2)))
    sigma = np.clip(12.0 / np.maximum(geo.lengths_km, 1), 0.002, 0.08)
    surge = np.zeros(n)
    hot_idx = [i for i, s in enumerate(geo.ids) if s in HOT_SEGMENTS]
    surging = rng.choice(hot_idx, size=min(6, len(hot_idx)), replace=False) if hot_idx else []
    surge[surging] = rng.uniform(0.01, 0.05, len(surging))
    side = rng.choice([-1.0, 1.0], n)
    return Plan(weight, profile, hotspots, hotspot_p, sigma, surge, side)


def incident_chunks(geo: Geometry, pl: Plan, n: int, seed: int, now: dt.datetime,
                    chunk: int = 500_000) -> Iterator[pa.Table]:
    """Yield incidents as Arrow tables of at most ``chunk`` rows."""
    threat_names = sorted({t for p in PROFILES.values() for t in p})
    profile_ids = {p: k for k, p in enumerate(PROFILES)}
    profile_p = np.zeros((len(PROFILES), len(threat_names)))
    for p, k in profile_ids.items():
        for t, v in PROFILES[p].items():
            profile_p[k, threat_names.index(t)] = v
        profile_p[k] /= profile_p[k].sum()
    seg_profile = np.array([profile_ids[p] for p in pl.profile])
    base_sev = np.array([BASE_SEVERITY[t] for t in threat_names])
    night = np.array([t in NIGHT_THREATS for t in threat_names])
    day_w = _seasonal_weights(now)
    hour_w_night = 1 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 1) / 24)
    hour_w_night /= hour_w_night.sum()
    hour_w_flat = np.ones(24) / 24
    now_ts = np.datetime64(now.replace(tzinfo=None), "s")
    today = now_ts.astype("datetime64[D]").astype("datetime64[s]")

    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        rng = np.random.default_rng([seed, 2, start])
        seg = rng.choice(len(pl.weight), size=size, p=pl.weight)
        # position along the segment: at a hotspot (75%) or anywhere
        f = rng.uniform(0, 1, size)
        at_hot = rng.random(size) < 0.75
        for s in np.unique(seg[at_hot]):
            m = at_hot & (seg == s)
            k = rng.choice(len(pl.hotspots[s]), size=int(m.sum()), p=pl.hotspot_p[s])
            f[m] = pl.hotspots[s][k] + rng.normal(0, pl.hotspot_sigma[s], int(m.sum()))
        f = np.clip(f, 0, 1)
        xy = geo.point_at(seg, f)
        xy = km_offset(xy, rng.normal(0, 2.5, size), rng.normal(0, 2.5, size))
        # threat type from the segment's profile (inverse CDF per row)
        cdf = np.cumsum(profile_p[seg_profile[seg]], axis=1)
        threat = np.minimum((cdf < rng.random(size)[:, None]).sum(axis=1), len(threat_names) - 1)
        # time: seasonal day, then hour by local solar time; some segments surge lately
        day = rng.choice(HISTORY_DAYS, size=size, p=day_w)
        surge = rng.random(size) < pl.surge[seg]
        day[surge] = rng.integers(0, 3, int(surge.sum()))
        local_hour = np.where(night[threat], rng.choice(24, size=size, p=hour_w_night), rng.choice(24, size=size, p=hour_w_flat))
        utc_hour = (local_hour - np.round(xy[:, 0] / 15)).astype(int) % 24
        offset = (utc_hour * 3600 + rng.integers(0, 3600, size)).astype("timedelta64[s]")
        occurred = today - day.astype("timedelta64[D]") + offset
        occurred = np.where(occurred > now_ts, occurred - np.timedelta64(1, "D"), occurred)
        sev = base_sev[threat] + (rng.random(size) < 0.25) - (rng.random(size) < 0.15) + (rng.random(size) < 0.03)
        sev = np.clip(sev, 1, 4).astype(np.int8)
        side = rng.random(size) < 0.5
        cells = np.fromiter((h3i.latlng_to_cell(la, lo, H3_RES) for lo, la in xy), dtype=np.uint64, count=size)
        ids = np.arange(start, start + size)
        release = rng.choice(len(RELEASE_MIX), size=size, p=list(RELEASE_MIX.values()))
        yield pa.table({
            "seq": pa.array(ids, pa.int64()),
            "occurred_at": pa.array(occurred.astype("datetime64[us]")),
            "threat_type": pa.array(np.array(threat_names, dtype=object)[threat], pa.string()),
            "severity": pa.array(sev, pa.int8()),
            "confidence": pa.array(rng.beta(5, 2, size).astype(np.float32)),
            "seg_idx": pa.array(seg, pa.int32()),
            "reporting_side": pa.array(side),
            "source": pa.array(np.array(SOURCES, dtype=object)[rng.choice(len(SOURCES), size=size, p=SOURCE_P)], pa.string()),
            "group_size": pa.array(rng.integers(1, 40, size), pa.int32()),
            "lon": pa.array(xy[:, 0]),
            "lat": pa.array(xy[:, 1]),
            "location_error_m": pa.array(rng.choice([10, 25, 50, 100, 250, 1000], size=size).astype(np.float32)),
            "h3": pa.array(cells, pa.uint64()),
            "release_kind": pa.array(release, pa.int8()),
        })


def _seasonal_weights(now: dt.datetime) -> np.ndarray:
    """Weight for each day back from now: summer peak, slight weekly rhythm, slow growth."""
    days_back = np.arange(HISTORY_DAYS)
    doy = (now.timetuple().tm_yday - days_back) % 365
    weekday = (now.weekday() - days_back) % 7
    w = (1 + 0.35 * np.cos(2 * np.pi * (doy - 196) / 365)) * np.where(weekday >= 5, 1.1, 1.0) * (1 + 0.25 * (1 - days_back / HISTORY_DAYS))
    return w / w.sum()


# Releasability of scenario incidents (written by queries/insert_scenario_incidents.sql): the share
# released to the reporting nation's agreements covering the border, to the neighbour (only when
# both share an agreement; else owner only), kept owner-only, and public.
RELEASE_MIX = {"agreements": 0.40, "neighbour": 0.25, "owner": 0.20, "public": 0.15}
# sensors are guarded more closely than fortifications, which anyone on the border can see
SENSOR_RELEASE = {"agreements": 0.45, "owner": 0.45, "public": 0.10}
FORTIFICATION_RELEASE = {"agreements": 0.30, "owner": 0.10, "public": 0.60}
REPORTED_DAYS = 3 * 365  # sensors and fortifications were reported up to three years back


def releasability(rows: list[dict], mix: dict[str, float], seed: int, salt: int, now: dt.datetime,
                  agreements_of: Callable[[str | None, dt.datetime], list[str]]) -> None:
    """Give scenario sensors or fortifications an owner (the nation they stand in), a report time
    and a releasability drawn from ``mix``; ``agreements_of(nation, at)`` lists the agreements the
    owner belonged to then."""
    rng = np.random.default_rng([seed, salt])
    kinds = list(mix)
    for row, k, days in zip(rows, rng.choice(len(kinds), size=len(rows), p=list(mix.values())),
                            rng.integers(0, REPORTED_DAYS, size=len(rows))):
        kind = kinds[int(k)]
        at = now - dt.timedelta(days=int(days))
        agreements = agreements_of(row["nation"], at) if kind == "agreements" else []
        row.update({"reported_at": at, "owner_nation": row["nation"], "release_public": kind == "public",
                    "release_nations": None, "release_agreements": agreements or None})


# how long ago each status was last heard from, in minutes (low, high): an online sensor reports
# every few minutes, a degraded one has been patchy for hours, an offline one has been silent for days
LAST_HEARD_MIN = {"online": (0.5, 8), "degraded": (20, 360), "offline": (180, 4 * 1440)}


def last_heard(rows: list[dict], seed: int, now: dt.datetime) -> None:
    """Set when each scenario sensor was last heard from (``last_heard_at``), by its status."""
    rng = np.random.default_rng([seed, 9])
    for row, u in zip(rows, rng.random(len(rows))):
        low, high = LAST_HEARD_MIN.get(row["status"], LAST_HEARD_MIN["offline"])
        row["last_heard_at"] = (now - dt.timedelta(minutes=low + (high - low) * float(u))).replace(microsecond=0)


def sensors(geo: Geometry, pl: Plan, seed: int, nation_of: Callable[[float, float], str | None]) -> list[dict]:
    """Sensor sites in deployed stretches of the busier segments, each with a coverage polygon."""
    rng = np.random.default_rng([seed, 3])
    order = np.argsort(-pl.weight)
    chosen = [i for i in order[:60] if pl.weight[i] > 0]
    types = list(SENSOR_MIX)
    type_p = np.array([SENSOR_MIX[t] for t in types])
    out = []
    for i in chosen:
        length = geo.lengths_km[i]
        n_sites = int(np.clip(length / 35, 3, 70))
        # deploy in 1-3 stretches covering ~40-80% of the line; outside them are the gaps
        k = int(rng.integers(1, 4))
        edges = np.sort(rng.uniform(0, 1, 2 * k))
        stretches = [(edges[2 * j], edges[2 * j + 1]) for j in range(k)]
        span = sum(b - a for a, b in stretches) or 1
        for j, (a, b) in enumerate(stretches):
            m = max(1, int(round(n_sites * (b - a) / span)))
            fr = np.linspace(a, b, m + 2)[1:-1]
            seg = np.full(m, i)
            on_line = geo.point_at(seg, fr)
            normal = geo.normal_at(seg, fr)
            d = rng.uniform(0.5, 3.0, m) * pl.side[i]
            site = km_offset(on_line, normal[:, 0] * d, normal[:, 1] * d)
            stretch_down = rng.random() < 0.12  # a whole stretch offline: a gap on a busy border
            for p in range(m):
                stype = types[int(rng.choice(len(types), p=type_p))]
                (rmin, rmax), fov = SENSOR_TYPES[stype].range_m, SENSOR_TYPES[stype].fov_deg
                rng_m = float(rng.uniform(rmin, rmax))
                az, _, _ = GEOD.inv(site[p, 0], site[p, 1], on_line[p, 0], on_line[p, 1])
                status = "offline" if stretch_down else str(rng.choice(["online", "degraded", "offline"], p=[.84, .10, .06]))
                sid = f"SCN-S{seed}-{len(out):05d}"
                out.append({
                    "sensor_id": sid, "sensor_type": stype, "name": f"{geo.ids[i]} {stype.replace('_', ' ')} {len(out):05d}",
                    "status": status, "lon": float(site[p, 0]), "lat": float(site[p, 1]), "range_m": rng_m,
                    "azimuth_deg": float(az % 360), "fov_deg": float(fov or 360), "segment_id": geo.ids[i],
                    "nation": nation_of(float(site[p, 0]), float(site[p, 1])),
                    "coverage_wkb": shapely.to_wkb(coverage_polygon(site[p, 0], site[p, 1], rng_m, az, fov or 360)),
                })
    return out


def fortifications(geo: Geometry, pl: Plan, seed: int, nation_of: Callable[[float, float], str | None]) -> list[dict]:
    """Barriers along stretches of busy segments; posts and checkpoints at crossing points; towers."""
    rng = np.random.default_rng([seed, 4])
    order = np.argsort(-pl.weight)
    out = []

    def add(kind, geom, i, name):
        c = geom.centroid
        out.append({
            "fortification_id": f"SCN-F{seed}-{len(out):05d}", "kind": kind, "name": name,
            "condition": str(rng.choice(CONDITIONS, p=[.55, .28, .13, .04])),
            "year_built": int(rng.integers(1990, 2026)), "segment_id": geo.ids[i],
            "nation": nation_of(c.x, c.y), "geom_wkb": shapely.to_wkb(geom),
        })

    for rank, i in enumerate(order[:45]):
        sid = geo.ids[i]
        # crossing points at the hotspots that carry most traffic
        for h, fr in enumerate(pl.hotspots[i]):
            if pl.hotspot_p[i][h] > 0.12:
                pt = geo.point_at(np.array([i]), np.array([fr]))[0]
                kind = "checkpoint" if h % 2 == 0 else "border_post"
                add(kind, shapely.Point(pt), i, f"{sid} {kind.replace('_', ' ')} {h + 1}")
        if rank >= 30:
            continue
        kind = "wall" if sid in ("MEX-USA", "IND-PAK", "KOR-PRK", "ESP-MAR") and rng.random() < 0.5 else str(
            rng.choice(FORTIFICATION_LINES, p=[.1, .6, .15, .15]))
        for j in range(int(rng.integers(1, 4))):
            a = float(rng.uniform(0, 0.85))
            b = min(1.0, a + float(rng.uniform(0.03, 0.25)))
            idx = np.arange(int(a * (ANCHORS - 1)), int(b * (ANCHORS - 1)) + 1)
            if idx.size < 2:
                continue
            add(kind, shapely.LineString(geo.anchors[i, idx]), i, f"{sid} {kind.replace('_', ' ')} {j + 1}")
            for t in idx[:: max(1, idx.size // 4)][1:]:
                add("watchtower", shapely.Point(geo.anchors[i, t]), i, f"{sid} watchtower {t}")
    return out


def progress(done: int, total: int) -> None:
    print(f"\r  incidents: {done:,} / {total:,} ({100 * done / max(total, 1):.0f}%)", end="", file=sys.stderr, flush=True)
    if done >= total:
        print(file=sys.stderr)
