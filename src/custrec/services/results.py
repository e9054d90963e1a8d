"""The value objects the services return (frozen, keyword-only attrs classes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from custrec.matching import FieldChoice, StrongKey
from custrec.model.issues import ValidationReport
from custrec.model.records import Customer

__all__ = [
    "BulkResult",
    "ErasureAction",
    "ErasureReceipt",
    "GradeMove",
    "HistoryEntry",
    "IdentifyResult",
    "JournalEntry",
    "MergeResult",
    "RegradeReport",
    "RetentionReport",
    "RotationReport",
    "SubjectExport",
]


@attrs.frozen(kw_only=True)
class HistoryEntry:
    """One entry of a customer's change history, as :meth:`CustomerService.history` gives it.

    ``action`` is ``create`` (``path`` empty, ``new`` the whole record), ``update`` (one entry
    per changed field path), ``grade`` or ``erase``. ``old`` and ``new`` are JSON-safe values
    and may be personal data: they are hidden from ``repr()`` and masked (``"***"``) for actors
    who may not unmask.
    """

    customer_id: str
    seq: int
    at: datetime
    actor_id: str
    action: str
    path: str
    reason: str | None
    old: Any = attrs.field(repr=False)
    new: Any = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class BulkResult:
    """What :meth:`CustomerService.intake_many` did.

    ``added`` lists the new ids; ``skipped`` the ids that already existed (an earlier, interrupted
    run); ``rejected`` maps the input position of each invalid item to its report;
    ``duplicates`` maps the input position of each refused duplicate to the ids it collides
    with; ``denied`` maps the position of each item the actor may not create to the reason.
    """

    added: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    rejected: Mapping[int, ValidationReport] = attrs.field(factory=dict)
    duplicates: Mapping[int, tuple[str, ...]] = attrs.field(factory=dict)
    denied: Mapping[int, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ErasureAction:
    """One thing an erasure did: ``target`` (a field path or a table) and ``action``."""

    target: str
    action: str


@attrs.frozen(kw_only=True)
class ErasureReceipt:
    """Proof of an erasure, free of personal data: who, when, why, and what was destroyed."""

    customer_id: str
    erased_at: datetime
    actor_id: str
    reason: str
    actions: tuple[ErasureAction, ...]


@attrs.frozen(kw_only=True)
class MergeResult:
    """What :meth:`MatchingService.merge` did: the merged survivor (masked unless the actor may
    unmask), the ids now aliases of it, where each field's value came from, and what was moved."""

    customer: Customer
    merged_ids: tuple[str, ...]
    choices: tuple[FieldChoice, ...]
    activities_moved: int
    consent_events_copied: int


MoveDirection = Literal["up", "down", "new", "removed", "changed"]
"""How a grade moved: ``up``/``down`` along the policy's ranking (best first), ``new`` (no
grade before), ``removed`` (no grade after), ``changed`` (labels without a known order)."""


