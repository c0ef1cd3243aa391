"""Shapes drawn on a map, checked before they become the area of interest.

What comes back from the browser is untrusted GeoJSON: it must be one polygon (a drawn rectangle
or polygon), in longitude/latitude, not crossing the antimeridian, simple (no self-crossing), with
at most ``MAX_AREA_VERTICES`` vertices, and between ``MIN_AREA_KM2`` and ``MAX_AREA_KM2`` in
geodesic area (WGS84 ellipsoid). The result is normalised WKT that the Filter binds as the
``$f_area`` parameter; a bad shape raises ``DrawingError`` with the reason and changes nothing.
"""
from __future__ import annotations

import math

import shapely
import shapely.geometry
from pyproj import Geod

from borderwatch.filters import MAX_AREA_VERTICES, valid_area

MIN_AREA_KM2 = 0.01  # a tenth of a hectare less than nothing: a slip of the mouse
MAX_AREA_KM2 = 5_000_000.0  # about half of Europe: beyond that the nation filter is the tool
_GEOD = Geod(ellps="WGS84")


class DrawingError(ValueError):
    """A drawn shape that cannot be the area of interest, with the reason in words."""


def area_km2(geom) -> float:
    """Geodesic area of a lon/lat (multi)polygon on the WGS84 ellipsoid, in km²."""
    area, _ = _GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def _unwrap(geom):
    """Leaflet reports longitudes past ±180 for a shape drawn on a wrapped copy of the world."""
    w, _, e, _ = geom.bounds
    shift = 0.0
    while w + shift > 180:
        shift -= 360
    while e + shift < -180:
        shift += 360
    if shift:
        geom = shapely.transform(geom, lambda xy: xy + [shift, 0.0])
    return geom


def drawn_area(feature: dict | None) -> str:
    """The drawn ``feature`` (GeoJSON Feature or geometry) as area-of-interest WKT."""
    if not isinstance(feature, dict):
        raise DrawingError("nothing was drawn")
    geometry = feature.get("geometry", feature) if feature.get("type") == "Feature" else feature
    try:
        geom = shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise DrawingError(f"the drawn shape is not readable GeoJSON ({exc})") from None
    if geom.geom_type != "Polygon":
        raise DrawingError(f"draw a rectangle or a polygon, not a {geom.geom_type.lower()}")
    coords = list(geom.exterior.coords)
    if not all(math.isfinite(v) for xy in coords for v in xy):
        raise DrawingError("the drawn shape has coordinates that are not numbers")
    if shapely.get_num_coordinates(geom) > MAX_AREA_VERTICES:
        raise DrawingError(f"the drawn polygon has more than {MAX_AREA_VERTICES:,} vertices")
    geom = _unwrap(geom)
    w, s, e, n = geom.bounds
    if w < -180 or e > 180:
        raise DrawingError("the drawn shape crosses the antimeridian (180°): draw it on one side")
    if s < -90 or n > 90:
        raise DrawingError("the drawn shape reaches past a pole")
    if not geom.is_valid:
        raise DrawingError(f"the drawn polygon is not valid ({shapely.is_valid_reason(geom)}): "
                           "its edges must not cross")
    km2 = area_km2(geom)
    if km2 < MIN_AREA_KM2:
        raise DrawingError(f"the drawn shape is too small ({km2:.4f} km²; at least {MIN_AREA_KM2} km²)")
    if km2 > MAX_AREA_KM2:
        raise DrawingError(f"the drawn shape is too large ({km2:,.0f} km²; at most {MAX_AREA_KM2:,.0f} km²): "
                           "zoom in, or filter by nation instead")
    try:
        return valid_area(shapely.to_wkt(geom, rounding_precision=6, trim=True))
    except ValueError as exc:  # rounding can still fold a sliver polygon
        raise DrawingError(f"the drawn shape is not usable: {exc}") from None


def latest_drawing(all_drawings) -> dict | None:
    """The shape to use from streamlit-folium's ``all_drawings`` (the last one drawn)."""
    if not isinstance(all_drawings, list) or not all_drawings:
        return None
    return all_drawings[-1]


def describe_area(wkt: str) -> str:
    geom = shapely.from_wkt(wkt)
    w, s, e, n = geom.bounds
    return (f"{area_km2(geom):,.0f} km² between {s:.3f}° and {n:.3f}° latitude, "
            f"{w:.3f}° and {e:.3f}° longitude")
