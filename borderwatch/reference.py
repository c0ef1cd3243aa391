"""Border reference data: nations and the land borders between them (Natural Earth 1:10m).

The files in ``data/reference/`` are built by ``scripts/build_reference_data.py``; their source,
derivation and the codes used for units without an ISO 3166-1 code are in
``data/reference/PROVENANCE.md``.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "data" / "reference"
NATIONS_FILE = REFERENCE_DIR / "nations.parquet"
SEGMENTS_FILE = REFERENCE_DIR / "segments.parquet"
PROVENANCE_FILE = REFERENCE_DIR / "PROVENANCE.md"
CRS = "EPSG:4326"


def _read(path: Path) -> gpd.GeoDataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; rebuild it with scripts/build_reference_data.py")
    frame = gpd.read_parquet(path)
    if frame.crs is None:
        return frame.set_crs(CRS)
    return frame if frame.crs == CRS else frame.to_crs(CRS)


def load_nations() -> gpd.GeoDataFrame:
    """One row per nation: ``iso3``, ``name``, ``geometry`` (MultiPolygon, EPSG:4326)."""
    return _read(NATIONS_FILE)


def load_segments() -> gpd.GeoDataFrame:
    """One row per land border between two nations (EPSG:4326).

    Columns: ``segment_id`` (``"{nation_a}-{nation_b}"``, ``nation_a < nation_b``), ``nation_a``,
    ``nation_b``, ``length_km`` (geodesic, WGS84) and ``geometry`` (MultiLineString).
    """
    return _read(SEGMENTS_FILE)
