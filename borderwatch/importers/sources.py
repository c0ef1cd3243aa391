"""Reading a file into layers of attributes and geometries, with GDAL (pyogrio) wherever it can.

Supported: GeoJSON, GeoPackage, Shapefile (zipped or as .shp with its sidecars), KML and KMZ
(every folder is a layer), CSV / TSV, GeoParquet and Parquet. GeoParquet is read with pyarrow
because the GDAL in the pyogrio wheels has no Parquet driver. The safety checks of
``safety`` run first; nothing here ever reaches the network.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import warnings
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pyogrio.raw
import pyproj
import shapely

from borderwatch.importers import delimited, safety, wkbpoints
from borderwatch.importers.report import FileRefused

FORMATS = {
    ".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile", ".zip": "zip",
    ".kml": "KML", ".kmz": "KMZ", ".csv": "CSV", ".tsv": "CSV", ".txt": "CSV",
    ".parquet": "GeoParquet", ".geoparquet": "GeoParquet",
}
SUPPORTED_TEXT = "GeoJSON, GeoPackage, zipped Shapefile, KML, KMZ, GeoParquet, CSV"
_INNER = (".shp", ".geojson", ".json", ".gpkg", ".kml", ".csv", ".tsv", ".txt", ".parquet", ".geoparquet")


@dataclasses.dataclass
class Source:
    """One layer of a file: attributes, geometries (in the file's CRS) and what was learnt reading it."""
    name: str
    driver: str
    attrs: pd.DataFrame
    geoms: np.ndarray | None  # None: a table without geometry (CSV, plain Parquet)
    crs: pyproj.CRS | None = None
    crs_label: str | None = None
    crs_undefined_note: str | None = None  # e.g. a GeoPackage with an undefined SRS
    encoding: str | None = None
    encoding_confidence: float | None = None  # when the encoding was detected statistically
    # 0-based row -> (field, reason) found before or while reading (parse problems)
    row_errors: list[tuple[int, str | None, str]] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ReadOptions:
    layer_name: str | None = None
    encoding: str | None = None


def read(path: pathlib.Path, opts: ReadOptions, workdir: pathlib.Path) -> tuple[str, list[Source]]:
    """(format label, layers) of the file at ``path``; ``workdir`` holds extracted / converted copies."""
    ext = path.suffix.lower()
    kind = FORMATS.get(ext)
    if kind is None:
        raise FileRefused(f"unsupported file type '{ext or path.name}' (supported: {SUPPORTED_TEXT})")
    if kind in ("zip", "KMZ"):
        return _read_archive(path, kind, opts, workdir)
    return kind, _read_plain(path, kind, opts, workdir)


def _read_plain(path: pathlib.Path, kind: str, opts: ReadOptions, workdir: pathlib.Path) -> list[Source]:
    if kind == "GeoJSON":
        return _read_geojson(path)
    if kind == "GeoPackage":
        return _read_gpkg(path, opts)
    if kind == "Shapefile":
        return _read_shapefile(path, opts)
    if kind == "KML":
        return _read_kml(path, path.read_bytes(), opts)
    if kind == "CSV":
        return _read_csv(path, opts, workdir)
    if kind == "GeoParquet":
        return _read_parquet(path)
    raise FileRefused(f"unsupported file type {kind}")


def _read_archive(path: pathlib.Path, kind: str, opts: ReadOptions, workdir: pathlib.Path) -> tuple[str, list[Source]]:
    infos = safety.inspect_archive(path)
    files = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
             and not pathlib.PurePosixPath(i.filename).name.startswith("._")]
    exts = {i.filename: pathlib.PurePosixPath(i.filename.lower()).suffix for i in files}
    if kind == "KMZ":
        kmls = [i for i in files if exts[i.filename] == ".kml"]
        if not kmls:
            raise FileRefused("the KMZ holds no .kml document")
        root = sorted(kmls, key=lambda i: (i.filename.count("/"), i.filename.lower() != "doc.kml", i.filename))[0]
        with zipfile.ZipFile(path) as zf:
            data = zf.read(root)
        target = safety.extract_members(path, [root], workdir)[root.filename]
        return "KMZ", _read_kml(target, data, opts)
    shps = [i for i in files if exts[i.filename] == ".shp"]
    if shps:
        stems = {i.filename[: -len(".shp")].lower() for i in shps}
        members = [i for i in files if i.filename.rsplit(".", 1)[0].lower() in stems]
        extracted = safety.extract_members(path, members, workdir)
        sources: list[Source] = []
        for info in shps:
            layer = pathlib.PurePosixPath(info.filename).stem
            if opts.layer_name and layer != opts.layer_name:
                continue
            sources.extend(_read_shapefile(extracted[info.filename], opts))
        if not sources:
            raise FileRefused(f"no layer named {opts.layer_name!r} in the archive (layers: "
                              f"{', '.join(pathlib.PurePosixPath(i.filename).stem for i in shps)})")
        return "zipped Shapefile", sources
    inner = [i for i in files if exts[i.filename] in _INNER]
    if len(inner) != 1:
        found = ", ".join(i.filename for i in files[:20]) or "nothing"
        raise FileRefused(f"the archive must hold one Shapefile set or one supported file; it holds {found}")
    info = inner[0]
    target = safety.extract_members(path, [info], workdir)[info.filename]
    inner_kind = FORMATS[exts[info.filename]]
    return f"zipped {inner_kind}", _read_plain(target, inner_kind, opts, workdir)


