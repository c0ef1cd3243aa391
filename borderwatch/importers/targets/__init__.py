"""The Borderwatch layers a file can feed: one module each, listed in ``TARGETS``.

A target validates one chunk of mapped rows (``build``: normalised records, and every reason a
row cannot be imported in ``ctx.errors``), writes a validated plan in one store transaction
(``write``) and, for dry runs, counts what the store already holds (``count_existing``).
Adding a layer means a module here, a line in ``TARGETS`` and its field table in ``mapping``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pandas as pd

from borderwatch.importers.targets import borders, fortifications, incidents, sensors
from borderwatch.importers.targets._common import Context, content_hashes, messages, short


@dataclasses.dataclass(frozen=True)
class Target:
    layer: str
    build: Callable[[Context], pd.DataFrame]
    write: Callable[[Any, Any], dict[str, Any]]  # (store, plan) -> written / already_present / replaced
    count_existing: Callable[[Any, Any], tuple[int, int]]  # (store, plan) -> (already present, replaced)
    chunked: bool = True  # borders are validated whole (lines of one pair are merged)


TARGETS: dict[str, Target] = {
    "borders": Target("borders", borders.build, borders.write, borders.count_existing, chunked=False),
    "fortifications": Target("fortifications", fortifications.build, fortifications.write, fortifications.count_existing),
    "sensors": Target("sensors", sensors.build, sensors.write, sensors.count_existing),
    "incidents": Target("incidents", incidents.build, incidents.write, incidents.count_existing),
}

__all__ = ["TARGETS", "Target", "Context", "content_hashes", "messages", "short"]
