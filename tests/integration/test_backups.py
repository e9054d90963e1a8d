"""Backups and restores of an SQLite registry (``registry.backups``, ``restore_backup``).

Every test works with real files in its own directory: the database ``crm.sqlite``, its key
store ``crm.keys.sqlite`` beside it, and backups written next to them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore, cli
from custrec.backends._sqlite.backup import held_for_swap
from custrec.backends.sqlite import SCHEMA_VERSION, key_file_for
from custrec.errors import (
    AccessDenied,
    BackupError,
    BackupUnavailable,
    Erased,
    KeyringMismatch,
    NotFound,
    PlaintextStorageWarning,
    StorageError,
)
from custrec.services import BackupReceipt, restore_backup
from custrec.services import backups as backups_module
from custrec.services.audit_head import META_HEAD
from custrec.storage import Capabilities, Session

ADMIN = Actor(id="ops", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="aud", roles={"auditor"})
CLERK = Actor(id="u-1", roles={"staff", "unmask"})


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"孙{n:04d}",
        "contacts": [{"phones": [f"1370000{n:04d}"], "emails": [f"s{n}@example.cn"]}],
    }


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "crm.sqlite"


@pytest.fixture
def opened(db: Path, ring: KeyRing) -> Iterator[Callable[[], Registry]]:
    """Open registries over ``db`` (strictly: any warning fails the test); all closed after."""
    stores: list[SQLiteStore] = []

    def open_registry() -> Registry:
        store = SQLiteStore(db)
        stores.append(store)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return Registry(store, keyring=ring)

    yield open_registry
    for store in stores:
        store.close()


def close_all(registry: Registry) -> None:
    registry._context.store.close()


def dump(path: Path) -> list[str] | str:
    """The logical content of a database file (independent of WAL checkpoints); the hash of
    the bytes of any other file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    except sqlite3.DatabaseError:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        conn.close()


def state_of(directory: Path) -> dict[str, Any]:
    """What the directory holds, file by file: databases by their content, others by bytes
    (SQLite's ``-wal``, ``-shm`` and the writers' lock files left out)."""
    found: dict[str, Any] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.endswith(("-wal", "-shm", "-writers.lock")):
            continue
        if path.name.endswith(".sqlite"):
            found[path.name] = dump(path)
        else:
            found[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def audit_actions(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT action FROM audit ORDER BY seq")]
    finally:
        conn.close()


def customer_ids(path: Path) -> list[str]:
    """The ids of the customers in a database, oldest first."""
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM customers ORDER BY pk")]
    finally:
        conn.close()


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --------------------------------------------------------------------------------- backups


def test_a_backup_is_one_private_file_without_keys(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    ids = [registry.customers.intake(person(i), actor=CLERK).id for i in range(3)]
    before = registry.audit.trail(actor=AUDITOR, limit=1, newest_first=True)[0].seq
    receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    backup = tmp_path / "night.sqlite"
    assert receipt.path == str(backup) and mode(backup) == 0o600
    assert receipt.size == backup.stat().st_size
    assert receipt.sha256 == hashlib.sha256(backup.read_bytes()).hexdigest()
    assert receipt.schema_version == SCHEMA_VERSION and receipt.recorded
    assert receipt.audit_seq == before + 1  # the backup's own audit read, then the copy
    assert receipt.head is not None and ring.audit_chain().verify_checkpoint(receipt.head)
    assert receipt.keys_path is None and not Path(key_file_for(backup)).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("night", "."))) == [
        "night.sqlite"
    ]
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == len(ids)
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone()[0] == 0
        seq = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    finally:
        conn.close()
    assert seq == receipt.audit_seq
    trail = registry.audit.trail(actor=AUDITOR, limit=2, newest_first=True)
    made = next(e for e in trail if e.action == "backup.create")
    assert made.actor_id == ADMIN.id and f"sha256={receipt.sha256}" in made.fields
    assert "孙" not in repr(receipt) and "1370000" not in repr(receipt)


def test_the_key_store_is_copied_only_when_asked_into_a_file_of_its_own(
    opened: Callable[[], Registry], tmp_path: Path
) -> None:
    registry = opened()
    registry.customers.intake(person(1), actor=CLERK)
    receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN, include_keys=True)
    keys = tmp_path / "night.keys.sqlite"
    assert receipt.keys_path == str(keys) and mode(keys) == 0o600
    with sqlite3.connect(keys) as conn:
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone()[0] == 1
    with sqlite3.connect(tmp_path / "night.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone()[0] == 0


def test_the_copied_key_store_holds_the_head_of_every_commit_before_the_copy(
    db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring, audit_head_interval=60)  # commits' heads wait
        for n in range(3):
            registry.customers.intake(person(n), actor=CLERK)
        receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN, include_keys=True)
    assert receipt.keys_path is not None
    with sqlite3.connect(receipt.keys_path) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE name = ?", (META_HEAD,)).fetchone()
    with sqlite3.connect(db) as conn:  # the live log, ending with the backup's own entry
        (newest,) = conn.execute("SELECT max(seq) FROM audit").fetchone()
    assert json.loads(value)["seq"] == newest


