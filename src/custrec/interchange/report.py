"""What an import did: outcomes per row, every issue, and a sample for manual checking.

An :class:`ImportReport` is plain data: :meth:`ImportReport.to_dict` gives a JSON-safe form (the
``--report`` file of ``custrec import``) and :meth:`ImportReport.render` a table for people. A
report holds no personal value in the clear: each :class:`RowIssue` names the row, the column,
the field path, a stable code and a message; its ``value`` is masked when the field is personal.

>>> issue = RowIssue(row=3, column="手机", path="contacts[0].phones[0]",
...                  code="phone.invalid", message="not a valid phone number", value="12***")
>>> str(issue)
'row 3, 手机 (contacts[0].phones[0]): phone.invalid (not a valid phone number) [12***]'
"""

from __future__ import annotations

import enum
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from custrec.model.issues import Severity

__all__ = [
    "REPORT_VERSION",
    "ColumnUsage",
    "ImportReport",
    "Outcome",
    "RowIssue",
    "RowResult",
    "SourceInfo",
    "render_table",
]

REPORT_VERSION: Final = 1
"""Version of the shape of :meth:`ImportReport.to_dict`."""


class Outcome(enum.StrEnum):
    """What happened (or, in a dry run, would happen) to one source row.

    - ``created``: a new customer was stored;
    - ``updated``: a stored customer matched and its mapped fields were changed;
    - ``unchanged``: a stored customer matched and already held the row's values;
    - ``already_applied``: an earlier run of the same import stored this row;
    - ``duplicate_in_file``: an earlier row of the file holds the same strong identifier;
    - ``duplicate_in_store``: a stored customer holds the same strong identifier (skipped);
    - ``conflict``: a person must decide (several matches, or the policy asks for review);
    - ``rejected``: the row is invalid (it goes to the error file);
    - ``erased_subject``: the row holds a phone, e-mail or identifier of a customer erased
      before (the register of erased subjects, docs/security.md): not stored, not written to
      the error file (that would be a new copy of an erased person's data), no customer id;
      ``plan_import(..., allow_erased=True)`` stores it anyway.
    """

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ALREADY_APPLIED = "already_applied"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    DUPLICATE_IN_STORE = "duplicate_in_store"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    ERASED_SUBJECT = "erased_subject"

    @property
    def needs_attention(self) -> bool:
        """Whether a person has to look at the row (conflicts and rejections)."""
        return self in (Outcome.CONFLICT, Outcome.REJECTED)

    @property
    def in_store(self) -> bool:
        """Whether the row is (or, in a dry run, would be) held by a customer of this import."""
        return self in (Outcome.CREATED, Outcome.UPDATED, Outcome.ALREADY_APPLIED)


@attrs.frozen(kw_only=True)
class RowIssue:
    """One problem with one source row.

    ``row`` is the 1-based data row number (the header is not counted; for JSON Lines, the line
    number). ``column`` is the source column (``None`` when the issue concerns the whole row or
    a field no column fed), ``path`` the customer field path (empty for the row as a whole).
    ``value`` is the offending cell, masked when the field holds personal data, else shortened
    to 40 characters; ``None`` when there is nothing to show.
    """

    row: int
    column: str | None
    path: str
    code: str
    message: str
    severity: Severity = Severity.ERROR
    value: str | None = None

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.column:
            where += f", {self.column}"
        if self.path:
            where += f" ({self.path})"
        prefix = "" if self.severity is Severity.ERROR else f"[{self.severity.value}] "
        shown = f" [{self.value}]" if self.value is not None else ""
        return f"{prefix}{where}: {self.code} ({self.message}){shown}"

    def brief(self) -> str:
        """The issue without its row number (what the error file's ``_errors`` column holds)."""
        where = self.column or self.path or "row"
        return f"{where}: {self.code} ({self.message})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "row": self.row,
            "column": self.column,
            "path": self.path,
            "code": self.code,
            "message": self.message,
            "severity": self.severity.value,
            "value": self.value,
        }


