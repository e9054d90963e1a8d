"""An import's working state: the keys seen so far, the store lookups, and the sample.

Both live outside the Python heap so that an import's memory stays flat however large the file:

- :class:`WorkIndex` is a private temporary SQLite database (``sqlite3.connect("")``: an
  anonymous file that SQLite deletes on close, with a bounded page cache). It remembers, for
  each strong identifier seen in the file, the first row that held it (as a keyed 16-byte
  digest under a random per-run key, so no personal value reaches the disk), and the ids this
  import holds, for the reproducible sample.
- :class:`StoreIndex` asks the registry's store, in one read-only transaction per chunk, which
  customers hold a set of strong identifiers and which ids exist. Only blind-index tokens and
  ids are read: records themselves are read and written through the registry's public methods,
  which check access and audit.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Final, TypeVar

from custrec.registry import Registry
from custrec.security import Actor
from custrec.services._identify import identify_for_import
from custrec.storage.codec import StrongKey

__all__ = ["StoreIndex", "WorkIndex", "sample_rank"]

_BATCH: Final = 500  # SQLite host parameters per IN (...) query
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sample_rank(seed: int, customer_id: str) -> int:
    """The position of an id in the sample order for ``seed``: a 63-bit integer from SHA-256.

    The sample of share ``s`` is the ``ceil(s * n)`` ids of lowest rank, so it is reproducible
    from the seed alone and does not depend on the order rows were read in.
    """
    digest = hashlib.sha256(f"custrec-sample:{seed}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class WorkIndex:
    """The temporary, disk-backed index of one import run (see the module docs)."""

    def __init__(self, *, seed: int) -> None:
        self._seed = seed
        self._secret = os.urandom(32)
        self._conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA journal_mode = OFF",
            "PRAGMA synchronous = OFF",
            "PRAGMA cache_size = -8192",
            "PRAGMA temp_store = FILE",
        ):
            self._conn.execute(pragma)
        self._conn.execute(
            "CREATE TABLE seen (k BLOB PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID"
        )
        self._conn.execute(
            "CREATE TABLE held (id TEXT PRIMARY KEY, rank INTEGER NOT NULL) WITHOUT ROWID"
        )
        self._conn.execute(
            "CREATE TABLE results (row INTEGER PRIMARY KEY, outcome TEXT NOT NULL, id TEXT)"
        )

    def digest(self, kind: str, value: str) -> bytes:
        """A keyed 16-byte digest of one key (never stored in the clear)."""
        message = f"{kind}\x1f{value}".encode()
        return hmac.digest(self._secret, message, "sha256")[:16]

    def first_rows(self, digests: Collection[bytes]) -> dict[bytes, int]:
        """The row that first held each of ``digests``, for those seen before."""
        found: dict[bytes, int] = {}
        for chunk in _chunks(sorted(digests)):  # in key order: each page of the index read once
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT k, row FROM seen WHERE k IN ({marks})", tuple(chunk))
            found.update((bytes(k), int(r)) for k, r in rows)
        return found

    def remember(self, pairs: Iterable[tuple[bytes, int]]) -> None:
        """Record that ``row`` holds ``digest`` (the first holder is kept)."""
        self._conn.execute("BEGIN")
        # in key order (the first holder of a key first): random keys inserted in order touch
        # each page of the index once a batch, which matters once it outgrows its page cache
        ordered = sorted(pairs)
        self._conn.executemany("INSERT OR IGNORE INTO seen (k, row) VALUES (?, ?)", ordered)
        self._conn.execute("COMMIT")

    def hold(self, customer_ids: Iterable[str]) -> None:
        """Record ids this import holds (created, updated or applied earlier)."""
        self._conn.execute("BEGIN")
        self._conn.executemany(
            "INSERT OR IGNORE INTO held (id, rank) VALUES (?, ?)",
            ((cid, sample_rank(self._seed, cid)) for cid in sorted(customer_ids)),
        )
        self._conn.execute("COMMIT")

    def record(self, results: Iterable[tuple[int, str, str | None]]) -> None:
        """Record each row's outcome and customer id (the row-to-id map, on disk)."""
        self._conn.execute("BEGIN")
        self._conn.executemany(
            "INSERT OR REPLACE INTO results (row, outcome, id) VALUES (?, ?, ?)", results
        )
        self._conn.execute("COMMIT")

    def ids_of(self, rows: Collection[int]) -> dict[int, str]:
        """The customer ids recorded for ``rows`` (those with one)."""
        found: dict[int, str] = {}
        for chunk in _chunks(sorted(rows)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row, id FROM results WHERE id IS NOT NULL AND row IN ({marks})"
            found.update((int(r), str(i)) for r, i in self._conn.execute(query, tuple(chunk)))
        return found

    def results(self) -> Iterator[tuple[int, str, str | None]]:
        """Every recorded row, in row order."""
        for row, outcome, customer_id in self._conn.execute(
            "SELECT row, outcome, id FROM results ORDER BY row"
        ):
            yield int(row), str(outcome), None if customer_id is None else str(customer_id)

    def sample(self, share: float) -> tuple[str, ...]:
        """``ceil(share * n)`` of the held ids, lowest rank first, returned sorted."""
        (total,) = self._conn.execute("SELECT count(*) FROM held").fetchone()
        size = math.ceil(share * total - 1e-9) if total else 0
        rows = self._conn.execute("SELECT id FROM held ORDER BY rank, id LIMIT ?", (size,))
        return tuple(sorted(str(r[0]) for r in rows))

    def close(self) -> None:
        """Drop the temporary database."""
        self._conn.close()


class StoreIndex:
    """Batched, read-only identity lookups in a registry's store (ids only, never records).

    A thin adapter over ``registry.customers.identify``, which reads the blind index in one
    transaction per batch instead of one ``registry.customers.find`` call per row.
    """

    def __init__(self, registry: Registry, actor: Actor) -> None:
        if not isinstance(registry, Registry):
            raise TypeError("registry must be a custrec.Registry")
        self._registry = registry
        self._actor = actor
        self.tokens: dict[StrongKey, tuple[str, ...]] = {}  # of the last lookup

    def lookup(
        self, keys: Collection[StrongKey], ids: Collection[str]
    ) -> tuple[dict[StrongKey, tuple[str, ...]], set[str]]:
        """Return (the stored ids holding each key, the ids among ``ids`` that exist).
        :attr:`tokens` then holds each key's blind-index tokens (for the chunk's write)."""
        self.tokens = {}
        found = identify_for_import(
            self._registry.customers, keys, actor=self._actor, ids=ids, looked_up=self.tokens
        )
        return dict(found.holders), set(found.existing)
