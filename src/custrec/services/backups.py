"""Backups of an SQLite registry, and their restore (``registry.backups``, :func:`restore_backup`).

A backup is a consistent online copy of the *data* file, made with SQLite's backup API while
writers go on; the key store is copied only when asked, into a file of its own. The key store
keeps a signed record of every backup (its SHA-256, the newest audit entry it holds), so a
restore can tell a backup this deployment made, unaltered, from any other file.

Restoring replaces the database with the backup and so rolls the audit log back to the entry
the backup ends with, which the audit head (kept outside the data) still names a later entry
than. :func:`restore_backup` makes that rollback part of the record instead of a hole: in a
private copy of the backup, before it is put in place, it verifies the copy's chain up to the
recorded entry, appends a ``backup.restore`` entry naming the backup's end and the head the log
is rolled back from, replays the erasure journal, and only after the files are in place moves
the head to the new end. ``registry.audit.verify()`` then passes, and the rollback is an entry
of the chain; a log cut short any other way still fails against the head.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, storable_text
from custrec.backends._sqlite.backup import (
    OVERWRITE_HINT,
    copy_held,
    copy_verbatim,
    held_for_swap,
    inspect_database,
    place_database,
    private_temporary,
    remove_quietly,
    settle,
    sidecars,
)
from custrec.backends.sqlite import SCHEMA_VERSION, SQLiteStore, key_file_for
from custrec.errors import BackupError, BackupUnavailable, StorageError
from custrec.security import (
    AccessPolicy,
    Action,
    Actor,
    Checkpoint,
    KeyRing,
    Resource,
    RoleBasedPolicy,
)
from custrec.services._opening import META_KEYRING, META_STORE_ID, open_keyed, open_plaintext
from custrec.services._records import Records
from custrec.services.audit_head import AuditHead, FileAuditHead, StoreAuditHead
from custrec.services.context import Clock, Context, check_actor, check_reason, utc_now
from custrec.services.privacy import PrivacyService
from custrec.storage import AuditRecord, Session, Store
from custrec.storage.codec import EncryptingCodec, PlaintextCodec, RecordCodec

__all__ = [
    "BACKUP_ACTION",
    "LEDGER_PREFIX",
    "RESTORE_ACTION",
    "BackupReceipt",
    "BackupService",
    "RestoreReceipt",
    "restore_backup",
]

BACKUP_ACTION: Final = "backup.create"
"""The audit action of a backup (in the live log, after the copy)."""
RESTORE_ACTION: Final = "backup.restore"
"""The audit action of a restore (the first entry after the backup's end)."""
LEDGER_PREFIX: Final = "custrec.backup."
"""The key store's ``meta`` name of a backup's signed record, followed by its SHA-256 (hex)."""
_LEDGER_INFO: Final = b"custrec/backup-record/v1"
_BUSY: Final = 30.0  # seconds to wait for the writers of a file being replaced
_PAGE: Final = 1000


@attrs.frozen(kw_only=True)
class BackupReceipt:
    """What a backup holds (no personal data): keep it with the backup's catalogue entry.

    ``path`` and ``size`` (bytes) and ``sha256`` (hex) describe the file; ``schema_version``
    is the backend schema it holds; ``audit_seq`` is the newest audit entry in it (0: none)
    and ``head`` a signed checkpoint of that entry (``None`` without a keyring). ``recorded``
    tells whether the key store recorded the backup (a restore checks the file against that
    record); ``keys_path`` names the copy of the key store, when one was asked for.
    """

    path: str
    size: int
    sha256: str
    made_at: datetime
    schema_version: int
    audit_seq: int
    head: Checkpoint | None
    recorded: bool
    keys_path: str | None = None


@attrs.frozen(kw_only=True)
class RestoreReceipt:
    """What a restore did (no personal data).

    ``audit_seq`` is the backup's newest audit entry, ``rolled_back_from`` the sequence number
    the audit head named before (``None``: no head), ``restore_seq`` the ``backup.restore``
    entry and ``head`` the new head; ``recorded`` tells whether the key store had a record of
    the backup; ``replayed`` lists the customers erased again; ``keys_restored`` whether the
    key store was restored too.
    """

    database: str
    backup: str
    restored_at: datetime
    schema_version: int
    audit_seq: int
    rolled_back_from: int | None
    restore_seq: int
    head: Checkpoint | None
    recorded: bool
    replayed: tuple[str, ...]
    keys_restored: bool


class BackupService:
    """Backups of the data file (``registry.backups``); :func:`restore_backup` restores one."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def backup(
        self,
        path: str | os.PathLike[str],
        *,
        actor: Actor,
        include_keys: bool = False,
        overwrite: bool = False,
    ) -> BackupReceipt:
        """Write a consistent copy of the database to ``path`` while the registry stays in use.

        The copy is one snapshot, taken with SQLite's backup API (writers go on meanwhile),
        and a single file with mode 0600: it holds sealed personal data. It holds no data key:
        with ``include_keys`` the key store is copied too, into a file of its own beside it
        (``key_file_for(path)``) — move that one elsewhere, since a key copy kept with the data
        copy keeps every erased customer readable. An existing file is refused with
        :class:`~custrec.errors.BackupError` unless ``overwrite``. The key store records the
        backup (signed; :func:`restore_backup` checks the file against it), and the backup is
        audited (``backup.create``). Needs ``manage_keys`` (``admin``).
        :class:`~custrec.errors.BackupUnavailable` for a store custrec cannot copy (in
        memory; PostgreSQL: use ``pg_dump`` or point-in-time recovery) or one that keeps its
        data keys inside the database.
        """
        actor = check_actor(actor)
        include_keys, overwrite = bool(include_keys), bool(overwrite)
        target = _path("path", path)
        store, key_store = self._sources(include_keys=include_keys)
        keys_target = key_file_for(target) if key_store is not None else None
        own = {store.path, store.key_file}
        for name in (target, keys_target):
            if name is not None and name in own:
                raise BackupError(f"{name} is a file of the live database")
            if name is not None and os.path.lexists(name) and not overwrite:
                raise BackupError(f"{name} exists; choose another name or {OVERWRITE_HINT}")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        copied, newest = store.copy_to(target, inspect=_newest, overwrite=overwrite)
        chain = self._context.chain
        head = chain.checkpoint(newest) if chain is not None and newest is not None else None
        audit_seq = newest.seq if newest is not None else 0
        try:
            recorded = self._record(copied.sha256, copied.size, audit_seq, head, now, actor)
            with self._context.unit() as unit:
                unit.audit(
                    actor,
                    BACKUP_ACTION,
                    at=now,
                    fields=[
                        f"audit_seq={audit_seq}",
                        f"sha256={copied.sha256}",
                        "keys=copied" if key_store is not None else "keys=apart",
                    ],
                )
                unit.commit()
        except BaseException:
            remove_quietly(copied.path)
            raise
        keys_path = None
        if key_store is not None and keys_target is not None:
            if self._context.head is not None:
                self._context.head.read()  # the copy holds the head of every commit before
            keys_copy, _ = key_store.copy_to(keys_target, inspect=_nothing, overwrite=overwrite)
            keys_path = keys_copy.path
        return BackupReceipt(
            path=copied.path,
            size=copied.size,
            sha256=copied.sha256,
            made_at=now,
            schema_version=copied.schema_version,
            audit_seq=audit_seq,
            head=head,
            recorded=recorded,
            keys_path=keys_path,
        )

    def _sources(self, *, include_keys: bool) -> tuple[SQLiteStore, SQLiteStore | None]:
        """The store to copy, and the key store when it is to be copied too."""
        store = self._context.store
        if not isinstance(store, SQLiteStore):
            raise BackupUnavailable(_unavailable(store))
        if store.path == ":memory:":
            raise BackupUnavailable("an in-memory SQLite database has no file to back up")
        if self._context.keyring is not None and self._context.key_store is None:
            raise BackupUnavailable(
                "this database keeps its data keys inside it, so any copy of it would hold "
                "them and erasures would not be final in backups; move them apart first with "
                "registry.keys.separate()"
            )
        if not include_keys:
            return store, None
        key_store = self._context.key_store
        if key_store is None:
            raise ValueError("include_keys needs a keyring: this registry has no data keys")
        if not isinstance(key_store, SQLiteStore) or key_store.path == ":memory:":
            raise BackupUnavailable(
                f"the key store ({type(key_store).__name__}) is not an SQLite file; back it up "
                "with its own tools"
            )
        return store, key_store

    def _record(
        self,
        sha256: str,
        size: int,
        audit_seq: int,
        head: Checkpoint | None,
        now: datetime,
        actor: Actor,
    ) -> bool:
        """Record the backup, signed, in the key store; ``False`` when there is none."""
        keyring, key_store = self._context.keyring, self._context.key_store
        if keyring is None or key_store is None:
            return False
        fields: dict[str, Any] = {
            "sha256": sha256,
            "size": size,
            "audit_seq": audit_seq,
            "head": head.to_dict() if head is not None else None,
            "made_at": now.isoformat(timespec="microseconds"),
            "actor_id": actor.id,
        }
        fields["signature"] = _signature(keyring, fields)
        with key_store.transaction() as session:
            session.meta.put(LEDGER_PREFIX + sha256, json.dumps(fields, sort_keys=True).encode())
            session.commit()
        return True


def restore_backup(
    backup: str | os.PathLike[str],
    database: str | os.PathLike[str],
    *,
    keyring: KeyRing | None,
    actor: Actor,
    reason: str,
    key_file: str | os.PathLike[str] | None = None,
    keys_backup: str | os.PathLike[str] | None = None,
    erased: Iterable[str] = (),
    allow_unrecorded: bool = False,
    audit_head: AuditHead | str | os.PathLike[str] | None = None,
    policy: AccessPolicy | None = None,
    clock: Clock | None = None,
) -> RestoreReceipt:
    """Replace the SQLite database at ``database`` by a backup, with the rollback on record.

    Stop every process using the database first: no registry may have it open. A store or
    registry that has it (or, with a keyring, its key store) open, or any other SQLite
    connection that has read from either, in this process or another, is refused with
    :class:`~custrec.errors.BackupError` before anything is written: the files are replaced
    under SQLite's exclusive lock, which none of them lets it take (a connection opened but
    never used holds no lock, and cannot be seen: stop those too). The backup
    is checked before anything is written (:class:`~custrec.errors.BackupError` for a missing
    file, one that is not a custrec database, a damaged or newer one;
    :class:`~custrec.errors.KeyringMismatch` for a backup of another keyring or another
    database). With a keyring, the key store (``key_file``, default beside ``database``) must
    hold the record of the backup that ``registry.backups.backup`` made, matching the file
    byte for byte, and the backup's audit chain must verify up to the entry recorded;
    ``allow_unrecorded`` restores a file without a valid record too (made elsewhere, or
    altered), and the restore's audit entry says so.

    A private copy of the backup is brought up to this custrec's schema, gets a
    ``backup.restore`` audit entry (the backup's newest entry and the audit head the log is
    rolled back from, by sequence number and chain value; ``reason``), and the erasure journal
    is replayed into it (:meth:`~custrec.services.PrivacyService.replay_erasures`, with
    ``erased`` for ids of a journal kept elsewhere), so customers erased since the backup stay
    erased; the data keys it destroys are destroyed in a private copy of the key store, held
    meanwhile so that nothing else changes it. Only then are both put in place (the key store
    first), and the audit head (in the key store, or ``audit_head``) moved to its new end:
    ``registry.audit.verify()`` passes afterwards. A restore refused at any point before
    leaves the live files as they were.
    ``keys_backup`` restores the key store from a copy made with ``include_keys`` as well (when
    it was lost): erasures after that copy then come back only through ``erased``.

    Needs ``manage_keys`` (``admin``) under ``policy`` (default
    :class:`~custrec.security.RoleBasedPolicy`); a refusal writes nothing. If the restore is
    interrupted once it has begun to replace the files, run it again.
    """
    actor = check_actor(actor)
    reason = check_reason(reason, "restore_backup()")
    if keyring is not None and not isinstance(keyring, KeyRing):
        raise TypeError("keyring must be a custrec.security.KeyRing or None")
    source = _path("backup", backup)
    target = _path("database", database)
    keys = _path("key_file", key_file) if key_file is not None else key_file_for(target)
    keys_source = _path("keys_backup", keys_backup) if keys_backup is not None else None
    ids = [check("erased", one, storable_text()) for one in erased]
    if keyring is None and (keys_source is not None or ids or audit_head is not None):
        raise ValueError("keys_backup, erased and audit_head need a keyring")
    if source in (target, keys) or keys_source in (target, keys, source):
        raise BackupError("a backup must be restored from a file other than the live ones")
    for directory in {os.path.dirname(target), os.path.dirname(keys)}:
        if not os.path.isdir(directory):
            raise BackupError(f"no directory {directory} to restore into")
    schema_version = inspect_database(source, latest=SCHEMA_VERSION)
    if keys_source is not None:
        inspect_database(keys_source, latest=SCHEMA_VERSION)
    with held_for_swap(target, busy_timeout=_BUSY):
        pass  # open elsewhere: refused now, before the work (and again when it is replaced)
    prepared: str | None = None
    prepared_keys: str | None = None
    try:
        with contextlib.ExitStack() as holds:
            held_keys: sqlite3.Connection | None = None
            if keyring is not None and keys_source is None:
                # the erasures are replayed into a copy of the live key store, held from
                # before the copy until it is replaced: it changes only if the restore does
                held_keys = holds.enter_context(held_for_swap(keys, busy_timeout=_BUSY))
            prepared, sha256 = _prepare(source, target)
            if keys_source is not None:
                prepared_keys, _ = _prepare(keys_source, keys)
            elif held_keys is not None:
                prepared_keys = _prepare_held(held_keys, keys)
            restore = _Restore(
                keyring=keyring,
                actor=actor,
                policy=policy if policy is not None else RoleBasedPolicy(),
                clock=clock if clock is not None else utc_now,
                sha256=sha256,
            )
            head = _head(
                audit_head,
                keys if keys_source is not None else prepared_keys or keys,
                keyring,
                keys_restored=keys_source is not None,
            )
            store = SQLiteStore(prepared, key_file=prepared_keys or keys)
            try:
                outcome = restore.run(
                    store,
                    reason=reason,
                    ids=ids,
                    allow_unrecorded=bool(allow_unrecorded),
                    head=head,
                )
            finally:
                store.close()
            for path in (prepared, prepared_keys):
                if path is not None:
                    settle(path)
            # both files held before either is replaced
            held = holds.enter_context(held_for_swap(target, busy_timeout=_BUSY))
            if prepared_keys is not None:
                if keys_source is not None:
                    held_keys = holds.enter_context(held_for_swap(keys, busy_timeout=_BUSY))
                place_database(prepared_keys, keys, held=held_keys)
            place_database(prepared, target, held=held)
    except BaseException:
        for path in (prepared, prepared_keys):
            if path is not None:
                remove_quietly(path, *sidecars(path), path + "-writers.lock")
        raise
    new_head = outcome.head
    if new_head is not None:
        _target_head(audit_head, keys).replace(new_head)
    return RestoreReceipt(
        database=target,
        backup=source,
        restored_at=outcome.at,
        schema_version=schema_version,
        audit_seq=outcome.audit_seq,
        rolled_back_from=outcome.rolled_back_from,
        restore_seq=outcome.restore_seq,
        head=new_head,
        recorded=outcome.recorded,
        replayed=outcome.replayed,
        keys_restored=keys_source is not None,
    )


@attrs.frozen(kw_only=True)
class _Outcome:
    at: datetime
    audit_seq: int
    rolled_back_from: int | None
    restore_seq: int
    head: Checkpoint | None
    recorded: bool
    replayed: tuple[str, ...]


@attrs.define(kw_only=True)
class _Restore:
    """The part of a restore done inside the private copy of the backup."""

    keyring: KeyRing | None
    actor: Actor
    policy: AccessPolicy
    clock: Clock
    sha256: str

    def run(
        self,
        store: SQLiteStore,
        *,
        reason: str,
        ids: list[str],
        allow_unrecorded: bool,
        head: Checkpoint | None,
    ) -> _Outcome:
        with store.transaction(readonly=True) as session:
            key_store_only = session.meta.get(META_STORE_ID) is not None
            key_store_only = key_store_only and session.meta.get(META_KEYRING) is None
        if key_store_only:
            raise BackupError(
                "this is a copy of a key store, not of a database; pass it as keys_backup="
            )
        context = self._context(store)
        now = context.now()
        with context.unit() as unit:
            unit.authorize(self.actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        newest = _newest_of(store)
        recorded = self._check(context, newest, allow_unrecorded=allow_unrecorded)
        fields = [
            f"backup_seq={newest.seq if newest is not None else 0}",
            f"backup_chain={newest.chain.hex() if newest is not None and newest.chain else ''}",
            f"from_seq={head.seq if head is not None else 0}",
            f"from_chain={head.chain.hex() if head is not None else ''}",
            f"sha256={self.sha256}",
            f"recorded={'yes' if recorded else 'no'}",
        ]
        with context.unit() as unit:
            unit.audit(
                self.actor, RESTORE_ACTION, at=now, fields=fields, reason=reason, change=True
            )
            unit.commit()
        restored = _newest_of(store)
        assert restored is not None  # the restore's own entry
        replayed: list[str] = []
        if self.keyring is not None:
            privacy = PrivacyService(context, Records(context))
            replayed = privacy.replay_erasures(actor=self.actor, ids=ids)
        return _Outcome(
            at=now,
            audit_seq=newest.seq if newest is not None else 0,
            rolled_back_from=head.seq if head is not None else None,
            restore_seq=restored.seq,
            head=context.head.read() if context.head is not None else None,
            recorded=recorded,
            replayed=tuple(replayed),
        )

    def _context(self, store: SQLiteStore) -> Context:
        """A context over the private copy; its audit head is a new one, kept in memory until
        the copy is in place."""
        codec: RecordCodec
        key_store: Store | None = None
        if self.keyring is None:
            open_plaintext(store)
            codec = PlaintextCodec()
        else:
            key_store = open_keyed(store, self.keyring, None)
            codec = EncryptingCodec(self.keyring, key_store=key_store)
        return Context(
            store=store,
            codec=codec,
            policy=self.policy,
            keyring=self.keyring,
            key_store=key_store,
            chain=self.keyring.audit_chain() if self.keyring is not None else None,
            head=_PendingHead() if self.keyring is not None else None,
            clock=self.clock,
        )

    def _check(
        self, context: Context, newest: AuditRecord | None, *, allow_unrecorded: bool
    ) -> bool:
        """Whether the key store recorded this backup (refused without a valid record unless
        ``allow_unrecorded``); the copy's chain must verify up to the recorded entry."""
        if self.keyring is None or context.chain is None:
            return False
        record = _recorded(self.keyring, context.key_store, self.sha256)
        if record is None and not allow_unrecorded:
            raise BackupError(
                "the key store has no valid record of this backup (made by another "
                "deployment or by copying files, or altered since it was made); check where it "
                "comes from, then pass allow_unrecorded=True to restore it anyway"
            )
        checkpoint = _record_head(record)
        seq = newest.seq if newest is not None else 0
        if record is not None and record.get("audit_seq") != seq:
            raise BackupError("the backup's audit log does not end where its record says")
        result = context.chain.verify(_entries(context.store), checkpoint=checkpoint)
        if not result.ok:
            raise BackupError(
                f"the backup's audit log does not verify ({result.problem} at entry "
                f"{result.seq}); it was altered or is not this deployment's"
            )
        return record is not None


