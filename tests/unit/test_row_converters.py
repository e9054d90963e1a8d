"""The converters of row fields (index keys, facets, tags: ``storage/types.py``) take a
collection of plain strings as it is: the result equals, item for item, what converting each
item with ``str()`` gives, for any collection of strings, string subclasses (enum members
among them) and other values."""

from __future__ import annotations

import enum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from custrec.storage import types


class Kind(enum.StrEnum):
    A = "a"


class Text(str):
    def __str__(self) -> str:
        return "other"


items = st.one_of(st.text(max_size=4), st.just(Kind.A), st.builds(Text, st.text(max_size=2)))
collections = st.one_of(
    st.lists(items, max_size=4),
    st.lists(items, max_size=4).map(tuple),
    st.frozensets(st.text(max_size=4), max_size=4),
    st.sets(st.one_of(st.text(max_size=4), st.integers()), max_size=4),
    st.lists(st.integers(), max_size=3),
)


@given(values=collections)
def test_a_set_of_keys_is_what_str_of_each_gives(values: Any) -> None:
    found = types._frozenset(values)
    expected = frozenset(str(v) for v in values)
    assert found == expected
    assert all(type(v) is str for v in found)
    assert sorted(map(str, found)) == sorted(expected)


@given(values=collections.filter(lambda v: not isinstance(v, frozenset | set)))
def test_a_tuple_of_tags_is_what_str_of_each_gives(values: Any) -> None:
    found = types._str_tuple(values)
    assert found == tuple(str(v) for v in values)
    assert all(type(v) is str for v in found)
