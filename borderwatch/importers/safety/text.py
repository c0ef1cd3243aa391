"""Delimited text files: the encoding (byte-order mark, UTF-8, or as given) and a UTF-8 copy for the reader."""
from __future__ import annotations

import codecs
import dataclasses
import pathlib
import shutil

from charset_normalizer import from_bytes

from borderwatch.importers.report import FileRefused

_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF8, "UTF-8-SIG"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


# Encodings considered when a file is neither UTF-8 nor marked by a byte-order mark: the Windows
# code pages and ISO / legacy encodings of spreadsheet and database exports.
CANDIDATES = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "iso8859_7",
              "iso8859_15", "koi8_r", "mac_roman", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr")
MIN_CONFIDENCE = 0.55
LABELS = {"cp1252": "Windows-1252", "cp1250": "Windows-1250", "cp1251": "Windows-1251", "cp1253": "Windows-1253",
          "cp1254": "Windows-1254", "cp1255": "Windows-1255", "cp1256": "Windows-1256", "cp1257": "Windows-1257",
          "iso8859_7": "ISO-8859-7", "iso8859_15": "ISO-8859-15", "koi8_r": "KOI8-R", "mac_roman": "Mac Roman",
          "shift_jis": "Shift JIS", "euc_jp": "EUC-JP", "gb18030": "GB18030", "big5": "Big5", "euc_kr": "EUC-KR"}


@dataclasses.dataclass
class Detected:
    encoding: str | None
    confidence: float
    note: str = ""

    @property
    def label(self) -> str:
        return LABELS.get(self.encoding or "", str(self.encoding))


def detect_encoding(path: pathlib.Path, sample_bytes: int = 256 * 1024) -> Detected:
    """The text encoding of a non-UTF-8 file, with a confidence between 0 and 1 (charset-normalizer).

    Only lines holding non-ASCII bytes are examined (the rest reads the same in every candidate).
    Candidates that read the sample as equally plausible text are grouped by the text they give;
    confidence = (1 - the best reading's "chaos") x its coherence share against the runner-up
    reading, so two readings that differ and are equally plausible give 0.5 at best. Such a tie
    is broken in favour of Windows-1252 (the encoding of spreadsheet exports in Western Europe and
    the Americas) when that is one of the two readings."""
    lines, size = [], 0
    with open(path, "rb") as fh:
        for line in fh:
            if max(line, default=0) >= 0x80:
                lines.append(line)
                size += len(line)
                if size >= sample_bytes:
                    break
    sample = b"".join(lines)
    results = from_bytes(sample, cp_isolation=list(CANDIDATES))
    best = results.best()
    if best is None:
        return Detected(None, 0.0)
    groups: dict[str, list] = {}
    for match in results:
        if match.chaos <= best.chaos + 0.02:
            groups.setdefault(sample.decode(match.encoding, errors="replace"), []).append(match)
    ranked = sorted(groups.values(), key=lambda g: -max(m.coherence for m in g))
    top = ranked[0]
    names = lambda group: {c for m in group for c in [m.encoding, *m.could_be_from_charset]}  # noqa: E731
    encoding = "cp1252" if "cp1252" in names(top) else top[0].encoding
    if len(ranked) == 1:
        return Detected(encoding, round(1 - best.chaos, 3))
    c1, c2 = max(m.coherence for m in top), max(m.coherence for m in ranked[1])
    share = c1 / (c1 + c2) if c1 + c2 > 0 else 0.5
    if share <= 0.55:
        tied = [g for g in ranked[:2] if "cp1252" in names(g)]
        if tied:
            return Detected("cp1252", round((1 - best.chaos) * 0.6, 3),
                            " (a tie with another reading, broken in favour of Windows-1252)")
    return Detected(encoding, round((1 - best.chaos) * share, 3))


def prepare_text(path: pathlib.Path, encoding: str | None, workdir: pathlib.Path) -> tuple[pathlib.Path, str, list[str], float | None]:
    """(UTF-8 copy of a delimited text file, or the file itself when it is UTF-8; encoding label;
    warnings; detection confidence when the encoding was detected statistically).

    ``encoding`` decides when given. Otherwise: a byte-order mark (UTF-8/16/32); else valid UTF-8;
    else ``detect_encoding``, refused (naming the first byte that is not UTF-8) when not confident."""
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
            return path, "UTF-8" + (" with BOM" if bom else ""), warnings, None
        if _first_non_utf8(path, strict=False) is None and _has_non_ascii(path):
            warnings.append(f"the file is valid UTF-8 but was decoded as {encoding} as requested")
        return _transcode(path, codec, workdir), f"{encoding} (as requested)", warnings, None
    if bom in ("UTF-16", "UTF-32"):
        return _transcode(path, bom.lower(), workdir), f"{bom} (byte-order mark)", warnings, None
    try:
        _first_non_utf8(path)
    except FileRefused as not_utf8:
        found = detect_encoding(path)
        if found.encoding is None or found.confidence < MIN_CONFIDENCE:
            guess = (f"; the best guess, {found.label}, has confidence {found.confidence:.2f} (below {MIN_CONFIDENCE})"
                     if found.encoding else "; no encoding reads it as plausible text")
            raise FileRefused(not_utf8.reason + guess) from None
        warnings.append(f"the file is not UTF-8: its text was read as {found.label}, detected with confidence "
                        f"{found.confidence:.2f}{found.note} (give --encoding if that is wrong)")
        return _transcode(path, found.encoding, workdir), f"{found.label} (detected)", warnings, found.confidence
    return path, "UTF-8" + (" with BOM" if bom else ""), warnings, None


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
