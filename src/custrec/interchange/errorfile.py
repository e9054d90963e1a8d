"""The error file: every row to fix as it was read, plus what is wrong with it.

The rows to fix are the ``rejected`` and ``conflict`` ones and those skipped as
``duplicate_in_file`` (a person decides whether the later row was a real duplicate, or a
different customer sharing a phone by mistake). A person fixes the rows in a spreadsheet and
feeds the file back to the same import: the importer ignores the ``_row`` and ``_errors``
columns it added. For CSV sources the file is CSV with ``_row`` and ``_errors`` first and then
the original columns; for JSON Lines sources every line is the original object with ``_row``
and ``_errors`` (a list) added. CSV cells a spreadsheet would run as formulas are prefixed with
``'`` (see :mod:`custrec.interchange.csvsafe`); the CSV reader removes it again, so a fed-back
row holds the cells the source did.

The file keeps the source's encoding and line ends (:meth:`ErrorFile.for_source`): a GB18030
file with CRLF line ends gets a GB18030 error file with CRLF, UTF-8 with a byte order mark keeps
the mark. GB18030 and the UTF encodings hold every value; in another encoding (Big5, Shift-JIS,
Latin-1...) a CSV value may not encode (a cell that held undecodable bytes, for instance): the
file written so far is then rewritten as UTF-8 with a byte order mark, and :attr:`ErrorFile.note`
says so (the import report repeats it). JSON Lines never changes encoding: a line whose values
do not encode is written with ``\\uXXXX`` escapes, which JSON reads back as the same values.

The error file holds the rows' personal data as the source file did: it is created with mode
0600, keep it as safe as the source, and delete it once the rows are fixed.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

from custrec._files import open_private
from custrec.interchange.csvsafe import CsvWriter
from custrec.interchange.readers import LINE_ENDS, SourceRow
from custrec.interchange.report import RowIssue, SourceInfo

__all__ = ["ERROR_COLUMNS", "ErrorFile"]

ERROR_COLUMNS: Final = ("_row", "_errors")
"""The columns the error file adds in front of the original ones."""

_FALLBACK: Final = "utf-8-sig"
_WHOLE: Final = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"}
    | {"utf-32-be", "gb18030"}
)  # encodings that hold every character a decoded file can give (no lone surrogates)


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None


def _special(path: Path) -> bool:
    """Whether ``path`` exists and is not a regular file (a pipe, a terminal: not rewritable)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class ErrorFile:
    """Writes rows that need a person's attention (see the module docs).

    ``format`` is ``"csv"`` or ``"jsonl"``; ``headers`` are the source's columns (CSV).
    ``encoding`` (default: UTF-8 with a byte order mark for CSV, UTF-8 for JSON Lines) and
    ``line_end`` (``"CRLF"``, ``"LF"`` or ``"CR"``; default CRLF for CSV, LF for JSON Lines)
    shape the file; :meth:`for_source` takes both from the source. :attr:`encoding` is the
    encoding the file ends up in, and :attr:`note` says why when it is not the one asked for.
    The file is created with mode 0600 (replacing an older one) when the object is made, so an
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
        encoding: str | None = None,
        line_end: str | None = None,
    ) -> None:
        if format not in ("csv", "jsonl"):
            raise ValueError("format must be 'csv' or 'jsonl'")
        if line_end is not None and line_end not in LINE_ENDS:
            raise ValueError("line_end must be 'CRLF', 'LF', 'CR' or None")
        self.path = Path(path)
        self.format = format
        self.rows = 0
        self.line_end: str = line_end or ("CRLF" if format == "csv" else "LF")
        wanted = encoding or ("utf-8-sig" if format == "csv" else "utf-8")
        self.encoding: str = _codec(wanted)
        self.note: str | None = None
        self._whole = self.encoding in _WHOLE
        if format == "csv" and not self._whole and _special(self.path):
            self.note = (
                f"{self.encoding} may not hold every value and the target cannot be rewritten: "
                "written as UTF-8 with a byte order mark instead"
            )
            self.encoding, self._whole = _FALLBACK, True
        self._keep = [i for i, h in enumerate(headers) if h not in ERROR_COLUMNS]
        self._width = len(headers)
        self._eol = LINE_ENDS[self.line_end]
        self._file: IO[str] = open_private(self.path, encoding=self.encoding, newline="")
        self._buffer = io.StringIO()
        self._csv: CsvWriter | None = None
        if format == "csv":
            self._csv = CsvWriter(self._buffer, delimiter=delimiter)
            self._csv_row([*ERROR_COLUMNS, *(headers[i] for i in self._keep)])

    @classmethod
    def for_source(cls, path: str | os.PathLike[str], info: SourceInfo) -> ErrorFile:
        """An error file shaped like the source described by ``info``: the same format,
        columns, delimiter, encoding and line ends."""
        if info.format == "csv":
            return cls(
                path,
                format="csv",
                headers=info.headers,
                delimiter=info.delimiter or ",",
                encoding=info.encoding,
                line_end=info.line_end,
            )
        return cls(path, format="jsonl", encoding=info.encoding, line_end=info.line_end)

    def write(self, row: SourceRow, issues: Sequence[RowIssue]) -> None:
        """Write one row with its issues (only the errors go into ``_errors`` when there are
        any; otherwise every issue does)."""
        chosen = [i for i in issues if i.severity.value == "error"] or list(issues)
        briefs = [issue.brief() for issue in chosen]
        if self._csv is not None:
            raw = row.raw if isinstance(row.raw, tuple) else ()
            kept = [raw[i] for i in self._keep if i < len(raw)]
            extra = raw[self._width :]  # the cells of a broken row beyond the last column
            self._csv_row([row.number, "; ".join(briefs), *kept, *extra])
        else:
            line: dict[str, Any] = {"_row": row.number, "_errors": briefs}
            if isinstance(row.raw, dict):
                line.update((k, v) for k, v in row.raw.items() if k not in ERROR_COLUMNS)
            elif isinstance(row.raw, str):
                line["_line"] = row.raw
            text = json.dumps(line, ensure_ascii=False, default=str)
            if not self._encodes(text):
                text = json.dumps(line, ensure_ascii=True, default=str)
            self._file.write(text + self._eol)
        self.rows += 1

    def _encodes(self, text: str) -> bool:
        try:
            text.encode(self.encoding)
        except UnicodeEncodeError:
            return False
        return True

    def _csv_row(self, cells: Sequence[object]) -> None:
        assert self._csv is not None
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(cells)  # ends with CRLF, so a cell holding CR or LF is quoted
        text = self._buffer.getvalue().removesuffix("\r\n") + self._eol
        if not self._whole and not self._encodes(text):
            self._fall_back(f"a value does not encode in {self.encoding}")
        self._file.write(text)

    def _fall_back(self, why: str) -> None:
        """Go on in UTF-8 with a byte order mark, rewriting what was written so far."""
        old = self.encoding
        self.note = f"{why}: written as UTF-8 with a byte order mark instead"
        self.encoding, self._whole = _FALLBACK, True
        self._file.flush()
        if self._file.tell() == 0:
            self._file.close()
            self._file = open_private(self.path, encoding=_FALLBACK, newline="")
            return
        self._file.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        with (
            open(self.path, encoding=old, newline="") as before,
            open_private(temporary, encoding=_FALLBACK, newline="") as after,
        ):
            while chunk := before.read(1 << 16):
                after.write(chunk)
        os.replace(temporary, self.path)
        self._file = open_private(self.path, "a", encoding="utf-8", newline="")

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
