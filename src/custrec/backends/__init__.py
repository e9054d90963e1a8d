"""Storage backends shipped with custrec.

- :class:`MemoryStore`: in-process, thread-safe; for tests, demos and short-lived jobs.
- :class:`SQLiteStore`: the embedded default (stdlib ``sqlite3``), safe across threads and
  processes on one machine.
"""

from custrec.backends.memory import MemoryStore
from custrec.backends.sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore"]