@attrs.frozen(kw_only=True)
class RowResult:
    """One source row's outcome and customer id (``None`` when no customer holds the row)."""

    row: int
    outcome: Outcome = attrs.field(converter=Outcome)
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: ``row``, ``outcome`` and ``id``."""
        return {"row": self.row, "outcome": self.outcome.value, "id": self.customer_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowResult:
        """The inverse of :meth:`to_dict`."""
        return cls(row=int(data["row"]), outcome=data["outcome"], customer_id=data["id"])


@attrs.frozen(kw_only=True)
class SourceInfo:
    """Where the rows came from: a name (the file name, never a full path), the format
    (``csv`` or ``jsonl``), the encoding and delimiter used, the header row (CSV), and the
    line end of the first line (``"CRLF"``, ``"LF"`` or ``"CR"``; ``None`` when the sample
    read holds none)."""

    name: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    headers: tuple[str, ...] = ()
    line_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "name": self.name,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "headers": list(self.headers),
            "line_end": self.line_end,
        }


@attrs.frozen(kw_only=True)
class ColumnUsage:
    """How the mapping met the file: ``mapped`` (source column -> field path), ``unmapped``
    (columns nothing reads) and ``missing`` (mapping columns the file lacks)."""

    mapped: Mapping[str, str] = attrs.field(factory=dict)
    unmapped: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "mapped": dict(self.mapped),
            "unmapped": list(self.unmapped),
            "missing": list(self.missing),
        }


def _counts(value: Mapping[Outcome, int]) -> Mapping[Outcome, int]:
    return {outcome: int(value.get(outcome, 0)) for outcome in Outcome}


@attrs.frozen(kw_only=True)
class ImportReport:
    """The full account of one import run (or dry run).

    ``counts`` has an entry for every :class:`Outcome`; ``rows`` is the number of data rows
    read (blank ones are skipped and not counted, though they keep their row numbers).
    ``sample_ids`` is the reproducible sample of customers this import holds (created, updated
    or already applied by an earlier run), ``ceil(sample_share * n)`` of them picked by a hash
    of ``sample_seed`` and the id, sorted; the same seed picks the same ids.
    ``error_rows`` rows were written to ``error_file`` (rejected, in conflict, or skipped as
    duplicates in the file), in ``error_encoding`` with ``error_line_end`` line ends (the
    source's); ``error_note`` says why the encoding differs from the source's, when it does.
    ``policy`` is the policy used, as data. ``row_ids`` maps every row to its outcome and
    customer id (see :mod:`~custrec.interchange.report_ids`), ``None`` when the import had
    more rows than :data:`~custrec.interchange.report_ids.INLINE_ROW_IDS`; ``ids_file`` names
    the file the map was streamed to, if any.
    """

    import_id: str
    dry_run: bool
    rows: int
    counts: Mapping[Outcome, int] = attrs.field(converter=_counts)
    issues: tuple[RowIssue, ...] = ()
    source: SourceInfo | None = None
    mapping_name: str | None = None
    columns: ColumnUsage = attrs.field(factory=ColumnUsage)
    policy: Mapping[str, Any] = attrs.field(factory=dict)
    sample_share: float = 0.0
    sample_seed: int = 0
    sample_ids: tuple[str, ...] = ()
    error_file: str | None = None
    error_rows: int = 0
    error_encoding: str | None = None
    error_line_end: str | None = None
    error_note: str | None = None
    row_ids: tuple[RowResult, ...] | None = None
    ids_file: str | None = None

    @property
    def ok(self) -> bool:
        """True when no row was rejected or left in conflict."""
        return not (self.counts[Outcome.REJECTED] or self.counts[Outcome.CONFLICT])

    @property
    def written(self) -> int:
        """Rows that changed the store in this run (always 0 in a dry run)."""
        if self.dry_run:
            return 0
        return self.counts[Outcome.CREATED] + self.counts[Outcome.UPDATED]

    def issues_at(self, row: int) -> tuple[RowIssue, ...]:
        """The issues of one row."""
        return tuple(i for i in self.issues if i.row == row)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-safe data (no timings: the same input gives the same report)."""
        return {
            "report_version": REPORT_VERSION,
            "import_id": self.import_id,
            "dry_run": self.dry_run,
            "source": self.source.to_dict() if self.source is not None else None,
            "mapping": self.mapping_name,
            "policy": dict(self.policy),
            "rows": self.rows,
            "counts": {outcome.value: n for outcome, n in self.counts.items()},
            "ok": self.ok,
            "columns": self.columns.to_dict(),
            "issues": [issue.to_dict() for issue in self.issues],
            "sample": {
                "share": self.sample_share,
                "seed": self.sample_seed,
                "ids": list(self.sample_ids),
            },
            "error_file": self.error_file,
            "error_rows": self.error_rows,
            "error_encoding": self.error_encoding,
            "error_line_end": self.error_line_end,
            "error_note": self.error_note,
            "row_ids": None if self.row_ids is None else [r.to_dict() for r in self.row_ids],
            "ids_file": self.ids_file,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (UTF-8 characters kept)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def render(self, *, max_issues: int = 20) -> str:
        """A plain-text summary: the counts table, then the first ``max_issues`` issues."""
        verb = "planned (dry run)" if self.dry_run else "done"
        lines = [f"import {self.import_id}: {self.rows} rows, {verb}"]
        table = [(outcome.value, str(n)) for outcome, n in self.counts.items()]
        lines.append(render_table(("outcome", "rows"), table, align="lr"))
        if self.issues:
            errors = sum(1 for i in self.issues if i.severity is Severity.ERROR)
            lines.append(f"{len(self.issues)} issues ({errors} errors):")
            lines.extend(f"  {issue}" for issue in self.issues[:max_issues])
            if len(self.issues) > max_issues:
                lines.append(f"  ... and {len(self.issues) - max_issues} more (see the report)")
        if self.error_file is not None:
            shape = ", ".join(s for s in (self.error_encoding, self.error_line_end) if s)
            shape = f"; {shape}" if shape else ""
            lines.append(f"error file: {self.error_file} ({self.error_rows} rows to fix{shape})")
            if self.error_note:
                lines.append(f"  {self.error_note}")
        if self.ids_file is not None:
            lines.append(f"customer id of every row: {self.ids_file}")
        if self.sample_ids:
            share = f"{self.sample_share:.0%}"
            lines.append(
                f"sample for manual checking ({share}, seed {self.sample_seed}): "
                f"{len(self.sample_ids)} ids"
            )
            lines.extend(f"  {customer_id}" for customer_id in self.sample_ids[:10])
            if len(self.sample_ids) > 10:
                lines.append(f"  ... and {len(self.sample_ids) - 10} more (see the report)")
        return "\n".join(lines)


def _width(text: str) -> int:
    """Display width: East Asian wide and full-width characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, align: str) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if align == "r" else text + gap


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, align: str | None = None
) -> str:
    """Render rows as an aligned plain-text table (CJK text measured by display width).

    ``align`` has one letter per column, ``l`` or ``r`` (default: all left).

    >>> print(render_table(("outcome", "rows"), [("created", "12"), ("rejected", "3")],
    ...                    align="lr"))
    outcome   rows
    --------  ----
    created     12
    rejected     3
    """
    body = [tuple(str(cell) for cell in row) for row in rows]
    columns = len(headers)
    how = align or "l" * columns
    if len(how) != columns or any(body_row for body_row in body if len(body_row) != columns):
        raise ValueError("every row and the alignment need one entry per header")
    widths = [max([_width(h) for h in (headers[i], *(r[i] for r in body))]) for i in range(columns)]
    out = ["  ".join(_pad(h, w, "l") for h, w in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for row in body:
        cells = (_pad(c, w, a) for c, w, a in zip(row, widths, how, strict=True))
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)
