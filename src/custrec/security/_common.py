"""Small helpers shared by the security modules: argument checks and unambiguous byte encoding.

Nothing here touches key material beyond checking its type and length; error messages name
the argument, never its value.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["KEY_ID_PATTERN", "KEY_SIZE", "check_customer_id", "check_key", "check_key_id", "pack"]

KEY_SIZE: Final = 32
"""Size in bytes of every secret custrec generates (AES-256 keys, HMAC keys)."""

KEY_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
"""Key ids are short labels safe in file names, env values and index tokens (no ``:`` or ``,``)."""


def pack(*parts: bytes) -> bytes:
    """Encode byte strings unambiguously: each one prefixed by its 4-byte big-endian length.

    >>> pack(b"ab", b"c") == pack(b"a", b"bc")
    False
    >>> pack(b"ab").hex()
    '000000026162'
    """
    out = bytearray()
    for part in parts:
        out += len(part).to_bytes(4, "big")
        out += part
    return bytes(out)


def check_key(key: object, *, what: str, size: int = KEY_SIZE) -> bytes:
    """Return ``key`` as bytes if it is a bytes-like value of ``size`` bytes.

    Raises ``TypeError`` for other types and ``ValueError`` for a wrong length; neither message
    shows the key.
    """
    if not isinstance(key, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, not {type(key).__name__}")
    data = bytes(key)
    if len(data) != size:
        raise ValueError(f"{what} must be exactly {size} bytes long (got {len(data)} bytes)")
    return data


def check_key_id(key_id: object, *, what: str = "key id") -> str:
    """Return ``key_id`` if it is 1-64 characters of ``A-Z a-z 0-9 _ . -``; raise otherwise."""
    if not isinstance(key_id, str):
        raise TypeError(f"{what} must be a string, not {type(key_id).__name__}")
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(f"{what} must be 1-64 characters of letters, digits, '_', '.' or '-'")
    return key_id


def check_customer_id(customer_id: object, *, what: str = "customer_id") -> str:
    """Return ``customer_id`` if it is a non-empty string; raise ``TypeError``/``ValueError``."""
    if not isinstance(customer_id, str):
        raise TypeError(f"{what} must be a string, not {type(customer_id).__name__}")
    if not customer_id:
        raise ValueError(f"{what} must not be empty")
    return customer_id
