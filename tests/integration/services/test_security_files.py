"""The registry with a keyring, on SQLite files: no personal value reaches the database files,
and a backup taken before an erasure cannot bring the customer back."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.errors import Erased
from custrec.testing import TickingClock

ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "erase", "export"}, team="hq")
AUDITOR = Actor(id="aud-1", roles={"auditor"})
KEYKEEPER = Actor(id="ops-1", roles={"admin", "unmask"})
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def customer(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"测试{n}号",
        "contacts": [{"phones": [f"1380013{n:04d}"], "emails": [f"user{n}@example.com"]}],
        "addresses": [{"city": "北京", "street": f"长安街{n}号", "postal_code": "100000"}],
        **extra,
    }


def test_no_personal_value_reaches_the_sqlite_files(tmp_path: Path) -> None:
    """1,000 customers through the registry; grep main, WAL and shared-memory files."""
    rng = random.Random(7)
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
    path = tmp_path / "crm.sqlite"
    store = SQLiteStore(path)
    registry = Registry(store, keyring=KeyRing.generate(), clock=TickingClock(T0))
    secrets: list[str] = []
    items = []
    for n in range(1000):
        name = rng.choice(surnames) + "".join(rng.choice(given) for _ in range(2)) + f"{n:04d}"
        mobile = f"139{n:04d}{rng.randrange(10_000):04d}"
        email = f"person.{n}.{rng.randrange(10**6)}@example-mail.cn"
        street = f"幸福路{n}号{rng.randrange(100)}室"
        passport = f"E{n:04d}{rng.randrange(10**4):04d}"
        items.append(
            {
                "kind": "individual",
                "name": name,
                "contacts": [{"phones": [mobile], "emails": [email], "name": name}],
                "addresses": [{"city": "上海", "street": street, "postal_code": "200000"}],
                "identifiers": [{"scheme": "PASSPORT", "value": passport}],
                "notes": f"prefers calls, {name}",
            }
        )
        secrets += [name, mobile, "+86" + mobile, email, street, passport]
    result = registry.customers.intake_many(items, actor=ADMIN, batch_size=250)
    assert len(result.added) == 1000
    blobs = b""
    for suffix in ("", "-wal", "-shm"):
        f = Path(str(path) + suffix)
        if f.exists():
            blobs += f.read_bytes()
    leaks = [s for s in secrets if s.encode() in blobs]
    store.close()
    assert leaks == []


def test_a_backup_taken_before_erasure_cannot_reveal_the_customer(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    keys = SQLiteStore(tmp_path / "keys.sqlite")
    data_path = tmp_path / "data.sqlite"
    data = SQLiteStore(data_path)
    registry = Registry(data, keyring=ring, key_store=keys, clock=TickingClock(T0))
    a = registry.customers.intake(customer(50), actor=ADMIN)
    b = registry.customers.intake(customer(51), actor=ADMIN)
    backup_path = tmp_path / "backup.sqlite"
    with sqlite3.connect(data_path) as source, sqlite3.connect(backup_path) as target:
        source.backup(target)
    registry.privacy.erase(a.id, actor=ADMIN, reason="subject request")
    backup = SQLiteStore(backup_path)
    restored = Registry(backup, keyring=ring, key_store=keys, clock=TickingClock(T0))
    # the restored log lacks the erasure's entries: the audit head says so until acknowledged
    with pytest.raises(Erased):
        restored.customers.get(a.id, actor=ADMIN)
    assert restored.audit.verify(actor=AUDITOR).problem == "truncated"
    restored.audit.reset_head(actor=KEYKEEPER, reason="restored from last night's backup")
    assert restored.audit.verify(actor=AUDITOR).ok
    assert restored.customers.get(b.id, actor=ADMIN).name == "测试51号"
    # the journal in the key store re-applies the erasure to the restored copy
    assert restored.privacy.replay_erasures(actor=KEYKEEPER) == [a.id]
    assert restored.customers.find(phone="13800130050", actor=ADMIN) == []
    assert restored.privacy.replay_erasures(actor=KEYKEEPER) == []
    for s in (backup, data, keys):
        s.close()
