"""Row mapping: stored rows (tuples in a fixed column order) to the storage value types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from custrec.backends._sql.dialect import Dialect
from custrec.grading import ActivitySummary
from custrec.storage import (
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
)
from custrec.storage.checks import check_total

__all__ = [
    "ACTIVITY_COLUMNS",
    "AUDIT_COLUMNS",
    "CONSENT_COLUMNS",
    "HISTORY_COLUMNS",
    "KEY_COLUMNS",
    "activity_row",
    "audit_record",
    "consent_record",
    "customer_row",
    "history_record",
    "summary",
    "wrapped_key",
]

ACTIVITY_COLUMNS: Final = "id, customer_id, kind, occurred_at, amount, currency, payload"
CONSENT_COLUMNS: Final = "customer_id, seq, recorded_at, purpose, action, payload"
HISTORY_COLUMNS: Final = "customer_id, seq, at, actor_id, action, path, reason, payload"
AUDIT_COLUMNS: Final = (
    "seq, at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of"
)
KEY_COLUMNS: Final = "customer_id, master_key_id, wrapped, created_at"


def customer_row(
    r: Sequence[Any],
    index_keys: Iterable[str],
    tags: Iterable[str],
    facets: Iterable[str],
    d: Dialect,
) -> CustomerRow:
    """A customer from ``id, version, payload, kind, stage, owner, team, grade, created_at,
    updated_at, state`` and its index keys, tags and facets."""
    return CustomerRow(
        id=r[0],
        version=int(r[1]),
        payload=bytes(r[2]),
        kind=r[3],
        stage=r[4],
        owner=r[5],
        team=r[6],
        grade=r[7],
        created_at=d.read_instant(r[8]),
        updated_at=d.read_instant(r[9]),
        state=r[10],
        index_keys=frozenset(index_keys),
        tags=tuple(tags),
        facets=frozenset(facets),
    )


def activity_row(r: Sequence[Any], d: Dialect) -> ActivityRow:
    """An activity from :data:`ACTIVITY_COLUMNS`."""
    return ActivityRow(
        id=r[0],
        customer_id=r[1],
        kind=r[2],
        occurred_at=d.read_instant(r[3]),
        amount=None if r[4] is None else d.read_amount(r[4]),
        currency=r[5],
        payload=bytes(r[6]),
    )


def summary(r: Sequence[Any], d: Dialect) -> ActivitySummary:
    """A summary from ``customer_id, currency, min(at), max(at), count, sum(amount)``;
    ``StorageError`` when the sum is beyond the range of amounts."""
    customer_id, currency, first, last, count, total = r
    return ActivitySummary(
        customer_id=customer_id,
        currency=currency,
        first_purchase_at=d.read_instant(first),
        last_purchase_at=d.read_instant(last),
        purchase_count=int(count),
        total_spent=check_total(d.read_amount(total), customer_id, currency),
    )


def consent_record(r: Sequence[Any], d: Dialect) -> ConsentRecord:
    """A consent event from :data:`CONSENT_COLUMNS`."""
    return ConsentRecord(
        customer_id=r[0],
        seq=int(r[1]),
        recorded_at=d.read_instant(r[2]),
        purpose=r[3],
        action=r[4],
        payload=bytes(r[5]),
    )


def history_record(r: Sequence[Any], d: Dialect) -> HistoryRecord:
    """A history entry from :data:`HISTORY_COLUMNS`."""
    return HistoryRecord(
        customer_id=r[0],
        seq=int(r[1]),
        at=d.read_instant(r[2]),
        actor_id=r[3],
        action=r[4],
        path=r[5],
        reason=r[6],
        payload=bytes(r[7]),
    )


def audit_record(r: Sequence[Any], d: Dialect) -> AuditRecord:
    """An audit entry from :data:`AUDIT_COLUMNS`."""
    return AuditRecord(
        seq=int(r[0]),
        at=d.read_instant(r[1]),
        actor_id=r[2],
        action=r[3],
        customer_id=r[4],
        fields=d.read_fields(r[5]),
        reason=r[6],
        outcome=r[7],
        chain=bytes(r[8]),
        on_behalf_of=r[9],
    )


def wrapped_key(r: Sequence[Any], d: Dialect) -> WrappedKey:
    """A wrapped key from :data:`KEY_COLUMNS`."""
    return WrappedKey(
        customer_id=r[0], master_key_id=r[1], wrapped=bytes(r[2]), created_at=d.read_instant(r[3])
    )