@attrs.frozen(kw_only=True)
class GradeMove:
    """One customer whose grade changed in a regrade: the labels before and after (``None``:
    no grade), the direction, and why (the policy's reasons, or the consent refusal; personal:
    left out of ``repr()``)."""

    customer_id: str
    before: str | None
    after: str | None
    direction: MoveDirection
    explanation: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class RegradeReport:
    """What :meth:`GradingService.regrade` did.

    ``graded`` customers were looked at (``changed`` + ``unchanged``); ``dimension`` is the
    named dimension graded (``None``: the primary grade). ``moves`` lists every customer whose
    grade changed, by customer id; ``upgrades`` and ``downgrades`` count the ``up`` and ``down``
    moves. ``counts`` is how many customers hold each label after the regrade, among those
    graded by it (best first when the ranking is known, else by label); ``transitions`` counts
    every (before, after) pair, stays included, ``None`` for no grade (a customer without a
    grade before or after is left out).
    """

    policy_id: str
    as_of: datetime
    graded: int
    changed: int
    unchanged: int
    skipped_mixed_currencies: tuple[str, ...] = ()
    skipped_by_consent: tuple[str, ...] = ()
    dimension: str | None = None
    moves: tuple[GradeMove, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()
    upgrades: int = 0
    downgrades: int = 0
    transitions: tuple[tuple[str | None, str | None, int], ...] = ()


@attrs.frozen(kw_only=True)
class RetentionReport:
    """What :meth:`RetentionService.apply` did with each action of a plan, by action key.

    ``applied``: carried out now. ``already_applied``: carried out before (nothing done).
    ``not_due``: due after the registry's clock now (a preview plan); left untouched.
    ``superseded``: no longer in the plan the schedule gives now for the customer (its facts
    changed, a legal hold or floor applies, another action took precedence, or the customer was
    erased, merged or removed); left untouched. Re-plan to see what is due instead.
    """

    applied: tuple[str, ...] = ()
    already_applied: tuple[str, ...] = ()
    not_due: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RotationReport:
    """What :meth:`KeyService.rotate_master` did: keys re-wrapped and keys already current."""

    rewrapped: int
    unchanged: int
    master_key_id: str


@attrs.frozen(kw_only=True)
class IdentifyResult:
    """What :meth:`CustomerService.identify` found: for each strong key looked up that some
    customer the actor may read holds, their ids (sorted); and which of the ids asked about
    exist (among those the actor may read)."""

    holders: Mapping[StrongKey, tuple[str, ...]] = attrs.field(factory=dict)
    existing: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One erasure in the erasure journal: whose, when, and the reason given (no personal
    data)."""

    customer_id: str
    erased_at: datetime
    reason: str | None = None


@attrs.frozen(kw_only=True)
class SubjectExport:
    """Everything held about a customer (PIPL Art. 45, GDPR Art. 15), as
    :meth:`PrivacyService.export_subject` gives it; :meth:`to_dict` is the schema-versioned,
    JSON-safe document. ``record`` and the other parts are JSON-safe values and may be personal
    data: they are left out of ``repr()``."""

    schema_version: int
    exported_at: datetime
    masked: bool
    customer_id: str
    record: Mapping[str, Any] = attrs.field(repr=False)
    personal_fields: tuple[Mapping[str, str], ...] = attrs.field(repr=False)
    sources: Mapping[str, Any] = attrs.field(repr=False)
    consent: Mapping[str, Any] = attrs.field(repr=False)
    activities: tuple[Mapping[str, Any], ...] = attrs.field(repr=False)
    history: tuple[Mapping[str, Any], ...] = attrs.field(repr=False)
    retention: str | None = attrs.field(repr=False, default=None)
    work: tuple[Mapping[str, Any], ...] = attrs.field(repr=False, default=())
    disclosures: tuple[Mapping[str, Any], ...] = attrs.field(repr=False, default=())
    """The disclosures to third parties that sent this customer's data (recipient, purpose,
    basis, fields, instant), oldest first."""
    compliance: tuple[Mapping[str, Any], ...] = attrs.field(repr=False, default=())
    """What other compliance records say about this customer: incidents that affected them
    and the notices sent, sampling-audit checks of their record with the checker's notes
    (``kind``, ``document_id``, ``state`` and the entry's ``data``)."""

    def to_dict(self) -> dict[str, Any]:
        """The export as one JSON-safe document (``exported_at`` in ISO 8601)."""
        return {
            "schema_version": self.schema_version,
            "exported_at": self.exported_at.isoformat(),
            "masked": self.masked,
            "customer_id": self.customer_id,
            "record": dict(self.record),
            "personal_fields": [dict(f) for f in self.personal_fields],
            "sources": dict(self.sources),
            "consent": dict(self.consent),
            "activities": [dict(a) for a in self.activities],
            "history": [dict(h) for h in self.history],
            "retention": self.retention,
            "work": [dict(w) for w in self.work],
            "disclosures": [dict(d) for d in self.disclosures],
            "compliance": [dict(c) for c in self.compliance],
        }


# ------------------------------------------------------------------ reports (registry.reports)
# Imported here, beside the report results, so that this block stays apart from the rest.
from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

__all__ += ["GroupCounts", "PeriodCount", "PeriodRate"]

GroupValue = str | int | Decimal | date | bool | None
"""A group's value in :class:`GroupCounts`: text (names, labels, codes), or a custom field's
value as its type holds it (``int``, ``Decimal``, ``date``, ``bool``); ``None`` for customers
without a value."""


def _json_value(value: GroupValue) -> str | int | bool | None:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@attrs.frozen(kw_only=True)
class GroupCounts:
    """Customers counted per group, as :meth:`ReportService.counts` gives them.

    ``by`` names the groupings (one or two); ``rows`` holds ``(values, count)`` pairs, one
    value per grouping, sorted by the values (the order of the stored values: text in
    code-point order, numbers and dates by value, ``False`` before ``True``), ``None`` (no
    value) last; groups of no customer are left out. ``total`` counts the matching customers
    once each: a customer with several values of a grouping (cities, interests, tags,
    multi-choice fields) counts in each of its groups, so the counts can add up to more.
    """

    by: tuple[str, ...]
    rows: tuple[tuple[tuple[GroupValue, ...], int], ...]
    total: int

    def as_rows(self) -> list[dict[str, Any]]:
        """The rows as JSON-safe dictionaries, one key per grouping and ``"count"``
        (``[{"city": "杭州市", "count": 12}, ...]``); decimals are written as text (exact)
        and dates in ISO 8601."""
        return [
            {**{n: _json_value(v) for n, v in zip(self.by, values, strict=True)}, "count": count}
            for values, count in self.rows
        ]


@attrs.frozen(kw_only=True)
class PeriodCount:
    """How many customers fall in one period ``[start, end)`` (aware datetimes in the report's
    time zone), as :meth:`ReportService.new_customers` gives it."""

    start: datetime
    end: datetime
    count: int


@attrs.frozen(kw_only=True)
class PeriodRate:
    """The repurchase rate of one period ``[start, end)``, as
    :meth:`ReportService.repurchase` gives it: ``buyers`` made at least one purchase in the
    period, ``repeat_buyers`` at least two, and ``rate`` is ``repeat_buyers / buyers`` rounded
    half up to four decimal places (``Decimal("0.3333")``), ``None`` without buyers."""

    start: datetime
    end: datetime
    buyers: int
    repeat_buyers: int
    rate: Decimal | None
