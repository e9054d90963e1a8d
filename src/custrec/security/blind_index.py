"""Blind indexes: keyed, deterministic tokens for exact lookup over encrypted values.

A token is ``HMAC-SHA256(k_kind, normalised value)`` truncated to ``length`` bytes, where
``k_kind = HKDF-SHA256(index key, info=b"custrec/blind-index/v1/" + kind)``. Every kind of value
(``phone``, ``email``, ``ric``, ...) thus has its own key, and no token can be recomputed from
the value alone: it is never a bare hash. The text form names the kind and the index key id so
that a backend can store it as an opaque string and a rotation can tell old tokens from new::

    phone:i1:3f0c2a9d41b6e8c05a7d2e19b4c8f061

Index keys are separate secrets (:class:`~custrec.security.keys.IndexKeys`), never derived from
master or data keys. Values must be normalised by the caller (E.164 phones, case-folded e-mails,
upper-cased identifiers) exactly as when they were indexed: the indexer hashes what it gets.

>>> from custrec.security.keys import IndexKeys
>>> indexer = BlindIndexer(IndexKeys({"i1": bytes(32)}, current="i1"))
>>> token = indexer.token("phone", "+8613800138000")
>>> token.startswith("phone:i1:"), token == indexer.token("phone", "+8613800138000")
(True, True)
>>> token == indexer.token("email", "+8613800138000")
False
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custrec._checks import check, int_range
from custrec.security._common import KEY_SIZE
from custrec.security.keys import IndexKeys

__all__ = ["INFO_PREFIX", "MAX_LENGTH", "MIN_LENGTH", "BlindIndexer"]

INFO_PREFIX: Final = b"custrec/blind-index/v1/"
"""HKDF ``info`` prefix; the kind follows it."""

MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 32
_MAX_KIND: Final = 200


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, not {type(kind).__name__}")
    if not kind or len(kind) > _MAX_KIND or not kind.isprintable() or kind != kind.strip():
        raise ValueError(
            f"kind must be 1-{_MAX_KIND} printable characters without surrounding spaces"
        )
    return kind


def _pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 keyed with ``key`` (at most 64 bytes), as the SHA-256 states after its
    inner and outer padded keys: ``outer.update(inner.update(m).digest())`` is the HMAC of
    ``m`` (RFC 2104; the same digest as :func:`hmac.new`)."""
    if len(key) > _BLOCK:  # pragma: no cover - derived kind keys are 32 bytes
        raise ValueError("an HMAC-SHA256 pad key is at most 64 bytes")
    padded = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(padded.translate(_INNER))
    outer = hashlib.sha256(padded.translate(_OUTER))
    return inner, outer


_BLOCK: Final = 64  # SHA-256's block size
_INNER: Final = bytes(b ^ 0x36 for b in range(256))
_OUTER: Final = bytes(b ^ 0x5C for b in range(256))


def _check_value(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"normalized_value must be a string, not {type(value).__name__}")
    return value.encode("utf-8", "surrogatepass")


