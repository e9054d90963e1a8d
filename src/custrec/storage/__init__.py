"""Storage protocols and the value objects that cross them.

See :mod:`custrec.storage.protocols` for the rules every backend keeps, and
``docs/backends.md`` for how to write one.
"""

from custrec.storage.protocols import (
    ActivityTable,
    AuditQueue,
    AuditTable,
    ConsentTable,
    CustomerTable,
    HistoryTable,
    KeyStoreOwner,
    KeyTable,
    MetaTable,
    Session,
    Store,
)
from custrec.storage.types import (
    ACTIVITY_KINDS,
    HIDDEN_STATES,
    ROW_STATES,
    ActivityRow,
    AuditClaim,
    AuditRecord,
    Capabilities,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    QueuedAudit,
    WrappedKey,
    check_meta_name,
)

__all__ = [
    "ACTIVITY_KINDS",
    "HIDDEN_STATES",
    "ROW_STATES",
    "ActivityRow",
    "ActivityTable",
    "AuditClaim",
    "AuditQueue",
    "AuditRecord",
    "AuditTable",
    "Capabilities",
    "ConsentRecord",
    "ConsentTable",
    "CustomerFilter",
    "CustomerRow",
    "CustomerTable",
    "HistoryRecord",
    "HistoryTable",
    "KeyStoreOwner",
    "KeyTable",
    "MetaTable",
    "QueuedAudit",
    "Session",
    "Store",
    "WrappedKey",
    "check_meta_name",
]