class _PendingHead:
    """An :class:`~custrec.services.AuditHead` in memory: the restored log's head until the
    files are in place."""

    def __init__(self) -> None:
        self._head: Checkpoint | None = None

    def read(self) -> Checkpoint | None:
        return self._head

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        if self._head is None or self._head.seq < checkpoint.seq:
            self._head = checkpoint
        return True

    def replace(self, checkpoint: Checkpoint) -> None:
        self._head = checkpoint


def _path(name: str, value: object) -> str:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"{name} must be a file path")
    text = os.fspath(value)
    if not isinstance(text, str) or text in ("", ":memory:"):
        raise ValueError(f"{name} must be a file path")
    return os.path.abspath(text)


def _newest(session: Session) -> AuditRecord | None:
    return session.audit.last()


def _nothing(session: Session) -> None:
    return None


def _newest_of(store: Store) -> AuditRecord | None:
    with store.transaction(readonly=True) as session:
        return session.audit.last()


def _entries(store: Store) -> Iterator[AuditRecord]:
    after = 0
    while True:
        with store.transaction(readonly=True) as session:
            page = session.audit.read(after_seq=after, limit=_PAGE)
        if not page:
            return
        yield from page
        after = page[-1].seq


def _unavailable(store: Store) -> str:
    name = type(store).__name__
    if store.capabilities.persistent:
        return (
            f"custrec does not copy a {name}: use the database's own tools (PostgreSQL: "
            "pg_dump, or base backups with WAL archiving for point-in-time recovery), keep the "
            "key store's backups apart, and replay the erasure journal after a restore "
            "(docs/security.md, 'Backups and restore')"
        )
    return f"a {name} lives in memory: there is no file to back up"


