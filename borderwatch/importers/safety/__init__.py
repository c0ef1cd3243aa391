"""Checks made around GDAL, before it reads a file: what a plain GDAL read lets through.

GDAL (checked with 3.12) silently accepts files that would put wrong data in the store or make
it reach the network: a GeoJSON ``crs`` member that links to a URL is fetched over HTTP; an
unknown EPSG code is read as WGS 84; duplicate JSON keys keep the last value; NaN / Infinity
coordinates pass; KML coordinates ``abc,def`` become POINT (0 0); two columns with one name
keep the second; a corrupt ``.shp`` header or a missing ``.dbf`` read without complaint; a
GeoPackage with an undefined SRS reads as "no CRS"; invalid geometry blobs read as null; a KMZ
is inflated in memory whatever its size. Each check here turns one of those into a specific
refusal (``FileRefused``) or a per-row reason, before or right after GDAL reads.

One module per format: ``network`` (local files only, GDAL and PROJ kept off the network),
``archive`` (zip, KMZ), ``geojson``, ``kml``, ``shapefile``, ``gpkg`` (GeoPackage), ``text``
(encodings of delimited text; the strict CSV reader is ``borderwatch.importers.delimited``),
and ``limits``.
"""
from __future__ import annotations

from borderwatch.importers.safety.archive import extract_members, inspect_archive
from borderwatch.importers.safety.geojson import GeoJsonScan, decode_utf8, scan_geojson
from borderwatch.importers.safety.gpkg import GpkgLayer, gpkg_blob_fids, inspect_gpkg
from borderwatch.importers.safety.kml import scan_kml
from borderwatch.importers.safety.network import GDAL_SAFE_OPTIONS, check_local_file, gdal_guard
from borderwatch.importers.safety.shapefile import ShapefileCheck, check_shapefile, gdal_encoding, sidecar
from borderwatch.importers.safety.text import prepare_text

__all__ = ["GDAL_SAFE_OPTIONS", "GeoJsonScan", "GpkgLayer", "ShapefileCheck", "check_local_file", "check_shapefile",
           "decode_utf8", "extract_members", "gdal_encoding", "gdal_guard", "gpkg_blob_fids", "inspect_archive",
           "inspect_gpkg", "prepare_text", "scan_geojson", "scan_kml", "sidecar"]
