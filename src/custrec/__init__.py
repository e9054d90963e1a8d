"""custrec: the trustworthy core of a CRM.

Customer records, normalisation and validation, grading, consent and retention, encryption and
pluggable storage. The names most programs need are importable from here::

    from custrec import Actor, Registry, SQLiteStore

They are imported on first use, so ``import custrec.validation.phone`` (or ``import custrec``)
does not load the registry, the storage backends or the cryptography they need.
"""

import typing as _typing

from custrec import _lazy

if _typing.TYPE_CHECKING:
    # What type checkers and IDEs see; at run time module __getattr__ below imports these.
    from custrec.backends import MemoryStore, SQLiteStore
    from custrec.errors import PlaintextStorageWarning
    from custrec.registry import Registry
    from custrec.security import Actor, KeyRing
    from custrec.services import BulkResult, ErasureReceipt, HistoryEntry

# The only place the version is written: pyproject.toml reads it from here (hatch's dynamic
# version), so the built packages' metadata and ``custrec.__version__`` always agree.
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

# Each lazily imported name, and the module that defines it.
_LAZY: dict[str, str] = {
    "Actor": "custrec.security",
    "BulkResult": "custrec.services",
    "ErasureReceipt": "custrec.services",
    "HistoryEntry": "custrec.services",
    "KeyRing": "custrec.security",
    "MemoryStore": "custrec.backends",
    "PlaintextStorageWarning": "custrec.errors",
    "Registry": "custrec.registry",
    "SQLiteStore": "custrec.backends",
}

if not _typing.TYPE_CHECKING:
    # Hidden from type checkers: a module __getattr__ would make them accept any name at all.
    __getattr__ = _lazy.loader(__name__, _LAZY)

__dir__ = _lazy.lister(__name__, _LAZY)
