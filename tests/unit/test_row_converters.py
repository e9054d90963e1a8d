"""The converters of row fields (index keys, facets, tags: ``storage/types.py``) take a
collection of plain strings as it is: the result equals, item for item, what converting each
item with ``str()`` gives, for any collection of strings, string subclasses (enum members
among them) and other values. ``checks.check_texts`` checks a collection of them at once and
reports what checking each item reports."""

from __future__ import annotations

import enum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from custrec.storage import checks, types


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


def checked_one_by_one(values: Any, name: str) -> object:
    try:
        for value in values:
            checks.check_text(value, name)
    except (TypeError, ValueError) as exc:
        return (type(exc), str(exc))
    return None


def checked(values: Any, name: str) -> object:
    try:
        checks.check_texts(values, name)
    except (TypeError, ValueError) as exc:
        return (type(exc), str(exc))
    return None


texts = st.one_of(st.text(max_size=3), st.sampled_from(["a\x00", "\x00"]), st.just(Kind.A))
mixed = st.one_of(texts, st.integers(), st.none(), st.binary(max_size=2))


@given(
    values=st.one_of(
        st.lists(texts, max_size=4),
        st.lists(mixed, max_size=4),
        st.lists(mixed, max_size=4).map(tuple),
        st.frozensets(texts, max_size=4),
        st.sets(st.one_of(texts, st.integers()), max_size=4),
    )
)
def test_checking_texts_together_reports_what_checking_each_reports(values: Any) -> None:
    """The first item that is not text, or the first with a NUL, in iteration order."""
    assert checked(values, "tag") == checked_one_by_one(values, "tag")
    assert checked(iter(list(values)), "tag") == checked_one_by_one(values, "tag")
