"""Streaming readers for CSV and JSON Lines files.

Both readers yield :class:`SourceRow` objects one at a time, so memory stays flat however large
the file. Row numbers are 1-based and count data rows only: for CSV the header record is not
counted (the first record after it is row 1), for JSON Lines the line number is the row number.
Blank records and lines are skipped but still counted, so the numbers match what a person sees
when counting the records of the file.

CSV files may be UTF-8, UTF-8 with a byte order mark (as Excel writes it), UTF-16 with a byte
order mark, or GB18030/GBK (as Chinese spreadsheet exports are): with ``encoding="auto"`` the
encoding is detected from a byte order mark or from the first megabyte (valid UTF-8, else
GB18030, which is a superset of GBK and GB2312). The delimiter (``,``, ``;``, tab or ``|``) is
sniffed from the header line unless given. Bytes that cannot be decoded become a ``row.encoding``
issue on their cell instead of stopping the read. A cell custrec escaped against spreadsheet
formulas (``'=...``, ``'+...``, ``''...``; see :mod:`custrec.interchange.csvsafe`) is read
without that apostrophe, in the header and in data rows.

>>> import io
>>> data = "客户名称,手机\\n北京星河科技有限公司,13800138000\\n".encode("gb18030")
>>> with CsvSource(io.BytesIO(data), name="legacy.csv") as source:
...     rows = list(source)
>>> source.info.encoding, source.info.headers, rows[0].number, rows[0].cells["手机"]
('gb18030', ('客户名称', '手机'), 1, '13800138000')
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Protocol, Self

import attrs

from custrec.errors import ReadError
from custrec.interchange.csvsafe import unescape_cell
from custrec.interchange.report import RowIssue, SourceInfo
from custrec.model.issues import Severity

__all__ = [
    "DELIMITERS",
    "LINE_ENDS",
    "CsvSource",
    "JsonlSource",
    "ReadError",
    "Source",
    "SourceRow",
    "detect_encoding",
    "detect_line_end",
    "open_source",
    "sniff_delimiter",
]

DELIMITERS: Final = (",", ";", "\t", "|")
"""The delimiters :func:`sniff_delimiter` chooses from."""

_SAMPLE: Final = 1 << 20  # bytes read to detect the encoding
_ENCODING_ALIASES: Final = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
    "gb18030": "gb18030",
    "utf-16": "utf-16",
}
_REPLACEMENT: Final = "\ufffd"
LINE_ENDS: Final = {"CRLF": "\r\n", "LF": "\n", "CR": "\r"}
"""The line ends :func:`detect_line_end` names, and their characters."""


@attrs.frozen(kw_only=True)
class SourceRow:
    """One data row as read.

    ``number`` is the 1-based data row number (see the module docs). ``cells`` maps column
    names to values: strings for CSV (a repeated header gets `` (2)``, `` (3)``... appended),
    any JSON value for JSON Lines. ``raw`` is what the error file writes back: the record's
    original cells (CSV), the original object (JSON Lines) or the original line when it was
    not a JSON object. ``problems`` are issues found while reading (broken rows).
    """

    number: int
    cells: Mapping[str, Any]
    raw: tuple[str, ...] | Mapping[str, Any] | str = attrs.field(repr=False)
    problems: tuple[RowIssue, ...] = ()


class Source(Protocol):
    """A stream of :class:`SourceRow` objects with what is known about where they came from."""

    @property
    def info(self) -> SourceInfo:
        """Name, format, encoding, delimiter and headers."""
        ...

    @property
    def size(self) -> int | None:
        """The size of the input in bytes, when known."""
        ...

    @property
    def position(self) -> int:
        """Bytes consumed so far (approximate: decoders read ahead), for progress bars."""
        ...

    def __iter__(self) -> Iterator[SourceRow]:
        """Yield the rows, in order."""
        ...


def detect_encoding(sample: bytes) -> str:
    """Guess the encoding of a file from its first bytes.

    A byte order mark decides; otherwise valid UTF-8 (a sequence cut at the end of the sample
    is allowed) means ``utf-8`` and anything else ``gb18030``.

    >>> detect_encoding(codecs.BOM_UTF8 + "名称".encode()), detect_encoding(b"name")
    ('utf-8-sig', 'utf-8')
    >>> detect_encoding("名称".encode("gbk"))
    'gb18030'
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(sample) - 3:
            return "utf-8"
        return "gb18030"
    return "utf-8"


