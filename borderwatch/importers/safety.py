"""Checks made around GDAL, before it reads a file: what a plain GDAL read lets through.

GDAL (checked with 3.12) silently accepts files that would put wrong data in the store or make
it reach the network: a GeoJSON ``crs`` member that links to a URL is fetched over HTTP; an
unknown EPSG code is read as WGS 84; duplicate JSON keys keep the last value; NaN / Infinity
coordinates pass; KML coordinates ``abc,def`` become POINT (0 0); two columns with one name
keep the second; a corrupt ``.shp`` header or a missing ``.dbf`` read without complaint; a
GeoPackage with an undefined SRS reads as "no CRS"; invalid geometry blobs read as null; a KMZ
is inflated in memory whatever its size. Each check here turns one of those into a specific
refusal (``FileRefused``) or a per-row reason, before or right after GDAL reads.
"""
from __future__ import annotations

import codecs
import contextlib
import dataclasses
import json
import math
import os
import pathlib
import re
import shutil
import sqlite3
import stat
import struct
import threading
import urllib.parse
import zipfile
from typing import Iterator

import pyogrio
import pyproj

from borderwatch.importers.report import FileRefused

# -- limits -------------------------------------------------------------------------------
MAX_FILE_BYTES = 4 * 1024**3          # any file handed to the importer
MAX_UNCOMPRESSED_BYTES = 1024**3      # everything extracted from one archive
MAX_COMPRESSION_RATIO = 100           # per archive entry (entries over 1 MB)
MAX_ARCHIVE_ENTRIES = 10_000
MAX_JSON_BYTES = 512 * 1024**2        # GeoJSON is parsed strictly in memory before GDAL reads it
MAX_XML_BYTES = 512 * 1024**2         # KML is parsed (defusedxml) in memory before GDAL reads it

# GDAL settings while the importer reads: nothing may leave the machine.
# No GDAL option switches HTTP off, so every HTTP request is sent to a proxy on the local
# "discard" port, where nothing answers, with short time-outs and no retries; /vsicurl/ may
# open no file name; libkml must not fetch external styles; unclosed rings are not "fixed".
GDAL_SAFE_OPTIONS = {
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTPS_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".borderwatch-no-remote-files",
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/borderwatch/no/remote/files",
    "LIBKML_EXTERNAL_STYLE": "NO",
    "LIBKML_RESOLVE_STYLE": "NO",
    "GML_SKIP_RESOLVE_ELEMS": "ALL",
    "GDAL_XML_VALIDATION": "NO",
    "OGR_GEOMETRY_ACCEPT_UNCLOSED_RING": "NO",
    "PROJ_NETWORK": "OFF",
}
_gdal_lock = threading.Lock()


@contextlib.contextmanager
def gdal_guard() -> Iterator[None]:
    """GDAL configured for untrusted local files (restored afterwards; one reader at a time)."""
    with _gdal_lock:
        old = {k: pyogrio.get_gdal_config_option(k) for k in GDAL_SAFE_OPTIONS}
        pyogrio.set_gdal_config_options(GDAL_SAFE_OPTIONS)
        try:
            yield
        finally:
            pyogrio.set_gdal_config_options({k: (None if v is None else str(v)) for k, v in old.items()})


def check_local_file(path: str | os.PathLike) -> pathlib.Path:
    text = os.fspath(path)
    if "://" in text or text.startswith("/vsi") or text.startswith("\\\\"):
        raise FileRefused("only local files can be imported (no URLs, no GDAL virtual paths)")
    p = pathlib.Path(text)
    if not p.exists():
        raise FileRefused("file not found")
    if not p.is_file():
        raise FileRefused("not a regular file (give the .shp, .gpkg, .zip... itself)")
    size = p.stat().st_size
    if size == 0:
        raise FileRefused("the file is empty")
    if size > MAX_FILE_BYTES:
        raise FileRefused(f"the file is {size / 1024**3:.1f} GB; the importer accepts up to {MAX_FILE_BYTES / 1024**3:.0f} GB")
    return p