def _signature(keyring: KeyRing, fields: dict[str, Any]) -> str:
    key = hmac.new(keyring.audit_key(), _LEDGER_INFO, hashlib.sha256).digest()
    message = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _recorded(keyring: KeyRing, key_store: Store | None, sha256: str) -> dict[str, Any] | None:
    """The key store's record of the backup with this digest, if it is there and genuine."""
    if key_store is None:
        return None
    with key_store.transaction(readonly=True) as session:
        raw = session.meta.get(LEDGER_PREFIX + sha256)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        signature = record.pop("signature")
        genuine = isinstance(record, dict) and hmac.compare_digest(
            str(signature), _signature(keyring, record)
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not genuine or record.get("sha256") != sha256:
        return None
    return dict(record)


def _record_head(record: dict[str, Any] | None) -> Checkpoint | None:
    if record is None or record.get("head") is None:
        return None
    try:
        return Checkpoint.from_dict(record["head"])
    except ValueError:
        raise BackupError("the key store's record of this backup is malformed") from None


def _prepare(source: str, target: str) -> tuple[str, str]:
    """A private copy of ``source`` beside ``target``, to be put in its place, and the SHA-256
    of its bytes (the copy is what gets checked, so the source cannot change meanwhile)."""
    prepared = private_temporary(os.path.dirname(target), os.path.basename(target))
    try:
        _, sha256 = copy_verbatim(source, prepared)
    except BaseException:
        remove_quietly(prepared)
        raise
    return prepared, sha256


def _prepare_held(held: sqlite3.Connection, target: str) -> str:
    """A private copy beside ``target`` of the file at ``target``, which ``held`` holds."""
    prepared = private_temporary(os.path.dirname(target), os.path.basename(target))
    try:
        copy_held(held, target, prepared)
    except BaseException:
        remove_quietly(prepared, *sidecars(prepared))
        raise
    return prepared


def _head(
    given: AuditHead | str | os.PathLike[str] | None,
    keys: str,
    keyring: KeyRing | None,
    *,
    keys_restored: bool,
) -> Checkpoint | None:
    """The audit head the live log has now (``None``: none, or unreadable), from ``given`` or
    else from the key store at ``keys`` (the live one, or the copy of it being worked on)."""
    if keyring is None:
        return None
    if given is not None:
        return _target_head(given, keys).read()
    if not os.path.exists(keys):
        return None
    try:
        with SQLiteStore(keys, key_file=False) as key_store:
            return StoreAuditHead(key_store).read()
    except StorageError:
        if keys_restored:  # the live key store is the damaged file being replaced
            return None
        raise


class _FileStoreHead:
    """The head in the key store file at ``path``, opened for each use."""

    def __init__(self, path: str) -> None:
        self._path = path

    def read(self) -> Checkpoint | None:
        with SQLiteStore(self._path, key_file=False) as store:
            return StoreAuditHead(store).read()

    def replace(self, checkpoint: Checkpoint) -> None:
        with SQLiteStore(self._path, key_file=False) as store:
            StoreAuditHead(store).replace(checkpoint)


def _target_head(
    given: AuditHead | str | os.PathLike[str] | None, keys: str
) -> AuditHead | _FileStoreHead:
    if given is None:
        return _FileStoreHead(keys)
    if isinstance(given, str | os.PathLike):
        return FileAuditHead(given)
    if not (callable(getattr(given, "read", None)) and callable(getattr(given, "replace", None))):
        raise TypeError("audit_head must be a path or an AuditHead")
    return given