def detect_line_end(text: str) -> str | None:
    """The line end of the first line of ``text``: ``"CRLF"``, ``"LF"`` or ``"CR"`` (a ``\\r``
    ending the text counts as ``"CRLF"``, its ``\\n`` not read yet); ``None`` without one.

    >>> detect_line_end("a,b\\r\\n1,2\\n"), detect_line_end("a\\nb"), detect_line_end("a")
    ('CRLF', 'LF', None)
    """
    found = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    if not found:
        return None
    index = min(found)
    if text[index] == "\n":
        return "LF"
    return "CR" if text[index + 1 : index + 2] not in ("\n", "") else "CRLF"


def _check_encoding(encoding: str) -> str:
    if not isinstance(encoding, str):
        raise TypeError("encoding must be a string")
    name = encoding.strip().lower().replace("_", "-")
    if name == "auto":
        return name
    known = _ENCODING_ALIASES.get(name)
    if known is not None:
        return known
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ReadError(f"unknown encoding {encoding!r}") from None


def sniff_delimiter(line: str) -> str:
    """Pick the delimiter of a header line: the most frequent of :data:`DELIMITERS` outside
    quotes (ties and none found: ``,``).

    >>> sniff_delimiter("客户名称;手机;邮箱"), sniff_delimiter('"a,b"\\tc'), sniff_delimiter("x")
    (';', '\\t', ',')
    """
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _open_binary(source: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], str, bool]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.open("rb"), path.name, True
        except FileNotFoundError:
            raise ReadError(f"no such file: {path.name}") from None
        except IsADirectoryError:
            raise ReadError(f"{path.name} is a directory, not a file") from None
        except OSError as exc:
            raise ReadError(f"cannot open {path.name}: {exc.strerror}") from None
    if not hasattr(source, "read") or not hasattr(source, "seek"):
        raise TypeError("a source is a path or a seekable binary file")
    label = getattr(source, "name", None)
    return source, Path(label).name if isinstance(label, str) and label else "<stream>", False


def _size(binary: IO[bytes]) -> int | None:
    try:
        here = binary.tell()
        end = binary.seek(0, io.SEEK_END)
        binary.seek(here)
        return end
    except (OSError, ValueError):
        return None


_WORKBOOKS: Final = (
    (b"PK\x03\x04", "a ZIP archive, such as an Excel .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file, such as an Excel .xls workbook"),
)
"""How the files people give for CSV most often begin instead: spreadsheet workbooks."""


class _BinarySource:
    """Shared plumbing: open, detect the encoding, report size and position, close."""

    format = ""

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        encoding: str = "auto",
        name: str | None = None,
    ) -> None:
        wanted = _check_encoding(encoding)
        self._binary, default_name, self._owned = _open_binary(source)
        self._name = name or default_name
        try:
            start = self._binary.tell()
            sample = self._binary.read(_SAMPLE)
            self._binary.seek(start)
        except (OSError, ValueError) as exc:
            self.close()
            raise ReadError(f"cannot read {self._name}") from exc
        workbook = next((what for magic, what in _WORKBOOKS if sample.startswith(magic)), None)
        if workbook is not None:
            self.close()
            raise ReadError(
                f"{self._name} is {workbook}, not CSV or JSON Lines text: save it as CSV (UTF-8) "
                "and import that file"
            )
        self._encoding = detect_encoding(sample) if wanted == "auto" else wanted
        if self._encoding == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            self._encoding = "utf-8-sig"
        self._line_end = detect_line_end(sample.decode(self._encoding, errors="replace"))
        self._size = _size(self._binary)
        self._text = io.TextIOWrapper(
            self._binary, encoding=self._encoding, errors="replace", newline=""
        )
        self._started = False

    @property
    def size(self) -> int | None:
        """The size of the input in bytes, when known."""
        return self._size

    @property
    def position(self) -> int:
        """Bytes consumed so far (approximate: the decoder reads ahead)."""
        try:
            return int(self._binary.tell())
        except (OSError, ValueError):
            return 0

    def _begin(self) -> None:
        if self._started:
            raise ReadError(f"{self._name} has already been read; open it again")
        self._started = True

    def close(self) -> None:
        """Close the file if this source opened it."""
        if self._owned:
            self._binary.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _unique_headers(cells: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = cell.strip().lstrip("\ufeff").strip() or f"(column {index})"
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} ({count})")
    return tuple(out)


