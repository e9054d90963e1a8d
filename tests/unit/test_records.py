"""Record types: immutability, defaults, personal-field metadata and masked reprs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.model.ids import is_valid_id
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    DataCategory,
    Identifier,
    IdentifierScheme,
    Interaction,
    LifecycleStage,
    Milestones,
    Money,
    Sensitivity,
    Transaction,
    _tuple,
    personal_fields,
)

PERSONAL_VALUES = ("张三丰", "+8613800138000", "zs@example.com", "11010519491231002X", "长安街1号")


def sample() -> Customer:
    return Customer(
        kind=CustomerKind.INDIVIDUAL,
        name="张三丰",
        birth_date=date(1949, 12, 31),
        identifiers=[Identifier(scheme=IdentifierScheme.RIC, value="11010519491231002X")],
        contacts=[Contact(name="张三丰", phones=["+8613800138000"], emails=["zs@example.com"])],
        addresses=[Address(province="北京", city="北京", street="长安街1号")],
        notes="likes tea",
    )


def test_records_are_frozen_and_changed_with_evolve() -> None:
    c = sample()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        c.name = "x"  # type: ignore[misc]
    assert attrs.evolve(c, stage=LifecycleStage.ACTIVE).stage is LifecycleStage.ACTIVE


def test_new_customer_gets_a_time_ordered_id_and_version_zero() -> None:
    a, b = sample(), sample()
    assert is_valid_id(a.id) and a.id < b.id
    assert a.version == 0
    assert a.stage is LifecycleStage.LEAD


def test_sequences_are_converted_to_tuples() -> None:
    c = Customer(kind=CustomerKind.INDIVIDUAL, name="x", tags=["a", "b"], contacts=[])
    assert c.tags == ("a", "b") and c.contacts == ()
    assert Contact(phones="+8613800138000").phones == ("+8613800138000",)


def test_repr_never_shows_personal_values() -> None:
    text = repr(sample())
    for value in PERSONAL_VALUES:
        assert value not in text
    assert "likes tea" not in text
    assert "<redacted>" in text


def test_repr_of_activities_hides_free_text() -> None:
    from datetime import UTC, datetime

    i = Interaction(
        customer_id="c",
        kind="call",  # type: ignore[arg-type]
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        summary="called 13800138000",
    )
    assert "13800138000" not in repr(i)
    t = Transaction(
        customer_id="c",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        amount=Money(amount=Decimal("9.90")),
    )
    assert "9.90" in repr(t)  # amounts are not personal on their own


def test_personal_fields_lists_nested_paths_with_category_and_sensitivity() -> None:
    fields = {f.path: f for f in personal_fields(Customer)}
    assert {
        "name",
        "registered_name",
        "gender",
        "birth_date",
        "legal_representative",
        "identifiers[].value",
        "contacts[].name",
        "contacts[].phones",
        "contacts[].emails",
        "contacts[].wechat",
        "addresses[].district",
        "addresses[].street",
        "addresses[].postal_code",
        "notes",
        "grades[].explanation",
        "custom",
    } == set(fields)
    assert fields["custom"].category is DataCategory.CUSTOM
    assert fields["grades[].explanation"].category is DataCategory.FINANCIAL
    assert fields["identifiers[].value"].sensitivity is Sensitivity.SENSITIVE
    assert fields["contacts[].phones"].category is DataCategory.CONTACT
    assert fields["contacts[].phones"].record_type is Contact
    assert "milestones" not in fields and "stage" not in fields


def test_personal_fields_of_activities() -> None:
    assert [f.path for f in personal_fields(Interaction)] == ["summary"]
    assert personal_fields(Transaction) == ()
    assert personal_fields(Milestones) == ()


def test_personal_fields_rejects_non_records() -> None:
    with pytest.raises(TypeError):
        personal_fields(int)


@given(
    value=st.one_of(
        st.none(),
        st.text(max_size=3),
        st.binary(max_size=3),
        st.lists(st.integers(), max_size=3),
        st.lists(st.integers(), max_size=3).map(tuple),
        st.frozensets(st.integers(), max_size=3),
    )
)
def test_the_tuple_converter_of_a_tuple_is_the_tuple_itself(value: object) -> None:
    """The converter of tuple fields: a tuple as it is (what ``tuple()`` gives for it), and
    ``None``, a single text and any other iterable as before."""
    if value is None:
        expected: object = ()
    elif isinstance(value, str | bytes):
        expected = (value,)
    else:
        expected = tuple(value)  # type: ignore[call-overload]
    assert _tuple(value) == expected  # type: ignore[arg-type]
    if type(value) is tuple:
        assert _tuple(value) is value
