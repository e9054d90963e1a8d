"""Opening a store: is this keyring the one that wrote it, and where do its data keys live?

The data store records, on first use, the fingerprint of the keyring that wrote it
(:meth:`~custrec.security.KeyRing.fingerprint`), where its data keys live (inside it, or apart
in a key store), and the id of its key store; the key store records its own id and, for every
master key that was current, a probe (a fixed value wrapped under it). :func:`open_keyed`
checks all of that before anything is written and refuses a mismatch with
:class:`~custrec.errors.KeyringMismatch`; only then is what is new recorded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Final

from custrec.errors import KeyLayoutWarning, NotFound
from custrec.security import (
    DecryptionFailed,
    KeyRing,
    KeyringFingerprint,
    KeyringMismatch,
    KeyUnavailable,
)
from custrec.security.keyring import PLAINTEXT_RECORD, is_plaintext_record
from custrec.storage import KeyStoreOwner, Session, Store

__all__ = [
    "APART",
    "INSIDE",
    "META_KEYRING",
    "META_KEY_STORE_ID",
    "META_LAYOUT",
    "META_STORE_ID",
    "open_keyed",
    "open_plaintext",
    "own_key_store",
    "record_meta",
    "store_id",
]

META_KEYRING: Final = "custrec.keyring"  # the keyring fingerprint record (data store)
META_LAYOUT: Final = "custrec.keys"  # b"apart" or b"inside" (data store)
META_KEY_STORE_ID: Final = "custrec.key_store_id"  # the paired key store's id (data store)
META_STORE_ID: Final = "custrec.store_id"  # a key store's own id
META_PROBE: Final = "custrec.master_probe."  # + master key id: a value wrapped under it
APART: Final = b"apart"
INSIDE: Final = b"inside"


def open_plaintext(store: Store) -> None:
    """Refuse an encrypted store; record that this one is plain on first use."""
    with store.transaction(readonly=True) as session:
        record = session.meta.get(META_KEYRING)
        keyed = record is None and written_with_keys(session)
    if record is not None:
        if not is_plaintext_record(record):
            raise KeyringMismatch(
                "this store was written with a keyring; open it with the keyring it was "
                "created with"
            )
        return
    if keyed:
        raise KeyringMismatch(
            "this store holds encrypted data (its audit log is chained); open it with the "
            "keyring it was created with"
        )
    record_meta(store, {META_KEYRING: PLAINTEXT_RECORD})


def open_keyed(store: Store, keyring: KeyRing, given: Store | None) -> Store | None:
    """Check the keyring against the store (its fingerprint, its master keys), choose where
    data keys live and pair the key store with the store; only when every check has passed,
    record what is new. Returns the key store (``None`` when keys live in the store)."""
    fingerprint = keyring.fingerprint()
    with store.transaction(readonly=True) as session:
        record = session.meta.get(META_KEYRING)
        layout = session.meta.get(META_LAYOUT)
        paired = session.meta.get(META_KEY_STORE_ID)
        keys_inside = bool(session.keys.list(limit=1))
        first = session.audit.read(limit=1)
    if record is None:
        if first and not (first[0].chain and keyring.audit_chain().verify(first).ok):
            raise KeyringMismatch(
                "these keys did not write this store (its audit log does not verify with "
                "them); use the keys the store was created with"
            )
        new_record: bytes | None = fingerprint.to_record()
    else:
        new_record = fingerprint.check(record)
    other = given if given is not None and given is not store else None
    chosen = layout
    key_store: Store | None = None
    if chosen is None:
        if keys_inside or given is store:
            chosen = INSIDE
        elif other is not None:
            chosen = APART
        else:
            key_store = own_key_store(store, create=True)
            chosen = INSIDE if key_store is None else APART
    if chosen == INSIDE:
        if other is not None:
            raise KeyringMismatch(
                "this store keeps its data keys inside it; move them to a key store with "
                "registry.keys.separate() before passing key_store="
            )
        if given is None and _has_own_key_store(store):
            warnings.warn(
                "this store keeps its data keys inside the database, so a backup of it "
                "holds them and erasures are not final in backups; move them apart with "
                "registry.keys.separate()",
                KeyLayoutWarning,
                stacklevel=4,
            )
    else:
        if given is store:
            raise KeyringMismatch(
                "this store keeps its data keys in a separate key store; pass that store "
                "as key_store= (not the store itself)"
            )
        if key_store is None:
            key_store = other if other is not None else own_key_store(store, create=False)
        if key_store is None:
            raise KeyringMismatch(
                "this store keeps its data keys in a separate key store; pass it as key_store="
            )
    key_store_id: bytes | None = None
    new_id = False
    if key_store is not None:
        with key_store.transaction(readonly=True) as session:
            key_store_id = session.meta.get(META_STORE_ID)
        if key_store_id is None:
            if paired is not None:
                raise KeyringMismatch(
                    "this key store belongs to another database (it is new, but this store "
                    "was paired with one before); use the key store created with it"
                )
            key_store_id, new_id = os.urandom(16).hex().encode(), True
        elif paired is not None and paired != key_store_id:
            raise KeyringMismatch(
                "this key store belongs to another database (its id differs from the one "
                "this store was paired with); use the key store created with it"
            )
    source = key_store if key_store is not None else store
    probe = _check_master_keys(keyring, source)
    # every check has passed: record what is new, the key store's part first
    key_values: dict[str, bytes] = {}
    if new_id and key_store_id is not None:
        key_values[META_STORE_ID] = key_store_id
    if probe is not None:
        key_values[probe[0]] = probe[1]
    if key_store is not None and key_values:
        record_meta(key_store, key_values)
    writes: dict[str, bytes] = {} if key_store is not None else key_values
    if new_record is not None:
        writes[META_KEYRING] = new_record
    if layout is None:
        writes[META_LAYOUT] = chosen
    if key_store is not None and paired is None and key_store_id is not None:
        writes[META_KEY_STORE_ID] = key_store_id
    if writes:
        record_meta(store, writes, fingerprint=fingerprint)
    return key_store


def record_meta(
    store: Store,
    values: Mapping[str, bytes],
    *,
    fingerprint: KeyringFingerprint | None = None,
) -> None:
    """Write meta values first seen by this registry, checking them again under the write
    lock (another process may have recorded them meanwhile)."""
    with store.transaction() as session:
        for name, value in values.items():
            current = session.meta.get(name)
            if current is not None and name == META_KEYRING and fingerprint is not None:
                update = fingerprint.check(current)
                if update is not None:
                    session.meta.put(name, update)
            elif current is None:
                session.meta.put(name, value)
            elif current != value and not name.startswith(META_PROBE):
                raise KeyringMismatch(
                    f"the store's {name} changed while it was being opened; open it again"
                )
        session.commit()


def own_key_store(store: Store, *, create: bool) -> Store | None:
    """The key store a store keeps of its own (``None``: none configured); without ``create`` a
    missing one is a refusal, not a new empty file."""
    if not isinstance(store, KeyStoreOwner):
        return None
    try:
        return store.open_key_store(create=create)
    except NotFound as exc:
        raise KeyringMismatch(
            f"this store keeps its data keys in a key store of its own, which is missing ({exc});"
            " restore it from its backup: without it nothing can be read"
        ) from None


def _has_own_key_store(store: Store) -> bool:
    """Whether a store is configured to keep its data keys in a key store of its own."""
    if not isinstance(store, KeyStoreOwner):
        return False
    try:
        return store.open_key_store(create=False) is not None
    except NotFound:
        return True


_PROBE_AAD: Final = b"custrec/master-probe/v1"
_PROBE_VALUE: Final = bytes(32)


def _check_master_keys(keyring: KeyRing, source: Store) -> tuple[str, bytes] | None:
    """Refuse a keyring whose master keys cannot unwrap what they wrapped before.

    Every master key that was current for a registry has a probe in the meta of ``source`` (the
    store holding the data keys): a fixed value wrapped under it, which a keyring's key of the
    same id must unwrap. A store without probes (new, or written by an earlier version) has
    one stored data key of each master key id in use unwrapped instead (reading its key table
    once); otherwise the first stored key is. Returns the probe to record for the keyring's
    current master key when it has none yet.
    """
    provider = keyring.provider
    ids = sorted(provider.key_ids())
    with source.transaction(readonly=True) as session:
        probes = {i: session.meta.get(META_PROBE + i) for i in ids}
    for key_id, probe in probes.items():
        if probe is None:
            continue
        try:
            ok = provider.unwrap(key_id, probe, aad=_PROBE_AAD) == _PROBE_VALUE
        except (KeyUnavailable, DecryptionFailed):
            ok = False
        if not ok:
            raise KeyringMismatch(
                f"the keyring's master key {key_id!r} is not the one that wrapped this store's "
                "data keys under that id; use the keys the store was created with"
            )
    has_probes = any(p is not None for p in probes.values())
    _check_stored_keys(keyring, source, every_id=not has_probes)
    if probes.get(provider.current_key_id) is not None:
        return None
    key_id, wrapped = provider.wrap(_PROBE_VALUE, aad=_PROBE_AAD)
    return META_PROBE + key_id, wrapped


def _check_stored_keys(keyring: KeyRing, source: Store, *, every_id: bool) -> None:
    """Unwrap stored data keys with the keyring: the first one, or (``every_id``) one of each
    master key id in use."""
    seen: set[str] = set()
    after: str | None = None
    while True:
        with source.transaction(readonly=True) as session:
            page = session.keys.list(after=after, limit=1000 if every_id else 1)
        for key in page:
            if key.master_key_id in seen:
                continue
            seen.add(key.master_key_id)
            try:
                keyring.unwrap_data_key(key.customer_id, key.master_key_id, key.wrapped)
            except (KeyUnavailable, DecryptionFailed):
                raise KeyringMismatch(
                    f"the keyring's master keys cannot unwrap this store's data keys (master "
                    f"key {key.master_key_id!r} is missing or differs); use the keys the store "
                    "was created with"
                ) from None
        if not every_id or not page:
            return
        after = page[-1].customer_id


def written_with_keys(session: Session) -> bool:
    """Whether a store without a keyring record was written with a keyring (a chained audit
    log or stored data keys)."""
    first = session.audit.read(limit=1)
    return bool(first and first[0].chain) or bool(session.keys.list(limit=1))


def store_id(store: Store) -> bytes:
    """A key store's own random id, made on first use."""
    with store.transaction(readonly=True) as session:
        found = session.meta.get(META_STORE_ID)
    if found is not None:
        return found
    with store.transaction() as session:
        found = session.meta.get(META_STORE_ID)
        if found is None:
            found = os.urandom(16).hex().encode()
            session.meta.put(META_STORE_ID, found)
            session.commit()
    return found
