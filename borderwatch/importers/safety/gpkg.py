"""GeoPackage inspected read-only with SQLite: its layers' declared SRS and which geometry blobs are present."""
from __future__ import annotations

import dataclasses
import pathlib
import sqlite3
import urllib.parse

import pyproj

from borderwatch.importers.report import FileRefused


@dataclasses.dataclass
class GpkgLayer:
    table: str
    geometry_column: str
    srs_id: int
    crs: pyproj.CRS | None
    crs_label: str
    undefined_srs: bool
    blob_fids: set[int] | None = None


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def inspect_gpkg(path: pathlib.Path) -> dict[str, GpkgLayer]:
    """Spatial layers of a GeoPackage with their declared SRS, read with SQLite (read-only)."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise FileRefused(f"not a readable GeoPackage ({exc})") from exc
    try:
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            rows = con.execute("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns").fetchall()
        except sqlite3.DatabaseError as exc:
            raise FileRefused(f"not a GeoPackage: {exc}") from exc
        if app_id not in (0x47504B47, 0x47503130, 0x47503131):
            raise FileRefused("not a GeoPackage (its SQLite application id is not 'GPKG')")
        layers: dict[str, GpkgLayer] = {}
        for table, column, srs_id in rows:
            srs = con.execute("SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
                              "WHERE srs_id = ?", (srs_id,)).fetchone()
            if srs is None:
                raise FileRefused(f"layer '{table}' uses srs_id {srs_id}, which gpkg_spatial_ref_sys does not define",
                                  layer=table)
            org, code, definition = srs
            undefined = srs_id in (0, -1) or (str(definition).strip().lower() == "undefined" and str(org).upper() == "NONE")
            crs, label = None, f"undefined SRS (srs_id {srs_id})"
            if not undefined:
                crs = _crs_or_none(f"{org}:{code}") if org and code is not None else None
                if crs is None:
                    crs = _crs_or_none(definition)
                if crs is None:
                    raise FileRefused(f"layer '{table}' declares SRS {org}:{code} (srs_id {srs_id}), which is not a known "
                                      "coordinate reference system and has no usable definition", layer=table)
                label = f"{org}:{code}"
            layers[table] = GpkgLayer(table, column, srs_id, crs, label, undefined)
        return layers
    finally:
        con.close()


def gpkg_blob_fids(path: pathlib.Path, layer: GpkgLayer, fid_column: str) -> set[int]:
    """Feature ids whose geometry blob is present (to tell an undecodable blob from no geometry)."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro&immutable=1"
    con = sqlite3.connect(uri, uri=True)
    try:
        rows = con.execute(f"SELECT {_q(fid_column)} FROM {_q(layer.table)} WHERE {_q(layer.geometry_column)} IS NOT NULL")
        return {int(r[0]) for r in rows}
    finally:
        con.close()


def _crs_or_none(text) -> pyproj.CRS | None:
    if not text or str(text).strip().lower() == "undefined":
        return None
    try:
        return pyproj.CRS.from_user_input(str(text))
    except pyproj.exceptions.CRSError:
        return None
