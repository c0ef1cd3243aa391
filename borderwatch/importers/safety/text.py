"""Delimited text files: the encoding (byte-order mark, UTF-8, or as given) and a UTF-8 copy for the reader."""
from __future__ import annotations

import codecs
import pathlib
import shutil

from borderwatch.importers.report import FileRefused

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
