"""What an import found: accepted rows, rejected rows (file, layer, row, field, reason), warnings."""
from __future__ import annotations

import dataclasses
from typing import Any

ALL_OR_NOTHING = "all-or-nothing"
SKIP_INVALID = "skip-invalid"
POLICY_TEXT = {
    ALL_OR_NOTHING: "all-or-nothing: a file with any rejected row is refused whole and nothing is written "
                    "(skip_invalid / --skip-invalid imports the valid rows instead)",
    SKIP_INVALID: "skip-invalid: valid rows are imported, rejected rows are left out and listed below",
}


class FileRefused(Exception):
    """A problem with the file as a whole: nothing in it can be imported."""

    def __init__(self, reason: str, *, field: str | None = None, layer: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.layer = layer


@dataclasses.dataclass(frozen=True)
class RowError:
    """One reason a row (or, with ``row=None``, the whole file) was rejected.

    ``row`` counts the records of ``layer`` from 1 in the order they are stored (a CSV's header
    line is not counted, so row 1 is the first line of data)."""
    file: str
    row: int | None
    field: str | None
    reason: str
    layer: str | None = None
    value: str | None = None
    record: str | None = None  # the row's own id in the file, when it has one

    def __str__(self) -> str:
        where = [self.file]
        if self.layer:
            where.append(f"layer {self.layer}")
        if self.row is None:
            where.append("whole file")
        else:
            where.append(f"row {self.row}" + (f" (id {self.record})" if self.record else ""))
        if self.field:
            where.append(f"field {self.field}")
        return ", ".join(where) + ": " + self.reason

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ImportReport:
    file: str
    layer: str
    path: str = ""
    format: str = ""
    source_layers: list[str] = dataclasses.field(default_factory=list)
    encoding: str | None = None
    crs: dict[str, Any] = dataclasses.field(default_factory=dict)
    preset: str | None = None
    preset_variant: str | None = None  # the layout of the export that was recognised
    encoding_confidence: float | None = None  # when the text encoding was detected statistically
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)
    source: str = ""
    dataset: str = ""
    policy: str = ALL_OR_NOTHING
    rows_read: int = 0
    accepted: int = 0
    records: int = 0
    duplicates_in_file: int = 0
    rejected: list[RowError] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    geometry_types: dict[str, int] = dataclasses.field(default_factory=dict)
    bounds: tuple[float, float, float, float] | None = None
    status: str = "ready"
    dry_run: bool = False
    written: int | None = None
    already_present: int | None = None
    replaced: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    # -- verdict ------------------------------------------------------------------------
    @property
    def file_errors(self) -> list[RowError]:
        return [e for e in self.rejected if e.row is None]

    @property
    def row_errors(self) -> list[RowError]:
        return [e for e in self.rejected if e.row is not None]

    @property
    def rejected_rows(self) -> int:
        """How many distinct rows were rejected."""
        return len({(e.layer, e.row) for e in self.row_errors})

    @property
    def ok(self) -> bool:
        """True when committing would write the accepted rows under the report's policy."""
        if self.file_errors or self.accepted == 0:
            return False
        return not self.row_errors or self.policy == SKIP_INVALID

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def refuse(self, reason: str, *, field: str | None = None, layer: str | None = None) -> None:
        self.rejected.append(RowError(self.file, None, field, reason, layer))

    # -- output -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rejected"] = [e.to_dict() for e in self.rejected]
        out["rejected_rows"] = self.rejected_rows
        out["ok"] = self.ok
        out["policy_text"] = POLICY_TEXT[self.policy]
        return out

    def headline(self) -> str:
        what = f"{self.layer} import of {self.file}"
        if self.status == "refused":
            return f"{what}: REFUSED, nothing was written"
        if self.status == "dry run":
            verdict = "would be imported" if self.ok else "would be REFUSED"
            return f"{what}: dry run, nothing was written; the file {verdict}"
        if self.status == "imported":
            return f"{what}: imported"
        return f"{what}: {'ready to import' if self.ok else 'cannot be imported'}"

    def format_text(self, max_rows: int | None = 200) -> str:
        lines = [self.headline()]
        lines.append(f"  policy: {POLICY_TEXT[self.policy]}")
        src = self.format + (f", layer(s) {', '.join(self.source_layers)}" if self.source_layers else "")
        if self.encoding:
            src += f"; text encoding {self.encoding}"
            if self.encoding_confidence is not None:
                src += f" (confidence {self.encoding_confidence:.2f})"
        lines.append(f"  read: {src}")
        if self.crs:
            crs = self.crs.get("declared") or "none declared"
            line = f"  coordinates: {crs}"
            if self.crs.get("transformation"):
                line += f" -> WGS 84 via {self.crs['transformation']}"
                if self.crs.get("accuracy_m") is not None:
                    line += f" (accuracy about {self.crs['accuracy_m']:g} m)"
            lines.append(line)
        if self.bounds:
            w, s, e, n = self.bounds
            lines.append(f"  extent (lon/lat): {w:.4f}, {s:.4f} to {e:.4f}, {n:.4f}")
        if self.preset:
            lines.append(f"  preset: {self.preset}" + (f", {self.preset_variant}" if self.preset_variant else ""))
        if self.mapping:
            lines.append("  fields: " + "; ".join(f"{t} <- {s}" for t, s in self.mapping.items()))
        if self.source:
            lines.append(f"  source: {self.source} (dataset {self.dataset})")
        counts = (f"  rows read: {self.rows_read:,}; accepted: {self.accepted:,}; "
                  f"rejected: {self.rejected_rows:,}")
        if self.duplicates_in_file:
            counts += f"; exact duplicates in the file: {self.duplicates_in_file:,} (kept once)"
        lines.append(counts)
        if self.geometry_types:
            lines.append("  geometries: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.geometry_types.items())))
        for key, value in self.details.items():
            lines.append(f"  {key}: {value}")
        if self.written is not None:
            line = f"  written: {self.written:,} new"
            if self.already_present:
                line += f"; {self.already_present:,} already in the store (not duplicated)"
            if self.replaced:
                line += f"; {self.replaced:,} replaced"
            lines.append(line)
        if self.rejected:
            lines.append(f"  rejected ({len(self.rejected):,} problem(s)):")
            shown = self.rejected if max_rows is None else self.rejected[:max_rows]
            for err in shown:
                lines.append(f"    {err}")
            if len(shown) < len(self.rejected):
                lines.append(f"    ... and {len(self.rejected) - len(shown):,} more (--json lists them all)")
        if self.warnings:
            lines.append("  warnings:")
            lines.extend(f"    {w}" for w in self.warnings)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_text()
