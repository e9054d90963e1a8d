"""Comparison levels: landlines, role mailboxes, and the shape of a comparison vector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import Weights
from custrec.matching.levels import LEVELS, ROLE_LOCAL_PARTS, is_landline, is_role_mailbox


@pytest.mark.parametrize(
    ("phone", "landline"),
    [
        ("+8613800138000", False),  # China mobile
        ("+862152345678", True),  # Shanghai fixed line
        ("+861065529988", True),  # Beijing fixed line
        ("+12015550123", True),  # US: FIXED_LINE_OR_MOBILE counts as a landline
        ("+8640012345678", True),  # not a valid number: unknown counts as a landline
        ("not a number", True),
    ],
)
def test_which_numbers_are_landlines(phone: str, landline: bool) -> None:
    assert is_landline(phone) is landline


separators = st.sampled_from(["", ".", "-", "_"])


@given(
    st.sampled_from(sorted(ROLE_LOCAL_PARTS)),
    separators,
    st.text(alphabet="0123456789", max_size=3),
    st.sampled_from(["", "+news", "+2024"]),
)
def test_a_role_local_part_is_a_role_mailbox_however_it_is_dressed(
    role: str, separator: str, digits: str, tag: str
) -> None:
    dressed = separator.join(role[i : i + 2] for i in range(0, len(role), 2))
    assert is_role_mailbox(f"{dressed}{digits}{tag}@example.com")


@given(st.from_regex(r"[a-z]{1,12}", fullmatch=True))
def test_a_mailbox_is_a_role_exactly_when_its_local_part_is_listed(local: str) -> None:
    assert is_role_mailbox(f"{local}@example.com") is (local in ROLE_LOCAL_PARTS)


probabilities = st.floats(min_value=1e-6, max_value=1.0)


@given(
    st.sampled_from(sorted(LEVELS)).flatmap(
        lambda f: st.tuples(
            st.just(f),
            st.lists(probabilities, min_size=len(LEVELS[f]), max_size=len(LEVELS[f])),
            st.lists(probabilities, min_size=len(LEVELS[f]), max_size=len(LEVELS[f])),
        )
    ),
    st.floats(min_value=1e-9, max_value=0.5),
)
def test_weights_survive_a_round_trip_and_order_their_levels(
    field_m_u: tuple[str, list[float], list[float]], prior: float
) -> None:
    field, m, u = field_m_u
    w = Weights(m={field: tuple(m)}, u={field: tuple(u)}, prior=prior)
    assert Weights.from_dict(w.to_dict()) == w
    weights = [w.weight(field, level) for level in range(len(LEVELS[field]))]
    assert weights == sorted(weights, reverse=True)  # a better level never weighs less
    assert weights[0] >= 0.0
