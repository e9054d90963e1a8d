"""The Registry facade over MemoryStore: intake, find, query, update with history, activities."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, PlaintextStorageWarning, Registry
from custrec.errors import DuplicateCustomer, NotFound, ValidationFailed, VersionConflict
from custrec.model.records import Contact, Customer, CustomerKind, Identifier, LifecycleStage
from custrec.services import IdentifyResult
from custrec.storage import Store

CLERK = Actor(id="u-1", roles={"admin", "unmask", "audit"}, team="north")
T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def person(phone: str = "13800138000", **extra: Any) -> dict[str, Any]:
    return {"kind": "individual", "name": "张三", "contacts": [{"phones": [phone]}], **extra}


@pytest.fixture
def keyring() -> KeyRing | None:
    """No keyring: this module's registry stores plain JSON."""
    return None


def test_without_a_codec_the_registry_warns_that_data_is_plaintext() -> None:
    with pytest.warns(PlaintextStorageWarning, match="plain JSON"):
        Registry(MemoryStore())


def test_intake_normalises_stores_and_returns_version_one(registry: Registry) -> None:
    c = registry.customers.intake(person("＋８６ １３８-００１３-８０００"), actor=CLERK)
    assert c.version == 1
    assert c.contacts[0].phones == ("+8613800138000",)
    assert c.created_at == c.updated_at == T0 + timedelta(seconds=1)
    assert registry.customers.get(c.id, actor=CLERK) == c


def test_intake_accepts_a_customer_object(registry: Registry) -> None:
    record = Customer(
        kind=CustomerKind.INDIVIDUAL, name="李四", contacts=[Contact(phones=["13900139000"])]
    )
    stored = registry.customers.intake(record, actor=CLERK)
    assert stored.id == record.id and stored.contacts[0].phones == ("+8613900139000",)


def test_invalid_data_raises_validation_failed_with_the_report(registry: Registry) -> None:
    with pytest.raises(ValidationFailed) as info:
        registry.customers.intake({"kind": "individual", "name": "", "contacts": []}, actor=CLERK)
    assert info.value.report.codes == {"required", "contact.channel_required"}
    assert registry.customers.count(actor=CLERK) == 0


def test_duplicates_on_strong_identifiers_are_refused_naming_the_existing_ids(
    registry: Registry,
) -> None:
    first = registry.customers.intake(person(), actor=CLERK)
    with pytest.raises(DuplicateCustomer) as info:
        registry.customers.intake(person("+86 138 0013 8000", name="另一个人"), actor=CLERK)
    assert info.value.existing_ids == (first.id,)
    assert info.value.fields == ("phone",)
    assert "13800138000" not in str(info.value)
    again = registry.customers.intake(person(), actor=CLERK, allow_duplicates=True)
    assert registry.customers.count(actor=CLERK) == 2 and again.id != first.id


@pytest.mark.parametrize(
    ("first", "second", "kind"),
    [
        (
            {"contacts": [{"emails": ["Li@Example.com"]}]},
            {"contacts": [{"emails": ["li@example.COM"]}]},
            "email",
        ),
        (
            {"identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002X"}]},
            {"identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002x"}]},
            "ric",
        ),
        (
            {"identifiers": [{"scheme": "EXTERNAL", "system": "old-crm", "value": "42"}]},
            {"identifiers": [{"scheme": "EXTERNAL", "system": "old-crm", "value": "42"}]},
            "external",
        ),
    ],
)
def test_each_strong_identifier_detects_duplicates(
    registry: Registry, first: dict[str, Any], second: dict[str, Any], kind: str
) -> None:
    base = {"kind": "individual", "name": "x"}
    a = {**base, **first}
    b = {**base, **second}
    a.setdefault("contacts", [{"phones": ["13800138000"]}])
    b.setdefault("contacts", [{"phones": ["13900139000"]}])
    registry.customers.intake(a, actor=CLERK)
    with pytest.raises(DuplicateCustomer) as info:
        registry.customers.intake(b, actor=CLERK)
    assert kind in info.value.fields


