"""Where the signed head of the audit chain is kept, outside the audited store.

After commits that appended audit entries the registry records a checkpoint of the newest
entry as the *head* (:class:`AuditHead`): in the key store (:class:`StoreAuditHead`, the default
when the registry has one) or in a file (:class:`FileAuditHead`), or at most every
``audit_head_interval`` seconds (``custrec.services._deferred_head``). Verification checks the
log against it, so deleting the newest entries is detected.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Protocol, cast

from custrec.errors import AuditIntegrityWarning, StorageError
from custrec.security import Checkpoint
from custrec.storage import AuditQueue, Session, Store

try:  # POSIX: serialise processes advancing one file head
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "HEAD_INTERVAL",
    "META_HEAD",
    "META_LOST",
    "AuditHead",
    "FileAuditHead",
    "StoreAuditHead",
    "audit_head_for",
]

META_HEAD: Final = "custrec.audit_head"
"""The ``meta`` name of the head in a key store."""

META_LOST: Final = "custrec.audit_head.lost"
"""The ``meta`` name of the evidence of a lost entry beside the head (``record_lost``)."""

HEAD_INTERVAL: Final = 0.0
"""The default of ``Registry(audit_head_interval=...)``: the head is recorded after every commit.
With an interval, commits that follow each other within it move the head once, at most that
much later (see ``docs/security.md``)."""


class AuditHead(Protocol):
    """Where the registry keeps the signed head of its audit chain, outside the audited store.

    After every commit that appended audit entries the registry calls :meth:`advance` with a
    checkpoint of the newest entry; ``registry.audit.verify`` checks the log against
    :meth:`read`, so deleting the newest entries is detected. ``advance`` never moves the head
    backwards (concurrent writers may call it out of order) nor onto a log that lost the
    head's entry (so a truncated log that grows again is still caught).

    A head may also offer ``record_lost(checkpoint)`` and ``lost()``: evidence, kept beside
    the head until :meth:`replace`, that the log lost an entry a registry had committed (found
    when a deferred head is written, see ``docs/security.md``); ``verify`` then reports
    ``entry_lost``. Both shipped heads do; without them such a loss only warns.
    """

    def read(self) -> Checkpoint | None:
        """The newest head recorded, or ``None``."""
        ...

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        """Record ``checkpoint`` as the head, atomically against other writers: do nothing when
        the recorded head is at the same or a later entry; refuse (return ``False``, record
        nothing) when ``extends(recorded head)`` says the log no longer holds the recorded
        head's entry unchanged; otherwise record it and return ``True``."""
        ...

    def replace(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` whatever the recorded head (after a restore, or an
        investigation, on purpose), and forget any evidence of a lost entry."""
        ...


class FileAuditHead:
    """An :class:`AuditHead` in a JSON file (``Checkpoint.to_dict``), replaced atomically and
    created with mode 0600; concurrent processes serialise on an advisory lock (POSIX)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"FileAuditHead({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The head file."""
        return self._path

    def read(self) -> Checkpoint | None:
        return _read_checkpoint(self._path)

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._locked():
            current = self.read()
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            self._write(checkpoint)
            return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._locked():
            self._write(checkpoint)
            self._lost_path().unlink(missing_ok=True)

    def record_lost(self, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint`` (the first one recorded) as evidence of a lost entry, in
        ``<head>.lost``, until :meth:`replace`."""
        with self._locked():
            if not self._lost_path().exists():
                self._write(checkpoint, self._lost_path())

    def lost(self) -> Checkpoint | None:
        """The evidence :meth:`record_lost` kept, or ``None``."""
        return _read_checkpoint(self._lost_path())

    def _lost_path(self) -> Path:
        return self._path.with_name(self._path.name + ".lost")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._path.with_name(self._path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, checkpoint: Checkpoint, path: Path | None = None) -> None:
        path = self._path if path is None else path
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(out, json.dumps(checkpoint.to_dict()).encode())
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temporary, path)


class StoreAuditHead:
    """The head in a key store's ``meta`` table (the default with a separate key store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def read(self) -> Checkpoint | None:
        with self._store.transaction(readonly=True) as session:
            value = session.meta.get(META_HEAD)
        return None if value is None else _checkpoint_from_json(value, "the key store")

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._store.transaction() as session:
            _one_at_a_time(self._store, session)
            value = session.meta.get(META_HEAD)
            current = None if value is None else _checkpoint_from_json(value, "the key store")
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            session.meta.put(META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            session.commit()
        return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._store.transaction() as session:
            _one_at_a_time(self._store, session)
            session.meta.put(META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            if session.meta.get(META_LOST):
                session.meta.put(META_LOST, b"")  # cleared (a meta value cannot be deleted)
            session.commit()

    def record_lost(self, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint`` (the first one recorded) as evidence of a lost entry, in the
        key store's ``meta``, until :meth:`replace`."""
        with self._store.transaction() as session:
            _one_at_a_time(self._store, session)
            if not session.meta.get(META_LOST):
                session.meta.put(META_LOST, json.dumps(checkpoint.to_dict()).encode())
                session.commit()

    def lost(self) -> Checkpoint | None:
        """The evidence :meth:`record_lost` kept, or ``None``."""
        with self._store.transaction(readonly=True) as session:
            value = session.meta.get(META_LOST)
        return _checkpoint_from_json(value, "the key store") if value else None


def _read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint in the JSON file ``path``, or ``None`` when there is none."""
    try:
        value = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"cannot read the audit head {path}: {exc.strerror}") from None
    return _checkpoint_from_json(value, str(path))


def _checkpoint_from_json(value: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_dict(json.loads(value))
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise StorageError(f"the audit head in {where} is malformed: {exc}") from None


def _one_at_a_time(store: Store, session: Session) -> None:
    """On a key store whose writers run in parallel, hold its audit log's lock for the rest of
    the session, so that two heads advancing at once cannot interleave their read and write
    (the head would move backwards). Elsewhere the write session is already alone."""
    if store.capabilities.concurrent_writes:
        cast(AuditQueue, session.audit).claim(limit=1)


def audit_head_for(
    given: AuditHead | str | os.PathLike[str] | None, key_store: Store | None
) -> AuditHead | None:
    """The audit head a registry keeps: ``given`` (a path or an :class:`AuditHead`), or by
    default the key store's (none without a key store)."""
    if given is None:
        return StoreAuditHead(key_store) if key_store is not None else None
    if isinstance(given, str | os.PathLike):
        return FileAuditHead(given)
    if not (callable(getattr(given, "read", None)) and callable(getattr(given, "advance", None))):
        raise TypeError("audit_head must be a path or an AuditHead (read() and advance())")
    return given


def head_refused(stacklevel: int) -> None:
    """Warn that the head was not moved: the log no longer holds the entry it names."""
    warnings.warn(
        "custrec: the audit log no longer holds the entry its head names (entries were "
        "deleted or altered, or the store was restored from a backup); the head does not "
        "move past it and verify() reports it: after investigating, acknowledge with "
        "registry.audit.reset_head()",
        AuditIntegrityWarning,
        stacklevel + 1,
    )


def head_failed(exc: Exception, stacklevel: int) -> None:
    """Warn that the head could not be written (the data is committed either way)."""
    warnings.warn(
        f"custrec: the audit head could not be advanced ({exc})", RuntimeWarning, stacklevel + 1
    )
