"""The :class:`KeyRing`: every secret the registry needs, behind one object.

The hierarchy::

    master key (KeyProvider: memory, env, file, KMS, Vault)
      └─ wraps ─ per-customer data key (32 random bytes, stored wrapped)
                   └─ encrypts ─ field ciphertexts (AES-256-GCM, bound to customer + path)
    index key (IndexKeys)
      └─ HKDF ─ per-kind blind-index key ─ HMAC ─ index tokens
      └─ HKDF ─ audit key (unless one is configured) ─ audit chain and checkpoints

>>> ring = KeyRing.generate()
>>> data_key, master_id, wrapped = ring.new_data_key("c-1")
>>> ring.unwrap_data_key("c-1", master_id, wrapped) == data_key
True
>>> "KeyRing(" in repr(ring) and data_key.hex() not in repr(ring)
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custrec.errors import KeyringMismatch
from custrec.security._common import KEY_SIZE, check_customer_id, check_key, pack
from custrec.security.audit import AuditChain
from custrec.security.blind_index import BlindIndexer
from custrec.security.crypto import DecryptionFailed
from custrec.security.keys import (
    DEFAULT_AUDIT_VARIABLE,
    DEFAULT_INDEX_VARIABLE,
    DEFAULT_MASTER_VARIABLE,
    EnvKeyProvider,
    IndexKeys,
    KeyProvider,
    StaticKeyProvider,
    load_key_file,
    read_audit_key_from_env,
)

__all__ = ["AUDIT_KEY_INFO", "KeyRing", "KeyringFingerprint", "KeyringMismatch"]

AUDIT_KEY_INFO: Final = b"custrec/audit-key/v1"
"""HKDF ``info`` used to derive the audit key from an index key when none is configured."""

_DATA_KEY_LABEL: Final = b"custrec/data-key/v1"
_FINGERPRINT_LABEL: Final = b"custrec/keyring-fingerprint/v1"


_DATA_KEY_AAD_HEAD: Final = pack(_DATA_KEY_LABEL)


def _data_key_aad(customer_id: str) -> bytes:
    # == pack(_DATA_KEY_LABEL, customer id): pack() concatenates length-prefixed parts
    return _DATA_KEY_AAD_HEAD + pack(check_customer_id(customer_id).encode("utf-8"))


class KeyRing:
    """Master-key provider, index keys and (optionally) a pinned audit key.

    ``provider`` wraps per-customer data keys; ``index_keys`` feed blind indexes (and, unless
    ``audit_key`` is given, the audit chain); ``index_length`` is the blind-index token length
    in bytes (8-32). ``repr()`` shows key ids only.
    """

    __slots__ = ("_audit_key", "_blind_index", "_index_keys", "_provider")

    def __init__(
        self,
        provider: KeyProvider,
        index_keys: IndexKeys,
        *,
        audit_key: bytes | None = None,
        index_length: int = 16,
    ) -> None:
        if not isinstance(provider, KeyProvider):
            raise TypeError("provider must implement custrec.security.KeyProvider")
        if not isinstance(index_keys, IndexKeys):
            raise TypeError("index_keys must be a custrec.security.IndexKeys")
        self._provider = provider
        self._index_keys = index_keys
        self._audit_key = None if audit_key is None else check_key(audit_key, what="audit key")
        self._blind_index = BlindIndexer(index_keys, length=index_length)

    # -------------------------------------------------------------------------- constructors

    @classmethod
    def generate(cls) -> KeyRing:
        """Return a keyring of fresh random keys held in memory (tests and demos only:
        everything encrypted with it is lost when the process ends)."""
        return cls(StaticKeyProvider.generate("k1"), IndexKeys.generate("i1"))

    @classmethod
    def from_env(
        cls,
        *,
        environ: Mapping[str, str] | None = None,
        master_variable: str = DEFAULT_MASTER_VARIABLE,
        index_variable: str = DEFAULT_INDEX_VARIABLE,
        audit_variable: str = DEFAULT_AUDIT_VARIABLE,
        index_length: int = 16,
    ) -> KeyRing:
        """Load master keys, index keys and the optional audit key from the environment.

        ``CUSTREC_MASTER_KEYS`` and ``CUSTREC_INDEX_KEYS`` hold ``"<id>:<base64>[,...]"`` (the
        first entry current); ``CUSTREC_AUDIT_KEY`` (optional) one base64 key. Raises
        :class:`~custrec.errors.KeyConfigurationError` without echoing any value.
        """
        return cls(
            EnvKeyProvider(master_variable, environ=environ),
            IndexKeys.from_env(index_variable, environ=environ),
            audit_key=read_audit_key_from_env(audit_variable, environ=environ),
            index_length=index_length,
        )

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        allow_insecure_permissions: bool = False,
        index_length: int = 16,
    ) -> KeyRing:
        """Load everything from one JSON key file (see
        :func:`~custrec.security.keys.generate_key_file`)."""
        provider, index_keys, audit_key = load_key_file(
            path, allow_insecure_permissions=allow_insecure_permissions
        )
        return cls(provider, index_keys, audit_key=audit_key, index_length=index_length)

    # ----------------------------------------------------------------------------- accessors

    @property
    def provider(self) -> KeyProvider:
        """The master-key provider."""
        return self._provider

    @property
    def index_keys(self) -> IndexKeys:
        """The blind-index keys."""
        return self._index_keys

    @property
    def blind_index(self) -> BlindIndexer:
        """The :class:`~custrec.security.blind_index.BlindIndexer` over :attr:`index_keys`."""
        return self._blind_index

    def __repr__(self) -> str:
        return (
            f"KeyRing(provider={self._provider!r}, index_keys={self._index_keys!r}, "
            f"audit_key={'pinned' if self._audit_key is not None else 'derived'})"
        )

    # ----------------------------------------------------------------------------- data keys

    def new_data_key(self, customer_id: str) -> tuple[bytes, str, bytes]:
        """Make a random 32-byte data key for a customer.

        Returns ``(data key, master key id, wrapped key)``; store the last two (a
        ``WrappedKey``), keep the first only in memory. The wrapping is bound to
        ``customer_id``: it cannot be unwrapped for another customer.
        """
        aad = _data_key_aad(customer_id)
        data_key = os.urandom(KEY_SIZE)
        master_key_id, wrapped = self._provider.wrap(data_key, aad=aad)
        return data_key, master_key_id, wrapped

    def unwrap_data_key(self, customer_id: str, master_key_id: str, wrapped: bytes) -> bytes:
        """Return the customer's data key.

        Raises :class:`~custrec.errors.KeyUnavailable` if the master key is no longer
        configured and :class:`~custrec.errors.DecryptionFailed` if the wrapped key
        does not belong to this customer or was altered.
        """
        data_key = self._provider.unwrap(master_key_id, wrapped, aad=_data_key_aad(customer_id))
        if len(data_key) != KEY_SIZE:
            raise DecryptionFailed("unwrapped data key has the wrong length")
        return data_key

    def needs_rewrap(self, master_key_id: str) -> bool:
        """Tell whether a wrapped key uses a master key other than the current one."""
        return master_key_id != self._provider.current_key_id

    def rewrap(self, customer_id: str, master_key_id: str, wrapped: bytes) -> tuple[str, bytes]:
        """Re-wrap a customer's data key under the provider's current master key.

        Returns ``(new master key id, new wrapped key)``; the data key (and so every
        ciphertext) is unchanged. A key already under the current master key is returned as it
        is, so a rotation can be resumed.
        """
        if not self.needs_rewrap(master_key_id):
            return master_key_id, bytes(wrapped)
        data_key = self.unwrap_data_key(customer_id, master_key_id, wrapped)
        return self._provider.wrap(data_key, aad=_data_key_aad(customer_id))

    # --------------------------------------------------------------------------------- audit

    def audit_key(self, *, index_key_id: str | None = None) -> bytes:
        """Return the 32-byte audit-chain key.

        A pinned key (``audit_key=``, ``CUSTREC_AUDIT_KEY``, the key file's ``"audit_key"``) is
        returned as is. Otherwise it is derived with HKDF-SHA256 from the index key
        ``index_key_id`` (default: the current one) with ``info`` :data:`AUDIT_KEY_INFO`; after
        an index-key rotation, pass the old id to verify entries chained before it (or pin an
        audit key from the start).
        """
        if self._audit_key is not None:
            return self._audit_key
        key_id = self._index_keys.current if index_key_id is None else index_key_id
        return HKDF(
            algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=AUDIT_KEY_INFO
        ).derive(self._index_keys.secret(key_id))

    def audit_chain(self, *, index_key_id: str | None = None) -> AuditChain:
        """Return an :class:`~custrec.security.audit.AuditChain` under :meth:`audit_key`."""
        return AuditChain(self.audit_key(index_key_id=index_key_id))

    # --------------------------------------------------------------------------- fingerprint

    def fingerprint(self) -> KeyringFingerprint:
        """What identifies this keyring's audit and index keys, without revealing them.

        Each fingerprint is ``HMAC-SHA256(key, "custrec/keyring-fingerprint/v1")``, cut to 16
        bytes: one-way, and keyed by the key itself, so it tells nothing about the key or about
        anything the key protects. Master keys are not included (a KMS never shows them); the
        registry checks them by unwrapping a stored data key.
        """
        keys = self._index_keys
        derived = (
            {}
            if self._audit_key is not None
            else {i: _fingerprint(self.audit_key(index_key_id=i)) for i in keys.key_ids()}
        )
        return KeyringFingerprint(
            audit=_fingerprint(self.audit_key()),
            index={key_id: _fingerprint(keys.secret(key_id)) for key_id in keys.key_ids()},
            current_index=keys.current,
            derived_audit=derived,
        )


def _sorted_mapping(value: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(dict(value).items()))


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


@attrs.frozen(kw_only=True)
class KeyringFingerprint:
    """The audit key's and the index keys' fingerprints (``key id -> hex``) of a keyring.

    A store records the fingerprint of the keyring that wrote it (:meth:`to_record`), keeping in
    ``index`` only the index keys its rows may be indexed with; :meth:`check` compares a
    keyring with that record.
    """

    audit: str
    index: Mapping[str, str] = attrs.field(converter=_sorted_mapping)
    current_index: str
    derived_audit: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_mapping)
    """Without a pinned audit key: the fingerprint of the audit key each index key derives
    (to explain a mismatch after a rotation); empty when the audit key is pinned."""

    def to_record(self, *, indexed_with: Mapping[str, str] | None = None) -> bytes:
        """The stored form: the audit fingerprint and the index keys rows may be indexed with
        (``indexed_with``, default the current index key only)."""
        index = (
            {self.current_index: self.index[self.current_index]}
            if indexed_with is None
            else dict(indexed_with)
        )
        document = {"v": 1, "audit": self.audit, "index": dict(sorted(index.items()))}
        return json.dumps(document, separators=(",", ":")).encode()

    def check(self, record: bytes) -> bytes | None:
        """Compare this keyring with a stored record; return the record to store instead
        (the current index key added after a rotation), or ``None`` when it is up to date.

        Raises :class:`KeyringMismatch` when the audit key differs, or when an index key the
        rows may be indexed with is missing from this keyring or differs from it.
        """
        stored = _parse_record(record)
        if stored.get("plaintext"):
            raise KeyringMismatch(
                "this store was written without a keyring (plain JSON); open it without one"
            )
        stored_audit = str(stored.get("audit", ""))
        if not hmac.compare_digest(stored_audit, self.audit):
            older = [i for i, fp in self.derived_audit.items() if fp == stored_audit]
            if older:
                raise KeyringMismatch(
                    "the keyring derives its audit key from the current index key, which "
                    f"changed; the store's audit log is chained with the key derived from index "
                    f"key {older[0]!r}: pin it (KeyRing(..., audit_key="
                    f"ring.audit_key(index_key_id={older[0]!r})), or the key file's audit_key)"
                )
            raise KeyringMismatch(
                "the keyring's audit key is not the one this store's audit log is chained with; "
                "use the keys the store was created with"
            )
        indexed = stored.get("index")
        if not isinstance(indexed, dict) or not indexed:
            raise KeyringMismatch("the store's keyring fingerprint is malformed")
        for key_id, fingerprint in sorted(indexed.items()):
            mine = self.index.get(key_id)
            if mine is None:
                raise KeyringMismatch(
                    f"index key {key_id!r} is missing from the keyring, but rows of this store "
                    "are indexed with it (an index key may be dropped only once reindex() has "
                    "run under a newer one)"
                )
            if not hmac.compare_digest(str(fingerprint), mine):
                raise KeyringMismatch(
                    f"index key {key_id!r} of the keyring is not the one that indexed this "
                    "store; use the keys the store was created with"
                )
        if self.current_index in indexed:
            return None
        # a rotation: rows are now written under the new current key as well
        return self.to_record(
            indexed_with={**indexed, self.current_index: self.index[self.current_index]}
        )


PLAINTEXT_RECORD: Final = b'{"v":1,"plaintext":true}'
"""The keyring record of a store written without a keyring."""


def _parse_record(record: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(record)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("v") != 1:
        raise KeyringMismatch("the store's keyring fingerprint is malformed")
    return parsed


def is_plaintext_record(record: bytes) -> bool:
    """Whether a stored keyring record says the store was written without a keyring."""
    return bool(_parse_record(record).get("plaintext"))
