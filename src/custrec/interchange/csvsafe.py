"""CSV cells that a spreadsheet does not run as formulas (CSV injection), reversibly.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets: a customer named ``=HYPERLINK("http://evil","click")``
would become a live link in the file a colleague opens. Every CSV custrec writes goes through
:class:`CsvWriter`, which prefixes such a cell with an apostrophe (the OWASP rule), and
custrec's CSV reader removes that apostrophe again, so exports and error files import back to
the same values.

The pair is a bijection: :func:`escape_cell` also prefixes a cell that already begins with an
apostrophe followed by one of those characters or by another apostrophe, and
:func:`unescape_cell` removes one apostrophe exactly when it is followed by one of them. So
``unescape_cell(escape_cell(v)) == v`` for every text ``v``, and no escaped cell begins with a
formula character. The price: a legacy CSV whose cell genuinely begins with ``'=`` (or ``'+``,
``''``...) is read without that first apostrophe.

>>> escape_cell("=1+1"), escape_cell("-5"), escape_cell("'=x"), escape_cell("张三")
("'=1+1", "'-5", "''=x", '张三')
>>> unescape_cell("'=1+1"), unescape_cell("''=x"), unescape_cell("'abc")
('=1+1', "'=x", "'abc")
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Final

__all__ = ["FORMULA_PREFIXES", "CsvWriter", "escape_cell", "unescape_cell"]

FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula."""

_AFTER_APOSTROPHE: Final = frozenset((*FORMULA_PREFIXES, "'"))


def escape_cell(value: str) -> str:
    """The cell to write for ``value``: prefixed with ``'`` when a spreadsheet would run it as
    a formula, or when it already looks like an escaped cell (see the module docs)."""
    if value.startswith(FORMULA_PREFIXES) or (
        value.startswith("'") and value[1:2] in _AFTER_APOSTROPHE
    ):
        return "'" + value
    return value


def unescape_cell(cell: str) -> str:
    """The value a cell written by :func:`escape_cell` holds: one leading ``'`` removed when
    the next character is a formula character or another ``'``."""
    if cell.startswith("'") and cell[1:2] in _AFTER_APOSTROPHE:
        return cell[1:]
    return cell


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


class CsvWriter:
    """``csv.writer`` for files people open in spreadsheets: every cell goes through
    :func:`escape_cell` (``None`` is written as an empty cell, other values with ``str``).

    Records end with ``\\r\\n``, as RFC 4180 and Excel expect.
    """

    def __init__(self, stream: IO[str], *, delimiter: str = ",") -> None:
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        """Write one record."""
        self._writer.writerow([escape_cell(_text(value)) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write several records."""
        for row in rows:
            self.writerow(row)