class CsvSource(_BinarySource):
    """Rows of a CSV file with a header record.

    ``encoding`` is ``"auto"`` (default; see the module docs) or a codec name (``gbk`` and
    ``gb2312`` are read as GB18030); ``delimiter`` is ``"auto"`` or one character. Raises
    :class:`ReadError` when the file cannot be opened or its header record cannot be read (a
    header cell longer than ``csv.field_size_limit()`` too). Broken records become issues on
    their row: ``row.extra_cells`` (more cells than headers, an error), ``row.missing_cells``
    (fewer, a warning; the rest count as blank), ``row.encoding`` (undecodable bytes in a cell)
    and ``row.malformed`` (the CSV parser gave up on the record, for instance a cell longer than
    the field size limit). Cells are unescaped with
    :func:`~custrec.interchange.csvsafe.unescape_cell`.
    """

    format = "csv"

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        encoding: str = "auto",
        delimiter: str = "auto",
        name: str | None = None,
    ) -> None:
        if not isinstance(delimiter, str) or (delimiter != "auto" and len(delimiter) != 1):
            raise ReadError("delimiter must be 'auto' or a single character")
        super().__init__(source, encoding=encoding, name=name)
        self._delimiter = delimiter
        self._headers: tuple[str, ...] = ()
        self._records: Iterator[list[str]] | None = None
        self._line = 0
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        first = ""
        line_number = 0
        for line in self._text:
            line_number += 1
            if line.strip():
                first = line
                break
        if not first:
            raise ReadError(f"{self._name} is empty: a header row is needed")
        if self._delimiter == "auto":
            self._delimiter = sniff_delimiter(first)
        rest = _chain_first(first, self._text)
        reader = csv.reader(rest, delimiter=self._delimiter)
        try:
            header = next(reader)
        except csv.Error as exc:  # never the cell itself: a header may hold anything
            raise ReadError(
                f"{self._name}: the header record (line {line_number}) cannot be read: "
                f"{_csv_problem(exc)}"
            ) from None
        self._headers = _unique_headers([unescape_cell(cell) for cell in header])
        self._records = reader

    @property
    def info(self) -> SourceInfo:
        """Name, format, encoding, delimiter and headers."""
        return SourceInfo(
            name=self._name,
            format="csv",
            encoding=self._encoding,
            delimiter=self._delimiter,
            headers=self._headers,
            line_end=self._line_end,
        )

    @property
    def headers(self) -> tuple[str, ...]:
        """The column names (repeated names made unique)."""
        return self._headers

    def __iter__(self) -> Iterator[SourceRow]:
        self._begin()
        reader = self._records
        if reader is None:  # pragma: no cover - set by __init__
            return
        headers = self._headers
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a cell over csv.field_size_limit(): skip it
                number += 1
                issue = RowIssue(
                    row=number,
                    column=None,
                    path="",
                    code="row.malformed",
                    message=f"the CSV parser could not read this record: {_csv_problem(exc)}",
                )
                yield SourceRow(number=number, cells={}, raw=(), problems=(issue,))
                continue
            number += 1
            record = [unescape_cell(cell) for cell in record]
            if not any(cell.strip() for cell in record):
                continue
            yield self._row(number, headers, record)

    @staticmethod
    def _row(number: int, headers: tuple[str, ...], record: list[str]) -> SourceRow:
        problems: list[RowIssue] = []
        width = len(headers)
        if len(record) > width:
            if any(cell.strip() for cell in record[width:]):
                problems.append(
                    RowIssue(
                        row=number,
                        column=None,
                        path="",
                        code="row.extra_cells",
                        message=f"{len(record)} cells for {width} columns: an unquoted "
                        "delimiter inside a value?",
                    )
                )
        elif len(record) < width:
            problems.append(
                RowIssue(
                    row=number,
                    column=None,
                    path="",
                    code="row.missing_cells",
                    message=f"{len(record)} cells for {width} columns; the rest count as blank",
                    severity=Severity.WARNING,
                )
            )
        cells = dict(zip(headers, record, strict=False))
        for header in headers[len(record) :]:
            cells[header] = ""
        for header, cell in cells.items():
            if _REPLACEMENT in cell:
                problems.append(
                    RowIssue(
                        row=number,
                        column=header,
                        path="",
                        code="row.encoding",
                        message="the cell holds bytes that are not valid in the file's encoding",
                    )
                )
        return SourceRow(number=number, cells=cells, raw=tuple(record), problems=tuple(problems))


