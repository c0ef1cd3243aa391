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


def _records(fh, separator: str, name: str, first_line: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every record; refuses the file at the first malformed one.

    ``first_line``: the file's line number of the first line ``fh`` gives (when reading from the middle)."""
    reader = csv.reader(fh, delimiter=separator, strict=True)
    start = first_line
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            where = f"the record starting on line {start}"
            if "unexpected end of data" in str(exc):
                raise FileRefused(f"{where} has a quoted field that is never closed: the rest of the file (to line "
                                  f"{reader.line_num + first_line - 1}) would vanish into one value; close the quote or "
                                  "remove it") from exc
            raise FileRefused(f"{where} is malformed ({exc}); a quote inside a quoted field must be doubled "
                              '("")') from exc
        yield start, fields
        start = reader.line_num + first_line


def read_header(fh, suffix: str) -> tuple[list[str], str, int]:
    """(column names, separator, lines the header takes) of a text file open at its start (BOM skipped)."""
    first = fh.readline()
    if "\x00" in first:
        raise FileRefused("line 1 contains a NUL byte (a binary file, or text in UTF-16 without a byte-order mark)")
    separator = detect_separator(first, suffix)
    fh.seek(0)
    if fh.read(1) != "\ufeff":
        fh.seek(0)
    reader = csv.reader(fh, delimiter=separator, strict=True)
    try:
        header = next(_records(_Lines(fh), separator, ""))[1]
    except StopIteration:
        raise FileRefused("the file is empty") from None
    header = [h if h.strip() else f"field_{k + 1}" for k, h in enumerate(header)]
    seen: dict[str, int] = {}
    for k, column in enumerate(header):
        if column.lower() in seen:
            raise FileRefused(f"two columns are named '{column}' (columns {seen[column.lower()] + 1} and {k + 1}); "
                              "a reader keeps only one of them, so the file is refused", field=column)
        seen[column.lower()] = k
    del reader
    return header, separator, fh.lines


class _Lines:
    """A text file's lines, counted (to know where the header record ends)."""

    def __init__(self, fh):
        self.fh = fh
        fh.lines = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.fh.readline()
        if not line:
            raise StopIteration
        self.fh.lines += 1
        return line


@dataclasses.dataclass
class Tally:
    """What the row reader found besides rows: blank lines, records of the wrong width."""
    rows: int = 0
    blank_lines: list[int] = dataclasses.field(default_factory=list)
    ragged: list[str] = dataclasses.field(default_factory=list)
    ragged_count: int = 0


def read_rows(fh, separator: str, header: list[str], *, first_line: int, tally: Tally,
              chunk_rows: int) -> Iterator[dict[str, list[str | None]]]:
    """The data records from ``fh`` (positioned after the header, or on a record boundary at
    ``first_line``), as columns of at most ``chunk_rows`` rows; refuses the file on a malformed record,
    a NUL byte or (after reading to the end) records of the wrong width."""
    width = len(header)
    values: list[list[str | None]] = [[] for _ in header]
    held = 0
    for line, fields in _records(fh, separator, "", first_line):
        if not fields:
            tally.blank_lines.append(line)
            continue
        tally.rows += 1
        if len(fields) != width:
            tally.ragged_count += 1
            if len(tally.ragged) < _MAX_LISTED:
                tally.ragged.append(f"line {line} (row {tally.rows}) has {len(fields)}")
            continue
        for k, value in enumerate(fields):
            if "\x00" in value:
                raise FileRefused(f"line {line} (row {tally.rows}), column '{header[k]}' contains a NUL byte; a reader "
                                  "would cut the value there, so the file is refused", field=header[k])
            values[k].append(value if value != "" else None)
        held += 1
        if held >= chunk_rows:
            yield dict(zip(header, values))
            values, held = [[] for _ in header], 0
    if tally.ragged_count:
        more = f" and {tally.ragged_count - len(tally.ragged)} more" if tally.ragged_count > len(tally.ragged) else ""
        raise FileRefused(f"{tally.ragged_count} record(s) do not have the header's {width} fields "
                          f"({SEPARATORS[separator]}-separated): {'; '.join(tally.ragged)}{more}; values would be "
                          "padded or cut, so the file is refused (check for an unquoted separator inside a value)")
    if held:
        yield dict(zip(header, values))


def read_table(path: pathlib.Path, name: str, suffix: str) -> Table:
    """The whole table of a UTF-8 (optionally BOM-prefixed) delimited file, every value as text (empty = None)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        header, separator, lines = read_header(fh, suffix)
        tally = Tally()
        columns: dict[str, list[str | None]] = {h: [] for h in header}
        for chunk in read_rows(fh, separator, header, first_line=lines + 1, tally=tally, chunk_rows=1 << 62):
            columns = chunk
    return Table(header, columns, separator, tally.rows, tally.blank_lines)
