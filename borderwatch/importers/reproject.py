"""Stage 3, reproject: geometries from table columns, checked and converted to WGS 84 longitude / latitude.

Any CRS the file declares is converted with PROJ, choosing the best transformation available
offline for the data's area; the report names it and its accuracy.
"""
from __future__ import annotations

import json
from typing import Any
import warnings

import numpy as np
import pyproj
from pyproj.transformer import AreaOfInterest, TransformerGroup
import shapely

from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.importers.report import FileRefused, ImportReport

WGS84 = pyproj.CRS.from_epsg(4326)


def lonlat_columns(values, labels, errors) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude from their columns (NaN where unusable); ``errors`` gets each row's
    reason: a value that is not a number, or no coordinates."""
    lon, e1 = vals.parse_numbers(values["lon"], what="longitude")
    lat, e2 = vals.parse_numbers(values["lat"], what="latitude")
    for i, r in e1.items():
        errors.append((i, labels["lon"], r, values["lon"][i]))
    for i, r in e2.items():
        errors.append((i, labels["lat"], r, values["lat"][i]))
    for i in np.flatnonzero(np.isnan(lon) | np.isnan(lat)):
        if i in e1 or i in e2:
            continue
        errors.append((int(i), labels["lon"] if np.isnan(lon[i]) else labels["lat"], "no coordinates", None))
    return lon, lat


def tabular_geometries(values, labels, n, errors, report) -> np.ndarray | None:
    """Points (or WKT geometries) from lon/lat columns, a 'lat, lon' text column or a WKT column."""
    geoms = np.full(n, None, dtype=object)
    if "lon" in values or "lat" in values:
        if not ("lon" in values and "lat" in values):
            have = "lon" if "lon" in values else "lat"
            report.refuse(f"the file gives {have} ({labels[have]}) but not {'lat' if have == 'lon' else 'lon'}",
                          field="lat" if have == "lon" else "lon")
            return None
        lon, lat = lonlat_columns(values, labels, errors)
        ok = ~(np.isnan(lon) | np.isnan(lat))
        geoms[ok] = shapely.points(lon[ok], lat[ok])
        return geoms
    if "location" in values:
        label = labels["location"]
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        for i, v in enumerate(values["location"]):
            s = vals._text(v)
            if s is None:
                errors.append((i, label, "no coordinates", None))
                continue
            m = mp.LATLON_TEXT.match(s)
            if not m:
                errors.append((i, label, f"{s!r} is not 'latitude, longitude'", s))
                continue
            a, b = float(m.group(1)), float(m.group(2))
            if abs(a) > 90 and abs(b) <= 90:
                errors.append((i, label, f"{s!r} reads as latitude {a:g}, which is impossible; this column must be "
                                         "'latitude, longitude' (it looks like 'longitude, latitude')", s))
                continue
            lon[i], lat[i] = b, a
        ok = ~np.isnan(lon)
        geoms[ok] = shapely.points(lon[ok], lat[ok])
        return geoms
    if "wkt" in values:
        label = labels["wkt"]
        for i, v in enumerate(values["wkt"]):
            s = vals._text(v)
            if s is None:
                errors.append((i, label, "no geometry", None))
                continue
            if s.upper().startswith("SRID="):
                srid, _, s = s.partition(";")
                if srid.upper() not in ("SRID=4326",):
                    errors.append((i, label, f"EWKT with {srid}: declare that CRS for the file (--crs EPSG:...)", srid))
                    continue
            try:
                geoms[i] = shapely.from_wkt(s)
            except shapely.errors.GEOSException as exc:
                errors.append((i, label, f"not valid WKT ({exc})", s))
        return geoms
    report.refuse("the file has no geometry: give longitude and latitude columns (e.g. lon, lat), one 'lat, lon' "
                  "column or a WKT column, or map them with --map lon=COLUMN --map lat=COLUMN", field="geometry")
    return None


def to_wgs84(parts, *, user_crs, errors, report, coord_fields=("geometry", "geometry")) -> np.ndarray | None:
    """Check coordinates and reproject each layer's geometries to WGS 84 longitude / latitude."""
    total = parts[-1][1] if parts else 0
    out = np.full(total, None, dtype=object)
    crs_infos = []
    already = {e[0] for e in errors}
    for start, stop, geoms, crs, label, undefined_note in parts:
        geoms = np.asarray(geoms, dtype=object)
        present = ~shapely.is_missing(geoms) if len(geoms) else np.zeros(0, dtype=bool)
        for i in np.flatnonzero(~present):
            if start + int(i) not in already:
                errors.append((start + int(i), "geometry", "no geometry", None))
        idx_present = np.flatnonzero(present)
        g = geoms[present]
        empty = shapely.is_empty(g) if len(g) else np.array([], dtype=bool)
        for i in idx_present[empty]:
            if start + int(i) not in already:  # e.g. an unclosed ring, already reported
                errors.append((start + int(i), "geometry", "geometry is empty", None))
        coords, owner = shapely.get_coordinates(g, return_index=True) if len(g) else (np.empty((0, 2)), np.array([], int))
        nonfinite = ~np.isfinite(coords).all(axis=1)
        bad_rows = set(np.unique(owner[nonfinite]).tolist())
        for k in bad_rows:
            if start + int(idx_present[k]) not in already:
                errors.append((start + int(idx_present[k]), "geometry", "a coordinate is NaN or Infinity", None))
        declared = crs
        if user_crs is not None:
            if crs is not None and not crs.equals(user_crs, ignore_axis_order=True):
                raise FileRefused(f"the file declares {label or crs.to_string()} but {user_crs.to_string()} was given")
            declared, label = user_crs, f"{user_crs.to_string()} (as given)"
        info: dict[str, Any] = {"declared": label if declared is not None else None}
        if declared is None:
            finite = ~nonfinite
            outside = finite & ((np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90))
            why = undefined_note or "the file declares no coordinate reference system"
            if outside.any():
                rows_out = np.unique(owner[outside])
                first = coords[outside][0]
                raise_rows = [(start + int(idx_present[k]) + 1) for k in rows_out[:5]]
                for k in rows_out:
                    errors.append((start + int(idx_present[k]), "geometry",
                                   "coordinates are not longitude/latitude and the file declares no CRS", None))
                report.refuse(f"{why} and its coordinates are not longitude/latitude (e.g. {first[0]:.1f}, {first[1]:.1f} "
                              f"in row(s) {', '.join(map(str, raise_rows))}); declare the CRS (a .prj, or --crs EPSG:...)",
                              field="crs")
                return None
            report.warn(f"{why}; its coordinates fit longitude/latitude, so they were read as WGS 84")
            info.update(declared=None, assumed="EPSG:4326 (coordinates fit longitude/latitude)")
            new = coords
        elif declared.equals(WGS84, ignore_axis_order=True) or declared.equals("OGC:CRS84", ignore_axis_order=True):
            new = coords
        else:
            transformer, info_t = _transformer(declared, coords[~nonfinite], report)
            info.update(info_t)
            new = np.full_like(coords, np.nan)
            ok = ~nonfinite
            if ok.any():
                x, y = transformer.transform(coords[ok, 0], coords[ok, 1])
                new[ok, 0], new[ok, 1] = x, y
            failed = ok & ~np.isfinite(new).all(axis=1)
            for k in np.unique(owner[failed]):
                errors.append((start + int(idx_present[k]), "geometry",
                               f"coordinates cannot be converted from {label or declared.to_string()} "
                               "(outside the area where that CRS is defined?)", None))
            bad_rows |= set(np.unique(owner[failed]).tolist())
        rows = start + idx_present  # the file row of each present geometry
        errors += _out_of_range(new, owner, rows, already, coord_fields)
        if len(g) and new is coords and not nonfinite.any() and not shapely.has_z(g).any():
            out[start + idx_present] = g  # already 2D longitude / latitude: nothing to convert
        elif len(g):
            safe = np.where(np.isfinite(new), new, 0.0)
            moved = shapely.set_coordinates(shapely.force_2d(g), safe)  # force_2d returns copies
            out[start + idx_present] = moved
        crs_infos.append(info)
    report.crs = crs_infos[0] if crs_infos else {}
    if len({json.dumps(c, sort_keys=True, default=str) for c in crs_infos}) > 1:
        report.crs = {"declared": "; ".join(str(c.get("declared")) for c in crs_infos), "layers": crs_infos}
    return out


