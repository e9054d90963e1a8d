"""Key management: master-key rotation, re-indexing, keys kept apart (``registry.keys``)."""

from __future__ import annotations

import time
from typing import Final

import attrs

from custrec._checks import check, positive_int
from custrec._log import get_logger, slow_batch
from custrec._progress import Progress, Reporter
from custrec.errors import NotFound
from custrec.security import Action, Actor, KeyringMismatch, Resource
from custrec.services._custom import row_facets
from custrec.services._documents import Documents
from custrec.services._opening import (
    APART,
    META_KEY_STORE_ID,
    META_KEYRING,
    META_LAYOUT,
    own_key_store,
    record_meta,
    store_id,
)
from custrec.services._records import Records, alias_target
from custrec.services.audit_head import StoreAuditHead
from custrec.services.context import Context, Unit, check_actor, check_optional_reason
from custrec.services.privacy import ERASED_SUBJECT
from custrec.services.results import RotationReport
from custrec.storage import Session, Store
from custrec.storage.codec import EncryptingCodec

__all__ = ["KeyService"]

_log: Final = get_logger(__name__)


class KeyService:
    """Re-wrap data keys under a new master key, re-index, move keys apart."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    def rotate_master(
        self,
        *,
        actor: Actor,
        reason: str | None = None,
        batch_size: int = 500,
        progress: Progress | None = None,
    ) -> RotationReport:
        """Re-wrap every data key under the keyring's current master key.

        Payloads are untouched (data keys do not change). Runs in batches, one transaction each,
        calling ``progress(keys_done)`` after every batch; it can be interrupted and resumed.
        Needs the ``manage_keys`` right.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        check("batch_size", batch_size, positive_int())
        ring = self._context.require_keyring("key management")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        rewrapped = unchanged = 0
        after: str | None = None
        store = (
            self._context.key_store if self._context.key_store is not None else self._context.store
        )
        reporter = Reporter(progress)
        _log.info("master key rotation to %s started", ring.provider.current_key_id)
        while True:
            started = time.monotonic()
            with store.transaction() as session:
                keys = session.keys.list(after=after, limit=batch_size)
                for key in keys:
                    if ring.needs_rewrap(key.master_key_id):
                        master_id, wrapped = ring.rewrap(
                            key.customer_id, key.master_key_id, key.wrapped
                        )
                        session.keys.replace(
                            attrs.evolve(key, master_key_id=master_id, wrapped=wrapped)
                        )
                        rewrapped += 1
                    else:
                        unchanged += 1
                session.commit()
            if not keys:
                break
            after = keys[-1].customer_id
            slow_batch(_log, "key rotation", started, len(keys))
            reporter.add(len(keys))
        reporter.finish()
        _log.info(
            "master key rotation to %s done: %d data keys re-wrapped, %d already current",
            ring.provider.current_key_id,
            rewrapped,
            unchanged,
        )
        with self._context.unit() as unit:
            unit.audit(
                actor,
                "keys.rotate_master",
                at=self._context.now(),
                fields=[f"rewrapped={rewrapped}", f"unchanged={unchanged}"],
                reason=reason,
            )
            unit.commit()
        return RotationReport(
            rewrapped=rewrapped,
            unchanged=unchanged,
            master_key_id=ring.provider.current_key_id,
        )

    def reindex(
        self,
        *,
        actor: Actor,
        reason: str | None = None,
        batch_size: int = 500,
        progress: Progress | None = None,
    ) -> int:
        """Rewrite every customer's index keys and facets as the current settings make them.

        Run it after adding a new index key (lookups keep working meanwhile because they try
        every configured index key), after changing :class:`~custrec.matching.MatchConfig`'s
        ``blocking``, after making a custom field filterable or indexed (rows written before
        carry no facet or look-up key for it), or after upgrading from a version without
        blocking keys, name search or facets. Every record is opened
        to recompute its keys; only rows whose keys differ are written. Returns how many
        customers were re-indexed. Needs the ``manage_keys`` right.

        Runs in batches of ``batch_size`` rows, one transaction each, calling
        ``progress(rows_done)`` after every committed batch (the last call gives every row
        looked at); a callback that raises stops it there, and a re-run finishes the rest.

        The register of erased subjects cannot be re-keyed (it holds tokens, the values are
        gone): its entries made before a new index key was added stay under the older key and
        are checked only while that key is in the keyring. Re-indexing counts them (a warning,
        and ``erased_subject_old_key=N`` in its audit entry); see docs/security.md.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        check("batch_size", batch_size, positive_int())
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        count = 0
        after: str | None = None
        reporter = Reporter(progress)
        _log.info("re-index started")
        while True:
            started = time.monotonic()
            with self._context.unit() as unit:
                rows = unit.session.customers.query(after=after, limit=batch_size)
                for row in rows:
                    if row.state == "erased":
                        continue
                    target = alias_target(row) if row.state == "merged" else None
                    facets: frozenset[str] = frozenset()
                    if target is not None:
                        keys = frozenset({self._context.codec.index_key(("merged_into", target))})
                    else:
                        customer = self._records.customer(unit, row)
                        fields = unit.fields()
                        keys = self._records.index_keys(customer, fields=fields)
                        facets = row_facets(customer, fields)
                    if keys == row.index_keys and facets == row.facets:
                        continue
                    unit.session.customers.update(
                        attrs.evolve(row, index_keys=keys, facets=facets),
                        expected_version=row.version,
                    )
                    count += 1
                unit.commit()
            if not rows:
                break
            after = rows[-1].id
            slow_batch(_log, "re-index", started, len(rows))
            reporter.add(len(rows))
        reporter.finish()
        _log.info("re-index done: %d of %d customer rows rewritten", count, reporter.done)
        with self._context.unit() as unit:
            if self._context.keyring is not None:  # every row now uses the current index key only
                unit.session.meta.put(META_KEYRING, self._context.keyring.fingerprint().to_record())
            audited = [f"customers={count}"]
            old = self._old_register_entries(unit)
            if old:
                audited.append(f"erased_subject_old_key={old}")
                _log.warning(
                    "%d entries of the register of erased subjects are under older index keys: "
                    "they are checked only while those keys stay in the keyring",
                    old,
                )
            unit.audit(
                actor,
                "keys.reindex",
                at=self._context.now(),
                fields=audited,
                reason=reason,
            )
            unit.commit()
        return count

    def _old_register_entries(self, unit: Unit) -> int:
        """How many register entries of erased subjects hold a token of an older index key."""
        ring = self._context.keyring
        if ring is None:
            return 0
        indexer = ring.blind_index
        return sum(
            1 for doc in Documents.every(unit, ERASED_SUBJECT) if not indexer.is_current(doc.id)
        )

    def separate(
        self,
        *,
        actor: Actor,
        key_store: Store | None = None,
        reason: str | None = None,
        batch_size: int = 500,
    ) -> int:
        """Move the data keys of a store that keeps them inside it to a key store of their own.

        For stores written before keys were kept apart (a :class:`KeyLayoutWarning` says so):
        ``key_store`` defaults to the store's own (the file beside an SQLite database). Keys
        are copied first (a re-run skips those already there), the store is then switched to
        the key store, and the copies left in the database are deleted (SQLite overwrites them
        and truncates its log). Interrupted, it can be run again. From then on the registry
        and every later one use the key store. Returns how many keys were moved. Needs the
        ``manage_keys`` right.
        """
        actor = check_actor(actor)
        reason = check_optional_reason(reason)
        ring = self._context.require_keyring("key management")
        check("batch_size", batch_size, positive_int())
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        target = (
            key_store if key_store is not None else own_key_store(self._context.store, create=True)
        )
        if target is None or target is self._context.store:
            raise ValueError("keys.separate() needs a key store: pass key_store=")
        if self._context.key_store is not None and self._context.key_store is not target:
            raise ValueError("this registry already keeps its data keys in another key store")
        key_store_id = store_id(target)
        with self._context.store.transaction(readonly=True) as session:
            paired = session.meta.get(META_KEY_STORE_ID)
        if paired is not None and paired != key_store_id:
            raise KeyringMismatch("this key store belongs to another database")
        moved = 0
        after: str | None = None
        while True:  # 1. copy
            with self._context.store.transaction(readonly=True) as session:
                batch = session.keys.list(after=after, limit=batch_size)
            if not batch:
                break
            with target.transaction() as session:
                present = {k.customer_id for k in batch if _has_key(session, k.customer_id)}
                fresh = [k for k in batch if k.customer_id not in present]
                session.keys.put_many(fresh)
                session.commit()
            moved += len(batch)
            after = batch[-1].customer_id
        # 2. switch: from now on the store's keys are in the key store
        record_meta(self._context.store, {META_KEY_STORE_ID: key_store_id})
        with self._context.store.transaction() as session:
            session.meta.put(META_LAYOUT, APART)
            session.commit()
        self._context.key_store = target
        self._context.codec = EncryptingCodec(ring, key_store=target)
        if self._context.head is None:
            self._context.head = StoreAuditHead(target)
        while True:  # 3. delete the copies left inside
            with self._context.store.transaction() as session:
                batch = session.keys.list(limit=batch_size)
                for key in batch:
                    session.keys.delete(key.customer_id)
                session.commit()
            if not batch:
                break
        with self._context.unit() as unit:
            unit.audit(
                actor,
                "keys.separate",
                at=self._context.now(),
                fields=[f"keys={moved}"],
                reason=reason,
            )
            unit.commit()
        return moved


def _has_key(session: Session, customer_id: str) -> bool:
    try:
        session.keys.get(customer_id)
    except NotFound:
        return False
    return True
