"""The error file: every rejected or conflicting row as it was read, plus what is wrong with it.

A person fixes the rows in a spreadsheet and feeds the file back to the same import: the
importer ignores the ``_row`` and ``_errors`` columns it added. For CSV sources the file is CSV
(UTF-8 with a byte order mark, so that Excel shows Chinese text correctly) with ``_row`` and
``_errors`` first and then the original columns; for JSON Lines sources every line is the
original object with ``_row`` and ``_errors`` (a list) added. CSV cells a spreadsheet would
run as formulas are prefixed with ``'`` (see :mod:`custrec.interchange.csvsafe`); the CSV reader
removes it again, so a fed-back row holds the cells the source did.

The error file holds the rows' personal data as the source file did: it is created with mode
0600, keep it as safe as the source, and delete it once the rows are fixed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

from custrec._files import open_private
from custrec.interchange.csvsafe import CsvWriter
from custrec.interchange.readers import SourceRow
from custrec.interchange.report import RowIssue, SourceInfo

__all__ = ["ERROR_COLUMNS", "ErrorFile"]

ERROR_COLUMNS: Final = ("_row", "_errors")
"""The columns the error file adds in front of the original ones."""


class ErrorFile:
    """Writes rows that need a person's attention (see the module docs).

    ``format`` is ``"csv"`` or ``"jsonl"``; ``headers`` are the source's columns (CSV). The
    file is created with mode 0600 (replacing an older one) when the object is made, so an
    import whose rows are all fine leaves a file holding only the header: nothing to fix. Use it
    as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: str = "csv",
        headers: Sequence[str] = (),
        delimiter: str = ",",
    ) -> None:
        if format not in ("csv", "jsonl"):
            raise ValueError("format must be 'csv' or 'jsonl'")
        self.path = Path(path)
        self.format = format
        self.rows = 0
        self._keep = [i for i, h in enumerate(headers) if h not in ERROR_COLUMNS]
        self._width = len(headers)
        encoding = "utf-8-sig" if format == "csv" else "utf-8"
        self._file: IO[str] = open_private(self.path, encoding=encoding, newline="")
        self._csv: CsvWriter | None = None
        if format == "csv":
            self._csv = CsvWriter(self._file, delimiter=delimiter)
            self._csv.writerow([*ERROR_COLUMNS, *(headers[i] for i in self._keep)])

    @classmethod
    def for_source(cls, path: str | os.PathLike[str], info: SourceInfo) -> ErrorFile:
        """An error file shaped like the source described by ``info``."""
        if info.format == "csv":
            return cls(path, format="csv", headers=info.headers, delimiter=info.delimiter or ",")
        return cls(path, format="jsonl")

    def write(self, row: SourceRow, issues: Sequence[RowIssue]) -> None:
        """Write one row with its issues (only the errors go into ``_errors`` when there are
        any; otherwise every issue does)."""
        chosen = [i for i in issues if i.severity.value == "error"] or list(issues)
        briefs = [issue.brief() for issue in chosen]
        if self._csv is not None:
            raw = row.raw if isinstance(row.raw, tuple) else ()
            kept = [raw[i] for i in self._keep if i < len(raw)]
            extra = raw[self._width :]  # the cells of a broken row beyond the last column
            self._csv.writerow([row.number, "; ".join(briefs), *kept, *extra])
        else:
            line: dict[str, Any] = {"_row": row.number, "_errors": briefs}
            if isinstance(row.raw, dict):
                line.update((k, v) for k, v in row.raw.items() if k not in ERROR_COLUMNS)
            elif isinstance(row.raw, str):
                line["_line"] = row.raw
            self._file.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self.rows += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
