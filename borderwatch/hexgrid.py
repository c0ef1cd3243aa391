"""H3 hexagons: the cell of every incident is computed once at ingest (resolution ``H3_RES``);
coarser cells are derived in SQL by bit operations (see ``queries/incident_density.sql``)."""
from __future__ import annotations

import h3
import h3.api.numpy_int as h3i
import numpy as np

H3_RES = 9  # ~0.1 km2 cells: fine enough for any zoom we draw density at


def cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """H3 cells (as unsigned 64-bit ints) at ``H3_RES`` for arrays of lon/lat."""
    return np.fromiter((h3i.latlng_to_cell(la, lo, H3_RES) for lo, la in zip(np.asarray(lon, float).tolist(), np.asarray(lat, float).tolist())),
                       dtype=np.uint64, count=len(lon))


def resolution_for_zoom(zoom: float) -> int:
    """Hexagon resolution drawn at a web-map zoom level (about 10-20 px per hexagon)."""
    table = {0: 1, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5, 8: 5, 9: 6, 10: 7, 11: 7, 12: 8}
    return min(table.get(int(zoom), 8), H3_RES)


def boundary(cell: int) -> list[list[float]]:
    """Closed lon/lat ring of a cell, unwrapped across the antimeridian."""
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(cell)))]
    lons = [p[0] for p in ring]
    if max(lons) - min(lons) > 180:
        ring = [[lng + 360 if lng < 0 else lng, lat] for lng, lat in ring]
    ring.append(ring[0])
    return ring
