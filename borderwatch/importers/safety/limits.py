"""Size limits of what the importer accepts (files, archives, JSON and XML parsed in memory)."""
from __future__ import annotations

MAX_FILE_BYTES = 4 * 1024**3          # any file handed to the importer
MAX_UNCOMPRESSED_BYTES = 1024**3      # everything extracted from one archive
MAX_COMPRESSION_RATIO = 100           # per archive entry (entries over 1 MB)
MAX_ARCHIVE_ENTRIES = 10_000
MAX_JSON_BYTES = 512 * 1024**2        # GeoJSON is parsed strictly in memory before GDAL reads it
MAX_XML_BYTES = 512 * 1024**2         # KML is parsed (defusedxml) in memory before GDAL reads it
