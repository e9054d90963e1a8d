"""Custom fields defined at run time: stored, versioned, validated, filtered, masked, exported
and erased like the built-in ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from custrec import Registry
from custrec.errors import AccessDenied, DefinitionConflict, ValidationFailed
from custrec.model.custom import CustomField, FieldType
from custrec.model.records import DataCategory
from custrec.security import Actor
from custrec.services import Between

from .conftest import MakeRegistry

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "export", "erase"})
STAFF = Actor(id="u-1", roles={"staff"}, team="east")

MEMBER_NO = CustomField(
    name="member_no",
    type=FieldType.TEXT,
    personal=True,
    category=DataCategory.IDENTIFIER,
    indexed=True,
    max_length=20,
    labels={"en": "Member number", "zh": "会员编号"},
)
CONTRACT = CustomField(
    name="contract_type",
    type=FieldType.ENUM,
    options=("annual", "monthly"),
    filterable=True,
)
BUDGET = CustomField(name="budget", type=FieldType.DECIMAL, minimum=Decimal(0), filterable=True)


def defined(registry: Registry) -> Registry:
    for field in (MEMBER_NO, CONTRACT, BUDGET):
        registry.fields.define(field, actor=ADMIN, reason="CRM launch")
    return registry


def person(name: str, phone: str, **custom: object) -> dict[str, object]:
    return {
        "kind": "individual",
        "name": name,
        "contacts": [{"phones": [phone], "primary": True}],
        "custom": custom,
    }


def test_definitions_are_stored_versioned_and_shared_by_every_registry_on_the_store(
    make: MakeRegistry,
) -> None:
    first = defined(make())
    other = make()  # another registry (process) opening the same store
    assert other.fields.current() == first.fields.current()
    assert other.fields.current().version == 3
    assert [s.version for s in other.fields.history()] == [1, 2, 3]
    assert [f.name for f in other.fields.history()[0].fields] == ["member_no"]
    with pytest.raises(DefinitionConflict):
        other.fields.define(MEMBER_NO, actor=ADMIN, reason="again")
    with pytest.raises(AccessDenied):
        other.fields.define(
            CustomField(name="x", type=FieldType.TEXT), actor=STAFF, reason="not allowed"
        )
    assert other.fields.current().version == 3


def test_intake_converts_and_checks_custom_values_by_their_definitions(
    registry: Registry,
) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", member_no="M-1", contract_type="ANNUAL", budget="1200.50"),
        actor=ADMIN,
    )
    assert c.custom == {
        "member_no": "M-1",
        "contract_type": "annual",
        "budget": Decimal("1200.50"),
    }
    assert registry.customers.get(c.id, actor=ADMIN).custom == c.custom
    with pytest.raises(ValidationFailed) as failed:
        registry.customers.intake(
            person("韩梅梅", "13800138002", contract_type="weekly", budget="-1", colour="red"),
            actor=ADMIN,
        )
    codes = {(i.path, i.code) for i in failed.value.report.errors}
    assert codes == {
        ("custom.contract_type", "option"),
        ("custom.budget", "range"),
        ("custom.colour", "unknown_field"),
    }


def test_a_personal_custom_field_is_masked_for_who_may_not_unmask_the_rest_is_shown(
    registry: Registry,
) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", member_no="M-20931", contract_type="annual"), actor=STAFF
    )
    seen = registry.customers.get(c.id, actor=STAFF)
    assert seen.custom["contract_type"] == "annual"
    assert "20931" not in str(seen.custom["member_no"])
    assert "M-20931" not in repr(registry.customers.get(c.id, actor=ADMIN))


def test_an_indexed_personal_field_is_found_exactly_through_its_blind_index(
    registry: Registry,
) -> None:
    defined(registry)
    c = registry.customers.intake(person("李雷", "13800138001", member_no="M-1"), actor=ADMIN)
    registry.customers.intake(person("韩梅梅", "13800138002", member_no="M-2"), actor=ADMIN)
    found = registry.customers.find(custom=("member_no", "M-1"), actor=ADMIN)
    assert [x.id for x in found] == [c.id]
    assert registry.customers.find(custom=("member_no", "M-3"), actor=ADMIN) == []


def test_a_filterable_field_filters_by_value_any_of_and_range(registry: Registry) -> None:
    defined(registry)
    ids = {}
    for n, (kind, budget) in enumerate(
        [("annual", "100"), ("monthly", "950.5"), ("annual", "1000"), ("monthly", None)]
    ):
        values: dict[str, object] = {"contract_type": kind}
        if budget is not None:
            values["budget"] = budget
        ids[n] = registry.customers.intake(
            person(f"客户{n}", f"1380013801{n}", **values), actor=ADMIN
        ).id

    def found(**custom: object) -> set[int]:
        got = {c.id for c in registry.customers.query(actor=ADMIN, custom=custom)}
        assert registry.customers.count(actor=ADMIN, custom=custom) == len(got)
        return {n for n, i in ids.items() if i in got}

    assert found(contract_type="annual") == {0, 2}
    assert found(contract_type=["annual", "monthly"]) == {0, 1, 2, 3}
    assert found(budget=Between(at_least=Decimal("950.5"))) == {1, 2}
    assert found(budget=Between(at_least=100, below=1000)) == {0, 1}
    assert found(budget=Between(below=Decimal("99.99"))) == set()
    assert found(contract_type="monthly", budget=Between(at_least=0)) == {1}
    with pytest.raises(ValueError, match="not filterable"):
        registry.customers.query(actor=ADMIN, custom={"member_no": "M-1"})
    with pytest.raises(TypeError, match="decimal"):
        registry.customers.query(actor=ADMIN, custom={"budget": date(2020, 1, 1)})


def test_changing_a_definition_keeps_old_records_readable_and_updatable(
    registry: Registry,
) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", contract_type="monthly"), actor=ADMIN
    )
    # the option the record holds is dropped, and a field becomes required
    registry.fields.change(
        CustomField(name="contract_type", type=FieldType.ENUM, options=("annual",)),
        actor=ADMIN,
        reason="monthly contracts discontinued",
    )
    registry.fields.change(
        CustomField(name="budget", type=FieldType.DECIMAL, required=True, filterable=True),
        actor=ADMIN,
        reason="budget now mandatory",
    )
    with pytest.raises(DefinitionConflict):
        registry.fields.change(
            CustomField(name="budget", type=FieldType.TEXT), actor=ADMIN, reason="no"
        )
    assert registry.customers.get(c.id, actor=ADMIN).custom["contract_type"] == "monthly"
    # an update of another field still goes through; one of the custom values is checked
    updated = registry.customers.update(c.id, {"industry": "软件"}, actor=ADMIN, reason="fix")
    assert updated.custom["contract_type"] == "monthly"
    with pytest.raises(ValidationFailed):
        registry.customers.update(
            c.id, {"custom": {"contract_type": "annual"}}, actor=ADMIN, reason="renewal"
        )
    renewed = registry.customers.update(
        c.id, {"custom": {"contract_type": "annual", "budget": "5"}}, actor=ADMIN, reason="r"
    )
    assert renewed.custom == {"contract_type": "annual", "budget": Decimal(5)}
    # a removed field's value stays until retention erases the customer, but takes no new one
    registry.fields.remove("budget", actor=ADMIN, reason="not used")
    assert registry.customers.get(c.id, actor=ADMIN).custom["budget"] == Decimal(5)
    kept = registry.customers.update(
        c.id, {"custom": {"contract_type": "annual"}}, actor=ADMIN, reason="same"
    )
    assert kept.custom == {"contract_type": "annual", "budget": Decimal(5)}
    for changes in ({"custom": {"budget": "6"}}, {"custom": {"budget": "anything"}}):
        with pytest.raises(ValidationFailed) as failed:
            registry.customers.update(c.id, changes, actor=ADMIN, reason="new value")
        assert [(i.path, i.code) for i in failed.value.report.errors] == [
            ("custom.budget", "removed_field")
        ]
    with pytest.raises(ValidationFailed) as refused:
        registry.customers.intake(person("韩梅梅", "13800138002", budget="1"), actor=ADMIN)
    assert [(i.path, i.code) for i in refused.value.report.errors] == [
        ("custom.budget", "removed_field")
    ]
    # a value of None removes a field; the other values stay
    dropped = registry.customers.update(
        c.id, {"custom": {"budget": None}}, actor=ADMIN, reason="retention of budgets"
    )
    assert dropped.custom == {"contract_type": "annual"}


def test_an_update_of_custom_changes_only_the_fields_it_names(registry: Registry) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", member_no="M-1", contract_type="annual"), actor=ADMIN
    )
    new = registry.customers.update(
        c.id, {"custom": {"budget": "10"}}, actor=ADMIN, reason="budget agreed"
    )
    assert new.custom == {"member_no": "M-1", "contract_type": "annual", "budget": Decimal(10)}


def test_filter_values_are_read_as_intake_reads_them(registry: Registry) -> None:
    defined(registry)
    registry.fields.define(
        CustomField(name="vip", type=FieldType.BOOLEAN, filterable=True), actor=ADMIN, reason="r"
    )
    registry.customers.intake(
        person("李雷", "13800138001", contract_type="annual", budget="12", vip="是"), actor=ADMIN
    )
    for wanted in ({"contract_type": "ANNUAL"}, {"contract_type": "ａｎｎｕａｌ"}, {"vip": "true"}):
        assert registry.customers.count(actor=ADMIN, custom=wanted) == 1, wanted
    assert registry.customers.count(actor=ADMIN, custom={"budget": "１２"}) == 1
    with pytest.raises(ValueError, match="option"):
        registry.customers.count(actor=ADMIN, custom={"contract_type": "weekly"})


def test_a_staff_members_history_shows_non_personal_custom_values(registry: Registry) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", member_no="M-20931", contract_type="annual"), actor=STAFF
    )
    registry.customers.update(
        c.id, {"custom": {"contract_type": "monthly"}}, actor=STAFF, reason="downgrade"
    )
    changes = [h for h in registry.customers.history(c.id, actor=STAFF) if h.path == "custom"]
    assert len(changes) == 1
    old, new = changes[0].old, changes[0].new
    assert isinstance(old, dict) and isinstance(new, dict)
    assert (old["contract_type"], new["contract_type"]) == ("annual", "monthly")
    assert "20931" not in str(old["member_no"]) and "20931" not in str(new["member_no"])


def test_custom_values_are_in_the_subject_export_and_gone_after_erasure(
    registry: Registry,
) -> None:
    defined(registry)
    c = registry.customers.intake(
        person("李雷", "13800138001", member_no="M-20931", budget="7"), actor=ADMIN
    )
    export = registry.privacy.export_subject(c.id, actor=ADMIN).to_dict()
    assert export["record"]["custom"]["member_no"] == "M-20931"
    registry.privacy.erase(c.id, actor=ADMIN, reason="subject request")
    assert registry.customers.find(custom=("member_no", "M-20931"), actor=ADMIN) == []
    assert registry.customers.count(actor=ADMIN, custom={"budget": Between(at_least=0)}) == 0


def test_a_field_made_filterable_later_filters_old_records_after_a_reindex(
    registry: Registry,
) -> None:
    registry.fields.define(
        CustomField(name="region_code", type=FieldType.TEXT), actor=ADMIN, reason="import"
    )
    c = registry.customers.intake(person("李雷", "13800138001", region_code="N1"), actor=ADMIN)
    registry.fields.change(
        CustomField(name="region_code", type=FieldType.TEXT, filterable=True),
        actor=ADMIN,
        reason="report by region code",
    )
    assert registry.customers.count(actor=ADMIN, custom={"region_code": "N1"}) == 0
    assert registry.keys.reindex(actor=ADMIN) == 1
    assert [x.id for x in registry.customers.query(actor=ADMIN, custom={"region_code": "N1"})] == [
        c.id
    ]
    assert registry.keys.reindex(actor=ADMIN) == 0  # nothing left to rewrite


def test_a_grade_given_at_intake_under_a_malformed_dimension_is_stored_but_no_facet(
    registry: Registry,
) -> None:
    graded = {
        "label": "A",
        "policy_id": "legacy",
        "graded_at": T0.isoformat(),
    }
    c = registry.customers.intake(
        {
            **person("李雷", "13800138001"),
            "grades": [
                {**graded, "dimension": "bad=dim"},
                {**graded, "dimension": "value_tier"},
            ],
        },
        actor=ADMIN,
    )
    assert [g.dimension for g in registry.customers.get(c.id, actor=ADMIN).grades] == [
        "bad=dim",
        "value_tier",
    ]
    assert registry.customers.count(actor=ADMIN, grades={"value_tier": "A"}) == 1
    # no facet 'grade.bad=dim=A' that would read as dimension 'bad', label 'dim=A'
    assert registry.customers.count(actor=ADMIN, grades={"bad": "dim=A"}) == 0
