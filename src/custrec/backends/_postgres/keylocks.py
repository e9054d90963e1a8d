"""Index-key locks of a PostgreSQL write session: one advisory lock per key, in one global order.

A write session that looks an index key up locks it until it ends, so that "look up, then add
if absent" (the registry's duplicate check) is as safe as under SQLite's single writer: no other
session can add the key meanwhile, and a session that added it earlier had committed before the
look-up read. How, in short:

* **One lock per key, not per bucket.** A key's lock is the 64-bit advisory key
  ``lock_key("custrec", schema, "index", key)``, so unrelated keys (two customers' phones, two
  surnames) never share a lock.
* **Look-ups lock exclusive, writes lock shared.** ``lookup`` and ``lookup_many`` take their
  keys' locks exclusive; ``add``, ``add_many`` and ``update`` take the locks of the keys they
  write shared (a key the session already holds is not taken again). So two sessions adding
  the same surname token run in parallel, a look-up of a key waits for every uncommitted writer
  of it, and a writer waits for a session that looked the key up.
* **One schema-wide lock above them**, always taken first: every session that takes key locks
  holds it shared; a session whose first key statement needs more than :data:`FINE_LIMIT` keys
  (a bulk import's batch) takes it exclusive instead, and then holds every key at once. It is
  never upgraded: a session that holds key locks already goes on taking one per key (upgrading
  would wait for sessions that may be waiting for it), so a small look-up followed by a large
  batch of writes takes as many locks as the batch has new keys (mind
  ``max_locks_per_transaction`` for batches of many thousand keys).
* **One order.** All the locks a statement needs are taken by one ``SELECT`` in one order: the
  schema-wide lock, then the key locks by ascending advisory key. Look-ups and writes of one
  session are taken in that order too, so sessions that look their keys up together and then
  write them with other keys that nobody looks up in a write session (the registry's intake,
  update and import: strong identifiers are looked up, name tokens only written; a duplicate
  search reads in a read-only session, which takes no key lock) cannot wait for each other in a
  cycle, whatever the sets and the order in which callers pass them.

What a session holds is tracked here, so a key is locked once per session; the operation that
fails and is rolled back to its savepoint forgets what it took (:meth:`KeyLocks.restore`).
A wait that PostgreSQL finds to be part of a cycle all the same (a session that adds a key
without looking it up while another write session looks that very key up and then writes one the
first holds, or two sessions each upgrading a key they added to a look-up) is reported as
``StorageError(retry_safe=True)`` like any deadlock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

__all__ = ["FINE_LIMIT", "KeyLocks"]

FINE_LIMIT: Final = 256
"""Most key locks a session's first key statement takes; beyond, the schema-wide lock exclusive."""

_NONE: Final = 0
_SHARED: Final = 1
_EXCLUSIVE: Final = 2
_Snapshot = tuple[dict[int, bool], int]


def _signed(digest: bytes) -> int:
    return int.from_bytes(digest, "big", signed=True)


class KeyLocks:
    """The index-key locks one write session holds, and the statements that take more."""

    __slots__ = ("_coarse", "_coarse_key", "_held", "_pending", "_prefix")

    def __init__(self, prefix: bytes, coarse_key: int) -> None:
        self._prefix = prefix  # "custrec\0<schema>\0index\0": see schema.lock_key
        self._coarse_key = coarse_key
        self._held: dict[int, bool] = {}  # advisory key -> held exclusive
        self._coarse = _NONE
        self._pending: _Snapshot | None = None

    def key(self, index_key: str) -> int:
        """The advisory-lock key of ``index_key`` (equal to ``lock_key(..., index_key)``)."""
        return _signed(hashlib.blake2b(self._prefix + index_key.encode(), digest_size=8).digest())

    def statement(
        self, index_keys: Iterable[str], *, exclusive: bool
    ) -> tuple[str, list[int]] | None:
        """The ``SELECT`` taking what ``index_keys`` need and this session lacks, or ``None``.

        Call :meth:`granted` once it has run; until then nothing is recorded as held.
        """
        if self._coarse == _EXCLUSIVE:
            return None
        held = self._held
        need = sorted(
            {k for k in map(self.key, index_keys) if k not in held or (exclusive and not held[k])}
        )
        if not need:
            return None
        if self._coarse == _NONE and len(need) > FINE_LIMIT:
            self._pending = ({}, _EXCLUSIVE)
            return "SELECT pg_advisory_xact_lock(%s)", [self._coarse_key]
        call = "pg_advisory_xact_lock(%s)" if exclusive else "pg_advisory_xact_lock_shared(%s)"
        calls = [call] * len(need)
        params = need
        if self._coarse == _NONE:
            calls.insert(0, "pg_advisory_xact_lock_shared(%s)")
            params = [self._coarse_key, *need]
        after = dict(held)
        for k in need:
            after[k] = exclusive or after.get(k, False)
        self._pending = (after, _SHARED)
        return "SELECT " + ", ".join(calls), params

    def granted(self) -> None:
        """The last :meth:`statement` ran: its locks are held until the session ends."""
        if self._pending is not None:
            self._held, self._coarse = self._pending
            self._pending = None

    def save(self) -> _Snapshot:
        """What is held now (an operation about to start may be rolled back to here)."""
        self._pending = None
        return self._held, self._coarse

    def restore(self, snapshot: _Snapshot) -> None:
        """The operation failed and was rolled back to its savepoint: forget what it took."""
        self._pending = None
        self._held, self._coarse = snapshot

    def clear(self) -> None:
        """The transaction was rolled back: nothing is held."""
        self._pending = None
        self._held, self._coarse = {}, _NONE

    @property
    def held(self) -> int:
        """How many key locks are held (for the tests)."""
        return len(self._held)

    @property
    def exclusive(self) -> bool:
        """Whether the schema-wide lock is held exclusive (for the tests)."""
        return self._coarse == _EXCLUSIVE
