"""Erasure is final on disk: in the live files, at every write-ahead-log prefix, and in backups.

These tests work with the real files an SQLite store owns: the database, the key store beside it
and their ``-wal``/``-shm`` files, copied as an attacker with a file copy (and the key file)
would copy them.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.errors import Erased

ADMIN = Actor(id="dpo", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="aud", roles={"auditor"})


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"钱{n:04d}",
        "contacts": [{"phones": [f"1360000{n:04d}"], "emails": [f"p{n}@example.cn"]}],
        "notes": f"note {n}",
    }


def files_of(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file())


def wrapped_key(store: SQLiteStore, customer_id: str) -> bytes:
    key_store = store.key_store
    assert key_store is not None
    with key_store.transaction(readonly=True) as session:
        return session.keys.get(customer_id).wrapped


def wal_prefixes(wal: bytes) -> list[bytes]:
    """Every prefix of a WAL file that ends on a frame boundary (an earlier commit included)."""
    if len(wal) < 32:
        return [b""]
    page_size = struct.unpack(">I", wal[8:12])[0]
    frame = 24 + page_size
    count = (len(wal) - 32) // frame
    return [b""] + [wal[: 32 + k * frame] for k in range(count + 1)]


def key_rows_at_every_prefix(copy_dir: Path, db_name: str, customer_id: str) -> list[int]:
    """Open a copy of ``db_name`` with each prefix of its WAL; return the prefixes (by frame
    count) at which a data key row of ``customer_id`` can be read."""
    db = copy_dir / db_name
    wal_path = copy_dir / f"{db_name}-wal"
    wal = wal_path.read_bytes() if wal_path.exists() else b""
    found: list[int] = []
    for k, prefix in enumerate(wal_prefixes(wal)):
        trial = copy_dir / f"trial-{k}"
        trial.mkdir()
        shutil.copyfile(db, trial / db_name)
        if prefix:
            (trial / f"{db_name}-wal").write_bytes(prefix)
        conn = sqlite3.connect(trial / db_name)
        try:
            row = conn.execute(
                "SELECT 1 FROM data_keys WHERE customer_id = ?", (customer_id,)
            ).fetchone()
        except sqlite3.DatabaseError:
            row = None
        finally:
            conn.close()
        if row is not None:
            found.append(k)
        shutil.rmtree(trial)
    return found


def test_after_erase_no_file_the_store_owns_holds_the_key_at_any_wal_prefix(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    ring = KeyRing.generate()
    store = SQLiteStore(live / "crm.sqlite")
    registry = Registry(store, keyring=ring)
    ids = [c.id for c in (registry.customers.intake(person(n), actor=ADMIN) for n in range(300))]
    victim = ids[150]
    secret = wrapped_key(store, victim)
    for n in range(300, 340):  # more commits after the victim: its key page is in many frames
        registry.customers.intake(person(n), actor=ADMIN)
    assert any(secret in p.read_bytes() for p in files_of(live))

    registry.privacy.erase(victim, actor=ADMIN, reason="subject request")

    copy = tmp_path / "copy"  # a file copy of the live files, taken after erase() returned
    shutil.copytree(live, copy)
    store.close()
    assert {p.name for p in files_of(copy)} >= {"crm.sqlite", "crm.keys.sqlite"}
    for path in files_of(copy):
        assert secret not in path.read_bytes(), path.name
    for db_name in ("crm.keys.sqlite", "crm.sqlite"):
        assert key_rows_at_every_prefix(copy, db_name, victim) == []
    with SQLiteStore(copy / "crm.sqlite") as copied:  # and the registry cannot read it back
        reopened = Registry(copied, keyring=ring)
        with pytest.raises(Erased):
            reopened.customers.get(victim, actor=ADMIN)
        assert reopened.customers.get(ids[151], actor=ADMIN).name == "钱0151"


def backup(source: Path, target: Path) -> None:
    """A consistent online backup of one SQLite file (the sqlite3 backup API)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def test_a_backup_of_the_database_holds_no_data_key(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    with SQLiteStore(tmp_path / "crm.sqlite") as store:
        registry = Registry(store, keyring=ring)
        ids = [registry.customers.intake(person(n), actor=ADMIN).id for n in range(20)]
        assert store.key_file == str(tmp_path / "crm.keys.sqlite")
        backup(tmp_path / "crm.sqlite", tmp_path / "nightly.sqlite")
        secrets = [wrapped_key(store, i) for i in ids]
    data = (tmp_path / "nightly.sqlite").read_bytes()
    assert all(secret not in data for secret in secrets)
    with sqlite3.connect(tmp_path / "nightly.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM data_keys").fetchone() == (0,)


def test_restoring_the_database_from_a_backup_does_not_bring_an_erased_customer_back(
    tmp_path: Path,
) -> None:
    ring = KeyRing.generate()
    db = tmp_path / "crm.sqlite"
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        victim = registry.customers.intake(person(1), actor=ADMIN).id
        kept = registry.customers.intake(person(2), actor=ADMIN).id
        backup(db, tmp_path / "before-erasure.sqlite")
        registry.privacy.erase(victim, actor=ADMIN, reason="subject request")
    for suffix in ("", "-wal", "-shm"):  # the disaster: restore last night's database
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "before-erasure.sqlite", db)
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        assert registry.audit.verify(actor=AUDITOR).problem == "truncated"  # behind its head
        registry.audit.reset_head(actor=ADMIN, reason="restored the database")
        with pytest.raises(Erased):  # the ciphertext came back, the key did not
            registry.customers.get(victim, actor=ADMIN)
        assert registry.customers.find(phone="13600000001", actor=ADMIN) == []
        assert registry.privacy.replay_erasures(actor=ADMIN) == [victim]  # tombstone again
        with store.transaction(readonly=True) as session:
            row = session.customers.get(victim)
            assert row.state == "erased" and not row.index_keys
        assert registry.customers.get(kept, actor=ADMIN).name == "钱0002"


