"""The audit chain's head lives outside the audited store, so deleting the newest entries shows."""

from __future__ import annotations

import json
import sqlite3
import stat
import warnings
from pathlib import Path

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.errors import AccessDenied, AuditIntegrityWarning
from custrec.services import FileAuditHead, StoreAuditHead
from custrec.storage import Store

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="aud", roles={"auditor"})


def person(n: int) -> dict[str, object]:
    return {"kind": "individual", "name": f"周{n}", "contacts": [{"phones": [f"1330000{n:04d}"]}]}


def busy(registry: Registry, n: int = 8) -> None:
    ids = [registry.customers.intake(person(i), actor=ADMIN).id for i in range(n)]
    for customer_id in ids:
        registry.customers.get(customer_id, actor=ADMIN)


def drop_newest_sqlite(path: Path, count: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq > (SELECT max(seq) FROM audit) - ?", (count,))


def drop_newest_memory(store: MemoryStore, count: int) -> None:
    del store._state.audit[-count:]


def test_deleting_the_newest_entries_is_detected_with_the_default_layout(
    sqlite_store: SQLiteStore, sqlite_path: Path
) -> None:
    registry = Registry(sqlite_store, keyring=KeyRing.generate())
    busy(registry)
    assert registry.audit.verify(actor=AUDITOR).ok
    drop_newest_sqlite(sqlite_path, 5)
    result = registry.audit.verify(actor=AUDITOR)
    assert not result.ok and result.problem == "truncated"


def test_a_truncated_log_that_grows_again_is_still_caught(
    sqlite_path: Path,
) -> None:
    ring = KeyRing.generate()
    with SQLiteStore(sqlite_path) as store:
        registry = Registry(store, keyring=ring)
        busy(registry)
        c = registry.customers.query(actor=ADMIN, limit=1)[0]
    drop_newest_sqlite(sqlite_path, 3)
    with SQLiteStore(sqlite_path) as store:
        registry = Registry(store, keyring=ring)
        problems = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(6):  # the log grows past where it was cut, verifications included
                registry.customers.get(c.id, actor=ADMIN)
                problems.append(registry.audit.verify(actor=AUDITOR).problem)
        assert problems[0] == "truncated"
        assert set(problems) <= {"truncated", "checkpoint_mismatch"}  # never ok again
        assert any(issubclass(w.category, AuditIntegrityWarning) for w in caught)
    with SQLiteStore(sqlite_path) as store:  # a later process sees it too (the CLI's check)
        later = Registry(store, keyring=ring)
        with pytest.warns(AuditIntegrityWarning):
            result = later.audit.verify(actor=AUDITOR)
        assert result.problem == "checkpoint_mismatch"


def test_resetting_the_head_acknowledges_a_restore(
    sqlite_store: SQLiteStore, sqlite_path: Path
) -> None:
    registry = Registry(sqlite_store, keyring=KeyRing.generate())
    busy(registry)
    drop_newest_sqlite(sqlite_path, 4)
    keeper = Actor(id="ops", roles={"admin"})
    assert registry.audit.verify(actor=AUDITOR).problem == "truncated"
    head = registry.audit.reset_head(actor=keeper, reason="restored from backup, ticket 77")
    assert head is not None
    assert registry.audit.verify(actor=AUDITOR).ok
    trail = registry.audit.trail(actor=AUDITOR, limit=3, newest_first=True)
    assert "audit.head.reset" in [e.action for e in trail]
    with pytest.raises(AccessDenied):
        registry.audit.reset_head(actor=AUDITOR, reason="x")


def test_reads_advance_the_head_too(sqlite_store: SQLiteStore, sqlite_path: Path) -> None:
    registry = Registry(sqlite_store, keyring=KeyRing.generate())
    c = registry.customers.intake(person(1), actor=ADMIN)
    registry.customers.get(c.id, actor=ADMIN)  # the newest entry is a read
    drop_newest_sqlite(sqlite_path, 1)
    assert registry.audit.verify(actor=AUDITOR).problem == "truncated"


def test_a_separate_key_store_keeps_the_head_for_any_backend() -> None:
    data, keys = MemoryStore(), MemoryStore()
    registry = Registry(data, keyring=KeyRing.generate(), key_store=keys)
    busy(registry)
    drop_newest_memory(data, 3)
    assert registry.audit.verify(actor=AUDITOR).problem == "truncated"


def test_a_head_file_named_by_the_caller_detects_truncation(tmp_path: Path) -> None:
    store = MemoryStore()  # keys inside the store: no key store to keep a head in
    head = tmp_path / "audit-head.json"
    registry = Registry(store, keyring=KeyRing.generate(), audit_head=head)
    busy(registry)
    assert stat.S_IMODE(head.stat().st_mode) == 0o600
    assert FileAuditHead(head).read() is not None
    drop_newest_memory(store, 2)
    assert registry.audit.verify(actor=AUDITOR).problem == "truncated"


def test_without_a_head_truncation_needs_a_checkpoint(tmp_path: Path) -> None:
    store = MemoryStore()
    registry = Registry(store, keyring=KeyRing.generate())
    busy(registry)
    checkpoint = registry.audit.checkpoint(actor=AUDITOR)
    registry.customers.get(
        registry.customers.query(actor=ADMIN, limit=1)[0].id, actor=ADMIN
    )  # two more entries
    drop_newest_memory(store, 4)  # those two, the checkpoint's and one before it
    assert registry.audit.verify(actor=AUDITOR).ok  # what a head would have caught
    assert registry.audit.verify(actor=AUDITOR, checkpoint=checkpoint).problem == "truncated"


def test_registries_sharing_a_store_never_move_the_head_back(
    sqlite_path: Path,
) -> None:
    ring = KeyRing.generate()
    one_store, two_store = SQLiteStore(sqlite_path), SQLiteStore(sqlite_path)
    one, two = Registry(one_store, keyring=ring), Registry(two_store, keyring=ring)
    for n in range(6):
        (one if n % 2 else two).customers.intake(person(n), actor=ADMIN)
    assert one.audit.verify(actor=AUDITOR).ok and two.audit.verify(actor=AUDITOR).ok
    with one_store.transaction(readonly=True) as s:
        last = s.audit.last()
    assert last is not None
    one_store.close()  # each writes the head it deferred (the verifications' own entries)
    two_store.close()
    with SQLiteStore(sqlite_path) as store:
        assert store.key_store is not None
        recorded = StoreAuditHead(store.key_store).read()
    assert recorded is not None and recorded.seq == last.seq


def test_a_forged_head_is_refused(sqlite_store: SQLiteStore) -> None:
    registry = Registry(sqlite_store, keyring=KeyRing.generate())
    busy(registry, 2)
    key_store: Store | None = sqlite_store.key_store
    assert key_store is not None
    other = Registry(MemoryStore(), keyring=KeyRing.generate())
    busy(other, 1)
    forged = other.audit.checkpoint(actor=AUDITOR)
    with key_store.transaction() as s:
        s.meta.put("custrec.audit_head", json.dumps(forged.to_dict()).encode())
        s.commit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.audit.verify(actor=AUDITOR).problem == "checkpoint_signature"
        sqlite_store.close()  # the next write of the head (the verification's) is refused:
    # the forged head names no entry of this log
    assert any(issubclass(w.category, AuditIntegrityWarning) for w in caught)
