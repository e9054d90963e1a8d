"""The stored form of a customer built straight from the record (``storage/_direct.py``) is
what the general path makes of its document: the converter's document, compacted, with each
personal value replaced by the placeholder and listed with its path in the cipher's order. The
same skeleton (in the same key order) and the same values, for any customer, any id it is
sealed for and any row facts; a customer it cannot build (a value of the wrong type) is left to
the general path, which decides as before. Sealed through the codec, the payload opens to the
converter's document."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import KeyRing, MemoryStore
from custrec.model.records import (
    Contact,
    Customer,
    CustomerKind,
    personal_fields,
)
from custrec.model.serialization import SCHEMA_VERSION, make_converter
from custrec.security import DocumentCipher
from custrec.security.crypto import DETACHED, _find
from custrec.storage import _direct, _packed
from custrec.storage.codec import EncryptingCodec

from ._loose_customers import loose_customers

CONVERTER = make_converter()
SHAPE = _packed.Shape.of(Customer)
CIPHER = DocumentCipher(f"data.{f.path}" for f in personal_fields(Customer))
BUILD = _direct.builder(CONVERTER, Customer)
FACTS = ("kind", "state", "owner", "team", "grade", "tags", "created_at", "updated_at")
texts = st.text(max_size=6)
optional_texts = st.none() | texts
customers = loose_customers()


def general(
    customer: Customer, record_id: str, facts: dict[str, Any] | None
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """The skeleton and personal values the general path makes: converter, compaction, the
    cipher's walk with the placeholder put in place."""
    data = CONVERTER.unstructure(customer)
    compacted = _packed.compact(data, SHAPE, record_id, facts)
    assert compacted is not None
    wrapper = {"data": compacted}
    found = _find(wrapper, CIPHER._tree)
    values = [(path, container[item]) for container, item, path in found]
    for container, item, _ in found:
        container[item] = DETACHED
    return wrapper["data"], values


@st.composite
def facts(draw: st.DrawFn, customer: Customer) -> dict[str, Any] | None:
    """None, the row's facts of ``customer``, or those with some changed or left out."""
    if draw(st.booleans()):
        return None
    data = CONVERTER.unstructure(customer)
    found = {name: data[name] for name in FACTS if draw(st.integers(0, 5))}
    for name in draw(st.lists(st.sampled_from(FACTS), max_size=2)):
        found[name] = draw(st.none() | texts | st.just([]))
    return found


def in_order(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)  # key order included


@settings(max_examples=300, deadline=None)
@given(data=st.data(), customer=customers)
def test_the_built_stored_form_is_the_general_one(data: st.DataObject, customer: Customer) -> None:
    record_id = data.draw(st.sampled_from([customer.id, "another-id"]))
    known = data.draw(facts(customer))
    assert BUILD is not None
    built = BUILD(customer, record_id, known)
    assert built is not None
    expected = general(customer, record_id, known)
    assert in_order(built) == in_order(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [("contacts", [Contact()]), ("contacts", (None,)), ("name", None), ("created_at", "x")],
)
def test_a_value_of_another_type_is_left_to_the_general_path(field: str, value: Any) -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三")
    object.__setattr__(customer, field, value)
    assert BUILD is not None
    assert BUILD(customer, customer.id, None) is None


def test_facts_naming_a_field_that_is_no_column_are_left_to_the_general_path() -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三")
    assert BUILD is not None
    assert BUILD(customer, customer.id, {"contacts": []}) is None
    assert BUILD(customer, customer.id, {"name": "张三"}) is None


@settings(max_examples=50, deadline=None)
@given(customer=customers, with_facts=st.booleans())
def test_sealed_from_the_record_it_opens_to_the_document(
    customer: Customer, with_facts: bool
) -> None:
    codec = EncryptingCodec(KeyRing.generate())
    document = {"schema_version": SCHEMA_VERSION, "data": CONVERTER.unstructure(customer)}
    known = {name: document["data"][name] for name in FACTS} if with_facts else None
    with MemoryStore().transaction() as session:
        sealer = codec.begin(session)
        [payload] = sealer.seal_new_records(
            Customer, [customer.id], [customer], CONVERTER, None if known is None else [known]
        )
        opened = sealer.open_record(Customer, payload, customer_id=customer.id, facts=known)
    assert in_order(opened) == in_order(document)
    skeleton, values = general(customer, customer.id, known)
    packed = _packed.unpack(payload, "test")
    assert in_order(packed.skeleton) == in_order(skeleton)
    assert len(packed.ciphertexts) == len(values)


def test_a_record_the_builder_leaves_raises_as_the_document_does() -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三")
    object.__setattr__(customer, "created_at", dt.datetime(2025, 1, 1))  # naive
    codec = EncryptingCodec(KeyRing.generate())
    with MemoryStore().transaction() as session:
        sealer = codec.begin(session)
        with pytest.raises(ValueError, match="time zone"):
            sealer.seal_new_records(Customer, [customer.id], [customer], CONVERTER)
        assert sealer.cached_keys == 0  # no key without its record