def _out_of_range(new: np.ndarray, owner: np.ndarray, rows: np.ndarray, already: set, coord_fields) -> list[tuple]:
    """Row errors for converted coordinates outside longitude/latitude, or exactly 0, 0 (nearly
    always a missing or unreadable value); ``owner`` maps each coordinate to its geometry, ``rows``
    each geometry to its file row."""
    errors = []
    finite = np.isfinite(new).all(axis=1)
    lon_bad = finite & (np.abs(new[:, 0]) > 180)
    lat_bad = finite & (np.abs(new[:, 1]) > 90)
    for mask, what, col in ((lon_bad, "longitude", 0), (lat_bad, "latitude", 1)):
        for k in np.unique(owner[mask]):
            v = new[mask & (owner == k), col][0]
            limit = 180 if col == 0 else 90
            errors.append((int(rows[k]), coord_fields[col], f"{what} {v:g} is outside -{limit}..{limit}", v))
    zero = finite & (new[:, 0] == 0) & (new[:, 1] == 0)
    for k in np.unique(owner[zero]):
        if int(rows[k]) in already:
            continue  # e.g. KML coordinates already reported as not numbers
        errors.append((int(rows[k]), "geometry", "a coordinate is exactly 0, 0: almost always a missing or unreadable "
                       "value (e.g. KML coordinates that are not numbers), not a place", "0, 0"))
    return errors


