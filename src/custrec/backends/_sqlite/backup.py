"""Whole-file copies of SQLite databases, for backups and restores (private; see
:meth:`custrec.backends.sqlite.SQLiteStore.copy_to` and :mod:`custrec.services.backups`).

Every copy is made with SQLite's online backup API, never by copying bytes of a live file: a
copy taken from a read transaction is that transaction's snapshot, whatever writers do
meanwhile. A new file is first written to a private temporary file in the target's directory
(mode 0600, created exclusively) and then put in place: by a hard link when an existing file
must not be replaced (so a file that appeared meanwhile is not overwritten), or by a rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final
from urllib.parse import quote

import attrs

from custrec.backends._sqlite.dialect import is_busy, translate
from custrec.backends._sqlite.gate import WriterGate, gate_path
from custrec.errors import BackupError, StorageError

__all__ = [
    "OVERWRITE_HINT",
    "DatabaseCopy",
    "copy_database",
    "copy_held",
    "copy_verbatim",
    "file_digest",
    "held_for_swap",
    "inspect_database",
    "place_database",
    "private_temporary",
    "remove_quietly",
    "settle",
    "sidecars",
]

OVERWRITE_HINT: Final = "pass overwrite=True"
"""How a refusal of an existing file ends (the command line says its option instead)."""

_HEADER: Final = b"SQLite format 3\x00"
_SIDECARS: Final = ("-wal", "-shm", "-journal")


@attrs.frozen(kw_only=True)
class DatabaseCopy:
    """A copy of a database: where it is, its size in bytes, the SHA-256 of its bytes (hex)
    and the schema version it holds. The file is self-contained (rollback-journal mode: no
    ``-wal`` file beside it) and has mode 0600."""

    path: str
    size: int
    sha256: str
    schema_version: int


def sidecars(path: str) -> tuple[str, ...]:
    """The files SQLite keeps beside a database (its journal, write-ahead log and index)."""
    return tuple(path + suffix for suffix in _SIDECARS)


def remove_quietly(*paths: str) -> None:
    """Remove files that may not exist."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def private_temporary(directory: str, name: str) -> str:
    """Create an empty file with mode 0600 in ``directory``, named after ``name``."""
    for _ in range(100):
        path = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise BackupError(f"cannot write in {directory}: {exc.strerror}") from None
        os.close(fd)
        return path
    raise BackupError(f"cannot create a temporary file in {directory}")  # pragma: no cover


def file_digest(path: str) -> tuple[int, str]:
    """The size and the SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def check_target(target: str, *, overwrite: bool, source: str) -> None:
    """Refuse a target that is the source (or one of its files), a directory, in a missing
    directory, or an existing file unless ``overwrite``."""
    if target == source or target in sidecars(source) or target == gate_path(source):
        raise BackupError(f"{target} is the database being copied")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise BackupError(f"no directory {directory} to write {os.path.basename(target)} in")
    if os.path.isdir(target):
        raise BackupError(f"{target} is a directory")
    if os.path.lexists(target) and not overwrite:
        raise BackupError(f"{target} exists; choose another name or {OVERWRITE_HINT}")


def copy_database(
    conn: sqlite3.Connection, target: str, *, overwrite: bool, source: str
) -> DatabaseCopy:
    """Copy the database ``conn`` reads (in its read transaction, if one is open: the copy is
    then exactly that snapshot) into ``target``, with mode 0600 and in rollback-journal mode."""
    check_target(target, overwrite=overwrite, source=source)
    temporary = private_temporary(os.path.dirname(target), os.path.basename(target))
    try:
        version = _backup_into(conn, temporary, where=f"copying {source}")
        size, digest = file_digest(temporary)
        _place(temporary, target, overwrite=overwrite)
    except BaseException:
        remove_quietly(temporary, *sidecars(temporary))
        raise
    return DatabaseCopy(path=target, size=size, sha256=digest, schema_version=version)


def _backup_into(conn: sqlite3.Connection, path: str, *, where: str) -> int:
    """Copy what ``conn`` reads into the empty file at ``path``, make it self-contained and
    durable, and return its schema version."""
    try:
        target = sqlite3.connect(path, isolation_level=None)
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
            version = _schema_version(target)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise translate(exc, where) from exc
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return version


def _schema_version(conn: sqlite3.Connection) -> int:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if found is None:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


def _place(temporary: str, target: str, *, overwrite: bool) -> None:
    """Put the finished temporary file at ``target`` (see the module docs)."""
    if overwrite:
        remove_quietly(*sidecars(target))  # they belonged to the file being replaced
        os.replace(temporary, target)
    else:
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise BackupError(f"{target} exists; choose another name or {OVERWRITE_HINT}") from None
        except OSError:  # a file system without hard links: claim the name, then rename
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise BackupError(
                    f"{target} exists; choose another name or {OVERWRITE_HINT}"
                ) from None
            os.replace(temporary, target)
        else:
            os.unlink(temporary)
    _sync_directory(os.path.dirname(target))


def _sync_directory(directory: str) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _read_only(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a file nobody writes (a backup)."""
    uri = f"file:{quote(path)}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        yield conn
    finally:
        conn.close()


