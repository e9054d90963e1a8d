"""Text the registry cannot store: lone surrogates and NUL characters.

``surrogateescape`` decoding (of a legacy file, of command-line arguments) turns undecodable bytes
into lone surrogates such as ``'\\udcff'``; they cannot be encoded as UTF-8, and NUL is refused by
databases. Anywhere in a record given to ``intake`` or ``update`` such text is a validation issue
(``text.invalid_character``) at the field path of the string, raised as ``ValidationFailed``,
never a ``UnicodeEncodeError`` from deep inside, and nothing is stored. Lookups with such text do
not crash: they simply find nobody.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, Registry
from custrec.errors import ValidationFailed
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    IdentifierScheme,
    Interaction,
    InteractionKind,
    Milestones,
    Money,
)

ADMIN = Actor(id="u-1", roles={"admin", "unmask"}, team="north")
BAD = ["\udcff", "\ud800", "\x00"]
BAD_IDS = ["surrogateescape", "high-surrogate", "nul"]


def person() -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": "张三",
        "owner": "u-1",
        "notes": "首次来电",
        "tags": ["vip", "重点"],
        "contacts": [
            {
                "name": "张三",
                "phones": ["13800138000"],
                "emails": ["zs@example.com"],
                "wechat": "zs",
            }
        ],
        "addresses": [{"city": "北京", "street": "长安街1号", "postal_code": "100000"}],
        "identifiers": [{"scheme": "EXTERNAL", "system": "crm", "value": "42"}],
        "milestones": {"contract_amount": {"amount": "100", "currency": "CNY"}},
    }


# (where to spoil the mapping, the path the issue must name)
PLACES = [
    (("name",), "name"),
    (("owner",), "owner"),
    (("notes",), "notes"),
    (("tags", 1), "tags[1]"),
    (("contacts", 0, "name"), "contacts[0].name"),
    (("contacts", 0, "phones", 0), "contacts[0].phones[0]"),
    (("contacts", 0, "emails", 0), "contacts[0].emails[0]"),
    (("contacts", 0, "wechat"), "contacts[0].wechat"),
    (("addresses", 0, "street"), "addresses[0].street"),
    (("identifiers", 0, "system"), "identifiers[0].system"),
    (("identifiers", 0, "value"), "identifiers[0].value"),
    (("milestones", "contract_amount", "currency"), "milestones.contract_amount.currency"),
]
PLACE_IDS = [path for _, path in PLACES]


def spoiled(data: dict[str, Any], place: tuple[str | int, ...], bad: str) -> dict[str, Any]:
    data = deepcopy(data)
    target: Any = data
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = f"{target[place[-1]]}{bad}"
    return data


def refused(call: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        call()
    return info.value


def issue_paths(error: ValidationFailed) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in error.report]


def test_the_record_used_below_is_accepted(registry: Registry) -> None:
    stored = registry.customers.intake(person(), actor=ADMIN)
    assert stored.version == 1


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize(("place", "path"), PLACES, ids=PLACE_IDS)
def test_intake_refuses_unstorable_text_anywhere_with_an_issue_at_its_path(
    registry: Registry, place: tuple[str | int, ...], path: str, bad: str
) -> None:
    error = refused(lambda: registry.customers.intake(spoiled(person(), place, bad), actor=ADMIN))
    assert issue_paths(error) == [(path, "text.invalid_character")]
    assert bad not in str(error) and bad not in repr(error)
    assert str(error).encode("utf-8")  # the exception can be logged as it is
    assert registry.customers.count(actor=ADMIN) == 0


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_intake_refuses_a_customer_object_holding_unstorable_text(
    registry: Registry, bad: str
) -> None:
    record = Customer(
        kind=CustomerKind.INDIVIDUAL,
        name="张三",
        owner=f"u{bad}",
        tags=("vip", bad),
        contacts=[Contact(name=f"张{bad}", phones=["13800138000"])],
        addresses=[Address(city="北京", street=f"长安街{bad}")],
        identifiers=[Identifier(scheme=IdentifierScheme.PASSPORT, value="E12345678")],
        milestones=Milestones(contract_amount=Money(amount=Decimal(1), currency=f"CN{bad}")),
    )
    error = refused(lambda: registry.customers.intake(record, actor=ADMIN))
    assert {i.path for i in error.report.by_code("text.invalid_character")} == {
        "owner",
        "tags[1]",
        "contacts[0].name",
        "addresses[0].street",
        "milestones.contract_amount.currency",
    }
    assert registry.customers.count(actor=ADMIN) == 0


def test_intake_reports_unstorable_text_together_with_the_other_issues(
    registry: Registry,
) -> None:
    data = spoiled(person(), ("tags", 0), "\udcff")
    data["birth_date"] = "1990-02-30"
    data["contacts"][0]["phones"] = ["12345"]
    error = refused(lambda: registry.customers.intake(data, actor=ADMIN))
    assert set(issue_paths(error)) == {
        ("tags[0]", "text.invalid_character"),
        ("birth_date", "type"),
        ("contacts[0].phones[0]", "phone.invalid"),
    }


def with_text(value: Any, bad: str) -> Any:
    """``value`` with ``bad`` in place of every ``{}``, inside lists and mappings too."""
    if isinstance(value, str):
        return value.format(bad)
    if isinstance(value, list):
        return [with_text(item, bad) for item in value]
    if isinstance(value, dict):
        return {key: with_text(item, bad) for key, item in value.items()}
    return value


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"name": "李四{}"}, "name"),
        ({"notes": "{}"}, "notes"),
        ({"owner": "u-2{}"}, "owner"),
        ({"tags": ["vip", "{}"]}, "tags[1]"),
        ({"contacts": [{"name": "李{}", "phones": ["13900139000"]}]}, "contacts[0].name"),
        ({"addresses": [{"city": "上海{}"}]}, "addresses[0].city"),
    ],
    ids=["name", "notes", "owner", "tags", "contact-name", "address-city"],
)
def test_update_refuses_unstorable_text_and_leaves_the_customer_unchanged(
    registry: Registry, changes: dict[str, Any], path: str, bad: str
) -> None:
    stored = registry.customers.intake(person(), actor=ADMIN)
    spoilt = with_text(changes, bad)
    error = refused(
        lambda: registry.customers.update(
            stored.id, spoilt, actor=ADMIN, reason="correction", expected_version=1
        )
    )
    assert issue_paths(error) == [(path, "text.invalid_character")]
    assert registry.customers.get(stored.id, actor=ADMIN) == stored


def test_intake_many_rejects_the_item_with_unstorable_text_and_takes_the_others(
    registry: Registry,
) -> None:
    good = person()
    bad = spoiled(person(), ("name",), "\x00")
    bad["contacts"][0]["phones"] = ["13900139000"]
    bad["contacts"][0]["emails"] = ["ls@example.com"]
    bad["identifiers"] = []
    result = registry.customers.intake_many([good, bad], actor=ADMIN)
    assert len(result.added) == 1
    assert [(i.path, i.code) for i in result.rejected[1]] == [("name", "text.invalid_character")]


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_an_interaction_with_unstorable_text_is_refused(registry: Registry, bad: str) -> None:
    stored = registry.customers.intake(person(), actor=ADMIN)
    data = {"customer_id": stored.id, "kind": "call", "occurred_at": "2025-01-01T09:00:00+08:00"}
    error = refused(
        lambda: registry.activities.record_interaction(
            {**data, "summary": f"回访{bad}"}, actor=ADMIN
        )
    )
    assert issue_paths(error) == [("summary", "text.invalid_character")]
    record = Interaction(
        customer_id=stored.id,
        kind=InteractionKind.CALL,
        occurred_at=registry.customers.get(stored.id, actor=ADMIN).created_at,  # type: ignore[arg-type]
        outcome=bad,
    )
    error = refused(lambda: registry.activities.record_interaction(record, actor=ADMIN))
    assert issue_paths(error) == [("outcome", "text.invalid_character")]


# ------------------------------------------------------------------------------ lookups

unstorable = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text("0123456789+@abc.", max_size=12),
    st.sampled_from(BAD) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text("0123456789+@abc.", max_size=12),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=unstorable)
def test_find_with_unstorable_text_finds_nobody_and_does_not_crash(
    registry: Registry, text: str
) -> None:
    if not registry.customers.count(actor=ADMIN):
        registry.customers.intake(person(), actor=ADMIN)
    assert registry.customers.find(actor=ADMIN, phone=text) == []
    assert registry.customers.find(actor=ADMIN, email=text) == []
    assert registry.customers.find(actor=ADMIN, phone="13800138000", email=text) == []
    assert (
        registry.customers.find(actor=ADMIN, identifier=Identifier(scheme="CN-RIC", value=text))
        == []
    )
    assert registry.customers.find(actor=ADMIN, external_id=("crm", text)) == []
    assert registry.customers.find(actor=ADMIN, external_id=(text, "42")) == []


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize(("place", "path"), PLACES, ids=PLACE_IDS)
def test_find_duplicates_refuses_a_mapping_with_unstorable_text_as_a_validation_failure(
    registry: Registry, place: tuple[str | int, ...], path: str, bad: str
) -> None:
    registry.customers.intake(person(), actor=ADMIN)
    error = refused(
        lambda: registry.matching.find_duplicates(spoiled(person(), place, bad), actor=ADMIN)
    )
    assert issue_paths(error) == [(path, "text.invalid_character")]


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_find_duplicates_with_a_customer_object_holding_unstorable_text_does_not_crash(
    registry: Registry, bad: str
) -> None:
    stored = registry.customers.intake(person(), actor=ADMIN)
    candidate = Customer(
        kind=CustomerKind.INDIVIDUAL,
        name=f"张{bad}三",
        contacts=[
            Contact(phones=[f"138{bad}", "13800138000"], emails=[f"zs{bad}@example.com"]),
        ],
        addresses=[Address(city=f"北京{bad}", street=f"长安街{bad}1号")],
        identifiers=[Identifier(scheme=IdentifierScheme.EXTERNAL, system=bad, value=bad)],
    )
    search = registry.matching.find_duplicates(candidate, actor=ADMIN)
    assert [c.customer_id for c in search.candidates] == [stored.id]  # the same phone