def _csv_problem(exc: csv.Error) -> str:
    """What went wrong, in words that never quote the record (the csv module's messages are
    only relied on to tell an oversized cell from other damage)."""
    if "field limit" in str(exc):
        return (
            f"a cell is longer than the CSV field size limit ({csv.field_size_limit():,} "
            "characters)"
        )
    return "it is not well-formed CSV"


def _chain_first(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


class JsonlSource(_BinarySource):
    """Rows of a JSON Lines file: one JSON object per line.

    Lines that are not JSON become a ``row.json`` issue and lines holding anything but an
    object a ``row.not_object`` issue; blank lines are skipped. ``encoding`` is as for
    :class:`CsvSource` (JSON Lines is UTF-8 by definition; ``auto`` also accepts GB18030).
    """

    format = "jsonl"

    @property
    def info(self) -> SourceInfo:
        """Name, format and encoding (JSON Lines has no header row)."""
        return SourceInfo(
            name=self._name, format="jsonl", encoding=self._encoding, line_end=self._line_end
        )

    def __iter__(self) -> Iterator[SourceRow]:
        self._begin()
        for number, line in enumerate(self._text, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                yield SourceRow(
                    number=number,
                    cells={},
                    raw=text,
                    problems=(
                        RowIssue(
                            row=number,
                            column=None,
                            path="",
                            code="row.json",
                            message="the line is not valid JSON",
                        ),
                    ),
                )
                continue
            if not isinstance(value, dict):
                yield SourceRow(
                    number=number,
                    cells={},
                    raw=text,
                    problems=(
                        RowIssue(
                            row=number,
                            column=None,
                            path="",
                            code="row.not_object",
                            message="each line must hold a JSON object",
                        ),
                    ),
                )
                continue
            yield SourceRow(number=number, cells=value, raw=value)


def open_source(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    format: str = "auto",
    encoding: str = "auto",
    delimiter: str = "auto",
    name: str | None = None,
) -> CsvSource | JsonlSource:
    """Open a CSV or JSON Lines source; ``format="auto"`` decides by the file extension
    (``.jsonl``, ``.ndjson`` and ``.json`` are JSON Lines, anything else CSV).

    Use the result as a context manager. Raises :class:`ReadError` for a missing or unreadable
    file and ``ValueError`` for an unknown format.
    """
    kind = format.strip().lower() if isinstance(format, str) else format
    if kind == "auto":
        label = name or (str(source) if isinstance(source, str | os.PathLike) else "")
        suffix = Path(label).suffix.lower()
        kind = "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else "csv"
    if kind == "csv":
        return CsvSource(source, encoding=encoding, delimiter=delimiter, name=name)
    if kind in ("jsonl", "ndjson"):
        return JsonlSource(source, encoding=encoding, name=name)
    raise ValueError(f"unknown format {format!r}: expected 'csv', 'jsonl' or 'auto'")
