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


def new_id() -> str:
    """Return a new UUIDv7 string, strictly greater than the previous one from this process."""
    global _last_ms, _last_seq
    with _lock:
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            _last_ms = now
            _last_seq = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count up
        else:
            _last_seq += 1
            if _last_seq > _SEQ_MAX:  # more than ~2000 ids in one millisecond: borrow the next
                _last_ms += 1
                _last_seq = 0
        ms, seq = _last_ms, _last_seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


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
