"""H3 hexagons: the cell of every incident is computed once at ingest (resolution ``H3_RES``);
coarser cells are derived in SQL by bit operations (see ``queries/incident_density.sql``)."""
from __future__ import annotations

import h3
import h3.api.numpy_int as h3i
import numpy as np
import pyarrow as pa
from h3ronpy.vector import coordinates_to_cells

H3_RES = 9  # ~0.1 km2 cells: fine enough for any zoom we draw density at


def cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """H3 cells (as unsigned 64-bit ints) at ``H3_RES`` for arrays of lon/lat, computed for the whole
    array at once (h3ronpy: the same cells as h3's one-point ``latlng_to_cell``, tested so). A
    coordinate that is not finite raises, as it does point by point."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if len(lon) == 0:
        return np.array([], dtype=np.uint64)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        return cells_one_by_one(lon, lat)  # h3's own error for the point that is not a number
    return pa.array(coordinates_to_cells(lat, lon, H3_RES)).to_numpy(zero_copy_only=False).astype(np.uint64)


def cells_one_by_one(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """``cells`` one point at a time with h3 (the reference the vectorised cells are tested against)."""
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