def test_external_ids_of_different_systems_do_not_collide(registry: Registry) -> None:
    registry.customers.intake(
        person(identifiers=[{"scheme": "EXTERNAL", "system": "a", "value": "1"}]), actor=CLERK
    )
    registry.customers.intake(
        person("13900139000", identifiers=[{"scheme": "EXTERNAL", "system": "b", "value": "1"}]),
        actor=CLERK,
    )
    assert registry.customers.count(actor=CLERK) == 2


def test_find_by_each_strong_identifier(registry: Registry) -> None:
    c = registry.customers.intake(
        person(
            contacts=[{"phones": ["13800138000"], "emails": ["zs@example.com"]}],
            identifiers=[
                {"scheme": "CN-RIC", "value": "11010519491231002X"},
                {"scheme": "EXTERNAL", "system": "erp", "value": "A-1"},
            ],
        ),
        actor=CLERK,
    )
    other = registry.customers.intake(person("13900139000"), actor=CLERK)
    assert [x.id for x in registry.customers.find(phone="138 0013 8000", actor=CLERK)] == [c.id]
    assert [x.id for x in registry.customers.find(email="ZS@EXAMPLE.COM", actor=CLERK)] == [c.id]
    ric = Identifier(scheme="CN-RIC", value="11010519491231002x")
    assert [x.id for x in registry.customers.find(identifier=ric, actor=CLERK)] == [c.id]
    assert [x.id for x in registry.customers.find(external_id=("erp", "A-1"), actor=CLERK)] == [
        c.id
    ]
    assert (
        registry.customers.find(phone="13800138000", email="nobody@example.com", actor=CLERK) == []
    )
    assert registry.customers.find(phone="not a phone", actor=CLERK) == []
    assert [x.id for x in registry.customers.find(phone="13900139000", actor=CLERK)] == [other.id]
    with pytest.raises(ValueError, match="at least one"):
        registry.customers.find(actor=CLERK)


