"""Compaction of a stored customer document: the straight-line code compiled for documents
that hold their record's fields in order gives exactly what the key-by-key loop gives (the
same dict, in the same key order, or ``None``), for any customer, any facts and any id; and
expanding it gives the document back."""

from __future__ import annotations

import json
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import (
    Customer,
    CustomerKind,
)
from custrec.model.serialization import make_converter
from custrec.storage import _packed

from ._loose_customers import loose_customers

CONVERTER = make_converter()
SHAPE = _packed.Shape.of(Customer)
texts = st.text(max_size=6)
optional_texts = st.none() | texts

customers = loose_customers()


def facts_of(data: dict[str, Any]) -> dict[str, Any]:
    return {
        name: data[name]
        for name in ("kind", "state", "owner", "team", "grade", "tags", "created_at", "updated_at")
    }


@st.composite
def documents(draw: st.DrawFn) -> tuple[dict[str, Any], str | None, dict[str, Any] | None]:
    """A converter's customer document, maybe with some values replaced (``None``, an empty
    list or object, another type), with the id it is sealed for and the row's facts."""
    data = CONVERTER.unstructure(draw(customers))
    for name in draw(st.lists(st.sampled_from(SHAPE.names), max_size=4)):
        data[name] = draw(st.sampled_from([None, [], {}, "x", 0, [None], [{}]]))
    record_id = draw(st.sampled_from([data["id"], None, "other"]))
    facts: dict[str, Any] | None = None
    if draw(st.booleans()):
        facts = facts_of(data)
        for name in draw(st.lists(st.sampled_from(sorted(facts)), max_size=3)):
            facts[name] = draw(st.sampled_from([None, [], "x", facts[name]]))
        if draw(st.booleans()):
            facts.pop(draw(st.sampled_from(sorted(facts))))
    return data, record_id, facts


def in_order(value: object) -> str:
    return json.dumps(value, default=str)  # the key order counts: the skeleton is stored


@given(documents())
@settings(max_examples=300)
def test_compiled_compaction_is_the_loop(
    case: tuple[dict[str, Any], str | None, dict[str, Any] | None],
) -> None:
    data, record_id, facts = case
    assert tuple(data) == SHAPE.names  # the compiled path is the one taken
    loop = _packed._compact(json.loads(json.dumps(data)), SHAPE, record_id, facts)
    compiled = _packed.compact(json.loads(json.dumps(data)), SHAPE, record_id, facts)
    assert in_order(compiled) == in_order(loop)


@given(customer=customers)
@settings(max_examples=100)
def test_a_compacted_document_expands_to_the_document(customer: Customer) -> None:
    data = CONVERTER.unstructure(attrs.evolve(customer))
    facts = facts_of(data)
    compacted = _packed.compact(json.loads(json.dumps(data)), SHAPE, data["id"], facts)
    assert compacted is not None
    assert in_order(_packed.expand(compacted, SHAPE, data["id"], facts)) == in_order(data)


@given(documents(), st.data())
@settings(max_examples=300)
def test_compiled_expansion_is_the_loop(
    case: tuple[dict[str, Any], str | None, dict[str, Any] | None], data_: st.DataObject
) -> None:
    """Expanding by the code compiled per shape gives what the field-by-field loop gives, key
    order included: for compacted documents, and for skeletons with fields left out, replaced
    or unknown to this version."""
    data, record_id, facts = case
    compacted = _packed.compact(json.loads(json.dumps(data)), SHAPE, record_id, facts)
    skeleton = dict(compacted if compacted is not None else data)
    for name in data_.draw(st.lists(st.sampled_from(SHAPE.names), max_size=4)):
        skeleton.pop(name, None)
    if data_.draw(st.booleans()):
        skeleton["field_of_a_later_version"] = data_.draw(st.sampled_from([None, 1, [{}]]))
    loop = _packed._expand(json.loads(json.dumps(skeleton)), SHAPE, record_id, facts)
    compiled = _packed.expand(json.loads(json.dumps(skeleton)), SHAPE, record_id, facts)
    assert in_order(compiled) == in_order(loop)


def test_a_document_in_another_key_order_takes_the_loop() -> None:
    data = CONVERTER.unstructure(Customer(kind=CustomerKind.INDIVIDUAL, name="x"))
    shuffled = dict(reversed(list(data.items())))
    assert in_order(_packed.compact(shuffled, SHAPE, None)) == in_order(
        _packed._compact(dict(shuffled), SHAPE, None)
    )
    missing = dict(data)
    del missing["tags"]
    assert _packed.compact(missing, SHAPE, None) is None


def test_a_fact_put_back_is_a_copy_when_it_could_change() -> None:
    """The row's facts stay the row's: a list put back from them is a copy, a text is itself."""
    data = CONVERTER.unstructure(Customer(kind=CustomerKind.INDIVIDUAL, name="x", tags=("vip",)))
    facts = facts_of(data)
    compacted = _packed.compact(json.loads(json.dumps(data)), SHAPE, data["id"], facts)
    assert compacted is not None and "tags" not in compacted and "kind" not in compacted
    for expand in (_packed.expand, _packed._expand):
        expanded = expand(compacted, SHAPE, data["id"], facts)
        assert expanded["tags"] == facts["tags"] and expanded["tags"] is not facts["tags"]
        assert expanded["kind"] is facts["kind"]


@attrs.frozen
class _Small:
    id: str
    a: str | None = None
    b: str = "x"


def test_a_field_this_version_does_not_know_survives_even_when_as_many_were_left_out() -> None:
    """Compaction leaves out the id (it is the record's) and keeps an unknown field: expanding
    puts the id back and keeps the unknown field, though the two counts are equal."""
    shape = _packed.Shape.of(_Small)
    data = {"id": "r1", "a": "q", "b": "y", "extra": 5}
    compacted = _packed.compact(dict(data), shape, "r1")
    assert compacted == {"a": "q", "b": "y", "extra": 5}
    for expand in (_packed.expand, _packed._expand):
        assert expand(dict(compacted), shape, "r1") == data
