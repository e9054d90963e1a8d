"""Time-ordered identifiers.

Ids are UUIDv7 strings (RFC 9562): a 48-bit Unix millisecond timestamp, then random bits, so
that ids sort by creation time and database indexes append instead of splitting pages. Within one
process, ids are strictly increasing even when many are made in the same millisecond.

>>> a, b = new_id(), new_id()
>>> a < b and is_valid_id(a)
True
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["id_timestamp_ms", "is_valid_id", "new_id"]

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0
_SEQ_MAX = (1 << 12) - 1
# Random bits come from one os.urandom call per 512 ids (a system call per id was a third of
# the cost); a fork starts over with fresh bytes, so a child never repeats its parent's ids.
_POOL_IDS = 512
_pool = b""
_pool_at = 0


def _forget_pool() -> None:
    global _pool, _pool_at, _lock
    _pool, _pool_at = b"", 0
    _lock = threading.Lock()  # the parent's may have been held by another thread at the fork


os.register_at_fork(after_in_child=_forget_pool)


def _random_bits() -> tuple[int, int]:
    """Ten fresh random bytes as (16 bits for a new millisecond's counter, 64 bits); the
    caller holds the lock."""
    global _pool, _pool_at
    if _pool_at >= len(_pool):
        _pool, _pool_at = os.urandom(10 * _POOL_IDS), 0
    at = _pool_at
    _pool_at = at + 10
    return int.from_bytes(_pool[at : at + 2], "big"), int.from_bytes(_pool[at + 2 : at + 10], "big")


def new_id() -> str:
    """Return a new UUIDv7 string, strictly greater than the previous one from this process."""
    global _last_ms, _last_seq
    with _lock:
        seq_bits, rand_bits = _random_bits()
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            _last_ms = now
            _last_seq = seq_bits & 0x7FF  # leave room to count up
        else:
            _last_seq += 1
            if _last_seq > _SEQ_MAX:  # more than ~2000 ids in one millisecond: borrow the next
                _last_ms += 1
                _last_seq = 0
        ms, seq = _last_ms, _last_seq
    rand_b = rand_bits & ((1 << 62) - 1)
    h = f"{(ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand_b:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_valid_id(value: object) -> bool:
    """Tell whether ``value`` is a canonical (lower-case, hyphenated) UUID string."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def id_timestamp_ms(value: str) -> int:
    """Return the Unix millisecond timestamp embedded in a UUIDv7 string.

    Raises ``ValueError`` if ``value`` is not a UUIDv7 string.
    """
    parsed = uuid.UUID(value)
    if parsed.version != 7:
        raise ValueError("not a UUIDv7 id")
    return parsed.int >> 80