def inspect_database(path: str, *, latest: int) -> int:
    """Check that ``path`` is an undamaged custrec database of a schema version up to
    ``latest`` that can be copied as it is, and return its version (``BackupError`` if not;
    nothing is written)."""
    if not os.path.isfile(path):
        raise BackupError(f"no backup file at {path}")
    try:
        with open(path, "rb") as stream:
            header = stream.read(len(_HEADER))
    except OSError as exc:
        raise BackupError(f"{path} cannot be read: {exc.strerror}") from None
    if header != _HEADER:
        raise BackupError(f"{path} is not an SQLite database, so not a custrec backup")
    for journal in (path + "-wal", path + "-journal"):
        if os.path.exists(journal) and os.path.getsize(journal) > 0:
            raise BackupError(
                f"{path} has a journal beside it ({os.path.basename(journal)}: a copy of live "
                "files, not a backup made by custrec); open it once with sqlite3 to fold the "
                "journal in, then restore"
            )
    with _read_only(path) as conn:
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = _schema_version(conn)
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.Error as exc:
            raise BackupError(f"{path} cannot be read as a database: {exc}") from None
    if check != "ok":
        raise BackupError(f"{path} is damaged (SQLite's quick_check failed)")
    if version == 0:
        what = "an empty SQLite database" if tables == 0 else "an SQLite database"
        raise BackupError(f"{path} is {what} but not a custrec one (no schema_version table)")
    if version > latest:
        raise BackupError(
            f"{path} has schema version {version}, newer than this custrec knows ({latest}); "
            "upgrade custrec to restore it"
        )
    return version


def copy_verbatim(path: str, target: str) -> tuple[int, str]:
    """Copy the bytes of the file at ``path`` (a backup: nobody writes it) into the private
    file ``target``; return the size and the SHA-256 (hex) of exactly what was copied."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as source, open(target, "wb") as out:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise BackupError(f"cannot copy {path}: {exc.strerror}") from None
    return size, digest.hexdigest()


@contextmanager
def held_for_swap(database: str, *, busy_timeout: float) -> Iterator[sqlite3.Connection | None]:
    """Hold the database at ``database`` so that nobody else uses it while it is replaced.

    First its writer gate (custrec's writers of every process wait, up to ``busy_timeout``
    seconds), then SQLite's exclusive lock in exclusive locking mode, asked for once: SQLite
    grants it only when no other connection, of this process or another, holds a lock on the
    file. A connection to a file in WAL mode (custrec keeps its files in it) takes a shared
    lock when it first reads and keeps it until it is closed; a custrec store reads the file
    when it opens it. So a store or registry still open on the database (idle or not), or any
    other connection that has read from it, is refused at once with
    :class:`~custrec.errors.BackupError`, rather than going on with the restored data
    unawares; and while the lock is held, a store opening the file waits. A connection that
    was opened but has never read holds no lock, and cannot be seen. Yields the connection
    that holds the lock, or ``None`` when there is no file yet. Relies on the file system's
    locks: a database on a network file system without working POSIX locks is not protected.
    """
    if not os.path.lexists(database):
        yield None
        return
    gate = WriterGate(database)
    if not gate.acquire(busy_timeout):
        gate.close()
        raise StorageError(
            f"{database} stayed busy with writers for longer than {busy_timeout:g} s; stop the "
            "processes using it and restore again",
            retry_safe=True,
        )
    try:
        try:
            held = sqlite3.connect(database, timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            raise translate(exc, f"opening {database}") from exc
        try:
            try:
                held.execute("PRAGMA locking_mode = EXCLUSIVE")
                held.execute("BEGIN EXCLUSIVE")
                held.execute("COMMIT")  # the lock stays: exclusive locking mode keeps it
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise translate(exc, f"locking {database}") from exc
                raise BackupError(
                    f"{database} is open elsewhere (a registry or store of this process or "
                    "another, or another SQLite connection that has read from it): close "
                    "every store and connection using it, then restore again"
                ) from None
            except sqlite3.DatabaseError as exc:
                raise BackupError(
                    f"cannot lock {database} ({exc}); move the damaged file and its -wal and "
                    "-shm files aside, then restore again"
                ) from None
            yield held
        finally:
            held.close()
    finally:
        gate.release()
        gate.close()


def copy_held(held: sqlite3.Connection, database: str, prepared: str) -> None:
    """Copy the database at ``database``, which :func:`held_for_swap` holds (``held``), into
    the empty private file ``prepared`` (in rollback-journal mode). Nobody else can change it
    while it is held, so the copy stays exactly what :func:`place_database` will replace."""
    _backup_into(held, prepared, where=f"copying {database}")


def place_database(prepared: str, database: str, *, held: sqlite3.Connection | None) -> None:
    """Make the finished database file ``prepared`` the database at ``database``, which
    :func:`held_for_swap` holds (``held``; ``None``: there was no file).

    A new database takes the file itself (a hard link, so a file that appeared meanwhile is
    never replaced unawares: :class:`~custrec.errors.BackupError`). An existing one is
    overwritten with the backup API through the connection that holds it, its write-ahead log
    folded in and truncated; ``prepared`` is then removed.
    """
    if held is None:
        try:
            _place(prepared, database, overwrite=False)
        except BackupError:
            raise BackupError(
                f"{database} was created while it was being restored; stop the processes "
                "using it and restore again"
            ) from None
        return
    with _read_only(prepared) as source:
        try:
            source.backup(held)
            held.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:  # busy, locked, I/O
            raise translate(exc, f"writing {database}") from exc
        except sqlite3.DatabaseError as exc:
            raise BackupError(
                f"cannot write into {database} ({exc}); move the damaged file and its "
                "-wal and -shm files aside, then restore again"
            ) from None
    os.chmod(database, 0o600)
    remove_quietly(prepared, *sidecars(prepared))


def settle(path: str) -> None:
    """Fold the write-ahead log of a database nobody has open into it, switch it to
    rollback-journal mode and remove the files beside it (its log, index and writer lock), so
    that the file alone is complete (a store opening it switches it back to WAL)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise translate(exc, f"completing {path}") from exc
    remove_quietly(*sidecars(path), gate_path(path))
