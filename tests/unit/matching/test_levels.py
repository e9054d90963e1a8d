"""Comparison levels: landlines, role mailboxes, and the shape of a comparison vector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import Weights
from custrec.matching.levels import (
    LEVELS,
    ROLE_LOCAL_PARTS,
    is_landline,
    is_role_mailbox,
    observe,
    other_business,
    other_given_name,
    trade_word,
)


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


# --- one trade name, another line of business; one surname, another given name -----------------


def name_level(a: dict[str, object], b: dict[str, object]) -> str:
    from custrec.matching import profile
    from custrec.validation import parse_customer

    first, second = parse_customer(a).record, parse_customer(b).record
    assert first is not None, parse_customer(a).report
    assert second is not None, parse_customer(b).report
    found = [o for o in observe(profile(first), profile(second)) if o[0] == "name"]
    return LEVELS["name"][found[0][1]]


CONTACT = [{"phones": ["13800138000"]}]


def org(name: str) -> dict[str, object]:
    contacts = [{"name": "王经理", "phones": ["13800138000"]}]
    return {"kind": "organization", "name": name, "industry": "批发", "contacts": contacts}


def person(name: str) -> dict[str, object]:
    return {"kind": "individual", "name": name, "contacts": CONTACT}


@pytest.mark.parametrize(
    ("core", "word"),
    [
        ("新纪嘉网络科技", "网络科技"),  # the longest word it ends with
        ("新纪嘉科技", "科技"),
        ("越诚东商贸", "商贸"),
        ("越诚东商茂", None),  # a typo in the word: no word, no verdict
        ("科技", None),  # nothing but the word
        ("字节跳动", None),
    ],
)
def test_the_line_of_business_a_company_name_ends_with(core: str, word: str | None) -> None:
    assert trade_word(core) == word


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("厦门新纪嘉科技股份有限公司", "厦门新纪嘉网络科技有限公司", "partial"),  # group siblings
        ("越诚东商贸（广州）有限公司", "广州越诚东物流有限公司", "partial"),
        ("北京字节跳动科技有限公司", "字节跳动科技（北京）有限公司", "same"),  # one company
        ("越诚东商贸有限公司", "越诚东商茂有限公司", "high"),  # a typo, not another business
        ("新纪嘉网络科技有限公司", "新纪佳网络科技有限公司", "high"),
        ("新纪嘉科技有限公司", "华为技术有限公司", "different"),  # never raised by the rule
    ],
)
def test_sibling_companies_agree_on_their_name_only_partly(a: str, b: str, level: str) -> None:
    assert name_level(org(a), org(b)) == level
    assert name_level(org(b), org(a)) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("Wu Hanyan", "Wu Huiyu", "partial"),  # one surname, another given name
        ("Hanyan Wu", "WU Huiyu", "partial"),
        ("Wu Hanyan", "Wu Hanyang", "high"),  # a typo of the given name
        ("Wu Hanyan", "Hanyan Wu", "same"),
        ("王伟", "王炜", "typo"),  # two characters: a typo and a relative look alike; kept
    ],
)
def test_relatives_written_in_words_agree_on_their_name_only_partly(
    a: str, b: str, level: str
) -> None:
    assert name_level(person(a), person(b)) == level
    assert name_level(person(b), person(a)) == level


@given(st.text("科技网络商贸物流新纪嘉", max_size=8), st.text("科技网络商贸物流新纪嘉", max_size=8))
def test_other_business_is_symmetric_and_needs_two_lines_of_business(a: str, b: str) -> None:
    assert other_business(a, b) == other_business(b, a)
    if other_business(a, b):
        assert trade_word(a) is not None and trade_word(b) is not None
        assert trade_word(a) != trade_word(b)


@given(st.lists(st.sampled_from(["wu", "li", "hanyan", "huiyu", "hanyang", "wei"]), max_size=3))
def test_other_given_name_is_symmetric(words: list[str]) -> None:
    a, b = " ".join(sorted(words[:2])), " ".join(sorted(words[1:]))
    assert other_given_name(a, b) == other_given_name(b, a)
