"""Stage 5, assemble: stable ids for accepted records, repeated rows kept once, conflicting ids rejected."""
from __future__ import annotations

import numpy as np
import pandas as pd

from borderwatch.importers import mapping as mp
from borderwatch.importers import values as vals
from borderwatch.importers.report import RowError
from borderwatch.importers.targets import content_hashes


def assign_ids(layer, records, values, labels, source, rows, layer_names, report) -> pd.DataFrame:
    """Stable ids: the file's id (namespaced by source), else a hash of the normalised record;
    rows repeating an id keep the first when identical, and are rejected when they differ."""
    if not len(records):
        records[mp.ID_FIELD[layer]] = []
        return records
    id_field = mp.ID_FIELD[layer]
    raw_ids = values.get(id_field)
    if raw_ids is not None and all(vals._text(v) is None for v in raw_ids):
        raw_ids = None  # e.g. the empty 'id' column GDAL gives every KML layer
        labels = {k: v for k, v in labels.items() if k != id_field}
        report.mapping.pop(id_field, None)
    fields = sorted(c for c in records.columns if not c.startswith("_") and c != "geometry")
    geoms = records["geometry"].to_numpy(dtype=object) if "geometry" in records else None
    hashes = content_hashes(records, fields, geoms)
    ids = []
    hashed = 0
    parts = records["_part"].to_numpy() if "_part" in records else None
    for k, pos in enumerate(records["_pos"].to_numpy()):
        raw = vals._text(raw_ids[pos]) if raw_ids is not None else None
        if raw is None:
            hashed += 1
            base = f"{source}:#{hashes[k][:16]}"
        else:
            base = f"{source}:{raw}"
        part = int(parts[k]) if parts is not None else 0
        ids.append(f"{base}#{part}" if part else base)
    if raw_ids is not None and hashed:
        report.warn(f"{hashed:,} row(s) have an empty id ({labels.get(id_field, id_field)}): their id is a hash of "
                    "their content")
    records = records.copy()
    records[id_field] = ids
    records["_hash"] = hashes
    first: dict[str, tuple[str, int]] = {}
    keep = np.ones(len(records), dtype=bool)
    conflicts = []
    for k, (rid, h, pos) in enumerate(zip(ids, hashes, records["_pos"])):
        if rid not in first:
            first[rid] = (h, pos)
            continue
        keep[k] = False
        if first[rid][0] == h:
            if first[rid][1] != pos:
                report.duplicates_in_file += 1
        else:
            conflicts.append((pos, rid, first[rid][1]))
    for pos, rid, other in conflicts:
        report.rejected.append(RowError(report.file, int(rows[pos]), labels.get(id_field, id_field),
                                        f"id {rid!r} is also used by row {int(rows[other])} with different content",
                                        layer_names[pos] if len(set(layer_names)) > 1 else None, rid))
    if conflicts:
        bad = {p for p, _, _ in conflicts}
        report.accepted -= len(bad)
        keep &= ~records["_pos"].isin(bad).to_numpy()
    cols = [id_field] + [c for c in records.columns if c not in (id_field,) and not c.startswith("_")]
    return records.loc[keep, cols + ["_pos"]].reset_index(drop=True)