def test_an_existing_file_is_replaced_only_when_asked(
    opened: Callable[[], Registry], tmp_path: Path
) -> None:
    registry = opened()
    registry.customers.intake(person(1), actor=CLERK)
    target = tmp_path / "night.sqlite"
    target.write_bytes(b"yesterday")
    seen = state_of(tmp_path)
    with pytest.raises(BackupError, match="exists"):
        registry.backups.backup(target, actor=ADMIN)
    assert state_of(tmp_path) == seen  # not even an audit entry
    receipt = registry.backups.backup(target, actor=ADMIN, overwrite=True)
    assert mode(target) == 0o600 and receipt.size == target.stat().st_size


@pytest.mark.parametrize(
    "where",
    [
        lambda tmp: tmp / "missing" / "night.sqlite",
        lambda tmp: tmp,  # a directory
        lambda tmp: tmp / "crm.sqlite",  # the live database
        lambda tmp: tmp / "crm.keys.sqlite",  # its key store
    ],
    ids=["missing-directory", "directory", "database", "key-store"],
)
def test_bad_targets_write_nothing(
    opened: Callable[[], Registry], tmp_path: Path, where: Callable[[Path], Path]
) -> None:
    registry = opened()
    registry.customers.intake(person(1), actor=CLERK)
    seen = state_of(tmp_path)
    with pytest.raises(BackupError):
        registry.backups.backup(where(tmp_path), actor=ADMIN)
    assert state_of(tmp_path) == seen


def test_a_backup_key_copy_that_exists_stops_the_backup_before_anything_is_written(
    opened: Callable[[], Registry], tmp_path: Path
) -> None:
    registry = opened()
    registry.customers.intake(person(1), actor=CLERK)
    (tmp_path / "night.keys.sqlite").write_bytes(b"")
    seen = state_of(tmp_path)
    with pytest.raises(BackupError, match=r"night\.keys\.sqlite exists"):
        registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN, include_keys=True)
    assert state_of(tmp_path) == seen


def test_only_an_admin_may_back_up_and_a_refusal_is_audited(
    opened: Callable[[], Registry], tmp_path: Path
) -> None:
    registry = opened()
    with pytest.raises(AccessDenied):
        registry.backups.backup(tmp_path / "night.sqlite", actor=CLERK)
    assert not (tmp_path / "night.sqlite").exists()
    trail = registry.audit.trail(actor=AUDITOR, limit=2, newest_first=True)
    assert "denied.manage_keys" in [e.action for e in trail]


