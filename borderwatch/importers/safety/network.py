"""No network: only local files are read, and GDAL and PROJ are kept off the network while they read."""
from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from typing import Iterator

import pyogrio

from borderwatch.importers.report import FileRefused
from borderwatch.importers.safety.limits import MAX_FILE_BYTES

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