# -- GDAL reads -----------------------------------------------------------------------------
def _gdal_read(path: pathlib.Path | str, layer: str | None = None, *, read_geometry: bool = True,
               encoding: str | None = None, **open_options) -> tuple[dict, np.ndarray | None, np.ndarray | None,
                                                                      pd.DataFrame, list[str]]:
    """(meta, fids, WKB array, attributes, warnings) read with GDAL under the safety settings."""
    caught: list[str] = []
    with safety.gdal_guard(), warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            meta, fids, wkb, field_data = pyogrio.raw.read(
                str(path), layer=layer, encoding=encoding, read_geometry=read_geometry, force_2d=True,
                return_fids=True, datetime_as_string=True, **open_options)
        except UnicodeDecodeError as exc:
            where = f"layer '{layer}'" if layer else f"'{pathlib.Path(str(path)).name}'"
            declared = f"{encoding} " if encoding else f"{exc.encoding} "
            raise FileRefused(f"text in {where} is not valid {declared}({exc.reason}); it was not read rather than "
                              "turned into garbage: give the right encoding (e.g. --encoding cp1252)") from exc
        except pyogrio.errors.DataSourceError as exc:
            raise FileRefused(f"GDAL cannot open the file: {exc}") from exc
        except pyogrio.errors.DataLayerError as exc:
            raise FileRefused(f"GDAL cannot read layer {layer!r}: {exc}") from exc
        except (pyogrio.errors.FieldError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError) as exc:
            raise FileRefused(f"GDAL cannot read the file: {exc}") from exc
        caught = [str(w.message) for w in rec if issubclass(w.category, (RuntimeWarning, UserWarning))]
    names = list(meta["fields"])
    seen: dict[str, int] = {}
    for k, name in enumerate(names):
        key = str(name).lower()
        if key in seen:
            raise FileRefused(f"two columns are named '{name}' (columns {seen[key] + 1} and {k + 1}); a reader keeps "
                              "only one of them, so the file is refused", field=str(name), layer=layer)
        seen[key] = k
    attrs = pd.DataFrame({str(n): pd.Series(_objects(col), dtype=object) for n, col in zip(names, field_data)})
    if len(attrs.columns) == 0:
        attrs = pd.DataFrame(index=range(len(fids) if fids is not None else 0))
    return meta, fids, wkb, attrs, caught


def _objects(col) -> np.ndarray:
    arr = np.asarray(col)
    if arr.dtype.kind == "M":
        return _stamp_texts(arr)
    out = arr.astype(object)
    if arr.dtype.kind == "f":
        out[np.isnan(arr)] = None
    return out


