"""GeoJSON parsed strictly before GDAL reads it (GDAL accepts invalid JSON, duplicate keys, NaN, CRS links)."""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re

import pyproj

from borderwatch.importers.report import FileRefused
from borderwatch.importers.safety.limits import MAX_JSON_BYTES


class _JsonObject(dict):
    """A JSON object that remembers keys it saw twice."""
    __slots__ = ("dupes",)


def _object_hook(pairs):
    obj = _JsonObject()
    obj.dupes = []
    for key, value in pairs:
        if key in obj:
            obj.dupes.append(key)
        obj[key] = value
    return obj


_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_GEOM_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3, "MultiPolygon": 4}
_OGC_CRS_URL = re.compile(r"^https?://www\.opengis\.net/def/crs/(EPSG|OGC)/[^/]+/(\w+)$")


@dataclasses.dataclass
class GeoJsonScan:
    features: int
    row_errors: list[tuple[int, str | None, str]]  # (0-based feature, field, reason)
    crs: pyproj.CRS | None
    crs_label: str | None


def decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileRefused(f"{what} must be UTF-8, but byte 0x{raw[exc.start]:02x} on line {line} is not valid UTF-8 "
                          "(the file was probably saved in a legacy encoding)") from exc


def scan_geojson(path: pathlib.Path) -> GeoJsonScan:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise FileRefused(f"GeoJSON over {MAX_JSON_BYTES // 1024**2} MB is not accepted; convert it to a GeoPackage")
    text = decode_utf8(path.read_bytes(), "GeoJSON (RFC 7946)")
    try:
        doc = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_NONFINITE.__getitem__)
    except json.JSONDecodeError as exc:
        raise FileRefused(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError as exc:
        raise FileRefused("not valid GeoJSON: nested too deeply") from exc
    if not isinstance(doc, dict):
        raise FileRefused("not GeoJSON: the top level is not a JSON object")
    if doc.dupes:
        raise FileRefused(f"key '{doc.dupes[0]}' appears twice at the top level of the GeoJSON (a reader keeps only the last)")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise FileRefused("not valid GeoJSON: a FeatureCollection needs a 'features' array")
    elif kind == "Feature":
        features = [doc]
    elif kind in _GEOM_DEPTH or kind == "GeometryCollection":
        features = [{"type": "Feature", "properties": {}, "geometry": doc}]
    else:
        raise FileRefused(f"not GeoJSON: top-level type {kind!r}")
    crs, label = _geojson_crs(doc.get("crs"))
    errors: list[tuple[int, str | None, str]] = []
    for i, feat in enumerate(features):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            errors.append((i, None, "not a GeoJSON Feature object"))
            continue
        for key in getattr(feat, "dupes", []):
            errors.append((i, key, f"key '{key}' appears twice in this feature (a reader keeps only the last)"))
        props = feat.get("properties")
        if isinstance(props, dict):
            for key in getattr(props, "dupes", []):
                errors.append((i, key, f"property '{key}' appears twice in this feature (a reader keeps only the last value)"))
            for key, value in props.items():
                if isinstance(value, float) and not math.isfinite(value):
                    errors.append((i, key, f"value is {value} (not a number JSON allows)"))
        elif props is not None:
            errors.append((i, "properties", "'properties' is not an object"))
        geom = feat.get("geometry")
        if geom is not None:
            problem = _geometry_problem(geom)
            if problem:
                errors.append((i, "geometry", problem))
    return GeoJsonScan(len(features), errors, crs, label)


def _geojson_crs(member) -> tuple[pyproj.CRS | None, str | None]:
    if member is None:
        return None, None
    text = json.dumps(member)
    name = None
    if isinstance(member, dict) and member.get("type") == "name" and isinstance(member.get("properties"), dict):
        name = member["properties"].get("name")
    if isinstance(name, str):
        m = _OGC_CRS_URL.match(name.strip())
        if m:  # an OGC CRS URI names a CRS; it is never fetched
            name = f"{m.group(1)}:{m.group(2)}"
    elif "://" in text or (isinstance(member, dict) and member.get("type") == "link"):
        href = ""
        if isinstance(member, dict) and isinstance(member.get("properties"), dict):
            href = str(member["properties"].get("href", ""))
        raise FileRefused(f"the GeoJSON 'crs' member links to {href or 'a URL'!r}: Borderwatch never fetches anything "
                          "named in a file; declare the CRS by name (e.g. \"urn:ogc:def:crs:EPSG::2263\")", field="crs")
    if not isinstance(name, str) or not name.strip():
        raise FileRefused(f"the GeoJSON 'crs' member is not understood: {text[:120]}", field="crs")
    if "://" in name:
        raise FileRefused(f"the GeoJSON 'crs' member names a URL ({name!r}): refused, Borderwatch never fetches anything "
                          "named in a file", field="crs")
    try:
        crs = pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError as exc:
        raise FileRefused(f"the GeoJSON 'crs' member names an unknown coordinate reference system {name!r}", field="crs") from exc
    return crs, name


def _geometry_problem(geom) -> str | None:
    if not isinstance(geom, dict):
        return "geometry is not a JSON object"
    kind = geom.get("type")
    if kind == "GeometryCollection":
        parts = geom.get("geometries")
        if not isinstance(parts, list):
            return "GeometryCollection without a 'geometries' array"
        for part in parts:
            problem = _geometry_problem(part)
            if problem:
                return problem
        return None
    if kind not in _GEOM_DEPTH:
        return f"unknown geometry type {kind!r}"
    coords = geom.get("coordinates")
    if coords is None:
        return f"{kind} without coordinates"
    return _coords_problem(coords, _GEOM_DEPTH[kind], kind)


def _coords_problem(coords, depth: int, kind: str) -> str | None:
    if depth == 1:
        if not isinstance(coords, list) or len(coords) < 2:
            return f"{kind}: a position needs at least two numbers"
        for c in coords:
            if isinstance(c, bool) or not isinstance(c, (int, float)):
                return f"{kind}: coordinate {c!r} is not a number"
            if not math.isfinite(c):
                return f"{kind}: coordinate is {c} (NaN or Infinity)"
        return None
    if not isinstance(coords, list):
        return f"{kind}: coordinates are not nested arrays"
    for part in coords:
        problem = _coords_problem(part, depth - 1, kind)
        if problem:
            return problem
    if kind in ("LineString", "MultiLineString") and depth == 2 and len(coords) < 2:
        return f"{kind}: a line needs at least two positions"
    if kind in ("Polygon", "MultiPolygon") and depth == 2:
        if len(coords) < 4:
            return f"{kind}: a ring needs at least four positions"
        if coords[0] != coords[-1]:
            return f"{kind}: a ring is not closed (its first and last positions differ)"
    return None
