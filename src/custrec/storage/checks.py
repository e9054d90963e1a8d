"""The protocol's argument rules, checked once for every backend.

Each shipped backend calls these before it writes or queries anything, so that all of them refuse
the same arguments with the same exception types; a third-party backend may use them too (it
need not: the conformance kit checks the rules, not how they are kept).

- Text (ids, index keys, facets, tags, names, filter values) is ``str`` without NUL characters
  (``ValueError``).
- Instants are timezone-aware datetimes representable in UTC (``ValueError``); they are returned
  converted to UTC.
- Amounts are ``Decimal`` (or whole ``int``, returned as ``Decimal``), finite, with at most four
  decimal places and magnitude below ``AMOUNT_LIMIT`` (about 9.2e14) (``ValueError``; another type
  is a ``TypeError``). A sum beyond that range is a ``StorageError`` (:func:`check_total`).
- A ``limit`` is a positive integer (``ValueError``); any larger than ``INT64_MAX`` means "no
  limit" (:func:`bounded`).
- Sequence numbers and versions given as arguments are integers (``ValueError``); values beyond 64
  bits are legal and simply match nothing that is stored (:func:`seq_window`, :func:`version`).
- Work rows (:func:`check_work`) and change events (:func:`check_change`) follow the same rules;
  their ``kind`` and a work row's ``status`` are non-empty, flags are ``bool`` (``TypeError``).
- Groupings and periods: :func:`check_group_by`, :func:`check_edges` (at most ``MAX_EDGES``) and
  :func:`check_period_field`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, TypeVar

import attrs

from custrec.errors import StorageError
from custrec.model.issues import Issue
from custrec.storage.types import (
    ACTIVITY_KINDS,
    PERIOD_FIELDS,
    ROW_STATES,
    WORK_KINDS,
    ActivityRow,
    AuditRecord,
    ChangeEvent,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    DocumentLink,
    DocumentRow,
    FacetCondition,
    HistoryRecord,
    Reach,
    WorkFilter,
    WorkRow,
    WrappedKey,
)

__all__ = [
    "AMOUNT_LIMIT",
    "AMOUNT_PLACES",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_EDGES",
    "amount_issues",
    "bounded",
    "check_activity",
    "check_amount",
    "check_audit",
    "check_change",
    "check_consent",
    "check_customer",
    "check_decimal_cursor",
    "check_document",
    "check_due_after",
    "check_edges",
    "check_filter",
    "check_group_by",
    "check_history",
    "check_instant",
    "check_key",
    "check_kind",
    "check_limit",
    "check_link",
    "check_optional_text",
    "check_period_field",
    "check_seq",
    "check_text",
    "check_texts",
    "check_total",
    "check_work",
    "check_work_filter",
    "seq_window",
    "text_items",
    "version",
]

INT64_MAX: Final = 2**63 - 1
"""The largest signed 64-bit integer: what SQL databases bind as ``LIMIT`` or a sequence number."""

INT64_MIN: Final = -(2**63)

AMOUNT_PLACES: Final = 4
"""Amounts have at most this many decimal places."""

AMOUNT_LIMIT: Final = Decimal(2**63).scaleb(-AMOUNT_PLACES)
"""Amounts and sums are smaller than this in magnitude: a signed 64-bit count of 1/10000 units."""

MAX_EDGES: Final = 10_000
"""The most period edges ``count_by_period`` and ``buyers_by_period`` take."""


def check_text(value: object, name: str) -> str:
    """Return ``value``: text without NUL characters (``ValueError``; not text: ``TypeError``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value


def check_optional_text(value: object, name: str) -> str | None:
    """As :func:`check_text`, but ``None`` passes."""
    return None if value is None else check_text(value, name)


_I = TypeVar("_I", bound=Iterable[object])


def text_items(values: _I, name: str) -> _I:
    """``values`` as given, unless it is a single text: a ``str`` (or ``bytes``) iterates as
    its characters, so ``get_many("c-1")`` would look up ``"c"``, ``"-"`` and ``"1"``;
    ``TypeError`` instead. Whatever else it holds is checked by the caller."""
    if isinstance(values, str | bytes | bytearray | memoryview):
        what = type(values).__name__
        raise TypeError(f"{name}s must be a collection of texts, not a single {what}")
    return values


def check_texts(values: Iterable[object], name: str) -> None:
    """Check every element of ``values`` with :func:`check_text`."""
    if type(values) in _COLLECTIONS:  # read twice if need be: not an iterator
        try:
            joined = "".join(values)  # type: ignore[arg-type]  # TypeError: an item is no text
        except TypeError:
            joined = "\x00"
        if "\x00" not in joined:
            return  # every item is text, and none holds a NUL
    for value in values:
        check_text(value, name)


_COLLECTIONS: Final = frozenset({frozenset, set, tuple, list})


def check_instant(value: object, name: str) -> datetime:
    """Return ``value`` in UTC: an aware datetime representable in UTC (``ValueError``)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (naive datetimes are refused)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{name} is out of the representable range in UTC") from exc


def check_limit(limit: object) -> int:
    """Return ``limit``: a positive integer (``ValueError`` otherwise)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def bounded(limit: int) -> int:
    """A checked limit as SQL binds it: one beyond ``INT64_MAX`` means "no limit" anyway."""
    return min(check_limit(limit), INT64_MAX)


def check_seq(value: object, name: str) -> int:
    """Return a sequence-number bound: any integer (``ValueError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def seq_window(after_seq: int, before_seq: int | None = None) -> tuple[int, int | None]:
    """Checked ``after_seq`` and ``before_seq`` as 64-bit SQL binds them, meaning the same.

    Stored sequence numbers are between 1 and ``INT64_MAX``: an ``after_seq`` beyond it keeps
    nothing (clamped to ``INT64_MAX``), one below ``INT64_MIN`` keeps everything; a
    ``before_seq`` beyond it is no bound (``None``), one below ``INT64_MIN`` keeps nothing.
    """
    after = min(max(check_seq(after_seq, "after_seq"), INT64_MIN), INT64_MAX)
    if before_seq is None:
        return after, None
    before = check_seq(before_seq, "before_seq")
    return after, (None if before > INT64_MAX else max(before, INT64_MIN))


def version(expected_version: object) -> int:
    """A checked ``expected_version`` as SQL binds it: beyond 64 bits it becomes 0, which no
    stored version (1 and up) equals, so the compare-and-set fails as it must."""
    value = check_seq(expected_version, "expected_version")
    return value if INT64_MIN <= value <= INT64_MAX else 0


def check_kind(kind: object) -> str:
    """Return an activity kind, one of ``ACTIVITY_KINDS`` (``ValueError`` otherwise)."""
    if kind not in ACTIVITY_KINDS:
        raise ValueError(f"activity kind must be one of {', '.join(ACTIVITY_KINDS)}, got {kind!r}")
    assert isinstance(kind, str)
    return kind


def check_amount(value: object, name: str = "amount") -> Decimal | None:
    """Return an amount as ``Decimal`` (``None`` passes): see the module docstring."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    amount = Decimal(value)
    _sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{name} must be a finite number")
    extra = -AMOUNT_PLACES - exponent
    if extra > 0 and any(digits[-extra:]):
        raise ValueError(f"{name} has more than {AMOUNT_PLACES} decimal places")
    if abs(amount) >= AMOUNT_LIMIT:
        raise ValueError(f"{name} is too large to store (at most about 9.2e14 in magnitude)")
    return amount


def amount_issues(amount: Decimal) -> list[Issue]:
    """The validation issues (``amount.precision``, ``amount.range``) of an activity's amount
    the store cannot hold: more than :data:`AMOUNT_PLACES` decimal places, or a magnitude of
    :data:`AMOUNT_LIMIT` or more."""
    issues: list[Issue] = []
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_PLACES:
        message = f"amounts may have at most {AMOUNT_PLACES} decimal places"
        issues.append(Issue(path="amount.amount", code="amount.precision", message=message))
    if amount.is_finite() and abs(amount) >= AMOUNT_LIMIT:
        message = f"amounts must be smaller than {AMOUNT_LIMIT:,} in magnitude"
        issues.append(Issue(path="amount.amount", code="amount.range", message=message))
    return issues


def check_total(total: Decimal, customer_id: str, currency: str) -> Decimal:
    """Return a sum of amounts, or raise ``StorageError`` when it is beyond the amounts' range."""
    if abs(total) >= AMOUNT_LIMIT:
        raise StorageError(
            f"activities.summaries: the total of customer {customer_id} in {currency} "
            "exceeds the supported range of amounts"
        )
    return total


def _plain(
    instants: tuple[object, ...],
    texts: tuple[object, ...],
    optional: tuple[object, ...] = (),
    groups: tuple[object, ...] = (),
) -> bool:
    """Whether the checks of an entry would all pass at once: every one of ``instants`` an
    exact datetime in UTC, every one of ``texts`` (and of ``optional`` but ``None``) text, and
    every one of ``groups`` a collection of texts, none with a NUL. ``False`` says nothing:
    the entry is then checked field by field, which reports."""
    for instant in instants:
        if type(instant) is not datetime or instant.tzinfo is not UTC:
            return False
    try:
        joined = "".join(texts)  # type: ignore[arg-type]  # TypeError: an item is no text
        if optional:
            joined += "".join([text for text in optional if text is not None])  # type: ignore[misc]
        for group in groups:
            if type(group) not in _COLLECTIONS:
                return False
            joined += "".join(group)  # type: ignore[arg-type]
    except TypeError:
        return False
    return "\x00" not in joined


def check_customer(row: CustomerRow) -> None:
    """Check a customer row's instants and text."""
    if _plain(
        (row.created_at, row.updated_at),
        (row.id, row.kind, row.stage),
        (row.owner, row.team, row.grade),
        (row.index_keys, row.tags, row.facets),
    ):
        return
    check_instant(row.created_at, "created_at")
    check_instant(row.updated_at, "updated_at")
    check_text(row.id, "id")
    check_texts(row.index_keys, "index key")
    check_texts(row.tags, "tag")
    check_texts(row.facets, "facet")
    check_text(row.kind, "kind")
    check_text(row.stage, "stage")
    for name in ("owner", "team", "grade"):
        check_optional_text(getattr(row, name), name)


def check_activity(row: ActivityRow) -> ActivityRow | None:
    """Check an activity; return ``row`` with an ``int`` amount made ``Decimal``, or ``None``
    when it needs no change."""
    check_kind(row.kind)
    check_instant(row.occurred_at, "occurred_at")
    check_text(row.id, "id")
    check_text(row.customer_id, "customer_id")
    check_optional_text(row.currency, "currency")
    amount = check_amount(row.amount)
    if row.kind == "transaction" and (amount is None or not row.currency):
        raise ValueError("a transaction needs an amount and a currency")
    if amount is not None and type(row.amount) is not Decimal:
        return ActivityRow(
            id=row.id,
            customer_id=row.customer_id,
            kind=row.kind,
            occurred_at=row.occurred_at,
            amount=amount,
            currency=row.currency,
            payload=row.payload,
        )
    return None


def check_consent(record: ConsentRecord) -> None:
    """Check a consent event's instant and text."""
    check_instant(record.recorded_at, "recorded_at")
    check_text(record.customer_id, "customer_id")
    check_text(record.purpose, "purpose")
    check_text(record.action, "action")


def check_history(record: HistoryRecord) -> None:
    """Check a history entry's instant and text."""
    if _plain(
        (record.at,),
        (record.customer_id, record.actor_id, record.action, record.path),
        (record.reason,),
    ):
        return
    check_instant(record.at, "at")
    for name in ("customer_id", "actor_id", "action", "path"):
        check_text(getattr(record, name), name)
    check_optional_text(record.reason, "reason")


def check_audit(record: AuditRecord) -> None:
    """Check an audit entry's instant and text."""
    if _plain(
        (record.at,),
        (record.actor_id, record.action, record.outcome),
        (record.customer_id, record.reason, record.on_behalf_of),
        (record.fields,),
    ):
        return
    check_instant(record.at, "at")
    for name in ("actor_id", "action", "outcome"):
        check_text(getattr(record, name), name)
    for name in ("customer_id", "reason", "on_behalf_of"):
        check_optional_text(getattr(record, name), name)
    check_texts(record.fields, "field")


def check_key(key: WrappedKey) -> None:
    """Check a wrapped key's instant and text."""
    check_instant(key.created_at, "created_at")
    check_text(key.customer_id, "customer_id")
    check_text(key.master_key_id, "master_key_id")


def check_filter(where: CustomerFilter | None, after: str | None = None) -> None:
    """Check a customer filter's instants and text, and a page's ``after`` id.

    ``states`` holds states of ``ROW_STATES`` (``ValueError``); ``facets`` are
    :class:`FacetCondition` s and ``reach`` a :class:`Reach` (``TypeError`` otherwise).
    """
    check_optional_text(after, "after")
    if where is None:
        return
    for name in ("kind", "stage", "state", "owner", "team", "grade", "tag"):
        check_optional_text(getattr(where, name), name)
    for name in ("updated_after", "updated_before", "created_after", "created_before"):
        value = getattr(where, name)
        if value is not None:
            check_instant(value, name)
    if where.states is not None:
        for state in where.states:
            if check_text(state, "states") not in ROW_STATES:
                raise ValueError(f"states must be among {', '.join(ROW_STATES)}")
    for condition in where.facets:
        if not isinstance(condition, FacetCondition):
            raise TypeError(f"facets must be FacetConditions, not {type(condition).__name__}")
        check_texts(condition.any_of, "facets.any_of")
        check_optional_text(condition.at_least, "facets.at_least")
        check_optional_text(condition.below, "facets.below")
    if where.reach is not None:
        if not isinstance(where.reach, Reach):
            raise TypeError(f"reach must be a Reach, not {type(where.reach).__name__}")
        check_optional_text(where.reach.owner, "reach.owner")
        check_optional_text(where.reach.team, "reach.team")


def check_group_by(by: object) -> tuple[str, ...]:
    """Return ``group_count``'s ``by`` as a tuple: one or two distinct names, each non-empty
    text without ``=`` or NUL (``ValueError``; not a sequence of text, or a bare ``str``:
    ``TypeError``)."""
    if isinstance(by, str) or not isinstance(by, Sequence):
        raise TypeError(f"by must be a sequence of names, not {type(by).__name__}")
    names = tuple(check_text(name, "by") for name in by)
    if not 1 <= len(names) <= 2:
        raise ValueError(f"by names one or two groupings, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError("by must not name a grouping twice")
    if any(not name or "=" in name for name in names):
        raise ValueError("a grouping name is non-empty and holds no '='")
    return names


def check_edges(edges: object) -> tuple[datetime, ...]:
    """Return period edges in UTC: 2 to ``MAX_EDGES`` strictly increasing aware instants
    (``ValueError``; not a sequence of datetimes: ``TypeError``)."""
    if isinstance(edges, str) or not isinstance(edges, Sequence):
        raise TypeError(f"edges must be a sequence of datetimes, not {type(edges).__name__}")
    if not 2 <= len(edges) <= MAX_EDGES:
        raise ValueError(f"edges must hold 2 to {MAX_EDGES} instants, got {len(edges)}")
    instants = tuple(check_instant(edge, "edges") for edge in edges)
    if any(a >= b for a, b in itertools.pairwise(instants)):
        raise ValueError("edges must be strictly increasing")
    return instants


def check_period_field(field: object) -> str:
    """Return ``count_by_period``'s ``field``, one of ``PERIOD_FIELDS`` (``ValueError``)."""
    if field not in PERIOD_FIELDS:
        raise ValueError(f"field must be one of {', '.join(PERIOD_FIELDS)}, got {field!r:.40}")
    assert isinstance(field, str)
    return field


def _check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _check_name(value: object, name: str) -> str:
    if not check_text(value, name):
        raise ValueError(f"{name} must not be empty")
    assert isinstance(value, str)
    return value


def check_work(row: WorkRow) -> WorkRow:
    """Check a work row's instants, text and flags; return it with its instants in UTC (the
    same object when they already are).

    ``kind`` is one of ``WORK_KINDS`` and ``status`` non-empty (``ValueError``).
    """
    if row.kind not in WORK_KINDS:
        raise ValueError(f"work kind must be one of {', '.join(WORK_KINDS)}, got {row.kind!r}")
    created_at = check_instant(row.created_at, "created_at")
    updated_at = check_instant(row.updated_at, "updated_at")
    due_at = None if row.due_at is None else check_instant(row.due_at, "due_at")
    check_text(row.id, "id")
    check_text(row.customer_id, "customer_id")
    _check_name(row.status, "status")
    check_optional_text(row.assignee, "assignee")
    check_optional_text(row.team, "team")
    _check_flag(row.open, "open")
    _check_flag(row.breached, "breached")
    if created_at is row.created_at and updated_at is row.updated_at and due_at is row.due_at:
        return row
    return attrs.evolve(row, created_at=created_at, updated_at=updated_at, due_at=due_at)


def check_document(row: DocumentRow) -> DocumentRow:
    """Check a document row's text and instants (``kind`` and ``id`` non-empty); return it with
    its instants in UTC (the same object when they already are)."""
    _check_name(row.kind, "kind")
    _check_name(row.id, "id")
    check_optional_text(row.tag, "tag")
    _check_payload(row.payload)
    created_at = check_instant(row.created_at, "created_at")
    updated_at = check_instant(row.updated_at, "updated_at")
    if created_at is row.created_at and updated_at is row.updated_at:
        return row
    return attrs.evolve(row, created_at=created_at, updated_at=updated_at)


def check_link(link: DocumentLink) -> DocumentLink:
    """Check a document link's text and instant (``kind``, ``document_id`` and
    ``customer_id`` non-empty); return it with ``updated_at`` in UTC."""
    _check_name(link.kind, "kind")
    _check_name(link.document_id, "document_id")
    _check_name(link.customer_id, "customer_id")
    check_optional_text(link.state, "state")
    _check_payload(link.payload)
    updated_at = check_instant(link.updated_at, "updated_at")
    return link if updated_at is link.updated_at else attrs.evolve(link, updated_at=updated_at)


def _check_payload(payload: object) -> None:
    if not isinstance(payload, bytes):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")


def check_work_filter(where: WorkFilter | None, after: str | None = None) -> None:
    """Check a work filter's text and flags, and a page's ``after`` id."""
    check_optional_text(after, "after")
    if where is None:
        return
    for name in ("kind", "status", "customer_id", "assignee", "team"):
        check_optional_text(getattr(where, name), name)
    for name in ("open", "breached"):
        value = getattr(where, name)
        if value is not None:
            _check_flag(value, name)


def check_due_after(after: object) -> tuple[datetime, str] | None:
    """Return a ``due`` page's ``after``: ``None`` or a ``(due_at, id)`` pair, its instant in
    UTC (``ValueError`` for another shape, a naive instant or a NUL in the id)."""
    if after is None:
        return None
    if not isinstance(after, tuple) or len(after) != 2:
        raise ValueError("after must be a (due_at, id) pair")
    due_at, work_id = after
    return check_instant(due_at, "after[0]"), check_text(work_id, "after[1]")


def check_change(event: ChangeEvent) -> ChangeEvent:
    """Check a change event's instant and text (``kind`` non-empty); return it with ``at`` in
    UTC (the same object when it already is)."""
    if (
        type(event.kind) is str
        and event.kind
        and _plain(
            (event.at,),
            (event.kind, event.actor_id),
            (event.customer_id, event.record_id),
            (event.fields,),
        )
    ):
        return event  # its instant is in UTC already
    at = check_instant(event.at, "at")
    _check_name(event.kind, "kind")
    check_text(event.actor_id, "actor_id")
    check_optional_text(event.customer_id, "customer_id")
    check_optional_text(event.record_id, "record_id")
    check_texts(event.fields, "field")
    return event if at is event.at else attrs.evolve(event, at=at)


_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,18}")


def check_decimal_cursor(cursor: object) -> int:
    """Return the position a change-feed cursor of decimal text names (``None``: 0).

    Only the text such a backend makes is accepted: ASCII digits without a sign, spaces or
    leading zeros, at most ``INT64_MAX`` (``ValueError`` otherwise, whatever the type).
    """
    if cursor is None:
        return 0
    if not isinstance(cursor, str) or not _DECIMAL.fullmatch(cursor):
        raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
    position = int(cursor)
    if position > INT64_MAX:
        raise ValueError(f"not a change-feed cursor of this store: {cursor!r:.40}")
    return position
