"""Data-quality report over a population of customer records.

:func:`assess` streams once over the customers (keeping only counters, never the records) and
returns a :class:`QualityReport` with five measures: completeness of key fields, validity under a
:class:`~custrec.validation.RuleSet`, redundant duplicates, staleness of verification and consent
coverage per purpose. The report holds field names, issue codes, purpose codes and counts only:
no personal data. It is pure logic: no I/O and no clock (``as_of`` is explicit).

>>> from datetime import UTC, datetime
>>> from custrec.model.records import Contact, Customer, CustomerKind
>>> population = [
...     Customer(kind=CustomerKind.INDIVIDUAL, name="Li", owner="s-1",
...              contacts=[Contact(phones=["+8613800138000"])]),
...     Customer(kind=CustomerKind.ORGANIZATION, name="Acme"),
... ]
>>> report = assess(population, as_of=datetime(2025, 1, 1, tzinfo=UTC))
>>> report.total, report.valid_records, report.stale
(2, 1, 2)
>>> [(f.field, f.filled, f.applicable) for f in report.completeness[:3]]
[('name', 2, 2), ('phone', 1, 2), ('email', 0, 2)]
>>> [(v.code, v.severity.value, v.records) for v in report.validity]
[('contact.channel_required', 'error', 1), ('required', 'error', 1)]
>>> print(report.to_table().splitlines()[0])
Data quality as of 2025-01-01T00:00:00+00:00: 2 customers

:class:`QualityTally` holds the counters :func:`assess` keeps, fed one customer at a time, so
reports of parts (one per group in :mod:`custrec.quality_breakdown`) add up to the report of the
whole. See ``docs/quality.md`` for what each measure counts and how to read the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import attrs

from custrec._checks import require_aware
from custrec.consent import PURPOSES, ConsentLedger, SubjectFacts
from custrec.model.issues import Severity
from custrec.model.records import (
    Customer,
    CustomerKind,
    Gender,
    IdentifierScheme,
    VerificationStatus,
)
from custrec.validation import DEFAULT_RULES, RuleSet

__all__ = [
    "DEFAULT_FIELDS",
    "FIELDS",
    "ConsentCoverage",
    "FieldCheck",
    "FieldCompleteness",
    "QualityReport",
    "QualityTally",
    "RuleValidity",
    "VerificationCount",
    "assess",
]


def _percent(part: int, whole: int) -> float:
    """``part`` as a percentage of ``whole``, rounded to two decimals; 0.0 when ``whole`` is 0."""
    return round(100 * part / whole, 2) if whole else 0.0


# ----------------------------------------------------------------------------- field checks


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _items(value: object) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else ()


def _any_contact(customer: Customer, attribute: str) -> bool:
    for contact in _items(customer.contacts):
        value = getattr(contact, attribute, None)
        if isinstance(value, tuple):
            if any(_text(item) for item in value):
                return True
        elif _text(value):
            return True
    return False


def _any_identifier(customer: Customer, scheme: str | None = None) -> bool:
    return any(
        _text(getattr(ident, "value", None))
        and (scheme is None or getattr(ident, "scheme", None) == scheme)
        for ident in _items(customer.identifiers)
    )


def _has_address(customer: Customer) -> bool:
    return any(_text(getattr(a, "city", None)) for a in _items(customer.addresses))


def _has_gender(customer: Customer) -> bool:
    return customer.gender is not None and customer.gender != Gender.UNKNOWN


def _has_birth_date(customer: Customer) -> bool:
    return isinstance(customer.birth_date, date)


def _text_field(name: str) -> Callable[[Customer], bool]:
    def filled(customer: Customer) -> bool:
        return _text(getattr(customer, name, None))

    return filled


def _set_field(name: str) -> Callable[[Customer], bool]:
    def filled(customer: Customer) -> bool:
        return getattr(customer, name, None) is not None

    return filled


@attrs.frozen(kw_only=True)
class FieldCheck:
    """How completeness of one field is judged.

    ``applies_to`` is the kind of customer the field is about (``None``: every customer); only
    customers of that kind are counted, filled or not. ``filled(customer)`` tells whether the value
    is present: presence only, never validity (that is the validity measure's job).
    """

    name: str
    applies_to: CustomerKind | None
    description: str
    filled: Callable[[Customer], bool] = attrs.field(repr=False, eq=False)


def _check(
    name: str,
    description: str,
    filled: Callable[[Customer], bool],
    applies_to: CustomerKind | None = None,
) -> FieldCheck:
    return FieldCheck(name=name, applies_to=applies_to, description=description, filled=filled)


_ORG: Final = CustomerKind.ORGANIZATION
_PERSON: Final = CustomerKind.INDIVIDUAL

FIELDS: Final[Mapping[str, FieldCheck]] = MappingProxyType(
    {
        check.name: check
        for check in (
            _check("name", "a non-blank name", _text_field("name")),
            _check(
                "phone", "some contact has a non-blank phone", lambda c: _any_contact(c, "phones")
            ),
            _check(
                "email", "some contact has a non-blank e-mail", lambda c: _any_contact(c, "emails")
            ),
            _check("address", "some address names a city", _has_address),
            _check("identifier", "some identifier (any scheme) has a value", _any_identifier),
            _check("owner", "an account owner is assigned", _text_field("owner")),
            _check("source", "the acquisition channel is known", _text_field("source")),
            _check("category", "a customer category is set", _set_field("category")),
            _check("registered_name", "a registered name", _text_field("registered_name"), _ORG),
            _check(
                "uscc",
                "a CN-USCC identifier has a value",
                lambda c: _any_identifier(c, IdentifierScheme.USCC),
                _ORG,
            ),
            _check("industry", "an industry", _text_field("industry"), _ORG),
            _check(
                "contact_name",
                "some contact person is named",
                lambda c: _any_contact(c, "name"),
                _ORG,
            ),
            _check("gender", "a gender other than 'unknown'", _has_gender, _PERSON),
            _check("birth_date", "a birth date", _has_birth_date, _PERSON),
            # available on request, not in DEFAULT_FIELDS
            _check("wechat", "some contact has a WeChat id", lambda c: _any_contact(c, "wechat")),
            _check("team", "a team is assigned", _text_field("team")),
            _check("intent", "a purchase intent is set", _set_field("intent")),
            _check(
                "legal_representative",
                "a legal representative",
                _text_field("legal_representative"),
                _ORG,
            ),
            _check("employee_band", "a head-count band", _set_field("employee_band"), _ORG),
            _check("revenue_band", "a revenue band", _set_field("revenue_band"), _ORG),
        )
    }
)
"""Every field :func:`assess` can measure, by name (a read-only mapping to :class:`FieldCheck`)."""

DEFAULT_FIELDS: Final[tuple[str, ...]] = (
    "name",
    "phone",
    "email",
    "address",
    "identifier",
    "owner",
    "source",
    "category",
    "registered_name",
    "uscc",
    "industry",
    "contact_name",
    "gender",
    "birth_date",
)
"""The fields :func:`assess` measures unless told otherwise, in report order."""


# ------------------------------------------------------------------------------ report rows


@attrs.frozen(kw_only=True)
class FieldCompleteness:
    """How many of the customers a field applies to have it filled.

    ``applies_to`` is ``None`` for a field of every customer, else the one kind it is counted over.
    """

    field: str
    applies_to: CustomerKind | None
    filled: int
    applicable: int

    @property
    def percentage(self) -> float:
        """``filled`` as a percentage of ``applicable`` (0.0 when nothing applies)."""
        return _percent(self.filled, self.applicable)


@attrs.frozen(kw_only=True)
class RuleValidity:
    """How many records have at least one issue with ``code`` at ``severity``, out of ``total``."""

    code: str
    severity: Severity
    records: int
    total: int

    @property
    def percentage(self) -> float:
        """``records`` as a percentage of ``total`` (0.0 for an empty population)."""
        return _percent(self.records, self.total)


@attrs.frozen(kw_only=True)
class VerificationCount:
    """How many records have verification status ``status``, out of ``total``."""

    status: VerificationStatus
    records: int
    total: int

    @property
    def percentage(self) -> float:
        """``records`` as a percentage of ``total`` (0.0 for an empty population)."""
        return _percent(self.records, self.total)


@attrs.frozen(kw_only=True)
class ConsentCoverage:
    """How many customers may be processed for ``purpose`` at the report's ``as_of``.

    ``total`` is every assessed customer: a customer without a ledger counts as not allowed.
    """

    purpose: str
    allowed: int
    total: int

    @property
    def percentage(self) -> float:
        """``allowed`` as a percentage of ``total`` (0.0 for an empty population)."""
        return _percent(self.allowed, self.total)


_SEVERITY_ORDER: Final = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@attrs.frozen(kw_only=True)
class QualityReport:
    """The outcome of :func:`assess`: counts, with percentages as properties.

    Percentages are floats in [0, 100] rounded to two decimals, 0.0 when their denominator is 0.
    ``duplicates`` is ``None`` when no duplicate ids were given and ``consent_ledgers`` is ``None``
    (and ``consent`` empty) when no ledgers were given: those measures were not computed.
    """

    as_of: datetime
    stale_after: timedelta
    total: int
    completeness: tuple[FieldCompleteness, ...]
    validity: tuple[RuleValidity, ...]
    valid_records: int
    duplicates: int | None
    stale: int
    verification_counts: tuple[VerificationCount, ...]
    consent: tuple[ConsentCoverage, ...]
    consent_ledgers: int | None

    @property
    def filled(self) -> int:
        """Filled values summed over the measured fields."""
        return sum(f.filled for f in self.completeness)

    @property
    def applicable(self) -> int:
        """Applicable (customer, field) pairs summed over the measured fields."""
        return sum(f.applicable for f in self.completeness)

    @property
    def overall_completeness(self) -> float:
        """:attr:`filled` as a percentage of :attr:`applicable`."""
        return _percent(self.filled, self.applicable)

    @property
    def valid_percentage(self) -> float:
        """Records without an error, as a percentage of all records."""
        return _percent(self.valid_records, self.total)

    @property
    def duplicate_percentage(self) -> float | None:
        """Redundant duplicates as a percentage of all records (``None`` if not computed)."""
        return None if self.duplicates is None else _percent(self.duplicates, self.total)

    @property
    def stale_percentage(self) -> float:
        """Stale records as a percentage of all records."""
        return _percent(self.stale, self.total)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary (strings, numbers, lists, dicts and ``None`` only)."""
        duplicates = (
            None
            if self.duplicates is None
            else {"records": self.duplicates, "percentage": self.duplicate_percentage}
        )
        consent = (
            None
            if self.consent_ledgers is None
            else {
                "customers_with_ledger": self.consent_ledgers,
                "purposes": [
                    {"purpose": c.purpose, "allowed": c.allowed, "percentage": c.percentage}
                    for c in self.consent
                ],
            }
        )
        return {
            "as_of": self.as_of.isoformat(),
            "total": self.total,
            "completeness": {
                "overall": self.overall_completeness,
                "filled": self.filled,
                "applicable": self.applicable,
                "fields": [
                    {
                        "field": f.field,
                        "applies_to": None if f.applies_to is None else f.applies_to.value,
                        "filled": f.filled,
                        "applicable": f.applicable,
                        "percentage": f.percentage,
                    }
                    for f in self.completeness
                ],
            },
            "validity": {
                "valid_records": self.valid_records,
                "valid_percentage": self.valid_percentage,
                "issues": [
                    {
                        "code": v.code,
                        "severity": v.severity.value,
                        "records": v.records,
                        "percentage": v.percentage,
                    }
                    for v in self.validity
                ],
            },
            "duplicates": duplicates,
            "staleness": {
                "stale_after_days": self.stale_after / timedelta(days=1),
                "stale": self.stale,
                "percentage": self.stale_percentage,
                "verification": [
                    {"status": v.status.value, "records": v.records, "percentage": v.percentage}
                    for v in self.verification_counts
                ],
            },
            "consent": consent,
        }

    def to_table(self) -> str:
        """A plain-text report: one section per measure, aligned counts and percentages."""
        sections: list[_Section] = []
        total = self.total

        completeness = [_row(_field_label(f), f.filled, f.applicable) for f in self.completeness]
        completeness.append(_row("overall", self.filled, self.applicable))
        sections.append(_Section("COMPLETENESS", "filled", completeness))

        validity = [_row("without errors", self.valid_records, total)]
        validity += [
            _row(f"{v.severity.value:<7} {v.code}", v.records, total) for v in self.validity
        ]
        sections.append(_Section("VALIDITY", "records", validity))

        if self.duplicates is None:
            duplicates = [_note("not computed (no duplicate ids given)")]
        else:
            duplicates = [_row("redundant duplicates", self.duplicates, total)]
        sections.append(_Section("DUPLICATES", "records", duplicates))

        window = _describe(self.stale_after)
        staleness = [_row(f"not verified within {window}", self.stale, total)]
        staleness += [
            _row(f"status {v.status.value}", v.records, total) for v in self.verification_counts
        ]
        sections.append(_Section("STALENESS", "records", staleness))

        if self.consent_ledgers is None:
            consent = [_note("not computed (no ledgers given)")]
        else:
            consent = [_row("customers with a ledger", self.consent_ledgers, total)]
            consent += [_row(f"allowed {c.purpose}", c.allowed, total) for c in self.consent]
        sections.append(_Section("CONSENT", "customers", consent))

        noun = "customer" if total == 1 else "customers"
        title = f"Data quality as of {self.as_of.isoformat()}: {total} {noun}"
        return "\n".join([title, *_render(sections)])


# ------------------------------------------------------------------------------- rendering


@attrs.frozen
class _Section:
    title: str
    count_heading: str
    rows: list[tuple[str, str, str, str]]


def _row(label: str, part: int, whole: int) -> tuple[str, str, str, str]:
    share = f"{100 * part / whole:.1f}%" if whole else "-"
    return (label, str(part), str(whole), share)


def _note(text: str) -> tuple[str, str, str, str]:
    return (text, "", "", "")


def _field_label(f: FieldCompleteness) -> str:
    return f.field if f.applies_to is None else f"{f.field} ({f.applies_to.value}s)"


def _describe(window: timedelta) -> str:
    if window % timedelta(days=1):
        return str(window)
    days = window.days
    return "1 day" if days == 1 else f"{days} days"


def _render(sections: list[_Section]) -> list[str]:
    """Lay the sections out in four aligned columns: label, count, denominator, share."""
    heads = [(s.title, s.count_heading, "of", "share") for s in sections]
    rows = [(f"  {r[0]}", *r[1:]) for s in sections for r in s.rows if r[1]]
    widths = [max(len(cells[i]) for cells in heads + rows) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        label, *numbers = cells
        text = f"{label:<{widths[0]}}" + "".join(
            f"  {n:>{w}}" for n, w in zip(numbers, widths[1:], strict=True)
        )
        return text.rstrip()

    lines: list[str] = []
    for head, section in zip(heads, sections, strict=True):
        lines += ["", line(head)]
        lines += [line((f"  {r[0]}", *r[1:])) if r[1] else f"  {r[0]}" for r in section.rows]
    return lines


# ---------------------------------------------------------------------------------- assess


def _names(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a sequence of names, not a single string")
    names = tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must hold strings, not {type(name).__name__}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must not repeat a name")
    return names


def _field_checks(fields: Sequence[str] | None) -> tuple[FieldCheck, ...]:
    names = DEFAULT_FIELDS if fields is None else _names(fields, "fields")
    unknown = [name for name in names if name not in FIELDS]
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; known fields: {', '.join(FIELDS)}"
        )
    return tuple(FIELDS[name] for name in names)


def _fresh(verified_at: object, as_of: datetime, stale_after: timedelta) -> bool:
    if not isinstance(verified_at, datetime) or verified_at.utcoffset() is None:
        return False
    return timedelta(0) <= as_of - verified_at <= stale_after


def _status(value: object) -> VerificationStatus | None:
    if not isinstance(value, str):
        return None
    try:
        return VerificationStatus(value)
    except ValueError:
        return None


def _subject(customer: Customer) -> SubjectFacts:
    birth = customer.birth_date
    if isinstance(birth, datetime) or not isinstance(birth, date):
        birth = None
    return SubjectFacts(birth_date=birth)


@attrs.frozen(kw_only=True)
class _Settings:
    """The checked arguments of :func:`assess`, shared by the tallies made from one another."""

    as_of: datetime
    stale_after: timedelta
    checks: tuple[FieldCheck, ...]
    ruleset: RuleSet
    ledgers: Callable[[str], ConsentLedger | None] | None
    codes: tuple[str, ...]
    redundant: frozenset[str] | None


class QualityTally:
    """The counters behind :func:`assess`, fed one customer at a time.

    Takes the arguments of :func:`assess` but the customers (checked the same way, with the same
    errors). :meth:`add` counts a customer, :meth:`report` gives the :class:`QualityReport` of
    those added so far. :meth:`empty` starts another tally with the same settings (a breakdown
    keeps one per group) and :meth:`merged` adds tallies up, so the report of a whole is the sum
    of its parts.

    >>> from datetime import UTC
    >>> from custrec.model.records import Contact
    >>> north = QualityTally(as_of=datetime(2025, 1, 1, tzinfo=UTC))
    >>> south = north.empty()
    >>> north.add(Customer(kind=CustomerKind.INDIVIDUAL, name="Li",
    ...                    contacts=[Contact(phones=["+8613800138000"])]))
    >>> south.add(Customer(kind=CustomerKind.ORGANIZATION, name="Acme"))
    >>> north.report().valid_records, south.report().valid_records
    (1, 0)
    >>> north.merged(south).report().total
    2
    """

    __slots__ = (
        "_allowed",
        "_applicable",
        "_duplicates",
        "_filled",
        "_issues",
        "_settings",
        "_stale",
        "_statuses",
        "_total",
        "_valid",
        "_with_ledger",
    )

    def __init__(
        self,
        *,
        as_of: datetime,
        stale_after: timedelta = timedelta(days=365),
        rules: RuleSet | None = None,
        ledgers: Callable[[str], ConsentLedger | None] | None = None,
        purposes: Sequence[str] | None = None,
        duplicate_ids: Collection[str] | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        as_of = require_aware(as_of, "as_of")
        if not isinstance(stale_after, timedelta):
            raise TypeError("stale_after must be a timedelta")
        if stale_after < timedelta(0):
            raise ValueError("stale_after must not be negative")
        checks = _field_checks(fields)
        ruleset = DEFAULT_RULES if rules is None else rules
        if not isinstance(ruleset, RuleSet):
            raise TypeError("rules must be a RuleSet")
        if purposes is not None and ledgers is None:
            raise ValueError("purposes are only used with ledgers")
        codes = tuple(PURPOSES) if purposes is None else _names(purposes, "purposes")
        if isinstance(duplicate_ids, str):
            raise TypeError("duplicate_ids must be a collection of ids, not a single string")
        self._start(
            _Settings(
                as_of=as_of,
                stale_after=stale_after,
                checks=checks,
                ruleset=ruleset,
                ledgers=ledgers,
                codes=codes,
                redundant=None if duplicate_ids is None else frozenset(duplicate_ids),
            )
        )

    def _start(self, settings: _Settings) -> None:
        self._settings = settings
        self._total = self._valid = self._stale = self._duplicates = self._with_ledger = 0
        self._filled = [0] * len(settings.checks)
        self._applicable = [0] * len(settings.checks)
        self._issues: Counter[tuple[str, Severity]] = Counter()
        self._statuses: Counter[VerificationStatus] = Counter()
        self._allowed = [0] * len(settings.codes)

    @property
    def as_of(self) -> datetime:
        """The instant the customers are judged at."""
        return self._settings.as_of

    @property
    def total(self) -> int:
        """How many customers were added."""
        return self._total

    def empty(self) -> QualityTally:
        """A tally with the same settings and nothing counted yet."""
        tally = QualityTally.__new__(QualityTally)
        tally._start(self._settings)
        return tally

    def add(self, customer: Customer) -> None:
        """Count one customer (``TypeError`` for anything else; ``ValueError`` and
        :class:`~custrec.consent.UnknownPurpose` as :func:`assess` for its ledger)."""
        if not isinstance(customer, Customer):
            raise TypeError(f"assess() takes Customer records, not {type(customer).__name__}")
        s = self._settings
        decisions: list[bool] = []
        ledger = None
        if s.ledgers is not None:
            ledger = s.ledgers(customer.id)
            if ledger is not None:
                if not isinstance(ledger, ConsentLedger):
                    raise TypeError("ledgers() must return a ConsentLedger or None")
                if ledger.customer_id != customer.id:
                    raise ValueError("ledgers() returned the ledger of another customer")
                facts = _subject(customer)
                decisions = [
                    ledger.decide(code, as_of=s.as_of, subject=facts).allowed for code in s.codes
                ]
        report = s.ruleset.check(customer, as_of=s.as_of)
        # every check has passed: count
        self._total += 1
        for index, check in enumerate(s.checks):
            if check.applies_to is None or customer.kind == check.applies_to:
                self._applicable[index] += 1
                if check.filled(customer):
                    self._filled[index] += 1
        self._valid += report.ok
        self._issues.update({(i.code, Severity(i.severity)) for i in report.issues})
        if s.redundant is not None and isinstance(customer.id, str) and customer.id in s.redundant:
            self._duplicates += 1
        if not _fresh(customer.last_verified_at, s.as_of, s.stale_after):
            self._stale += 1
        status = _status(customer.verification)
        if status is not None:
            self._statuses[status] += 1
        if ledger is not None:
            self._with_ledger += 1
            for index, allowed in enumerate(decisions):
                self._allowed[index] += allowed

    def merged(self, *others: QualityTally) -> QualityTally:
        """A new tally counting what this one and ``others`` counted; ``ValueError`` unless
        they share its settings (made by :meth:`empty` from one another)."""
        tally = self.empty()
        for part in (self, *others):
            if not isinstance(part, QualityTally):
                raise TypeError("merged() takes QualityTally objects")
            if part._settings is not self._settings:
                raise ValueError("only tallies made by empty() from one another can be merged")
            tally._total += part._total
            tally._valid += part._valid
            tally._stale += part._stale
            tally._duplicates += part._duplicates
            tally._with_ledger += part._with_ledger
            tally._filled = [a + b for a, b in zip(tally._filled, part._filled, strict=True)]
            tally._applicable = [
                a + b for a, b in zip(tally._applicable, part._applicable, strict=True)
            ]
            tally._allowed = [a + b for a, b in zip(tally._allowed, part._allowed, strict=True)]
            tally._issues.update(part._issues)
            tally._statuses.update(part._statuses)
        return tally

    def report(self) -> QualityReport:
        """The report of the customers added so far."""
        s, total = self._settings, self._total
        validity = sorted(
            (
                RuleValidity(code=code, severity=severity, records=n, total=total)
                for (code, severity), n in self._issues.items()
            ),
            key=lambda v: (
                _SEVERITY_ORDER.get(v.severity, len(_SEVERITY_ORDER)),
                -v.records,
                v.code,
            ),
        )
        return QualityReport(
            as_of=s.as_of,
            stale_after=s.stale_after,
            total=total,
            completeness=tuple(
                FieldCompleteness(
                    field=check.name,
                    applies_to=check.applies_to,
                    filled=self._filled[index],
                    applicable=self._applicable[index],
                )
                for index, check in enumerate(s.checks)
            ),
            validity=tuple(validity),
            valid_records=self._valid,
            duplicates=None if s.redundant is None else self._duplicates,
            stale=self._stale,
            verification_counts=tuple(
                VerificationCount(status=status, records=self._statuses[status], total=total)
                for status in VerificationStatus
            ),
            consent=()
            if s.ledgers is None
            else tuple(
                ConsentCoverage(purpose=code, allowed=self._allowed[index], total=total)
                for index, code in enumerate(s.codes)
            ),
            consent_ledgers=None if s.ledgers is None else self._with_ledger,
        )

    def __repr__(self) -> str:
        return f"QualityTally(as_of={self._settings.as_of.isoformat()}, total={self._total})"


def assess(
    customers: Iterable[Customer],
    *,
    as_of: datetime,
    stale_after: timedelta = timedelta(days=365),
    rules: RuleSet | None = None,
    ledgers: Callable[[str], ConsentLedger | None] | None = None,
    purposes: Sequence[str] | None = None,
    duplicate_ids: Collection[str] | None = None,
    fields: Sequence[str] | None = None,
) -> QualityReport:
    """Measure the data quality of ``customers`` at ``as_of``.

    Iterates ``customers`` once and keeps only counters, so any iterable (a generator over storage
    batches) works at any size.

    - ``fields``: names from :data:`FIELDS` to measure for completeness (default
      :data:`DEFAULT_FIELDS`), in report order.
    - ``rules``: the rule set each record is validated with at ``as_of`` (default
      :data:`~custrec.validation.DEFAULT_RULES`).
    - ``duplicate_ids``: the ids of records judged *redundant* duplicates: every member of a
      duplicate cluster except the one kept (the survivor). Ids not in the population are ignored.
      Without it, ``duplicates`` is ``None``.
    - ``stale_after``: a record is fresh when ``last_verified_at`` lies in
      ``[as_of - stale_after, as_of]``; otherwise (never verified, naive, or in the future) stale.
    - ``ledgers``: ``ledgers(customer_id)`` returns that customer's consent ledger or ``None``
      (then every purpose counts as not allowed). Each ledger decides each of ``purposes``
      (default: every code of :data:`~custrec.consent.PURPOSES`) at ``as_of`` under consent
      (no other lawful basis asserted), with the customer's birth date as subject facts (PIPL).

    Raises ``ValueError`` for a naive ``as_of``, a negative ``stale_after``, an unknown or repeated
    field, ``purposes`` without ``ledgers``, or a ledger of another customer; ``TypeError`` for
    wrongly typed arguments or an item that is not a :class:`~custrec.model.records.Customer`;
    :class:`~custrec.consent.UnknownPurpose` for a purpose a ledger's catalogue does not know.
    """
    tally = QualityTally(
        as_of=as_of,
        stale_after=stale_after,
        rules=rules,
        ledgers=ledgers,
        purposes=purposes,
        duplicate_ids=duplicate_ids,
        fields=fields,
    )
    for customer in customers:
        tally.add(customer)
    return tally.report()
