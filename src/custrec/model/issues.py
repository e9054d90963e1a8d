"""Validation issues and reports: what went wrong, where, and how badly.

An :class:`Issue` names a field path (``contacts[0].phones[1]``), a stable code
(``phone.invalid``), a message that never repeats the offending value, and a :class:`Severity`.
A :class:`ValidationReport` holds every issue found; it is ``ok`` when none is an error.

>>> report = ValidationReport((Issue(path="name", code="required", message="name is required"),))
>>> report.ok, [str(i) for i in report.errors]
(False, ['name: required (name is required)'])

These types live below every other layer so that structuring, validation and import can all
produce them; :mod:`custrec.validation` re-exports them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping

import attrs

__all__ = ["Issue", "Severity", "ValidationReport", "join_path"]


class Severity(enum.StrEnum):
    """How serious an issue is. Only ``ERROR`` makes a report fail."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen(kw_only=True)
class Issue:
    """One problem found in a record.

    ``path`` is empty for the record as a whole. ``message`` is safe to log: it never contains the
    offending value.
    """

    path: str
    code: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = self.path or "<record>"
        prefix = "" if self.severity is Severity.ERROR else f"[{self.severity.value}] "
        return f"{prefix}{where}: {self.code} ({self.message})"

    def with_severity(self, severity: Severity) -> Issue:
        """Return a copy with another severity."""
        return attrs.evolve(self, severity=severity)

    def under(self, prefix: str) -> Issue:
        """Return a copy whose path is nested under ``prefix``."""
        return attrs.evolve(self, path=join_path(prefix, self.path))


def join_path(prefix: str, path: str) -> str:
    """Join two field paths: ``join_path("contacts[0]", "phones[1]") == "contacts[0].phones[1]"``.

    >>> join_path("contacts[0]", "phones[1]"), join_path("", "name"), join_path("a", "[2]")
    ('contacts[0].phones[1]', 'name', 'a[2]')
    """
    if not prefix:
        return path
    if not path:
        return prefix
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"


def _to_tuple(issues: Iterable[Issue]) -> tuple[Issue, ...]:
    return tuple(issues)


@attrs.frozen
class ValidationReport:
    """Every issue found in a record, in the order found."""

    issues: tuple[Issue, ...] = attrs.field(default=(), converter=_to_tuple)

    @property
    def ok(self) -> bool:
        """True when no issue is an error (warnings and infos do not fail a record)."""
        issues = self.issues
        return not issues or not any(issue.severity is Severity.ERROR for issue in issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues with severity ``ERROR``."""
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """The issues with severity ``WARNING``."""
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def codes(self) -> frozenset[str]:
        """The distinct codes in this report."""
        return frozenset(i.code for i in self.issues)

    def at(self, path: str) -> tuple[Issue, ...]:
        """The issues whose path is ``path``."""
        return tuple(i for i in self.issues if i.path == path)

    def by_code(self, code: str) -> tuple[Issue, ...]:
        """The issues with code ``code``."""
        return tuple(i for i in self.issues if i.code == code)

    def merged(self, *others: ValidationReport) -> ValidationReport:
        """Return a report with this report's issues followed by the others'."""
        issues = list(self.issues)
        for other in others:
            issues.extend(other.issues)
        return ValidationReport(issues)

    def with_severities(self, overrides: Mapping[str, Severity]) -> ValidationReport:
        """Return a report in which issues with a code in ``overrides`` take that severity."""
        if not overrides:
            return self
        return ValidationReport(
            i.with_severity(overrides[i.code]) if i.code in overrides else i for i in self.issues
        )

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def __str__(self) -> str:
        if not self.issues:
            return "ok"
        return "\n".join(str(i) for i in self.issues)
