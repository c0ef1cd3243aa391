"""Journal records → store rows as Arrow columns, for the store writer.

Two ways in, one result: ``records_table`` takes decoded records (dicts); ``json_table`` takes the
journal lines' JSON payloads as they are and lets Arrow's C++ JSON reader build the columns, so
at a high rate the writer neither decodes every line into a Python dict nor walks the dicts once
per column. ``json_table`` covers plain incident records (what CoT and most JSON feeds give); a
batch holding anything else (a patrol position, a sensor's detection, a field it does not know)
returns None and goes the dict way. Both add the same derivations as
``incident_store.prepare_incidents`` (H3 cell, nearest segment, its nations, agreements shared
under it, ingest time).
"""
from __future__ import annotations

import logging

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from borderwatch import incident_store
from borderwatch.domain import THREAT_TYPES
from borderwatch.filters import utcnow
from borderwatch.store import Store

log = logging.getLogger("borderwatch.feeds")

LOCATOR_CHECK_S = 5.0  # new border segments apply to feed events within this many seconds
_RELEASE = ("owner_nation", "release_public", "release_nations", "release_agreements")
_FIELD = incident_store.INCIDENT_SCHEMA.field

# what a plain incident record holds, as journalled (records.make_record, sources.Gate.apply)
_JSON_SCHEMA = pa.schema([
    ("incident_id", pa.string()), ("occurred_at", pa.string()), ("time_precision", pa.string()),
    ("threat_type", pa.string()), ("severity", pa.int64()), ("confidence", pa.float64()),
    ("reporting_nation", pa.string()), ("source", pa.string()), ("description", pa.string()),
    ("lon", pa.float64()), ("lat", pa.float64()), ("location_error_m", pa.float64()), ("dataset", pa.string()),
    ("kind", pa.string()),
    ("extra", pa.struct([("sensor_id", pa.string())])),
    *[(name, _FIELD(name).type) for name in _RELEASE],
])
# other fields are not columns of the store (as for records_table, which reads only these)
_PARSE = pajson.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore")
_REQUIRED = ("incident_id", "occurred_at", "threat_type", "lon", "lat")


class RawBatch:
    """A batch of journal payloads (checked JSON bytes), decoded into dicts only when needed."""

    def __init__(self, payloads: list[bytes]):
        self.payloads = payloads
        self._records: list[dict] | None = None

    def __len__(self) -> int:
        return len(self.payloads)

    def records(self) -> list[dict]:
        """The records; a payload that is not JSON (its checksum matched) is logged and skipped,
        as the journal reader skips a corrupt line."""
        if self._records is None:
            self._records = []
            for payload in self.payloads:
                try:
                    self._records.append(orjson.loads(payload))
                except ValueError:
                    log.error("journal: a record that is not JSON skipped: %r", payload[:200])
        return self._records


def json_table(store: Store, payloads: list[bytes]) -> pa.Table | None:
    """Store rows straight from JSON payloads, or None when the batch is not all plain incident
    records (the caller then decodes them)."""
    if not payloads:
        return None
    data = b"\n".join(payloads)
    try:
        raw = pajson.read_json(pa.py_buffer(data), read_options=pajson.ReadOptions(block_size=len(data) + 1),
                               parse_options=_PARSE)
    except pa.ArrowInvalid:  # a value of another type than a plain record's: the dict way tells
        return None
    if raw.num_rows != len(payloads) or raw["kind"].null_count != raw.num_rows:
        return None  # a patrol position (or another kind of record)
    if any(raw[name].null_count for name in _REQUIRED):
        return None  # not a complete incident record: the dict way refuses it with its reason
    if pc.any(pc.is_valid(pc.struct_field(raw["extra"], "sensor_id"))).as_py():
        return None  # a sensor's detection also moves its last-heard time: the dict way does that
    columns = {name: raw[name].combine_chunks() for name in (
        "incident_id", "threat_type", "severity", "confidence", "reporting_nation", "source", "dataset",
        "location_error_m")}
    columns["occurred_at"] = raw["occurred_at"].combine_chunks()
    columns["time_precision"] = pc.fill_null(raw["time_precision"], "second").combine_chunks()
    columns["description"] = pc.fill_null(raw["description"], "").combine_chunks()
    for name in _RELEASE:
        if raw[name].null_count != raw.num_rows:
            columns[name] = raw[name].combine_chunks()
    lon = raw["lon"].to_numpy()
    lat = raw["lat"].to_numpy()
    return complete(store, columns, lon, lat)


def records_table(store: Store, recs: list[dict]) -> pa.Table:
    """Store rows from decoded journal records. Columns of the store's schema this writer does not
    know (added by other features) are filled with nulls, their defaults."""
    n = len(recs)
    lon = np.fromiter((r["lon"] for r in recs), float, n)
    lat = np.fromiter((r["lat"] for r in recs), float, n)

    def col(name, typ):
        return pa.array([r.get(name) for r in recs], typ)

    columns = {name: col(name, _FIELD(name).type) for name in (
        "incident_id", "threat_type", "severity", "confidence", "reporting_nation", "source", "dataset",
        "location_error_m")}
    columns["occurred_at"] = col("occurred_at", pa.string())
    columns["time_precision"] = pa.array([r.get("time_precision") or "second" for r in recs], pa.string())
    columns["description"] = pa.array([r.get("description") or "" for r in recs], pa.string())
    for name in _RELEASE:
        if any(name in r for r in recs):  # a feed source's identity (borderwatch/feeds/sources.py)
            columns[name] = col(name, _FIELD(name).type)
    return complete(store, columns, lon, lat)


def complete(store: Store, columns: dict, lon: np.ndarray, lat: np.ndarray) -> pa.Table:
    """Add what Borderwatch derives itself to the record columns; the store's schema, in order."""
    n = len(lon)
    bad = sorted(set(pc.unique(columns["threat_type"]).to_pylist()) - set(THREAT_TYPES), key=str)
    if bad:
        raise ValueError(f"unknown threat type(s): {', '.join(map(str, bad))}")
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    columns.update(incident_store.derived(store, lon, lat, max_age_s=LOCATOR_CHECK_S))
    columns.update({
        "occurred_at": pc.cast(columns["occurred_at"], pa.timestamp("us")),
        "lon": pa.array(lon, pa.float64()),
        "lat": pa.array(lat, pa.float64()),
        "synthetic": pa.array(np.zeros(n, bool), pa.bool_()),
        "ingested_at": pa.repeat(pa.scalar(utcnow(), pa.timestamp("us")), n),
    })
    schema = incident_store.INCIDENT_SCHEMA
    arrays = [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