def arrow_objects(column) -> np.ndarray:
    """``_objects`` of an Arrow column; the texts of a time-zone-aware timestamp column end with its
    UTC offset (+00:00: Arrow keeps such times in UTC), so that they are not read as times without
    a zone; whole numbers with missing values stay whole numbers (NumPy would make them floats,
    which cannot hold every integer above 2**53)."""
    if pa.types.is_integer(column.type) and column.null_count:
        return np.array(column.to_pylist(), dtype=object)
    values = _objects(column.to_numpy(zero_copy_only=False))
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        given = pd.notna(values)
        values[given] = values[given] + "+00:00"
    return values


def _stamp_texts(arr: np.ndarray) -> np.ndarray:
    """Each datetime64 as ``pd.Timestamp.isoformat`` writes it (None for NaT): whole seconds of
    years 1-9999 for the whole array at once, any other value one by one."""
    out = np.full(len(arr), None, dtype=object)
    nat = np.isnat(arr)
    seconds = arr.astype("datetime64[s]")
    whole = ~nat & (seconds == arr) & (seconds >= np.datetime64("0001-01-01T00:00:00")) \
        & (seconds <= np.datetime64("9999-12-31T23:59:59"))
    out[whole] = np.datetime_as_string(seconds[whole], unit="s").astype(object)
    for i in np.flatnonzero(~nat & ~whole):
        out[i] = pd.Timestamp(arr[i]).isoformat()
    return out


def decode_column(column, n: int) -> tuple[np.ndarray, list[tuple[int, str | None, str]]]:
    """``_decode`` of an Arrow column of WKB: plain 2D points in bulk (``wkbpoints``), else one
    Python bytes object per row."""
    geoms = wkbpoints.decode(column)
    if geoms is None:
        return _decode(np.array(column.to_pylist(), dtype=object), n)
    lost = np.flatnonzero(pd.isna(geoms) & ~np.asarray(column.is_null()))  # from_wkb refused a NaN point
    if not len(lost):
        return geoms, []
    _, errors = _decode(np.array(column.take(lost).to_pylist(), dtype=object), len(lost))
    return geoms, [(int(lost[i]), field, reason) for i, field, reason in errors]


def _decode(wkb: np.ndarray | None, n: int) -> tuple[np.ndarray, list[tuple[int, str | None, str]]]:
    """Shapely geometries from WKB; rows whose WKB cannot be decoded get a reason."""
    if wkb is None:
        return np.full(n, None, dtype=object), []
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    errors = []
    bad = [i for i in np.flatnonzero(pd.isna(geoms)) if wkb[i] is not None]  # a blob, not a missing value
    for i in bad:
        try:
            shapely.from_wkb(wkb[i])
            reason = "geometry could not be decoded"
        except shapely.errors.GEOSException as exc:
            reason = f"geometry could not be decoded ({exc})"
        errors.append((int(i), "geometry", reason))
    return np.asarray(geoms, dtype=object), errors


def _crs(meta_crs: str | None) -> pyproj.CRS | None:
    if not meta_crs:
        return None
    try:
        return pyproj.CRS.from_user_input(meta_crs)
    except pyproj.exceptions.CRSError:
        return None


