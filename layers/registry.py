"""The map's layers in drawing order, and the one caption that says how to read them.

Adding a layer: write its module (``KEY``, ``TITLE``, ``build(ctx) -> Built``), list it in
``REGISTRY``, and test it in ``tests/test_layers.py``.
"""
from __future__ import annotations

import datetime as dt

from borderwatch.situation import Situation
from borderwatch.words import age_words, plural
from layers import age, alerts, density, fortifications, incidents, patrols, segments, sensors
from layers.base import MAX_POINTS, Built, MapContext

REGISTRY = (segments, fortifications, sensors, density, incidents, patrols, alerts, age)


def build_all(ctx: MapContext) -> list[Built]:
    """Every registered layer, built for ``ctx``, in drawing order."""
    return [module.build(ctx) for module in REGISTRY]


def caption(built: list[Built], situation: Situation, updated: dt.datetime | None = None) -> str:
    """How to read the drawn map (live page and exports): when it was drawn, the hexagon
    resolution and classes, incidents in view, new incidents, the impact baseline."""
    notes: dict = {}
    for layer in built:
        notes.update(layer.notes)
    parts = [f"Last updated {updated:%Y-%m-%d %H:%M:%S} UTC"] if updated else []
    if notes.get("density_resolution") is not None:
        breaks = notes.get("density_breaks") or []
        parts.append(f"density: H3 resolution {notes['density_resolution']}" + (
            f", classes up to {', '.join(f'{b:,.0f}' for b in breaks)} incidents per hexagon" if breaks else ""))
    n = notes.get("incidents_in_view")
    if n is not None:
        parts.append(plural(n, "incident") + " in view"
                     + ("" if n <= MAX_POINTS else f" (points drawn below {MAX_POINTS:,})"))
    if notes.get("new_incidents"):
        parts.append(f"{plural(notes['new_incidents'], 'new incident')} since the last refresh (ringed)")
    stats = situation.segment_stats
    parts.append(f"impact against the {stats.baseline.iloc[0]}" if len(stats) else "no border segments match")
    if notes.get("stale_sensors"):
        parts.append(f"{plural(notes['stale_sensors'], 'sensor')} not heard from for over "
                     f"{age_words(age.stale_after().total_seconds())} (faded)")
    parts.append(age.caption(situation.store, updated or situation.now))
    out = "; ".join(parts) + "."
    return out[0].upper() + out[1:]