# -- archives (zipped Shapefile, KMZ) -----------------------------------------------------
def _bad_member_name(name: str) -> str | None:
    if "\x00" in name:
        return "contains a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "is an absolute path"
    if ".." in norm.split("/"):
        return "points outside the archive ('..')"
    return None


def inspect_archive(path: pathlib.Path) -> list[zipfile.ZipInfo]:
    """Entries of a zip archive, refused if any could escape, is a link, or inflates too much."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRefused(f"not a readable zip archive ({exc})") from exc
    with zf:
        infos = zf.infolist()
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise FileRefused(f"the archive has {len(infos):,} entries (at most {MAX_ARCHIVE_ENTRIES:,} accepted)")
    total = 0
    seen: dict[str, str] = {}
    for info in infos:
        key = info.filename.replace("\\", "/").rstrip("/").lower()
        if key in seen:
            raise FileRefused(f"the archive holds two entries named '{seen[key]}'{'' if seen[key] == info.filename else f' and {info.filename!r}'}; "
                              "readers disagree about which one counts, so the archive is refused as ambiguous")
        seen[key] = info.filename
        bad = _bad_member_name(info.filename)
        if bad:
            raise FileRefused(f"archive entry '{info.filename}' {bad}: refused (zip-slip)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FileRefused(f"archive entry '{info.filename}' is a symbolic link: refused")
        if info.flag_bits & 0x1:
            raise FileRefused(f"archive entry '{info.filename}' is encrypted")
        total += info.file_size
        if info.file_size > 1024**2 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise FileRefused(
                f"archive entry '{info.filename}' inflates {info.file_size / max(info.compress_size, 1):,.0f} times "
                f"(at most {MAX_COMPRESSION_RATIO} accepted): refused as a possible zip bomb")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise FileRefused(f"the archive inflates to {total / 1024**3:.2f} GB "
                          f"(at most {MAX_UNCOMPRESSED_BYTES / 1024**3:.0f} GB accepted)")
    return infos


def extract_members(path: pathlib.Path, members: list[zipfile.ZipInfo], dest: pathlib.Path) -> dict[str, pathlib.Path]:
    """Extract the named entries into ``dest`` (already checked), counting the bytes really inflated."""
    out: dict[str, pathlib.Path] = {}
    budget = MAX_UNCOMPRESSED_BYTES
    with zipfile.ZipFile(path) as zf:
        for info in members:
            parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            target = dest.joinpath(*parts)
            if dest.resolve() not in target.resolve().parents:
                raise FileRefused(f"archive entry '{info.filename}' points outside the archive: refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while True:
                        chunk = src.read(1024 * 1024)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > info.file_size or written > budget:
                            raise FileRefused(f"archive entry '{info.filename}' inflates beyond its declared size: refused")
                        dst.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as exc:
                raise FileRefused(f"archive entry '{info.filename}' is corrupt ({exc})") from exc
            budget -= written
            out[info.filename] = target
    return out


# -- GeoJSON --------------------------------------------------------------------------------
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


# -- KML ------------------------------------------------------------------------------------
def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def scan_kml(data: bytes) -> list[tuple[str, int, str | None, str]]:
    """Refuse DTDs, entities and NetworkLinks; return placemarks whose coordinates are not numbers
    as (folder or document name, 1-based placemark number in it, field, reason)."""
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as DET

    if len(data) > MAX_XML_BYTES:
        raise FileRefused(f"KML over {MAX_XML_BYTES // 1024**2} MB is not accepted")
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FileRefused(f"the KML declares a DTD or entities ({type(exc).__name__}): refused, they can pull in "
                          "other files or the network") from exc
    except DET.ParseError as exc:
        raise FileRefused(f"not well-formed XML: {exc}") from exc
    if _local(root.tag) != "kml":
        raise FileRefused(f"not KML: the root element is <{_local(root.tag)}>")
    problems: list[tuple[str, int, str | None, str]] = []
    counters: dict[str, int] = {}

    def name_of(elem, default: str) -> str:
        for child in elem:
            if _local(child.tag) == "name" and (child.text or "").strip():
                return child.text.strip()
        return default

    def walk(elem, container: str) -> None:
        for child in elem:
            tag = _local(child.tag)
            if tag == "NetworkLink":
                href = next((c.text for c in child.iter() if _local(c.tag) == "href" and c.text), "")
                raise FileRefused(f"the KML has a NetworkLink to {href.strip() or 'another document'!r}: refused, "
                                  "Borderwatch never fetches linked content (download it and import it as a file)")
            if tag in ("Document", "Folder"):
                walk(child, name_of(child, container))
            elif tag == "Placemark":
                counters[container] = counters.get(container, 0) + 1
                label = name_of(child, "")
                for c in child.iter():
                    if _local(c.tag) == "coordinates":
                        bad = _bad_kml_coordinates(c.text or "")
                        if bad:
                            what = f"placemark {label!r}: " if label else ""
                            problems.append((container, counters[container], "coordinates",
                                             f"{what}coordinates {bad!r} are not numbers (GDAL would read them as 0, 0)"))
                            break
            else:
                walk(child, container)

    walk(root, "")
    return problems


def _bad_kml_coordinates(text: str) -> str | None:
    for token in text.split():
        for number in token.split(","):
            if number == "":
                continue
            try:
                value = float(number)
            except ValueError:
                return token[:60]
            if not math.isfinite(value):
                return token[:60]
    return None


# -- Shapefile ------------------------------------------------------------------------------
_SHAPE_TYPES = {0, 1, 3, 5, 8, 11, 13, 15, 18, 21, 23, 25, 28, 31}


def _shp_record_count(shp: pathlib.Path, name: str) -> int:
    """Records in a .shp, counted by walking its record headers (each says how long its record is)."""
    count, offset = 0, 100
    size = shp.stat().st_size
    with open(shp, "rb") as fh:
        fh.seek(100)
        while offset < size:
            head = fh.read(8)
            if len(head) < 8:
                raise FileRefused(f"the .shp of '{name}' ends inside record {count + 1}: truncated")
            length = struct.unpack(">i", head[4:8])[0] * 2
            if length < 4 or offset + 8 + length > size:
                raise FileRefused(f"record {count + 1} of '{name}' declares {length:,} bytes, beyond the end of the .shp: "
                                  "corrupt or truncated")
            fh.seek(length, 1)
            offset += 8 + length
            count += 1
    return count


@dataclasses.dataclass
class ShapefileCheck:
    encoding: str | None  # to pass to the reader; None = let GDAL decide from .cpg / language driver
    encoding_label: str
    warnings: list[str]
    records: int = 0  # what the .dbf header, the .shx and the .shp all agree on


def sidecar(shp: pathlib.Path, ext: str) -> pathlib.Path | None:
    for cand in shp.parent.glob(shp.stem + ".*"):
        if cand.suffix.lower() == ext and cand.stem == shp.stem:
            return cand
    return None


def gdal_encoding(name: str) -> str:
    """An encoding name as GDAL's recoder spells it ('latin-1' -> 'ISO-8859-1', 'cp1252' -> 'CP1252')."""
    try:
        codec = codecs.lookup(name).name
    except LookupError as exc:
        raise FileRefused(f"unknown text encoding {name!r}") from exc
    m = re.fullmatch(r"iso8859-(\d+)", codec)
    if m:
        return f"ISO-8859-{m.group(1)}"
    if codec.startswith("cp"):
        return codec.upper()
    return {"latin-1": "ISO-8859-1", "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "ascii": "ASCII"}.get(codec, codec.upper())


def check_shapefile(shp: pathlib.Path, encoding: str | None) -> ShapefileCheck:
    name = shp.name
    for ext, what in ((".shx", "index (.shx)"), (".dbf", "attribute table (.dbf)")):
        if sidecar(shp, ext) is None:
            raise FileRefused(f"the Shapefile '{name}' has no {what}; a Shapefile is the .shp, .shx and .dbf "
                              "together (zip them with the .prj and .cpg)")
    size = shp.stat().st_size
    with open(shp, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise FileRefused(f"the .shp header of '{name}' is truncated")
    code = struct.unpack(">i", head[0:4])[0]
    length = struct.unpack(">i", head[24:28])[0] * 2
    version, shape_type = struct.unpack("<ii", head[28:36])
    if code != 9994 or version != 1000 or shape_type not in _SHAPE_TYPES:
        raise FileRefused(f"the .shp header of '{name}' is corrupt (file code {code}, version {version}, shape type {shape_type})")
    if length != size:
        raise FileRefused(f"the .shp header of '{name}' declares {length:,} bytes but the file has {size:,}: corrupt or truncated")
    dbf = sidecar(shp, ".dbf")
    raw = dbf.read_bytes()
    if len(raw) < 32:
        raise FileRefused(f"the .dbf of '{name}' is truncated")
    n_records, header_len, record_len = struct.unpack("<IHH", raw[4:12])
    if header_len < 33 or header_len + n_records * record_len > len(raw):
        raise FileRefused(f"the .dbf of '{name}' is truncated or corrupt ({n_records:,} records of {record_len} bytes declared, "
                          f"{len(raw):,} bytes present)")
    shx = sidecar(shp, ".shx")
    shx_size = shx.stat().st_size
    if shx_size < 100 or (shx_size - 100) % 8:
        raise FileRefused(f"the index (.shx) of '{name}' is truncated or corrupt ({shx_size:,} bytes)")
    shapes = _shp_record_count(shp, name)
    if (shx_size - 100) // 8 != shapes:
        raise FileRefused(f"the .shx of '{name}' indexes {(shx_size - 100) // 8:,} shapes but the .shp holds {shapes:,}: "
                          "the files do not belong together or one is truncated")
    if n_records != shapes:
        raise FileRefused(f"the .dbf of '{name}' has {n_records:,} records but the .shp has {shapes:,} shapes; a reader "
                          "would drop or invent rows, so the file is refused (the .shp, .shx and .dbf must come from the "
                          "same export)")
    names: dict[str, int] = {}
    for k, off in enumerate(range(32, header_len - 1, 32)):
        if raw[off] == 0x0D:
            break
        field = raw[off:off + 11].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
        key = field.upper()
        if key in names:
            raise FileRefused(f"the .dbf of '{name}' has two columns named '{field}' (columns {names[key] + 1} and {k + 1}); "
                              "a reader keeps only one", field=field)
        names[key] = k
    warnings: list[str] = []
    cpg = sidecar(shp, ".cpg")
    ldid = raw[29]
    if encoding:
        return ShapefileCheck(gdal_encoding(encoding), f"{gdal_encoding(encoding)} (as requested)", warnings, n_records)
    if cpg is not None:
        declared = cpg.read_text("ascii", "replace").strip()
        return ShapefileCheck(None, f"{declared or 'unknown'} (from the .cpg)", warnings, n_records)
    if ldid:
        return ShapefileCheck(None, f"from the .dbf language driver id 0x{ldid:02x}", warnings, n_records)
    records = raw[header_len:header_len + n_records * record_len]
    if max(records, default=0) < 0x80:
        return ShapefileCheck(None, "ISO-8859-1 (GDAL's default without .cpg or language driver id; "
                                    "all text is ASCII, so unaffected)", warnings, n_records)
    try:
        records.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        warnings.append(f"'{name}' declares no encoding (.cpg or language driver id); its non-ASCII text is valid UTF-8, "
                        "so it was read as UTF-8 (pass an encoding if that is wrong)")
        return ShapefileCheck("UTF-8", "UTF-8 (detected; no .cpg)", warnings, n_records)
    if any(0x80 <= b <= 0x9F for b in records):
        warnings.append(f"'{name}' declares no encoding; its text was read as Windows-1252 (pass an encoding if that is wrong)")
        return ShapefileCheck("CP1252", "Windows-1252 (assumed; no .cpg)", warnings, n_records)
    warnings.append(f"'{name}' declares no encoding; its text was read as ISO-8859-1 (pass an encoding if that is wrong)")
    return ShapefileCheck("ISO-8859-1", "ISO-8859-1 (assumed; no .cpg)", warnings, n_records)


# -- GeoPackage -----------------------------------------------------------------------------
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


# -- text files (CSV) -----------------------------------------------------------------------
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF8, "UTF-8-SIG"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def prepare_text(path: pathlib.Path, encoding: str | None, workdir: pathlib.Path) -> tuple[pathlib.Path, str, list[str]]:
    """A UTF-8 copy of a delimited text file for GDAL (or the file itself when it is UTF-8).

    UTF-8 (with or without BOM) is read as is; UTF-16/32 with a BOM are converted; anything else
    needs ``encoding``; without it the file is refused naming the first byte that is not UTF-8."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    bom = next((name for mark, name in _BOMS if head.startswith(mark)), None)
    warnings: list[str] = []
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise FileRefused(f"unknown text encoding {encoding!r}") from exc
        if bom and codec.replace("_", "-") not in ("utf-8", "utf-8-sig") and not codec.startswith(bom.lower()[:6]):
            warnings.append(f"the file starts with a {bom} byte-order mark but was decoded as {encoding} as requested")
        if codec in ("utf-8", "utf-8-sig") and bom in (None, "UTF-8-SIG"):
            _first_non_utf8(path)  # refuse with a position rather than fail inside GDAL
            return path, "UTF-8" + (" with BOM" if bom else ""), warnings
        if _first_non_utf8(path, strict=False) is None and _has_non_ascii(path):
            warnings.append(f"the file is valid UTF-8 but was decoded as {encoding} as requested")
        return _transcode(path, codec, workdir), f"{encoding} (as requested)", warnings
    if bom in ("UTF-16", "UTF-32"):
        return _transcode(path, bom.lower(), workdir), f"{bom} (byte-order mark)", warnings
    _first_non_utf8(path)
    return path, "UTF-8" + (" with BOM" if bom else ""), warnings


def _first_non_utf8(path: pathlib.Path, strict: bool = True) -> int | None:
    """Offset of the first byte that is not UTF-8 (None if all is); ``strict`` refuses instead."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    line = 1
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1024 * 1024)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # the decoder may hold back up to 3 bytes of the previous chunk
                pos = max(exc.start - len(exc.object) + len(chunk), 0) if len(exc.object) > len(chunk) else exc.start
                if not strict:
                    return offset + pos
                bad = chunk[pos] if pos < len(chunk) else 0
                line += chunk[:pos].count(b"\n")
                before = chunk[max(pos - 30, 0):pos].decode("utf-8", "replace").splitlines()[-1:] or [""]
                raise FileRefused(
                    f"the file is not UTF-8: byte 0x{bad:02x} on line {line} (after {before[0]!r}) is not valid UTF-8; "
                    "give its encoding (e.g. --encoding cp1252 or --encoding latin-1) or save it as UTF-8") from exc
            if not chunk:
                return None
            line += chunk.count(b"\n")
            offset += len(chunk)


def _has_non_ascii(path: pathlib.Path) -> bool:
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            if max(chunk) >= 0x80:
                return True
    return False


def _transcode(path: pathlib.Path, codec: str, workdir: pathlib.Path) -> pathlib.Path:
    target = workdir / (path.stem + ".utf8" + path.suffix)
    try:
        with open(path, "r", encoding=codec, errors="strict", newline="") as src, \
                open(target, "w", encoding="utf-8", newline="") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
    except UnicodeDecodeError as exc:
        raise FileRefused(f"the file is not valid {codec}: {exc.reason} at byte {exc.start}") from exc
    return target