def _layers(path: pathlib.Path | str) -> list[tuple[str, str | None]]:
    with safety.gdal_guard(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [(str(n), g) for n, g in pyogrio.list_layers(str(path))]
        except pyogrio.errors.DataSourceError as exc:
            raise FileRefused(f"GDAL cannot open the file: {exc}") from exc


def _pick(layers: list[str], wanted: str | None) -> list[str]:
    if wanted is None:
        return layers
    if wanted not in layers:
        raise FileRefused(f"no layer named {wanted!r} (layers: {', '.join(layers)})")
    return [wanted]


def _read_geojson(path: pathlib.Path) -> list[Source]:
    scan = safety.scan_geojson(path)
    meta, fids, wkb, attrs, caught = _gdal_read(path, DATE_AS_STRING="YES")
    geoms, decode_errors = _decode(wkb, len(attrs))
    src = Source(path.stem, "GeoJSON", attrs, geoms, encoding="UTF-8")
    if len(attrs) != scan.features:
        first = f"; feature {scan.row_errors[0][0] + 1}: {scan.row_errors[0][2]}" if scan.row_errors else ""
        raise FileRefused(f"GDAL read {len(attrs)} features where the JSON has {scan.features}{first}")
    if scan.crs is not None:
        src.crs, src.crs_label = scan.crs, scan.crs_label
    else:  # RFC 7946: GeoJSON coordinates are WGS 84 longitude / latitude
        src.crs, src.crs_label = pyproj.CRS.from_epsg(4326), "WGS 84 (GeoJSON default)"
    flagged = {i for i, _, _ in scan.row_errors}
    src.row_errors = scan.row_errors + [e for e in decode_errors if e[0] not in flagged]
    src.warnings += [w for w in caught if "Non closed ring" not in w]
    return [src]


def _read_gpkg(path: pathlib.Path, opts: ReadOptions) -> list[Source]:
    info = safety.inspect_gpkg(path)
    listed = [n for n, g in _layers(path)]
    spatial = [n for n in listed if n in info]
    if opts.layer_name is None and not spatial:
        raise FileRefused("the GeoPackage has no layer with geometries")
    sources = []
    for name in _pick(spatial if opts.layer_name is None else listed, opts.layer_name):
        lay = info.get(name)
        if lay is None:
            raise FileRefused(f"layer {name!r} has no geometry column", layer=name)
        with safety.gdal_guard():
            fid_column = pyogrio.read_info(str(path), layer=name).get("fid_column") or "fid"
        meta, fids, wkb, attrs, caught = _gdal_read(path, name)
        geoms, errors = _decode(wkb, len(attrs))
        blob = safety.gpkg_blob_fids(path, lay, fid_column)
        for i in np.flatnonzero(pd.isna(geoms)):
            if fids is not None and int(fids[i]) in blob and not any(e[0] == i for e in errors):
                errors.append((int(i), "geometry", f"the geometry blob of feature {int(fids[i])} is invalid "
                                                   "(GDAL read it as empty)"))
        src = Source(name, "GeoPackage", attrs, geoms, crs=lay.crs, crs_label=lay.crs_label, encoding="UTF-8")
        if lay.undefined_srs:
            src.crs_undefined_note = f"layer '{name}' has an undefined SRS (srs_id {lay.srs_id})"
        src.row_errors = errors
        src.warnings += [w for w in caught if "srs_id" not in w]
        sources.append(src)
    return sources


def _read_shapefile(path: pathlib.Path, opts: ReadOptions) -> list[Source]:
    check = safety.check_shapefile(path, opts.encoding)
    prj = safety.sidecar(path, ".prj")
    if prj is not None and _crs(prj.read_text("utf-8", "replace").strip()) is None:
        raise FileRefused(f"the .prj of '{path.name}' does not describe a known coordinate reference system")
    meta, fids, wkb, attrs, caught = _gdal_read(path, encoding=check.encoding)
    geoms, errors = _decode(wkb, len(attrs))
    crs = _crs(meta.get("crs"))
    if prj is not None and crs is None:
        raise FileRefused(f"the .prj of '{path.name}' does not describe a known coordinate reference system")
    if len(attrs) != check.records:
        raise FileRefused(f"GDAL read {len(attrs):,} records of '{path.name}' where its .dbf declares {check.records:,}")
    src = Source(path.stem, "ESRI Shapefile", attrs, geoms, crs=crs,
                 crs_label=(crs.to_string() if crs is not None else None), encoding=check.encoding_label)
    src.row_errors = errors
    src.warnings += check.warnings + caught
    return [src]


def _read_kml(path: pathlib.Path, data: bytes, opts: ReadOptions) -> list[Source]:
    problems = safety.scan_kml(data)
    sources = []
    layers = [n for n, _ in _layers(path)]
    for name in _pick(layers, opts.layer_name):
        meta, fids, wkb, attrs, caught = _gdal_read(path, name)
        if len(attrs) == 0:
            continue
        geoms, errors = _decode(wkb, len(attrs))
        flagged = {(row - 1) for layer, row, _, _ in problems if layer == name}
        errors = [e for e in errors if e[0] not in flagged]
        errors += [(row - 1, field, reason) for layer, row, field, reason in problems if layer == name and row <= len(attrs)]
        src = Source(name, "KML (libkml)", attrs, geoms, crs=pyproj.CRS.from_epsg(4326), crs_label="WGS 84 (KML)",
                     encoding="as declared by the KML (UTF-8 by default)")
        src.row_errors = errors
        src.warnings += caught
        sources.append(src)
    if not sources:
        raise FileRefused("the KML has no placemarks")
    known = {s.name for s in sources} | set(layers)
    orphans = [p for p in problems if p[0] not in known]
    if orphans:
        raise FileRefused(orphans[0][3], field="coordinates")
    return sources


def _read_csv(path: pathlib.Path, opts: ReadOptions, workdir: pathlib.Path) -> list[Source]:
    readable, label, notes, confidence = safety.prepare_text(path, opts.encoding, workdir)
    table = delimited.read_table(readable, path.name, path.suffix)
    attrs = pd.DataFrame({n: pd.Series(v, dtype=object) for n, v in table.columns.items()})
    if len(attrs) != table.rows:
        attrs = pd.DataFrame(index=range(table.rows))
    src = Source(path.stem, "CSV", attrs, None, encoding=label, encoding_confidence=confidence)
    src.warnings += notes
    if table.blank_lines:
        src.warnings.append(f"{len(table.blank_lines)} blank line(s) skipped (first: line {table.blank_lines[0]})")
    return [src]


def _read_parquet(path: pathlib.Path) -> list[Source]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise FileRefused(f"not a readable Parquet file ({exc})") from exc
    schema = pf.schema_arrow
    seen: dict[str, int] = {}
    for k, name in enumerate(schema.names):
        if name.lower() in seen:
            raise FileRefused(f"two columns are named '{name}' (columns {seen[name.lower()] + 1} and {k + 1})", field=name)
        seen[name.lower()] = k
    geo_meta = (schema.metadata or {}).get(b"geo")
    table = pf.read()
    if geo_meta is None:  # a plain table: geometry from lat/lon or WKT columns like a CSV
        attrs = pd.DataFrame({n: pd.Series(arrow_objects(table.column(n)), dtype=object)
                              for n in table.column_names})
        return [Source(path.stem, "Parquet", attrs, None, encoding="UTF-8")]
    try:
        geo = json.loads(geo_meta)
        primary = geo["primary_column"]
        column_meta = geo["columns"][primary]
    except (ValueError, KeyError, TypeError) as exc:
        raise FileRefused(f"the GeoParquet 'geo' metadata is not valid ({exc})") from exc
    encoding = str(column_meta.get("encoding", "WKB")).upper()
    if primary not in table.column_names:
        raise FileRefused(f"the GeoParquet primary geometry column {primary!r} is missing")
    if encoding == "WKB":
        geoms, errors = decode_column(table.column(primary), table.num_rows)
    else:
        import geopandas as gpd

        try:
            frame = gpd.read_parquet(path, columns=[primary])
        except Exception as exc:
            raise FileRefused(f"the GeoParquet geometries cannot be read ({exc})") from exc
        geoms, errors = np.asarray(frame.geometry.values, dtype=object), []
    if "crs" in column_meta and column_meta["crs"] is None:
        crs, label = None, None  # GeoParquet: an explicit null means "unknown"
    elif column_meta.get("crs") is not None:
        try:
            crs = pyproj.CRS.from_user_input(column_meta["crs"])
        except pyproj.exceptions.CRSError as exc:
            raise FileRefused("the GeoParquet declares a CRS that is not known") from exc
        label = crs.to_string()
    else:  # absent: the specification's default, OGC:CRS84 (longitude / latitude)
        crs, label = pyproj.CRS.from_user_input("OGC:CRS84"), "OGC:CRS84 (GeoParquet default)"
    rest = [n for n in table.column_names if n != primary and n not in (geo.get("columns") or {})]
    attrs = pd.DataFrame({n: pd.Series(arrow_objects(table.column(n)), dtype=object)
                          for n in rest})
    if not rest:
        attrs = pd.DataFrame(index=range(len(geoms)))
    src = Source(path.stem, "GeoParquet", attrs, geoms, crs=crs, crs_label=label, encoding="UTF-8")
    src.row_errors = errors
    return [src]
