"""Helpers of the file importer (``borderwatch.importer`` is the public entry point).

- ``report``: the import report (rows accepted, rows rejected with file / row / field / reason);
- ``safety``: checks made around GDAL before it reads anything (archives, JSON, XML, Shapefile
  and GeoPackage structure, text encodings) and the GDAL settings that keep it off the network;
- ``sources``: reading each supported format into attribute tables and geometries;
- ``values``: parsing dates (with their precision), numbers, nation codes and vocabularies;
- ``mapping``: which column feeds which Borderwatch field, and the ACLED / IOM presets;
- ``layers``: validating and writing each Borderwatch layer.
"""
