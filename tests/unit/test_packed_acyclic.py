"""A skeleton the builder made afresh (``pack(..., acyclic=True)``) is encoded by the C encoder
made with just what a dict needs: the same payload bytes as the general encoder's, and the same
error for what JSON cannot hold (NaN, a key that is no text, number, truth value or null, a
value of another type, a reference cycle)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.storage import _packed

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from([0, 1.5, "上海", "\x00", "\ud800", '"\\'])
)
keys = st.text(max_size=4) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(0, 1)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3) | st.tuples(inner)
    ),
    max_leaves=10,
)
odd = st.sampled_from([b"bytes", {1, 2}, ("a", math.nan), object()])
skeletons = st.dictionaries(st.text(max_size=4), values | odd, max_size=5)


def packed(skeleton: dict[str, Any], acyclic: bool) -> bytes | type[BaseException]:
    try:
        return _packed.pack(1, skeleton, [b"c" * 30, b"d"], flags=3, acyclic=acyclic)
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return type(exc)


@settings(max_examples=500, deadline=None)
@given(skeletons)
def test_an_acyclic_skeleton_packs_to_the_same_bytes(skeleton: dict[str, Any]) -> None:
    assert packed(skeleton, acyclic=True) == packed(skeleton, acyclic=False)


@pytest.mark.parametrize("acyclic", [False, True])
def test_a_skeleton_with_a_cycle_is_refused_by_either_path(acyclic: bool) -> None:
    looped: dict[str, Any] = {"a": []}
    looped["a"].append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        _packed.pack(1, looped, [], flags=3, acyclic=acyclic)
    # a caller's own list where the builder expected a text: the same error, then packing
    # goes on as before (nothing of the failed call is left in the encoder)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        _packed.pack(1, {"source": loop}, [], flags=3, acyclic=acyclic)
    assert _packed.pack(1, {"a": [1]}, [], flags=3, acyclic=acyclic) == _packed.pack(
        1, {"a": [1]}, [], flags=3
    )


def test_bulk_intake_refuses_a_record_holding_a_cycle_as_single_intake_does() -> None:
    import warnings

    from custrec import Actor, KeyRing, MemoryStore, Registry
    from custrec.model.records import Contact, Customer, CustomerKind
    from custrec.validation import DEFAULT_RULES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = Registry(
            MemoryStore(),
            keyring=KeyRing.generate(),
            rules=DEFAULT_RULES.with_severity("type", "warning"),
        )
    loop: list[Any] = []
    loop.append(loop)
    record = Customer(
        kind=CustomerKind.INDIVIDUAL,
        name="张三",
        contacts=(Contact(phones=("+8613800138000",)),),
        source=loop,  # type: ignore[arg-type]
    )
    admin = Actor(id="u-1", roles={"admin"})
    with pytest.raises(ValueError, match="Circular reference"):
        registry.customers.intake_many([record], actor=admin)
    with pytest.raises(ValueError, match="Circular reference"):
        registry.customers.intake(record, actor=admin)
