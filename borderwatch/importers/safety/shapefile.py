"""Shapefile structure: the parts present, headers intact, record counts that agree, the text encoding."""
from __future__ import annotations

import codecs
import dataclasses
import pathlib
import re
import struct

from borderwatch.importers.report import FileRefused

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
