"""Delimited text (CSV / TSV) read strictly with Python's ``csv`` module.

GDAL's CSV driver is lenient where a user needs to hear about it: a quoted field that never
closes swallows the rest of the file into one value, rows with too few or too many fields are
padded or cut, and a NUL byte ends a value. Here every physical record is either a row or a
reason to refuse the file, naming its line.
"""
from __future__ import annotations

from collections.abc import Iterator
import csv
import dataclasses
import pathlib

from borderwatch.importers.report import FileRefused

SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
_MAX_LISTED = 5
csv.field_size_limit(64 * 1024 * 1024)


@dataclasses.dataclass
class Table:
    header: list[str]
    columns: dict[str, list[str | None]]
    separator: str
    rows: int
    blank_lines: list[int]


def detect_separator(header_line: str, suffix: str) -> str:
    """Tab for .tsv; otherwise whichever of comma, semicolon, tab the header line holds most (comma on a tie)."""
    if suffix.lower() == ".tsv":
        return "\t"
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(counts.values())
    return "," if best == 0 or counts[","] == best else max(counts, key=counts.get)


def _records(fh, separator: str, name: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every record; refuses the file at the first malformed one."""
    reader = csv.reader(fh, delimiter=separator, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"the record starting on line {start}"
            if "unexpected end of data" in str(exc):
                raise FileRefused(f"{where} has a quoted field that is never closed: the rest of the file (to line "
                                  f"{reader.line_num}) would vanish into one value; close the quote or remove it") from exc
            raise FileRefused(f"{where} is malformed ({exc}); a quote inside a quoted field must be doubled "
                              '("")') from exc
        yield start, fields
        start = reader.line_num + 1


def read_table(path: pathlib.Path, name: str, suffix: str) -> Table:
    """The whole table of a UTF-8 (optionally BOM-prefixed) delimited file, every value as text (empty = None)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        if "\x00" in first:
            raise FileRefused("line 1 contains a NUL byte (a binary file, or text in UTF-16 without a byte-order mark)")
        separator = detect_separator(first, suffix)
        fh.seek(0)
        if fh.read(1) != "\ufeff":
            fh.seek(0)
        records = _records(fh, separator, name)
        try:
            _, header = next(records)
        except StopIteration:
            raise FileRefused("the file is empty") from None
        header = [h if h.strip() else f"field_{k + 1}" for k, h in enumerate(header)]
        seen: dict[str, int] = {}
        for k, column in enumerate(header):
            if column.lower() in seen:
                raise FileRefused(f"two columns are named '{column}' (columns {seen[column.lower()] + 1} and {k + 1}); "
                                  "a reader keeps only one of them, so the file is refused", field=column)
            seen[column.lower()] = k
        width = len(header)
        values: list[list[str | None]] = [[] for _ in header]
        ragged: list[str] = []
        ragged_count = 0
        blank: list[int] = []
        rows = 0
        for line, fields in records:
            if not fields:
                blank.append(line)
                continue
            rows += 1
            if len(fields) != width:
                ragged_count += 1
                if len(ragged) < _MAX_LISTED:
                    ragged.append(f"line {line} (row {rows}) has {len(fields)}")
                continue
            for k, value in enumerate(fields):
                if "\x00" in value:
                    raise FileRefused(f"line {line} (row {rows}), column '{header[k]}' contains a NUL byte; a reader "
                                      "would cut the value there, so the file is refused", field=header[k])
                values[k].append(value if value != "" else None)
    if ragged_count:
        more = f" and {ragged_count - len(ragged)} more" if ragged_count > len(ragged) else ""
        sep_name = SEPARATORS[separator]
        raise FileRefused(f"{ragged_count} record(s) do not have the header's {width} fields ({sep_name}-separated): "
                          f"{'; '.join(ragged)}{more}; values would be padded or cut, so the file is refused "
                          "(check for an unquoted separator inside a value)")
    return Table(header, dict(zip(header, values)), separator, rows, blank)