class BlindIndexer:
    """Computes blind-index tokens under :class:`~custrec.security.keys.IndexKeys`.

    ``length`` is the number of HMAC bytes kept (8-32, default 16): shorter tokens give more
    false positives (always filtered by decrypting) and leak less; 16 bytes make collisions
    negligible. Raises ``ValueError`` for a length outside 8-32.
    """

    __slots__ = ("_current", "_derived", "_key_ids", "_keys", "_length", "_macs")

    def __init__(self, index_keys: IndexKeys, *, length: int = 16) -> None:
        if not isinstance(index_keys, IndexKeys):
            raise TypeError("index_keys must be a custrec.security.IndexKeys")
        check("length", length, int_range(MIN_LENGTH, MAX_LENGTH))
        self._keys = index_keys
        self._key_ids = index_keys.key_ids()  # IndexKeys do not change
        self._length = length
        self._derived: dict[tuple[str, str], bytes] = {}
        # per (key id, kind), the SHA-256 states of HMAC's inner and outer pads (RFC 2104): a
        # token copies them and hashes the value, instead of setting the key up again for
        # every token (and without the hmac module's Python-level copy)
        self._macs: dict[tuple[str, str], tuple[Any, Any]] = {}
        # per kind already checked, under the current key: its pads and the text that heads
        # its tokens (``kind:key-id:``), for :meth:`token`'s fast path
        self._current: dict[str, tuple[Any, Any, str]] = {}

    @property
    def length(self) -> int:
        """Bytes of HMAC output kept per token."""
        return self._length

    @property
    def current_key_id(self) -> str:
        """The index key id new tokens use."""
        return self._keys.current

    def __repr__(self) -> str:
        return f"BlindIndexer(key_ids={list(self._keys.key_ids())!r}, length={self._length})"

    def _kind_key(self, key_id: str, kind: str) -> bytes:
        cached = self._derived.get((key_id, kind))
        if cached is None:
            cached = HKDF(
                algorithm=hashes.SHA256(),
                length=KEY_SIZE,
                salt=None,
                info=INFO_PREFIX + kind.encode("utf-8"),
            ).derive(self._keys.secret(key_id))
            if len(self._derived) >= 4096:  # kinds are few; never grow without bound
                self._derived.clear()
            self._derived[(key_id, kind)] = cached
        return cached

    def _kind_mac(self, key_id: str, kind: object) -> tuple[Any, Any]:
        """The keyed HMAC-SHA256 pads of ``(key_id, kind)`` (see :func:`_pads`); the kind is
        checked when first seen."""
        mac = self._macs.get((key_id, kind)) if isinstance(kind, str) else None
        if mac is None:
            checked = _check_kind(kind)
            mac = _pads(self._kind_key(key_id, checked))
            if len(self._macs) >= 4096:  # kinds are few; never grow without bound
                self._macs.clear()
            self._macs[(key_id, checked)] = mac
        return mac

    def _token(self, key_id: str, kind: str, value: bytes) -> str:
        inner_pad, outer_pad = self._kind_mac(key_id, kind)
        inner = inner_pad.copy()
        inner.update(value)
        outer = outer_pad.copy()
        outer.update(inner.digest())
        return f"{kind}:{key_id}:{outer.digest()[: self._length].hex()}"

    def token(self, kind: str, normalized_value: str) -> str:
        """Return the token of ``normalized_value`` under the current index key.

        Deterministic: equal inputs give equal tokens. Store this one when writing a record.
        """
        # fast path: a kind seen before and a plain string (what _token does, inline)
        known = self._current.get(kind) if type(kind) is str else None
        if known is None or type(normalized_value) is not str:
            return self._first_token(kind, normalized_value)
        inner_pad, outer_pad, head = known
        inner = inner_pad.copy()
        inner.update(normalized_value.encode("utf-8", "surrogatepass"))
        outer = outer_pad.copy()
        outer.update(inner.digest())
        digest: bytes = outer.digest()
        return head + digest[: self._length].hex()

    def _first_token(self, kind: str, normalized_value: str) -> str:
        """:meth:`token` the general way, remembering a valid kind for the fast path."""
        key_id = self._keys.current
        token = self._token(key_id, kind, _check_value(normalized_value))
        if type(kind) is str:  # checked by _token: a valid kind
            if len(self._current) >= 4096:  # kinds are few; never grow without bound
                self._current.clear()
            self._current[kind] = (*self._kind_mac(key_id, kind), f"{kind}:{key_id}:")
        return token

    def lookup_tokens(self, kind: str, normalized_value: str) -> tuple[str, ...]:
        """Return the value's token under EVERY index key, the current one first.

        Look up all of them, so that records indexed before a rotation are still found until
        they are re-indexed.
        """
        key_ids = self._key_ids
        if len(key_ids) == 1:  # no rotation under way: the common case, the current key's token
            return (self.token(kind, normalized_value),)
        value = _check_value(normalized_value)
        return tuple(self._token(key_id, kind, value) for key_id in key_ids)

    def tokens(self, keys: Iterable[tuple[str, str]]) -> frozenset[str]:
        """Return the current-key tokens of ``(kind, normalised value)`` pairs."""
        return frozenset(self.token(kind, value) for kind, value in keys)

    @staticmethod
    def key_id_of(token: str) -> str:
        """Return the index key id a token was made with; ``ValueError`` if not a token."""
        if not isinstance(token, str):
            raise TypeError("token must be a string")
        parts = token.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError("not a blind-index token")
        return parts[1]

    def is_current(self, token: str) -> bool:
        """Tell whether ``token`` was made with the current index key (re-indexing is done)."""
        return self.key_id_of(token) == self._keys.current
