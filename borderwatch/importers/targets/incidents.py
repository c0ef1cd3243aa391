"""Incidents: a dated point event with a threat type."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from borderwatch import incident_store
from borderwatch.domain import THREAT_TYPES
from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
import queries
from borderwatch.importers.targets._common import Context, insert, nation_codes, points, strings, texts


def build(ctx: Context) -> pd.DataFrame:
    lon, lat = points(ctx)
    have_date = ctx.require("occurred_at")
    have_threat = ctx.require("threat_type")
    n = ctx.n
    occurred = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    precision = np.full(n, None, dtype=object)
    if have_date:
        raw = ctx.get("occurred_at")
        parsed = vals.parse_dates(raw, date_format=ctx.date_format, now=ctx.now, order=ctx.date_order)
        for i, reason in parsed.errors.items():
            ctx.fail(i, "occurred_at", reason, raw[i])
        for i in np.flatnonzero(np.isnat(parsed.values)):
            if i not in parsed.errors:
                ctx.fail(int(i), "occurred_at", "missing date (required)")
        occurred, precision = parsed.values, parsed.precision
        ctx.count("naive_times", parsed.naive)
    if ctx.precision is not None:  # a preset knows the source's own precision
        precision = np.array([p or q for p, q in zip(ctx.precision, precision)], dtype=object)
    if ctx.has("time_precision"):
        for i, v in enumerate(ctx.get("time_precision")):
            s = vals._text(v)
            if s is None:
                continue
            p = vals.PRECISION_CODES.get(s.split(".")[0] if s.endswith((".0", ".00")) else s, s.lower())
            if p not in vals.PRECISIONS:
                ctx.fail(i, "time_precision", f"time precision {s!r} is not one of {', '.join(vals.PRECISIONS)} (or a code 1-3)", v)
            elif precision[i] and vals.PRECISIONS.index(p) < vals.PRECISIONS.index(precision[i]):
                ctx.fail(i, "time_precision", f"time precision {p!r} is finer than the date gives ({precision[i]})", v)
            else:
                precision[i] = p
    occurred = _truncate(occurred, precision)
    threats: list[str | None] = [None] * n
    if have_threat:
        raw = ctx.get("threat_type")
        found = np.array(vals.lookup(raw, mp.THREATS, ctx.threat_map), dtype=object)
        for i in np.flatnonzero(~np.isin(found, list(THREAT_TYPES))):
            v = raw[i]
            if vals._text(v) is None:
                ctx.fail(int(i), "threat_type", "missing threat type (required)")
            else:
                ctx.fail(int(i), "threat_type", f"unknown threat type {vals._text(v)!r} (Borderwatch types: "
                                                f"{', '.join(THREAT_TYPES)}; map values with --threat VALUE=TYPE)", v)
        threats = found.tolist()
    severity = _severity(ctx)
    confidence = _confidence(ctx)
    err_m, errs = (vals.parse_numbers(ctx.get("location_error_m"), what="distance in metres")
                   if ctx.has("location_error_m") else (np.full(n, np.nan), {}))
    for i, r in errs.items():
        ctx.fail(i, "location_error_m", r, ctx.get("location_error_m")[i])
    for i in np.flatnonzero(err_m < 0):
        ctx.fail(int(i), "location_error_m", "location error cannot be negative", err_m[i])
    return pd.DataFrame({
        "_pos": np.arange(n),
        "occurred_at": occurred,
        "time_precision": precision,
        "threat_type": threats,
        "severity": severity,
        "confidence": confidence,
        "reporting_nation": nation_codes(ctx, "reporting_nation"),
        "source": texts(ctx, "source", ctx.source),
        "description": [s or "" for s in texts(ctx, "description")],
        "lon": lon,
        "lat": lat,
        "location_error_m": err_m,
    })


def _truncate(stamps: np.ndarray, precision: np.ndarray) -> np.ndarray:
    out = stamps.copy()
    for unit, p in (("D", "day"), ("M", "month"), ("Y", "year")):
        m = precision == p
        if m.any():
            out[m] = stamps[m].astype(f"datetime64[{unit}]").astype("datetime64[us]")
    return out


def _by_value(ctx: Context, target: str, out: np.ndarray, one) -> np.ndarray:
    """``out`` with each row's value read by ``one(text) -> (value, None) | (None, reason)``, once per
    distinct text; rows whose text is refused fail with the reason."""
    raw = ctx.get(target)
    codes, results = vals.by_value(raw, one)
    for code, (value, reason) in enumerate(results):
        rows = np.flatnonzero(codes == code)
        if reason is None:
            out[rows] = value
            continue
        for i in rows:
            ctx.fail(int(i), target, reason, raw[i])
    return out


def severity_of(s: str):
    """(severity 1-4, None) for one text, or (None, reason)."""
    word = vals.norm_word(s)
    if word in mp.SEVERITY_WORDS:
        return mp.SEVERITY_WORDS[word], None
    try:
        x = float(s)
    except ValueError:
        x = None
    if x is None or not x.is_integer() or not 1 <= x <= 4:
        return None, f"severity {s!r} is not 1-4 or low / moderate / high / critical"
    return int(x), None


def confidence_of(s: str):
    """(confidence 0-1, None) for one text, or (None, reason)."""
    pct = s.endswith("%")
    try:
        x = float(s.rstrip("%").strip())
    except ValueError:
        x = float("nan")
    if pct:
        x /= 100
    if not 0 <= x <= 1:
        return None, f"confidence {s!r} is not between 0 and 1 (or a percentage such as 80%)"
    return x, None


DEFAULT_SEVERITY, DEFAULT_CONFIDENCE = 2, 0.5  # rows that give none


def _severity(ctx: Context) -> np.ndarray:
    out = np.full(ctx.n, DEFAULT_SEVERITY, dtype=np.int8)
    return _by_value(ctx, "severity", out, severity_of) if ctx.has("severity") else out


def _confidence(ctx: Context) -> np.ndarray:
    out = np.full(ctx.n, DEFAULT_CONFIDENCE, dtype=np.float32)
    return _by_value(ctx, "confidence", out, confidence_of) if ctx.has("confidence") else out


def prepare(store, records: pd.DataFrame, dataset: str, owner: str | None = None, release=None) -> pa.Table:
    """Store rows for accepted incidents (H3 cell, nearest segment, agreements: ``incident_store``),
    owned and released as the import says (``owner``, ``release``; default: the reporting nation)."""
    cols = ["incident_id", "occurred_at", "time_precision", "threat_type", "severity", "confidence",
            "reporting_nation", "source", "description", "lon", "lat", "location_error_m"]
    frame = records[cols].copy()
    frame["location_error_m"] = frame["location_error_m"].astype("float32")
    return incident_store.prepare_incidents(frame, store, dataset=dataset, owner=owner, release=release)


def _write(store, cur, table: pa.Table, dataset: str, replace: bool) -> dict[str, int]:
    return insert(store, cur, "incidents", "import_incidents", table, dataset, replace)




def write(store, plan) -> dict[str, int]:
    """The plan's incidents in one transaction (completed by ``incident_store`` first)."""
    table = prepare(store, plan.records, plan.report.dataset, plan.owner, plan.release)
    with store.transaction() as cur:
        return _write(store, cur, table, plan.report.dataset, plan.replace)


def count_existing(store, plan) -> tuple[int, int]:
    """(already present, replaced): records whose id the same owner already stored (dry runs)."""
    ids = pa.table({"id": strings(plan.records.incident_id), "reporting_nation": strings(plan.records.reporting_nation)})
    cur = store.cursor()
    cur.register("staged_ids", ids)
    try:
        return int(queries.scalar("import_existing_incidents", store=store, owner=plan.owner)), 0
    finally:
        cur.unregister("staged_ids")
