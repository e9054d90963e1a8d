"""custrec: the trustworthy core of a CRM.

Customer records, normalisation and validation, grading, consent and retention, encryption and
pluggable storage. The names most programs need are importable from here::

    from custrec import Actor, Registry, SQLiteStore
"""

from custrec.backends import MemoryStore, SQLiteStore
from custrec.registry import (
    BulkResult,
    Change,
    ErasureReceipt,
    PlaintextStorageWarning,
    Registry,
)
from custrec.security import Actor, KeyRing

__version__ = "0.1.0.dev0"

__all__ = [
    "Actor",
    "BulkResult",
    "Change",
    "ErasureReceipt",
    "KeyRing",
    "MemoryStore",
    "PlaintextStorageWarning",
    "Registry",
    "SQLiteStore",
    "__version__",
]
