"""custrec: the trustworthy core of a CRM.

Customer records, normalisation and validation, grading, consent and retention, encryption and
pluggable storage. The names most programs need are importable from here::

    from custrec import Actor, Registry, SQLiteStore
"""

from custrec.backends import MemoryStore, SQLiteStore
from custrec.errors import PlaintextStorageWarning
from custrec.registry import Registry
from custrec.security import Actor, KeyRing
from custrec.services import BulkResult, ErasureReceipt, HistoryEntry

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "BulkResult",
    "ErasureReceipt",
    "HistoryEntry",
    "KeyRing",
    "MemoryStore",
    "PlaintextStorageWarning",
    "Registry",
    "SQLiteStore",
    "__version__",
]
