"""Archives (zip, KMZ) checked before anything is extracted, and extracted counting what really inflates."""
from __future__ import annotations

import pathlib
import re
import stat
import zipfile

from borderwatch.importers.report import FileRefused
from borderwatch.importers.safety.limits import MAX_ARCHIVE_ENTRIES, MAX_COMPRESSION_RATIO, MAX_UNCOMPRESSED_BYTES


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