def _transformer(declared: pyproj.CRS, coords: np.ndarray, report: ImportReport):
    aoi = None
    if len(coords):
        try:
            to_geo = pyproj.Transformer.from_crs(declared, declared.geodetic_crs or WGS84, always_xy=True)
            w, s, e, n = to_geo.transform_bounds(coords[:, 0].min(), coords[:, 1].min(),
                                                 coords[:, 0].max(), coords[:, 1].max())
            if all(np.isfinite([w, s, e, n])):
                aoi = AreaOfInterest(max(w, -180), max(s, -90), min(e, 180), min(n, 90))
        except (pyproj.exceptions.ProjError, ValueError):
            aoi = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = TransformerGroup(declared, WGS84, always_xy=True, area_of_interest=aoi)
    if not group.transformers:
        raise FileRefused(f"no transformation from {declared.to_string()} to WGS 84 is available offline")
    best = group.transformers[0]
    info = {"transformation": _op_name(best.description), "accuracy_m": (best.accuracy if best.accuracy and best.accuracy > 0 else None)}
    if not group.best_available and group.unavailable_operations:
        op = group.unavailable_operations[0]
        grids = ", ".join(g.short_name for g in op.grids if not g.available) or "a grid file"
        report.warn(f"the most accurate transformation ({_op_name(op.name)}, about {op.accuracy:g} m) needs {grids}, "
                    f"which is not installed; used {_op_name(best.description)}"
                    + (f" (about {best.accuracy:g} m)" if best.accuracy and best.accuracy > 0 else ""))
    return best, info


def _op_name(text: str) -> str:
    """A PROJ operation name without its axis-order steps."""
    steps = [p.strip() for p in str(text).split(" + ") if not p.strip().startswith("axis order change")]
    return " + ".join(steps) or str(text)


GEOMETRY_TYPES = dict(enumerate(("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                                   "MultiPolygon", "GeometryCollection")))  # shapely's type ids


def describe_geometries(geoms: np.ndarray, report: ImportReport) -> None:
    present = geoms[~shapely.is_missing(geoms)] if len(geoms) else geoms
    if not len(present):
        return
    ids, counts = np.unique(shapely.get_type_id(present), return_counts=True)
    report.geometry_types = {GEOMETRY_TYPES[int(k)]: int(c) for k, c in sorted(zip(ids, counts), key=lambda kc: -kc[1])}
    w, s, e, n = shapely.total_bounds(present)
    report.bounds = (float(w), float(s), float(e), float(n))


