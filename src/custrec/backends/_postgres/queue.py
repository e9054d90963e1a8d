"""The PostgreSQL audit queue's rows: the columns, the read and its decoding (private)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from custrec.backends._postgres.dialect import DIALECT
from custrec.backends._sql import rows as mapping
from custrec.model._replace import replace
from custrec.storage import AuditRecord, QueuedAudit

__all__ = ["NOT_QUEUED", "QUEUED", "QUEUE_COLUMNS", "decode_queued"]

NOT_QUEUED: Final = (
    "a ticket is not (or no longer) queued: another sealer took it, or it was never issued"
)

# an instant Python cannot hold (infinity, a year beyond 9999) comes back as NULL, so that one
# bad row cannot stop every claim; such a row is decoded as an entry that fails its tag
QUEUED: Final = (
    "SELECT ticket, CASE WHEN at BETWEEN '0001-01-02 00:00:00+00' AND"
    " '9999-12-30 23:59:59.999999+00' THEN at END, actor_id, action, customer_id, fields,"
    " reason, outcome, chain, on_behalf_of FROM {s}.audit_queue ORDER BY ticket LIMIT %s"
)

_UNDECODABLE: Final = AuditRecord(
    at=datetime(1970, 1, 1, tzinfo=UTC), actor_id="?", action="audit.queue.undecodable"
)


def decode_queued(found: Iterable[Sequence[Any]]) -> list[QueuedAudit]:
    """Queue rows (ticket first, then the audit columns) as :class:`QueuedAudit`; a row that
    cannot be decoded becomes an untagged placeholder, which the sealer rejects."""
    queued: list[QueuedAudit] = []
    for row in found:
        try:
            if row[1] is None:
                raise ValueError("the queued entry's instant is out of range")
            record = replace(mapping.audit_record(row, DIALECT), seq=0)  # seq: the ticket
        except (TypeError, ValueError, AttributeError):
            record = _UNDECODABLE
        queued.append(QueuedAudit(ticket=int(row[0]), record=record))
    return queued


QUEUE_COLUMNS: Final = (
    "at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of"
)
