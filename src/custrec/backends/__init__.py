"""Storage backends shipped with custrec.

- :class:`MemoryStore`: in-process, thread-safe; for tests, demos and short-lived jobs.
- :class:`SQLiteStore`: the embedded default (stdlib ``sqlite3``), safe across threads and
  processes on one machine.
- :class:`PostgresStore`: PostgreSQL through psycopg 3 and a connection pool, for many
  application servers sharing one database. It needs the ``postgres`` extra
  (``pip install custrec[postgres]``) and is imported on first use, so custrec works without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from custrec.backends.memory import MemoryStore
from custrec.backends.sqlite import SQLiteStore

if TYPE_CHECKING:  # pragma: no cover - resolved lazily at run time, see __getattr__
    from custrec.backends.postgres import PostgresStore

__all__ = ["MemoryStore", "PostgresStore", "SQLiteStore"]

_LAZY = {"PostgresStore": "custrec.backends.postgres"}


def __getattr__(name: str) -> Any:
    """Import optional backends on first access (PEP 562).

    Raises ``ImportError`` naming the extra to install when its driver is missing.
    """
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(module_name)  # its ImportError names the extra
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