def test_restoring_the_key_store_from_a_backup_is_undone_by_replaying_erasures(
    tmp_path: Path,
) -> None:
    ring = KeyRing.generate()
    db, keys = tmp_path / "crm.sqlite", tmp_path / "crm.keys.sqlite"
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        victim = registry.customers.intake(person(3), actor=ADMIN).id
        registry.customers.intake(person(4), actor=ADMIN)
        backup(keys, tmp_path / "keys-before.sqlite")
        registry.privacy.erase(victim, actor=ADMIN, reason="subject request")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{keys}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(tmp_path / "keys-before.sqlite", keys)  # the key came back ...
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        with pytest.raises(Erased):  # ... but the record is a tombstone in the data store
            registry.customers.get(victim, actor=ADMIN)
        assert registry.privacy.replay_erasures(actor=ADMIN) == [victim]  # destroys the key again
        with store.key_store.transaction(readonly=True) as session:  # type: ignore[union-attr]
            assert victim not in [k.customer_id for k in session.keys.list()]
        assert victim in [e.customer_id for e in registry.privacy.journal(actor=AUDITOR)]


def test_restoring_both_files_is_undone_with_a_copy_of_the_journal_kept_elsewhere(
    tmp_path: Path,
) -> None:
    ring = KeyRing.generate()
    db, keys = tmp_path / "crm.sqlite", tmp_path / "crm.keys.sqlite"
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        victim = registry.customers.intake(person(5), actor=ADMIN).id
        backup(db, tmp_path / "db-before.sqlite")
        backup(keys, tmp_path / "keys-before.sqlite")
        registry.privacy.erase(victim, actor=ADMIN, reason="subject request")
        journal = [e.customer_id for e in registry.privacy.journal(actor=AUDITOR)]  # kept off-site
    for path, saved in ((db, "db-before.sqlite"), (keys, "keys-before.sqlite")):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(tmp_path / saved, path)
    with SQLiteStore(db) as store:
        registry = Registry(store, keyring=ring)
        assert registry.customers.get(victim, actor=ADMIN).name == "钱0005"  # everything came back
        assert registry.privacy.replay_erasures(actor=ADMIN, ids=journal) == [victim]
        with pytest.raises(Erased):
            registry.customers.get(victim, actor=ADMIN)
