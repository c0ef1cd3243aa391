"""Importing the user's own data: borders, fortifications, sensors and incidents from files.

    plan = read_file("incidents", "events.csv", preset="acled")   # parse + validate, writes nothing
    plan.report      # rows read / accepted, every rejected row with file, row, field and reason
    plan.preview     # a few accepted rows, normalised
    commit(plan, store)                                           # all or nothing, one transaction

    import_file("fortifications", "fence.geojson", store, dry_run=True)   # both steps (or a dry run)

This module is the public entry point; the work happens in the stages of
``borderwatch.importers.pipeline`` (read -> map -> reproject -> validate -> assemble -> commit).
Policy: a file with any rejected row is refused whole and nothing is written; the report lists
every rejected row with its reason. ``skip_invalid=True`` (``--skip-invalid``) imports the valid
rows instead and still lists the rejected ones. See ``docs/import.md``.
"""
from __future__ import annotations

from borderwatch.importers.pipeline import (LAYERS, PRESETS, ImportPlan, ImportRefused, commit, import_file,
                                            read_file)
from borderwatch.importers.report import FileRefused, ImportReport, RowError

__all__ = ["LAYERS", "PRESETS", "FileRefused", "ImportPlan", "ImportRefused", "ImportReport", "RowError", "commit", "import_file", "read_file"]
