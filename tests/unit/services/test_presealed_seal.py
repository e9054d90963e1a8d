"""An import's worker seals a customer as the general path does: the payload built straight
from the record (the codec's compiled builder) has the same flags, schema version and skeleton
as the one sealed from the converter's document with the row's facts, and its ciphertexts open
to the same values. The seal's told facts are the same for equal facts in the worker and in the
writer (after the row crossed the worker's pipe), and differ for different ones."""

from __future__ import annotations

import enum
import pickle
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import KeyRing
from custrec.model.records import (
    Customer,
)
from custrec.model.serialization import SCHEMA_VERSION, make_converter
from custrec.security.crypto import DataKey
from custrec.services._presealed import _CONVERTER, _sealed, _told
from custrec.services._records import customer_facts
from custrec.storage import _packed
from custrec.storage.codec import EncryptingCodec
from custrec.testing.strategies import aware_datetimes

from .._loose_customers import loose_customers

CODEC = EncryptingCodec(KeyRing.generate())
KEY = DataKey(bytes(range(32)))
texts = st.text(max_size=6)
optional_texts = st.none() | texts
customers = loose_customers(aware_datetimes())


def opened(payload: bytes, customer: Customer, facts: dict[str, Any]) -> tuple[Any, ...]:
    packed = _packed.unpack(payload, "a customer")
    document = CODEC.open_packed(Customer, packed, KEY, customer.id, None, facts)
    return packed.schema_version, packed.flags, packed.skeleton, document


@settings(max_examples=200, deadline=None)
@given(customer=customers)
def test_a_worker_seals_a_customer_as_the_document_path_does(customer: Customer) -> None:
    facts = customer_facts(customer, _CONVERTER)
    document = {"schema_version": SCHEMA_VERSION, "data": make_converter().unstructure(customer)}
    general = CODEC.seal_document(Customer, document, KEY, customer.id, None, dict(facts))
    fast = _sealed(CODEC, customer, KEY)
    assert opened(fast, customer, facts) == opened(general, customer, facts)
    expected = {"schema_version": SCHEMA_VERSION, "data": make_converter().unstructure(customer)}
    assert opened(fast, customer, facts)[3] == expected


facts_items = st.recursive(
    st.none() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(a=st.lists(facts_items, max_size=6).map(tuple), b=st.lists(facts_items, max_size=6))
def test_facts_are_told_alike_exactly_when_they_are_equal(a: tuple[Any, ...], b: list[Any]) -> None:
    other = tuple(b)
    assert _told(a) == _told(pickle.loads(pickle.dumps(a)))
    assert (_told(a) == _told(other)) == (a == other)


class Stage(enum.StrEnum):
    ACTIVE = "active"


def test_facts_marshal_refuses_are_told_by_their_repr_apart_from_any_other() -> None:
    assert _told(("x", Stage.ACTIVE)) == b"r" + repr(("x", Stage.ACTIVE)).encode()
    assert _told(("x", Stage.ACTIVE)) != _told(("x", "active"))
