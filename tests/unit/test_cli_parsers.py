"""The parsers of ``custrec grade`` option values, over arbitrary text."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.cli._grading import _labels, _number

LABEL = st.text(min_size=1, max_size=8).filter(lambda s: "," not in s and s.strip() == s and s)


@given(st.lists(LABEL, min_size=1, max_size=6))
def test_labels_are_split_on_commas(labels: list[str]) -> None:
    assert _labels(",".join(labels)) == tuple(labels)
    assert _labels(" , ".join(labels)) == tuple(labels)


@given(st.text(max_size=30))
def test_any_labels_text_is_labels_or_a_usage_error(text: str) -> None:
    try:
        labels = _labels(text)
    except argparse.ArgumentTypeError:
        assert any(not part.strip() for part in text.split(","))
        return
    assert labels and all(labels)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(value: float) -> None:
    assert _number(repr(value)) == value


@given(st.text(max_size=20))
def test_any_number_text_is_finite_or_a_usage_error(text: str) -> None:
    try:
        value = _number(text)
    except argparse.ArgumentTypeError:
        return
    assert math.isfinite(value)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "two", ""])
def test_what_is_not_a_finite_number(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _number(text)
