"""Name search and custom fields on an encrypted SQLite store, checked in the real files.

A personal custom field is sealed like a built-in one (its value appears in no file the store
owns), and name search works through blind indexes: it finds organisations by their core name
and people by their full name in any order, never another actor's customers, and it audits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.model.custom import CustomField, FieldType
from custrec.model.records import DataCategory

ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "export", "erase"})
WANG = Actor(id="wang", roles={"staff"}, team="east")
LI = Actor(id="li", roles={"staff"}, team="east")
AUDITOR = Actor(id="aud", roles={"auditor"})

SECRET = "VIP-83920417"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    store = SQLiteStore(tmp_path / "crm.sqlite")
    registry = Registry(store, keyring=KeyRing.generate())
    registry.fields.define(
        CustomField(
            name="member_no",
            type=FieldType.TEXT,
            personal=True,
            category=DataCategory.IDENTIFIER,
            indexed=True,
        ),
        actor=ADMIN,
        reason="loyalty programme",
    )
    yield registry
    store.close()


def organization(name: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "organization",
        "name": name,
        "industry": "软件",
        "contacts": [{"name": "联系人", "phones": [phone]}],
        **extra,
    }


def individual(name: str, phone: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "individual", "name": name, "contacts": [{"phones": [phone]}], **extra}


def store_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_a_personal_custom_value_is_in_no_file_but_found_exactly(
    registry: Registry, tmp_path: Path
) -> None:
    c = registry.customers.intake(
        individual("赵敏", "13900139000", custom={"member_no": SECRET}), actor=ADMIN
    )
    assert SECRET.encode() not in store_bytes(tmp_path)
    assert "赵敏".encode() not in store_bytes(tmp_path)
    assert [x.id for x in registry.customers.find(custom=("member_no", SECRET), actor=ADMIN)] == [
        c.id
    ]
    registry.privacy.erase(c.id, actor=ADMIN, reason="subject request")
    assert registry.customers.find(custom=("member_no", SECRET), actor=ADMIN) == []


def test_an_organisation_is_found_by_its_core_name_and_a_person_in_any_order(
    registry: Registry, tmp_path: Path
) -> None:
    beijing = registry.customers.intake(
        organization("北京某某科技有限公司", "01062345678", addresses=[{"city": "北京"}]),
        actor=WANG,
    )
    shanghai = registry.customers.intake(
        organization("上海某某科技有限公司", "02162345678", addresses=[{"city": "上海"}]),
        actor=WANG,
    )
    other = registry.customers.intake(organization("某某贸易有限公司", "02162345679"), actor=WANG)
    zhang = registry.customers.intake(individual("张伟", "13800138000"), actor=WANG)
    registry.customers.intake(individual("张卫", "13800138001"), actor=WANG)
    assert "北京某某科技".encode() not in store_bytes(tmp_path)

    found = registry.customers.search("某某科技", actor=WANG)
    assert {c.id for c in found} == {beijing.id, shanghai.id}
    assert other.id not in {c.id for c in found}
    assert [c.id for c in registry.customers.search("伟 张", actor=WANG)] == [zhang.id]
    assert [c.id for c in registry.customers.search("张伟", actor=WANG)] == [zhang.id]
    # the core name leaves the region out: the full name finds both, a facet tells them apart
    assert {c.id for c in registry.customers.search("北京某某科技有限公司", actor=WANG)} == {
        beijing.id,
        shanghai.id,
    }
    assert [c.id for c in registry.customers.search("某某科技", actor=WANG, city="北京")] == [
        beijing.id
    ]
    # paging walks every match once
    first = registry.customers.search("某某科技", actor=WANG, limit=1)
    rest = registry.customers.search("某某科技", actor=WANG, after=first[0].id)
    assert [c.id for c in first + rest] == sorted([beijing.id, shanghai.id])
    # another staff member owns none of them: nothing is found, nothing decrypted
    assert registry.customers.search("某某科技", actor=LI) == []
    assert registry.customers.search("伟 张", actor=LI) == []
    assert registry.customers.search("有限公司", actor=WANG) == []
    assert registry.customers.search("   ", actor=WANG) == []


def test_a_search_is_audited_without_its_text(registry: Registry) -> None:
    zhang = registry.customers.intake(individual("张伟", "13800138000"), actor=WANG)
    registry.customers.search("伟 张", actor=WANG)
    entries = registry.audit.trail(actor=AUDITOR, actor_id=WANG.id)
    searches = [e for e in entries if e.action == "customer.search"]
    assert len(searches) == 1 and searches[0].fields == ("name",)
    assert "张" not in (searches[0].reason or "") and "伟" not in (searches[0].reason or "")
    assert any(e.action == "customer.read" and e.customer_id == zhang.id for e in entries)
