"""Storage backends shipped with custrec.

- :class:`MemoryStore`: in-process, thread-safe; for tests, demos and short-lived jobs.
- :class:`SQLiteStore`: the embedded default (stdlib ``sqlite3``), safe across threads and
  processes on one machine.
- :class:`PostgresStore`: PostgreSQL through psycopg 3 and a connection pool, for many
  application servers sharing one database. It needs the ``postgres`` extra
  (``pip install custrec[postgres]``) and is imported on first use, so custrec works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custrec import _lazy
from custrec.backends.memory import MemoryStore
from custrec.backends.sqlite import SQLiteStore

if TYPE_CHECKING:  # pragma: no cover - resolved lazily at run time, see __getattr__
    from custrec.backends.postgres import PostgresStore

__all__ = ["MemoryStore", "PostgresStore", "SQLiteStore"]

_LAZY: dict[str, str | None] = {"PostgresStore": "custrec.backends.postgres"}

if not TYPE_CHECKING:
    # PEP 562: optional backends are imported on first access; a missing driver's ImportError
    # names the extra to install.
    __getattr__ = _lazy.loader(__name__, _LAZY)

__dir__ = _lazy.lister(__name__, _LAZY)