def test_query_by_facets_and_pages(registry: Registry) -> None:
    ids = []
    for n in range(7):
        c = registry.customers.intake(
            person(
                f"1380013800{n}",
                stage="active" if n % 2 else "lead",
                owner="u-1" if n < 3 else "u-2",
                tags=["vip"] if n == 5 else [],
            ),
            actor=CLERK,
        )
        ids.append(c.id)
    assert [c.id for c in registry.customers.query(actor=CLERK, stage="active")] == ids[1::2]
    assert [c.id for c in registry.customers.query(actor=CLERK, owner="u-1")] == ids[:3]
    assert [c.id for c in registry.customers.query(actor=CLERK, tag="vip")] == [ids[5]]
    pages = list(registry.customers.batches(actor=CLERK, batch_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [c.id for page in pages for c in page] == ids
    assert registry.customers.count(actor=CLERK, stage="lead") == 4


def test_update_records_one_history_entry_per_changed_field(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=CLERK, reason="walk-in")
    updated = registry.customers.update(
        c.id,
        {"stage": "prospect", "tags": ["vip"], "contacts": [{"phones": ["13900139000"]}]},
        actor=CLERK,
        reason="first call",
        expected_version=1,
    )
    assert updated.version == 2
    assert updated.stage is LifecycleStage.PROSPECT
    assert updated.created_at == c.created_at and updated.updated_at > c.updated_at
    history = registry.customers.history(c.id, actor=CLERK)
    assert [(h.seq, h.action, h.path) for h in history] == [
        (1, "create", ""),
        (2, "update", "contacts[0].phones"),
        (3, "update", "stage"),
        (4, "update", "tags"),
    ]
    stage = history[2]
    assert (stage.old, stage.new, stage.reason, stage.actor_id) == (
        "lead",
        "prospect",
        "first call",
        "u-1",
    )
    assert history[1].old == ["+8613800138000"] and history[1].new == ["+8613900139000"]
    assert history[0].new["name"] == "张三"
    assert "张三" not in repr(history[0])


def test_update_with_a_stale_version_raises_and_changes_nothing(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=CLERK)
    registry.customers.update(c.id, {"stage": "new"}, actor=CLERK, reason="r", expected_version=1)
    with pytest.raises(VersionConflict):
        registry.customers.update(
            c.id, {"stage": "active"}, actor=CLERK, reason="r", expected_version=1
        )
    assert registry.customers.get(c.id, actor=CLERK).stage is LifecycleStage.NEW
    assert len(registry.customers.history(c.id, actor=CLERK)) == 2


def test_update_revalidates_and_refuses_readonly_fields(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=CLERK)
    with pytest.raises(ValidationFailed) as info:
        registry.customers.update(
            c.id, {"contacts": [{"phones": ["123"]}]}, actor=CLERK, reason="r"
        )
    assert info.value.report.codes == {"phone.invalid"}
    with pytest.raises(ValidationFailed) as info:
        registry.customers.update(c.id, {"id": "x", "version": 9}, actor=CLERK, reason="r")
    assert info.value.report.codes == {"readonly_field"}
    with pytest.raises(ValidationFailed) as info:
        registry.customers.update(c.id, {"shoe_size": 42}, actor=CLERK, reason="r")
    assert info.value.report.codes == {"unknown_field"}
    assert registry.customers.get(c.id, actor=CLERK).version == 1


def test_update_needs_a_reason(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=CLERK)
    with pytest.raises(ValueError, match="reason"):
        registry.customers.update(c.id, {"stage": "new"}, actor=CLERK, reason=" ")


def test_an_update_that_changes_nothing_writes_nothing(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=CLERK)
    same = registry.customers.update(
        c.id, {"contacts": [{"phones": ["138-0013-8000"]}]}, actor=CLERK, reason="r"
    )
    assert same.version == 1
    assert len(registry.customers.history(c.id, actor=CLERK)) == 1


def test_update_refuses_a_phone_held_by_another_customer(registry: Registry) -> None:
    a = registry.customers.intake(person("13800138000"), actor=CLERK)
    b = registry.customers.intake(person("13900139000"), actor=CLERK)
    with pytest.raises(DuplicateCustomer) as info:
        registry.customers.update(
            b.id, {"contacts": [{"phones": ["13800138000"]}]}, actor=CLERK, reason="r"
        )
    assert info.value.existing_ids == (a.id,)


def test_missing_customers_raise_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound):
        registry.customers.get("nope", actor=CLERK)
    with pytest.raises(NotFound):
        registry.customers.update("nope", {"stage": "new"}, actor=CLERK, reason="r")
    with pytest.raises(NotFound):
        registry.customers.history("nope", actor=CLERK)


def test_every_call_needs_an_actor(registry: Registry) -> None:
    with pytest.raises(TypeError, match="actor"):
        registry.customers.intake(person(), actor="u-1")  # type: ignore[arg-type]


def test_writes_are_audited_without_values(registry: Registry, store: Store) -> None:
    c = registry.customers.intake(person(), actor=CLERK, reason="walk-in")
    registry.customers.update(c.id, {"notes": "secret 13800138000"}, actor=CLERK, reason="note")
    with store.transaction(readonly=True) as session:
        entries = session.audit.read()
    assert [(e.action, e.customer_id, e.fields, e.reason) for e in entries] == [
        ("customer.create", c.id, (), "walk-in"),
        ("customer.update", c.id, ("notes",), "note"),
    ]
    assert all("13800138000" not in repr(e) for e in entries)


def test_transactions_interactions_and_summaries(registry: Registry) -> None:
    a = registry.customers.intake(person("13800138000"), actor=CLERK)
    b = registry.customers.intake(person("13900139000"), actor=CLERK)
    for customer, amount, day in [(a, "100.10", 1), (a, "-20.05", 3), (b, "5", 2)]:
        registry.activities.record_transaction(
            {
                "customer_id": customer.id,
                "occurred_at": (T0 - timedelta(days=10 - day)).isoformat(),
                "amount": {"amount": amount, "currency": "CNY"},
            },
            actor=CLERK,
        )
    registry.activities.record_interaction(
        {"customer_id": a.id, "kind": "call", "occurred_at": T0.isoformat(), "summary": "ok"},
        actor=CLERK,
    )
    summaries = {s.customer_id: s for s in registry.activities.summaries(as_of=T0, actor=CLERK)}
    assert summaries[a.id].purchase_count == 2
    assert summaries[a.id].total_spent == Decimal("80.05")
    assert summaries[a.id].first_purchase_at == T0 - timedelta(days=9)
    assert summaries[b.id].total_spent == Decimal("5")
    kinds = [type(x).__name__ for x in registry.activities.list(a.id, actor=CLERK)]
    assert kinds == ["Transaction", "Transaction", "Interaction"]


def test_activities_are_validated(registry: Registry) -> None:
    a = registry.customers.intake(person(), actor=CLERK)
    with pytest.raises(ValidationFailed) as info:
        registry.activities.record_transaction(
            {
                "customer_id": a.id,
                "occurred_at": (T0 + timedelta(days=400)).isoformat(),
                "amount": {"amount": "1.00001"},
            },
            actor=CLERK,
        )
    assert info.value.report.codes == {"date.future", "amount.precision"}
    largest = Decimal("922337203685477.5807")  # 2**63 - 1 ten-thousandths: the store's bound
    for amount in (largest + Decimal("0.0001"), Decimal("1E+15"), -largest - 1):
        with pytest.raises(ValidationFailed) as info:
            registry.activities.record_transaction(
                {"customer_id": a.id, "occurred_at": T0.isoformat(), "amount": {"amount": amount}},
                actor=CLERK,
            )
        assert info.value.report.codes == {"amount.range"}
    for amount in (largest, -largest):
        registry.activities.record_transaction(
            {"customer_id": a.id, "occurred_at": T0.isoformat(), "amount": {"amount": amount}},
            actor=CLERK,
        )
    stored = [t.amount.amount for t in registry.activities.list(a.id, actor=CLERK)]
    assert sorted(stored) == [-largest, largest]
    with pytest.raises(NotFound):
        registry.activities.record_transaction(
            {"customer_id": "ghost", "occurred_at": T0.isoformat(), "amount": {"amount": "1"}},
            actor=CLERK,
        )


def test_intake_many_reports_and_is_idempotent(registry: Registry) -> None:
    items: list[Any] = [
        Customer(
            kind=CustomerKind.INDIVIDUAL,
            name=f"n{i}",
            contacts=[Contact(phones=[f"1380013{i:04d}"])],
        )
        for i in range(10)
    ]
    items.insert(3, {"kind": "individual", "name": ""})
    items.insert(5, person("13800130001"))  # same phone as item 1
    result = registry.customers.intake_many(items, actor=CLERK, batch_size=4)
    assert len(result.added) == 10
    assert set(result.rejected) == {3} and result.rejected[3].codes >= {"required"}
    assert set(result.duplicates) == {5}
    again = registry.customers.intake_many(items, actor=CLERK, batch_size=4)
    assert again.added == () and len(again.skipped) == 10
    assert registry.customers.count(actor=CLERK) == 10


def test_a_naive_clock_is_refused(store: Store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(store, clock=lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone"):
        registry.customers.intake(person(), actor=CLERK)


def test_identify_returns_holders_of_strong_keys_and_existing_ids(registry: Registry) -> None:
    a = registry.customers.intake(person("13800138000"), actor=CLERK)
    b = registry.customers.intake(
        person("13900139000", contacts=[{"phones": ["13900139000"], "emails": ["b@example.com"]}]),
        actor=CLERK,
    )
    found = registry.customers.identify(
        [("phone", "+8613800138000"), ("email", "b@example.com"), ("phone", "+8610000000000")],
        actor=CLERK,
        ids=[a.id, "missing"],
    )
    holders, existing = found.holders, found.existing
    assert holders == {("phone", "+8613800138000"): (a.id,), ("email", "b@example.com"): (b.id,)}
    assert existing == {a.id}
    assert registry.customers.identify([], actor=CLERK) == IdentifyResult()


def test_a_bulk_intake_refuses_and_audits_each_customer_the_actor_may_not_create(
    registry: Registry,
) -> None:
    auditor = Actor(id="aud", roles={"auditor"})
    result = registry.customers.intake_many(
        [person("13800138000"), person("13900139000")], actor=auditor
    )
    assert result.added == () and sorted(result.denied) == [0, 1]
    assert registry.customers.count(actor=Actor(id="adm", roles={"admin"})) == 0
    refusals = [
        e
        for e in registry.audit.trail(actor=auditor, actor_id="aud")
        if e.action == "denied.create"
    ]
    assert [e.outcome for e in refusals] == ["denied", "denied"]
