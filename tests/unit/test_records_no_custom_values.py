"""A customer without custom values shares one empty :class:`CustomValues` (it never
changes): it is equal to a new empty one wherever it is compared, converted or stored, and
the stored form still leaves it out as before."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import Customer, CustomerKind, CustomValues
from custrec.model.serialization import make_converter
from custrec.storage import _packed

values = st.dictionaries(
    st.sampled_from(["member_no", "budget", "vip"]),
    st.one_of(st.text(min_size=1, max_size=5), st.integers(), st.just(Decimal("1.5"))),
    max_size=2,
)
given_custom = st.one_of(
    st.none(),
    st.just({}),
    st.just([]),
    values,
    values.map(CustomValues),
    values.map(lambda v: list(v.items())),
)


def _as_new(custom: Any) -> CustomValues:
    """What the converter made of a value before the empty one was shared."""
    if isinstance(custom, CustomValues):
        return custom
    if custom is None:
        return CustomValues()
    return CustomValues(custom)


@settings(max_examples=200, deadline=None)
@given(custom=st.one_of(st.just(attrs.NOTHING), given_custom))
def test_custom_values_are_those_a_new_instance_would_hold(custom: Any) -> None:
    kwargs: dict[str, Any] = {"kind": CustomerKind.INDIVIDUAL, "name": "张三"}
    if custom is not attrs.NOTHING:
        kwargs["custom"] = custom
    customer = Customer(**kwargs)
    expected = CustomValues() if custom is attrs.NOTHING else _as_new(custom)
    assert customer.custom == expected
    assert dict(customer.custom) == dict(expected)
    assert hash(customer.custom) == hash(expected)
    assert customer == attrs.evolve(customer, custom=expected)
    converter = make_converter()
    document = converter.unstructure(customer)
    assert document == converter.unstructure(attrs.evolve(customer, custom=expected))
    assert converter.structure(document, Customer) == customer


def test_the_shared_empty_values_are_kept_in_the_stored_form_as_before() -> None:
    # the packed form compacts a field by its default's kind: a factory of no list nor record
    assert _packed.Shape.of(Customer).by_name["custom"].kind == _packed._KEEP
    a, b = (
        Customer(kind=CustomerKind.INDIVIDUAL, name="x"),
        Customer(kind=CustomerKind.INDIVIDUAL, name="y"),
    )
    assert a.custom is b.custom
    assert len(a.custom) == 0
    assert a.custom.replace(vip="yes") == CustomValues({"vip": "yes"})
    assert len(b.custom) == 0  # a copy was changed, not the shared values
