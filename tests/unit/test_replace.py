"""``custrec.model._replace.replace`` is ``attrs.evolve``: the same record, field for field
(with its types), for records of every kind and any changes, and the same refusal of an
unknown field."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model._replace import replace
from custrec.model.issues import ValidationReport
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    CustomValues,
    Identifier,
    Milestones,
    VerificationStatus,
)
from custrec.services._preparation import PreparedCustomer
from custrec.storage.types import AuditRecord
from custrec.testing.strategies import audit_records, aware_datetimes, ids

texts = st.text(max_size=8)
# values as callers pass them: lists where tuples are declared (the converters make tuples),
# mappings for custom values, and values of the wrong type (constructors do not validate)
contacts = st.builds(
    Contact,
    name=st.none() | texts,
    phones=st.lists(texts, max_size=2),
    emails=st.lists(texts, max_size=2) | st.none(),
)
customers = st.builds(
    Customer,
    id=ids(),
    version=st.integers(0, 5),
    kind=st.sampled_from(CustomerKind) | texts,
    name=texts,
    tags=st.lists(texts, max_size=3) | st.tuples(texts),
    contacts=st.lists(contacts, max_size=2),
    addresses=st.lists(st.builds(Address, city=st.none() | texts), max_size=2),
    identifiers=st.lists(st.builds(Identifier, scheme=texts, value=texts), max_size=2),
    custom=st.dictionaries(st.text(min_size=1, max_size=4), texts, max_size=2),
    milestones=st.builds(Milestones, satisfaction=st.none() | st.integers(1, 5)),
    created_at=st.none() | aware_datetimes(),
)
changes = st.fixed_dictionaries(
    {},
    optional={
        "version": st.integers(0, 9),
        "owner": st.none() | texts,
        "team": st.none() | texts,
        "created_at": st.none() | aware_datetimes(),
        "updated_at": aware_datetimes(),
        "verification": st.sampled_from(VerificationStatus),
        "tags": st.lists(texts, max_size=2) | texts,
        "custom": st.dictionaries(st.text(min_size=1, max_size=4), texts, max_size=2)
        | st.builds(CustomValues),
        "contacts": st.lists(contacts, max_size=1),
    },
)


def fields_of(record: Any) -> list[tuple[str, type, Any]]:
    return [
        (f.name, type(getattr(record, f.name)), getattr(record, f.name))
        for f in attrs.fields(type(record))
    ]


@given(customer=customers, changed=changes)
@settings(max_examples=200)
def test_a_customer_replaced_is_the_customer_evolved(
    customer: Customer, changed: dict[str, Any]
) -> None:
    ours = replace(customer, **changed)
    evolved = attrs.evolve(customer, **changed)
    assert type(ours) is Customer
    assert ours == evolved
    assert fields_of(ours) == fields_of(evolved)
    assert ours is not customer


@given(customer=customers, new_id=ids())
@settings(max_examples=100)
def test_a_prepared_customer_under_another_id_holds_its_record_evolved(
    customer: Customer, new_id: str
) -> None:
    """PreparedCustomer.with_id (an import's deterministic id) copies its record with
    replace: the record attrs.evolve gives, the prepared one left as it was."""
    before = fields_of(customer)
    prepared = PreparedCustomer(customer, ValidationReport(()), "clerk")
    moved = prepared.with_id(new_id).record
    assert moved is not None and moved is not customer
    assert fields_of(moved) == fields_of(attrs.evolve(customer, id=new_id))
    assert fields_of(customer) == before


@given(entry=audit_records(), seq=st.integers(1, 10**6), chain=st.binary(max_size=32))
@settings(max_examples=100)
def test_an_audit_entry_replaced_is_the_entry_evolved(
    entry: AuditRecord, seq: int, chain: bytes
) -> None:
    assert fields_of(replace(entry, seq=seq)) == fields_of(attrs.evolve(entry, seq=seq))
    both = {"seq": seq, "chain": chain, "fields": ["a", "b"]}
    assert fields_of(replace(entry, **both)) == fields_of(attrs.evolve(entry, **both))


def test_an_unknown_field_is_refused() -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="x")
    with pytest.raises(TypeError):
        attrs.evolve(customer, colour="red")
    with pytest.raises(TypeError, match="colour"):
        replace(customer, colour="red")


def test_a_class_with_a_post_init_is_evolved() -> None:
    @attrs.frozen
    class Checked:
        value: int
        doubled: int = 0

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "doubled", 2 * self.value)

    assert replace(Checked(1), value=4) == Checked(4)
    assert replace(Checked(1), value=4).doubled == 8


@attrs.frozen(slots=False)
class _Plain:
    a: int
    b: str = "b"


@attrs.frozen
class _OnPlain(_Plain):
    c: tuple[int, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class _Slotted:
    a: int
    b: str = "b"


@attrs.frozen
class _OnSlotted(_Slotted):
    c: tuple[int, ...] = attrs.field(default=(), converter=tuple)


@pytest.mark.parametrize("cls", [_OnPlain, _OnSlotted])
@given(a=st.integers(), b=texts, c=st.lists(st.integers(), max_size=2), changed=st.data())
def test_a_record_with_inherited_fields_replaced_is_the_record_evolved(
    cls: type, a: int, b: str, c: list[int], changed: st.DataObject
) -> None:
    """Fields held by a base class's slots, or by no slot (a base class without slots),
    are copied as ``attrs.evolve`` copies them."""
    record = cls(a=a, b=b, c=c)
    change = changed.draw(
        st.fixed_dictionaries(
            {}, optional={"a": st.integers(), "b": texts, "c": st.lists(st.integers())}
        )
    )
    assert fields_of(replace(record, **change)) == fields_of(attrs.evolve(record, **change))
