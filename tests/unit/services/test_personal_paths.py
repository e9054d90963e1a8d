"""An unmasked read audits the personal paths holding a value: read from the record itself,
they are the ones the general walk over the unstructured record finds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    DimensionGrade,
    Gender,
    Identifier,
)
from custrec.model.serialization import make_converter
from custrec.services._personal import general_paths, record_paths
from custrec.testing.strategies import aware_datetimes, ids

CONVERTER = make_converter()
texts = st.sampled_from(["", "x", " ", "李"]) | st.text(max_size=4)
optional_texts = st.none() | texts
contacts = st.builds(
    Contact,
    name=optional_texts,
    phones=st.lists(texts, max_size=2),
    emails=st.lists(texts, max_size=2),
    wechat=optional_texts,
)
grades = st.builds(
    DimensionGrade,
    dimension=st.sampled_from(["value", "risk"]),
    label=st.sampled_from(["A", "B"]),
    policy_id=st.just("p1"),
    graded_at=aware_datetimes(),
    explanation=optional_texts,
)
customers = st.builds(
    Customer,
    id=ids(),
    kind=st.sampled_from(CustomerKind),
    name=texts,
    registered_name=optional_texts,
    gender=st.none() | st.sampled_from(Gender),
    birth_date=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2030, 1, 1)),
    legal_representative=optional_texts,
    notes=optional_texts,
    identifiers=st.lists(
        st.builds(Identifier, scheme=texts, value=texts, system=optional_texts), max_size=2
    ),
    contacts=st.lists(contacts, max_size=3),
    addresses=st.lists(
        st.builds(Address, street=optional_texts, district=optional_texts, postal_code=texts),
        max_size=2,
    ),
    grades=st.lists(grades, max_size=2),
    custom=st.dictionaries(st.text(min_size=1, max_size=3), texts, max_size=2),
)


def general(customer: Any) -> list[str]:
    return general_paths(CONVERTER.unstructure(customer), Customer)


@settings(max_examples=400, deadline=None)
@given(customer=customers)
def test_the_record_walk_finds_the_paths_of_the_general_walk(customer: Customer) -> None:
    assert record_paths(customer) == general(customer)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", type("Text", (str,), {})("x")),  # a str subclass
        ("contacts", [Contact(phones=("1",))]),  # a list, not a tuple
        ("contacts", (Contact(), "not a contact")),
        ("contacts", (None, Contact(wechat="w"))),
        ("birth_date", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        ("notes", 5),
    ],
)
def test_a_value_of_another_type_is_left_to_the_general_walk(field: str, value: Any) -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三", contacts=(Contact(),))
    object.__setattr__(customer, field, value)
    assert record_paths(customer) is None


def test_the_walk_does_not_unstructure_the_record() -> None:
    # the point of the walk: an unmasked read's audit no longer unstructures the customer
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三", notes="n")
    assert record_paths(attrs.evolve(customer)) == ["name", "notes"]
