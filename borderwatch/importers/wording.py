"""Import messages in the words of where they are read.

The importer writes its hints in command-line terms (``--set kind=fence``, ``--encoding cp1252``);
the import page shows them through ``for_page``, which names the page's own controls instead (and
then through ``ui.md``, which shows text from files literally).
"""
from __future__ import annotations

import re

# (command-line wording, page wording); \1 is the value the hint suggests
_PAGE_CONTROLS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"skip_invalid / --skip-invalid"), '"Import valid rows, skip rejected ones"'),
    (re.compile(r"--skip-invalid"), 'the "Import valid rows, skip rejected ones" option'),
    (re.compile(r"--set (\S+?=\S*?)(?=[\s),;]|$)"), r'the "Fixed values" box (\1)'),
    (re.compile(r"--set FIELD=VALUE"), 'the "Fixed values" box'),
    (re.compile(r"--map (\S+?=\S*?)(?=[\s),;]|$)"), r'the "Column mapping" box (\1)'),
    (re.compile(r"--threat (\S+?=\S*?)(?=[\s),;]|$)"), r'the "Threat values" box (\1)'),
    (re.compile(r"--encoding (\S+?)(?=[\s),;]|$)"), r'the "Text encoding" box (\1)'),
    (re.compile(r"--encoding"), 'the "Text encoding" box'),
    (re.compile(r"--crs (\S+?)(?=[\s),;]|$)"), r'the "Coordinate system" box (\1)'),
    (re.compile(r"--crs"), 'the "Coordinate system" box'),
    (re.compile(r"--date-format (\S+?)(?=[\s),;]|$)"), r'the "Date format" box (\1)'),
    (re.compile(r"--layer-name"), 'the "Layer / folder" box'),
    (re.compile(r"--source"), 'the "Source name" box'),
    (re.compile(r"--replace"), 'the "Replace earlier imports from this source" option'),
    (re.compile(r"--owner"), 'the "Owner nation" box'),
    (re.compile(r"--release-to"), 'the "Released to" box'),
    (re.compile(r"pass preset 'none'|--preset none"), 'choose "by column names only" under "Field mapping"'),
)
_CLI_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def for_page(text: str) -> str:
    """``text`` with every command-line hint replaced by the import page control that does the same."""
    for pattern, words in _PAGE_CONTROLS:
        text = pattern.sub(words, text)
    return text


def cli_flags(text: str) -> list[str]:
    """Command-line flags still present in ``text`` (a page message should have none)."""
    return _CLI_FLAG.findall(text)
