"""Stage 3 for a chunk of plain longitude / latitude points kept as a coordinate array.

A GeoParquet chunk whose geometry column holds only finite 2D WKB points (``wkbpoints``), in a
file that declares WGS 84 longitude / latitude (EPSG:4326 or OGC:CRS84, no --crs given), needs no
shapely object per row: its checks are those of ``reproject.to_wgs84`` for such points (a
longitude or latitude out of range, exactly 0, 0), with the same errors, and the rows' geometries
are kept as coordinates (``Work.coords``; shapely points are made for the plan's drawing sample
only). A chunk with anything else (a missing, empty, NaN or non-point geometry) goes through
``reproject`` as before, so its rows get the words they always got.

A chunk of a table (CSV) whose longitude and latitude come from two columns, read without --crs,
takes the same path (``table_points``): the columns are read as numbers with the errors
``reproject.tabular_geometries`` gives, then checked here like the GeoParquet points.
"""
from __future__ import annotations

import numpy as np
import pyproj
import shapely

from borderwatch.importers import reproject


def lonlat_crs(crs: pyproj.CRS | None, user_crs: str | None) -> bool:
    """Whether a file declaring ``crs`` (and read without --crs) holds WGS 84 longitude / latitude."""
    if user_crs or crs is None:
        return False
    return crs.equals(reproject.WGS84, ignore_axis_order=True) or crs.equals("OGC:CRS84", ignore_axis_order=True)


def usable(coords: np.ndarray | None) -> bool:
    """Whether a chunk's coordinates can take this path: every row a finite point."""
    return coords is not None and bool(np.isfinite(coords).all())


TABLE_LABEL = "WGS 84 longitude/latitude (table columns)"


def table_points(work) -> np.ndarray | None:
    """A table chunk's lon/lat columns as coordinates (NaN where a row has its error in
    ``work.errors``), or None when its points come another way (a --crs, a 'lat, lon' text
    column, WKT)."""
    if not work.tabular or work.opts.crs or "lon" not in work.values or "lat" not in work.values:
        return None
    lon, lat = reproject.lonlat_columns(work.values, work.labels, work.errors)
    return np.column_stack([lon, lat])


def check(work, coords: np.ndarray, label: str | None, sample: int,
          fields: tuple[str, str] = ("geometry", "geometry")) -> None:
    """``reproject_geometries`` for ``work`` (a chunk of finite points in WGS 84): errors, the
    report's CRS, geometry types and bounds; ``work.coords`` the rows' coordinates (NaN where
    rejected), ``work.geoms`` shapely points for the first ``sample`` rows, None after them;
    ``fields``: the names a longitude or latitude out of range is reported under."""
    n, report = len(coords), work.report
    rows = np.arange(n)
    already = {e[0] for e in work.errors}
    work.errors += reproject._out_of_range(coords, rows, rows, already, fields)
    report.crs = {"declared": label}
    bad = np.zeros(n, dtype=bool)
    bad[[e[0] for e in work.errors if e[0] >= 0]] = True
    kept = coords.copy()
    kept[bad] = np.nan
    work.coords = kept
    geoms = np.full(n, None, dtype=object)
    head = np.flatnonzero(~bad[:sample])
    if len(head):
        geoms[head] = shapely.points(kept[head])
    work.geoms = geoms
    good = kept[~bad]
    if len(good):
        report.geometry_types = {"Point": int(len(good))}
        lo, hi = good.min(axis=0), good.max(axis=0)
        report.bounds = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
