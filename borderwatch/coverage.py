"""Sensor coverage of border segments, derived whenever sensors change.

Covered length = the part of a segment inside the union of its online sensors' coverage
polygons (geodesic length); gaps = the rest. Recomputed inside the transaction that changes
sensors, so the map reads it instantly.
"""
from __future__ import annotations

import queries
from borderwatch.store import Store


def refresh(store: Store) -> None:
    """Recompute ``segment_coverage``; call inside the store transaction that changed sensors."""
    queries.execute("delete_all", store=store, idents={"table": "segment_coverage"})
    queries.execute("refresh_segment_coverage", store=store)
