"""DuckDB connections with the extensions the store needs, loaded offline.

Extensions are loaded only from their PyPI packages (``duckdb-extension-*``), installed into an
extension directory inside the Python environment; nothing is ever downloaded, and autoinstall and
autoload are off.
"""
from __future__ import annotations

import importlib
import os
import pathlib
import sys
import tempfile

import duckdb


class StoreError(RuntimeError):
    """A store that cannot be opened or used, explained in one sentence."""


# extension name as DuckDB knows it -> PyPI package module and file stem
_EXTENSIONS = {
    "spatial": ("duckdb_extension_spatial", "spatial"),
    "sqlite_scanner": ("duckdb_extension_sqlite", "sqlite"),
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "postgres_scanner": ("duckdb_extension_postgres_scanner", "postgres_scanner"),
}
# loaded only where needed (httpfs: table files in S3-compatible object storage; aws: their
# credentials from the AWS credential chain, BORDERWATCH_S3_CREDENTIALS=chain)
_OPTIONAL_EXTENSIONS = {
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "aws": ("duckdb_extension_aws", "aws"),
}


def extension_directory() -> pathlib.Path:
    """Extensions live inside the active Python environment, never in the user's home."""
    return pathlib.Path(sys.prefix) / "duckdb_extensions"


def _extension_file(module: str, stem: str) -> pathlib.Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise StoreError(
            f"DuckDB extension package '{module.replace('_', '-')}' is not installed; "
            "run the README's setup command (make setup)."
        ) from exc
    path = pathlib.Path(mod.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{stem}.duckdb_extension"
    if not path.exists():
        raise StoreError(
            f"DuckDB extension '{stem}' has no build for DuckDB {duckdb.__version__} in its package "
            f"({module}); pin duckdb to the extension package's version."
        )
    return path


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """LOAD a DuckDB extension, installing it first from its PyPI package if needed."""
    module, stem = {**_EXTENSIONS, **_OPTIONAL_EXTENSIONS}[name]
    try:
        con.execute(f"LOAD {name}")
    except duckdb.Error:
        try:
            con.execute(f"INSTALL '{_extension_file(module, stem)}'")
            con.execute(f"LOAD {name}")
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB extension '{name}' could not be loaded from its package: {exc}") from exc


def new_connection(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with spatial, sqlite, postgres and ducklake loaded offline;
    ``threads``: its worker threads (DuckDB's default: one per core)."""
    ext_dir = extension_directory()
    ext_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            **({"threads": int(threads)} if threads else {}),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "extension_directory": str(ext_dir),
            # where DuckDB spills work beyond its memory limit (its default is the working directory)
            "temp_directory": str(pathlib.Path(tempfile.gettempdir()) / f"borderwatch-spill-{os.getpid()}"),
        }
    )
    # first: loading an extension on a busy machine can take long enough to draw a progress bar
    con.execute("SET enable_progress_bar = false")  # per connection: cursors set it again (Store.cursor)
    for name in _EXTENSIONS:
        load_extension(con, name)
    # Without this, spherical distance functions read points as (lat, lon).
    con.execute("SET GLOBAL geometry_always_xy = true")
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con