class _PersistentMemory(MemoryStore):
    """Stands for a server database (PostgreSQL) here: persistent, not a file."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(persistent=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: MemoryStore(), "in memory"),
        (lambda tmp: SQLiteStore(":memory:"), "in-memory"),
        (lambda tmp: _PersistentMemory(), "pg_dump"),
        (lambda tmp: SQLiteStore(tmp / "inside.sqlite", key_file=False), "separate"),
    ],
    ids=["memory", "sqlite-memory", "server-database", "keys-inside"],
)
def test_stores_custrec_cannot_copy_say_so(
    tmp_path: Path, ring: KeyRing, make: Callable[[Path], Any], message: str
) -> None:
    store = make(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry(store, keyring=ring)
    with pytest.raises(BackupUnavailable, match=message):
        registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    assert not (tmp_path / "night.sqlite").exists()


def test_postgresql_points_to_its_own_tools(tmp_path: Path, ring: KeyRing) -> None:
    dsn = os.environ.get("CUSTREC_TEST_POSTGRES_DSN", "").strip()
    if not dsn:
        if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}:
            pytest.fail("under CI the PostgreSQL tests must run", pytrace=False)
        pytest.skip("PostgreSQL tests need CUSTREC_TEST_POSTGRES_DSN (bash .ci/run starts one)")
    import psycopg

    from custrec.backends import PostgresStore

    schema, keys = f"t_{secrets.token_hex(8)}", f"t_{secrets.token_hex(8)}"
    store, key_store = PostgresStore(dsn, schema=schema), PostgresStore(dsn, schema=keys)
    try:
        registry = Registry(store, keyring=ring, key_store=key_store)
        with pytest.raises(BackupUnavailable, match=r"pg_dump.*point-in-time"):
            registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    finally:
        store.close()
        key_store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in (schema, keys):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------- consistency


def test_the_copy_is_one_read_transactions_snapshot_while_a_writer_commits(
    opened: Callable[[], Registry],
    db: Path,
    tmp_path: Path,
    in_thread: Callable[[Callable[[], Any]], tuple[threading.Thread, list[Any]]],
) -> None:
    registry = opened()
    for n in range(3):
        registry.customers.intake(person(n), actor=CLERK)
    store = SQLiteStore(db)
    try:

        def inspect(session: Session) -> int:
            seen = session.customers.count()  # the snapshot starts here
            thread, outcome = in_thread(lambda: registry.customers.intake(person(9), actor=CLERK))
            thread.join()  # the writer committed while this transaction is open
            assert not isinstance(outcome[0], BaseException), outcome
            return seen

        copied, seen = store.copy_to(tmp_path / "copy.sqlite", inspect=inspect)
    finally:
        store.close()
    assert seen == 3 and registry.customers.count(actor=ADMIN) == 4
    with sqlite3.connect(copied.path) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 3


def test_a_backup_taken_while_a_writer_runs_is_consistent_and_restores(
    opened: Callable[[], Registry],
    db: Path,
    ring: KeyRing,
    tmp_path: Path,
    in_thread: Callable[[Callable[[], Any]], tuple[threading.Thread, list[Any]]],
) -> None:
    registry = opened()
    busy, stop = threading.Event(), threading.Event()

    def write() -> int:
        n = 0
        while not stop.is_set():
            registry.customers.intake(person(n), actor=CLERK)
            n += 1
            if n == 5:
                busy.set()
        return n

    thread, outcome = in_thread(write)
    assert busy.wait(timeout=60)
    try:
        receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    finally:
        stop.set()
        thread.join()
    written = outcome[0]
    assert isinstance(written, int) and written >= 5
    with sqlite3.connect(tmp_path / "night.sqlite") as conn:
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        created = conn.execute(
            "SELECT count(*) FROM audit WHERE action = 'customer.create'"
        ).fetchone()[0]
        last = conn.execute("SELECT max(seq) FROM audit").fetchone()[0]
    assert customers == created >= 5 and last == receipt.audit_seq
    close_all(registry)
    restored = restore_backup(
        tmp_path / "night.sqlite", db, keyring=ring, actor=ADMIN, reason="consistency drill"
    )
    assert restored.recorded and restored.audit_seq == receipt.audit_seq
    again = opened()
    ids = list(again.customers.ids(actor=ADMIN))
    assert len(ids) == customers
    for customer_id in ids:  # every customer in the copy has its key: none lost
        again.customers.get(customer_id, actor=ADMIN)
    assert again.audit.verify(actor=AUDITOR).ok


# --------------------------------------------------------------------------- restores


def test_erased_after_the_backup_stays_erased_after_the_restore(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    gone = registry.customers.intake(person(1), actor=CLERK)
    kept = registry.customers.intake(person(2), actor=CLERK)
    registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    registry.privacy.erase(gone.id, actor=ADMIN, reason="subject request 17")
    later = registry.customers.intake(person(3), actor=CLERK)
    close_all(registry)
    receipt = restore_backup(
        tmp_path / "night.sqlite", db, keyring=ring, actor=ADMIN, reason="disk failure, INC-4"
    )
    assert receipt.replayed == (gone.id,) and not receipt.keys_restored
    registry = opened()
    with pytest.raises(Erased):
        registry.customers.get(gone.id, actor=ADMIN)
    assert registry.customers.find(phone="13700000001", actor=ADMIN) == []
    assert registry.customers.get(kept.id, actor=ADMIN).name == "孙0002"
    with pytest.raises(NotFound):  # written after the backup: lost with the rollback
        registry.customers.get(later.id, actor=ADMIN)
    with sqlite3.connect(db) as conn:  # on disk: a tombstone, no index entry
        state, payload = conn.execute(
            "SELECT state, payload FROM customers WHERE id = ?", (gone.id,)
        ).fetchone()
        tokens = conn.execute(
            "SELECT count(*) FROM customer_index WHERE customer_pk = "
            "(SELECT pk FROM customers WHERE id = ?)",
            (gone.id,),
        ).fetchone()[0]
    assert state == "erased" and b"erased" in bytes(payload) and tokens == 0


def test_verification_passes_after_a_restore_which_is_on_record(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    for n in range(4):
        registry.customers.intake(person(n), actor=CLERK)
    backup = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    for n in range(4, 8):
        registry.customers.intake(person(n), actor=CLERK)
    head = registry.audit.checkpoint(actor=AUDITOR)
    close_all(registry)
    receipt = restore_backup(
        tmp_path / "night.sqlite", db, keyring=ring, actor=ADMIN, reason="bad migration, CHG-9"
    )
    assert receipt.audit_seq == backup.audit_seq and receipt.recorded
    assert receipt.rolled_back_from == head.seq
    assert receipt.restore_seq == backup.audit_seq + 1
    assert mode(db) == 0o600
    registry = opened()  # strict: no AuditIntegrityWarning on opening or below
    assert registry.audit.verify(actor=AUDITOR).ok
    [entry] = [e for e in registry.audit.trail(actor=AUDITOR) if e.action == "backup.restore"]
    assert entry.seq == receipt.restore_seq and entry.actor_id == ADMIN.id
    assert entry.reason == "bad migration, CHG-9"
    assert f"backup_seq={backup.audit_seq}" in entry.fields
    assert (
        f"from_seq={head.seq}" in entry.fields and f"from_chain={head.chain.hex()}" in entry.fields
    )
    assert f"sha256={backup.sha256}" in entry.fields and "recorded=yes" in entry.fields
    registry.customers.intake(person(20), actor=CLERK)  # the log goes on from the restore
    assert registry.audit.verify(actor=AUDITOR).ok
    old = registry.audit.verify(actor=AUDITOR, checkpoint=head)  # the lost end stays lost
    assert not old.ok


def test_a_truncation_without_a_restore_is_still_detected(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    for n in range(3):
        registry.customers.intake(person(n), actor=CLERK)
    registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    for n in range(3, 6):
        registry.customers.intake(person(n), actor=CLERK)
    close_all(registry)
    restore_backup(tmp_path / "night.sqlite", db, keyring=ring, actor=ADMIN, reason="drill")
    registry = opened()
    for n in range(6, 9):
        registry.customers.intake(person(n), actor=CLERK)
    close_all(registry)
    with sqlite3.connect(db) as conn:  # cut the newest entries by hand
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq > (SELECT max(seq) FROM audit) - 2")
    store = SQLiteStore(db)
    try:
        result = Registry(store, keyring=ring).audit.verify(actor=AUDITOR)
    finally:
        store.close()
    assert result.problem == "truncated"


def test_copying_a_backup_over_the_database_by_hand_is_detected(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    for n in range(3):
        registry.customers.intake(person(n), actor=CLERK)
    registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
    registry.customers.intake(person(3), actor=CLERK)
    close_all(registry)
    for name in (db.name + "-wal", db.name + "-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    db.write_bytes((tmp_path / "night.sqlite").read_bytes())
    store = SQLiteStore(db)
    try:
        result = Registry(store, keyring=ring).audit.verify(actor=AUDITOR)
    finally:
        store.close()
    assert result.problem == "truncated"


def test_the_key_store_restored_too_with_the_erasures_kept_elsewhere(
    opened: Callable[[], Registry], db: Path, ring: KeyRing, tmp_path: Path
) -> None:
    registry = opened()
    gone = registry.customers.intake(person(1), actor=CLERK)
    kept = registry.customers.intake(person(2), actor=CLERK)
    registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN, include_keys=True)
    registry.privacy.erase(gone.id, actor=ADMIN, reason="subject request 18")
    journal = [e.customer_id for e in registry.privacy.journal(actor=AUDITOR)]
    close_all(registry)
    for path in tmp_path.glob("crm.keys.sqlite*"):  # the key store is lost
        path.unlink()
    with pytest.raises(KeyringMismatch, match="missing"):
        restore_backup(tmp_path / "night.sqlite", db, keyring=ring, actor=ADMIN, reason="x")
    receipt = restore_backup(
        tmp_path / "night.sqlite",
        db,
        keyring=ring,
        actor=ADMIN,
        reason="disk lost, INC-5",
        keys_backup=tmp_path / "night.keys.sqlite",
        erased=journal,
    )
    assert receipt.keys_restored and receipt.replayed == (gone.id,)
    assert mode(tmp_path / "crm.keys.sqlite") == 0o600
    registry = opened()
    with pytest.raises(Erased):
        registry.customers.get(gone.id, actor=ADMIN)
    assert registry.customers.get(kept.id, actor=ADMIN).name == "孙0002"
    assert registry.audit.verify(actor=AUDITOR).ok


def test_a_plaintext_registry_backs_up_and_restores(tmp_path: Path, db: Path) -> None:
    with SQLiteStore(db) as store:
        with pytest.warns(PlaintextStorageWarning):
            registry = Registry(store)
        c = registry.customers.intake(person(1), actor=CLERK)
        receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN)
        registry.customers.intake(person(2), actor=CLERK)
    assert receipt.head is None and not receipt.recorded
    restored = restore_backup(tmp_path / "night.sqlite", db, keyring=None, actor=ADMIN, reason="x")
    assert restored.head is None and restored.replayed == ()
    with SQLiteStore(db) as store:
        with pytest.warns(PlaintextStorageWarning):
            registry = Registry(store)
        assert list(registry.customers.ids(actor=ADMIN)) == [c.id]


# ------------------------------------------------------------- restores refused, nothing written


@pytest.fixture
def live(opened: Callable[[], Registry], tmp_path: Path) -> BackupReceipt:
    """A database with a customer and a backup of it, closed."""
    registry = opened()
    registry.customers.intake(person(1), actor=CLERK)
    receipt = registry.backups.backup(tmp_path / "night.sqlite", actor=ADMIN, include_keys=True)
    registry.customers.intake(person(2), actor=CLERK)
    close_all(registry)
    return receipt


def refused(tmp_path: Path, error: type[Exception], match: str, **arguments: Any) -> None:
    """Restore with ``arguments`` (over the defaults), expect ``error``, and check that no
    file changed."""
    seen = state_of(tmp_path)
    given: dict[str, Any] = {
        "backup": tmp_path / "night.sqlite",
        "database": tmp_path / "crm.sqlite",
        "actor": ADMIN,
        "reason": "drill",
        **arguments,
    }
    with pytest.raises(error, match=match):
        restore_backup(**given)
    assert state_of(tmp_path) == seen


def test_a_missing_backup_is_refused(live: BackupReceipt, tmp_path: Path, ring: KeyRing) -> None:
    refused(tmp_path, BackupError, "no backup file", backup=tmp_path / "nope.sqlite", keyring=ring)


def test_a_file_that_is_not_a_database_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    (tmp_path / "notes.txt").write_text("not a database", encoding="utf-8")
    refused(tmp_path, BackupError, "not an SQLite", backup=tmp_path / "notes.txt", keyring=ring)


def test_another_sqlite_database_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    with sqlite3.connect(tmp_path / "other.sqlite") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    refused(tmp_path, BackupError, "not a custrec", backup=tmp_path / "other.sqlite", keyring=ring)


def test_a_backup_of_another_keyring_is_refused(live: BackupReceipt, tmp_path: Path) -> None:
    refused(tmp_path, KeyringMismatch, "key", keyring=KeyRing.generate())


def test_a_backup_of_another_deployment_is_refused(tmp_path: Path, ring: KeyRing) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with SQLiteStore(other / "crm.sqlite") as store:  # same keys, another key store
        registry = Registry(store, keyring=ring)
        registry.customers.intake(person(1), actor=CLERK)
        registry.backups.backup(tmp_path / "foreign.sqlite", actor=ADMIN)
    with SQLiteStore(tmp_path / "crm.sqlite") as store:
        Registry(store, keyring=ring).customers.intake(person(2), actor=CLERK)
    refused(
        tmp_path,
        KeyringMismatch,
        "another database",
        backup=tmp_path / "foreign.sqlite",
        keyring=ring,
    )


def test_an_altered_backup_is_refused_unless_allowed_and_then_on_record(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    with sqlite3.connect(tmp_path / "night.sqlite") as conn:
        conn.execute("UPDATE customers SET stage = 'active'")
    conn.close()
    refused(tmp_path, BackupError, "no valid record", keyring=ring)
    receipt = restore_backup(
        tmp_path / "night.sqlite",
        tmp_path / "crm.sqlite",
        keyring=ring,
        actor=ADMIN,
        reason="checked by hand, INC-6",
        allow_unrecorded=True,
    )
    assert not receipt.recorded
    actions = audit_actions(tmp_path / "crm.sqlite")
    assert actions[receipt.restore_seq - 1] == "backup.restore"
    with sqlite3.connect(tmp_path / "crm.sqlite") as conn:
        fields = conn.execute(
            "SELECT fields FROM audit WHERE seq = ?", (receipt.restore_seq,)
        ).fetchone()[0]
    assert "recorded=no" in fields


def test_a_backup_whose_audit_log_was_cut_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    with sqlite3.connect(tmp_path / "night.sqlite") as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    conn.close()
    refused(tmp_path, BackupError, "no valid record", keyring=ring)


def test_a_key_store_copy_is_not_a_backup_of_the_database(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    refused(
        tmp_path, BackupError, "keys_backup", backup=tmp_path / "night.keys.sqlite", keyring=ring
    )


def test_only_an_admin_may_restore_and_a_refusal_writes_nothing(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    refused(tmp_path, AccessDenied, "manage_keys", keyring=ring, actor=CLERK)


def test_a_blank_reason_is_refused(live: BackupReceipt, tmp_path: Path, ring: KeyRing) -> None:
    refused(tmp_path, ValueError, "reason", keyring=ring, reason=" ")


def test_a_database_a_registry_of_this_process_has_open_is_refused(
    live: BackupReceipt, opened: Callable[[], Registry], tmp_path: Path, ring: KeyRing
) -> None:
    registry = opened()  # left open, idle: it would go on with the restored data unawares
    ids = list(registry.customers.ids(actor=ADMIN))
    refused(tmp_path, BackupError, "open elsewhere", keyring=ring)
    assert list(registry.customers.ids(actor=ADMIN)) == ids and len(ids) == 2
    close_all(registry)
    night, database = tmp_path / "night.sqlite", tmp_path / "crm.sqlite"
    restore_backup(night, database, keyring=ring, actor=ADMIN, reason="drill")
    assert len(list(opened().customers.ids(actor=ADMIN))) == 1


def test_a_store_opened_but_not_yet_used_by_a_registry_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    with SQLiteStore(tmp_path / "crm.sqlite"):  # opening it reads it: it holds a shared lock
        refused(tmp_path, BackupError, "crm.sqlite is open elsewhere", keyring=ring)


@pytest.mark.parametrize("name", ["crm.sqlite", "crm.keys.sqlite"])
def test_another_connection_that_has_read_the_file_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing, name: str
) -> None:
    conn = sqlite3.connect(tmp_path / name)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # read, then idle
        refused(tmp_path, BackupError, f"{name} is open elsewhere", keyring=ring)
    finally:
        conn.close()


_HOLDER = """
import sys
from custrec import SQLiteStore
store = SQLiteStore(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
store.close()
"""


def test_a_database_another_process_has_open_is_refused(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "crm.sqlite")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        refused(tmp_path, BackupError, "open elsewhere", keyring=ring)
    finally:
        holder.communicate("\n")
    assert holder.returncode == 0
    night, database = tmp_path / "night.sqlite", tmp_path / "crm.sqlite"
    restore_backup(night, database, keyring=ring, actor=ADMIN, reason="drill")


def test_a_key_store_open_elsewhere_stops_a_restore_of_both_before_either_is_replaced(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    with SQLiteStore(tmp_path / "crm.keys.sqlite", key_file=False):
        refused(
            tmp_path,
            BackupError,
            "crm.keys.sqlite is open elsewhere",
            keyring=ring,
            keys_backup=tmp_path / "night.keys.sqlite",
        )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no copy left


def test_a_key_store_open_elsewhere_stops_a_restore_that_replays_into_it(
    live: BackupReceipt, tmp_path: Path, ring: KeyRing
) -> None:
    [_, later] = customer_ids(tmp_path / "crm.sqlite")
    with SQLiteStore(tmp_path / "crm.keys.sqlite", key_file=False):
        refused(
            tmp_path, BackupError, "crm.keys.sqlite is open elsewhere", keyring=ring, erased=[later]
        )
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_restore_refused_at_the_swap_leaves_the_key_store_as_it_was(
    live: BackupReceipt,
    opened: Callable[[], Registry],
    tmp_path: Path,
    ring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store that opens the database after the check before the work: the swap is refused,
    and the erasures replayed in the work (here of a live customer, as a journal kept elsewhere
    may name) must not have reached the live key store either."""
    [first, later] = customer_ids(tmp_path / "crm.sqlite")  # later: not in the backup
    late: list[SQLiteStore] = []
    settle = backups_module.settle

    def settle_then_open(path: str) -> None:
        settle(path)
        if not late:  # someone opens the database meanwhile
            late.append(SQLiteStore(tmp_path / "crm.sqlite"))

    monkeypatch.setattr(backups_module, "settle", settle_then_open)
    try:
        refused(tmp_path, BackupError, "crm.sqlite is open elsewhere", keyring=ring, erased=[later])
    finally:
        for store in late:
            store.close()
    assert late and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    registry = opened()
    assert registry.customers.get(later, actor=ADMIN).name == "孙0002"  # its key is still there
    assert registry.audit.verify(actor=AUDITOR).ok
    close_all(registry)
    receipt = restore_backup(  # run again, with nobody in the way: it goes through
        tmp_path / "night.sqlite",
        tmp_path / "crm.sqlite",
        keyring=ring,
        actor=ADMIN,
        reason="drill",
        erased=[later],
    )
    assert receipt.replayed == (later,) and not receipt.keys_restored
    registry = opened()
    assert list(registry.customers.ids(actor=ADMIN)) == [first]
    assert registry.audit.verify(actor=AUDITOR).ok


def test_a_restore_interrupted_between_the_two_files_is_run_again(
    live: BackupReceipt,
    opened: Callable[[], Registry],
    tmp_path: Path,
    ring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key store is replaced first: if the database then cannot be, running the restore
    again finishes it from the key store's journal alone."""
    [first, _] = customer_ids(tmp_path / "crm.sqlite")
    place = backups_module.place_database

    def place_keys_only(prepared: str, database: str, *, held: Any) -> None:
        if database.endswith("crm.sqlite"):
            raise StorageError("disk full (simulated)")
        place(prepared, database, held=held)

    monkeypatch.setattr(backups_module, "place_database", place_keys_only)
    arguments: dict[str, Any] = {"keyring": ring, "actor": ADMIN, "reason": "drill"}
    night, database = tmp_path / "night.sqlite", tmp_path / "crm.sqlite"
    with pytest.raises(StorageError, match="simulated"):
        restore_backup(night, database, erased=[first], **arguments)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    receipt = restore_backup(night, database, **arguments)  # the journal alone names it
    assert receipt.replayed == (first,)
    registry = opened()
    with pytest.raises(Erased):
        registry.customers.get(first, actor=ADMIN)
    assert customer_ids(database) == [first] and registry.audit.verify(actor=AUDITOR).ok


def test_while_a_database_is_held_for_the_swap_no_store_opens_it(db: Path, ring: KeyRing) -> None:
    SQLiteStore(db).close()
    with held_for_swap(str(db), busy_timeout=1.0) as held:
        assert held is not None
        with pytest.raises(StorageError, match="locked"):
            SQLiteStore(db, busy_timeout=0)
    SQLiteStore(db).close()  # let go: it opens again


# ------------------------------------------------------------------------- the command line


def run(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_backup_and_restore_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("CUSTREC_KEY_FILE", "CUSTREC_DB", "CUSTREC_MASTER_KEYS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CUSTREC_ACTOR", "ops")
    keys, db, backup = tmp_path / "keys.json", tmp_path / "crm.sqlite", tmp_path / "night.sqlite"
    assert run("keys", "init", keys)[0] == cli.EXIT_OK
    ring = KeyRing.from_file(keys)
    with SQLiteStore(db) as store:
        Registry(store, keyring=ring).customers.intake(person(1), actor=CLERK)
    code, out, _ = run("backup", backup, "--db", db, "--keys", keys)
    assert code == cli.EXIT_OK and "mode 0600" in out and mode(backup) == 0o600
    code, _, err = run("backup", backup, "--db", db, "--keys", keys)
    assert code == cli.EXIT_CONFIG and "exists" in err
    assert "pass --overwrite" in err and "overwrite=True" not in err
    code, _, err = run(
        "backup", tmp_path / "k.sqlite", "--include-keys", "--db", db, "--keys", keys
    )
    assert code == cli.EXIT_OK and "apart" in err and (tmp_path / "k.keys.sqlite").exists()
    with SQLiteStore(db) as store:
        Registry(store, keyring=ring).customers.intake(person(2), actor=CLERK)
    code, _, _ = run("restore", backup, "--db", db, "--keys", keys)
    assert code == cli.EXIT_USAGE  # --reason is required
    code, out, _ = run("restore", backup, "--db", db, "--keys", keys, "--reason", "drill")
    assert code == cli.EXIT_OK and "restored" in out
    assert run("audit", "verify", "--db", db, "--keys", keys)[0] == cli.EXIT_OK
    code, _, err = run("restore", tmp_path / "nope", "--db", db, "--keys", keys, "--reason", "x")
    assert code == cli.EXIT_CONFIG and "no backup file" in err
    # another database's backup, made with its own keys
    other_keys, other_db = tmp_path / "other.json", tmp_path / "other.sqlite"
    assert run("keys", "init", other_keys)[0] == cli.EXIT_OK
    with SQLiteStore(other_db) as store:
        Registry(store, keyring=KeyRing.from_file(other_keys)).customers.intake(
            person(3), actor=CLERK
        )
    other_backup = tmp_path / "other-night.sqlite"
    assert run("backup", other_backup, "--db", other_db, "--keys", other_keys)[0] == cli.EXIT_OK
    code, _, err = run("restore", other_backup, "--db", db, "--keys", keys, "--reason", "x")
    assert code == cli.EXIT_CONFIG
    assert "do not belong together (another database's backup, or other keys?)" in err
