"""custrec.matching.names: the keys a name search looks up, and the keys a stored name has.

A search for ``query`` finds a stored customer when ``query_keys(query)`` and ``name_keys(kind,
name)`` share a ``(key kind, value)`` pair. The examples pin what must and must not be found;
the properties compare the keys with their definitions in terms of ``fold``, ``org_name`` and
``person_name``.
"""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import names as name_search
from custrec.matching.names import NAME_KEY_KINDS, name_keys, query_keys
from custrec.matching.normalize import fold, org_name, person_name

KINDS = ("individual", "organization")


def finds(query: str, kind: str, name: str) -> bool:
    return bool(query_keys(query) & name_keys(kind, name))


def key(keys: frozenset[tuple[str, str]], kind: str) -> str | None:
    values = [value for key_kind, value in keys if key_kind == kind]
    assert len(values) <= 1
    return values[0] if values else None


# --- what a search finds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        "北京某某科技有限公司",
        "某某科技有限公司",
        "某某科技（北京）有限公司",
        "北京市某某科技股份有限公司",
        "某某科技",
        "上海某某科技有限公司",
    ],
)
def test_an_organisation_is_found_by_its_core_name(stored: str) -> None:
    assert finds("某某科技", "organization", stored)


def test_the_region_is_not_part_of_the_core_so_both_regions_are_found() -> None:
    """Intended: the search finds the company in every region; the caller filters by region."""
    beijing = name_keys("organization", "北京某某科技有限公司")
    shanghai = name_keys("organization", "上海某某科技有限公司")
    assert beijing & shanghai == {("name_core", "某某科技")}


def test_business_scope_words_stay_in_the_core() -> None:
    """The core 某某科技发展 differs from 某某科技: only a search for it finds the company."""
    stored = "北京某某科技发展有限公司"
    assert not finds("某某科技", "organization", stored)
    assert finds("某某科技发展", "organization", stored)


@pytest.mark.parametrize("query", ["伟 张", "张伟", "张 伟", "伟张", "张・伟"])
def test_a_chinese_name_is_found_in_any_character_order(query: str) -> None:
    assert finds(query, "individual", "张伟")


@pytest.mark.parametrize("stored", ["Smith John", "SMITH, John", "john smith", "Smith-John"])
def test_a_latin_name_is_found_in_any_word_order(stored: str) -> None:
    assert finds("John Smith", "individual", stored)


def test_different_people_do_not_share_an_any_order_key() -> None:
    assert not finds("张伟", "individual", "张卫")
    assert key(name_keys("individual", "张伟"), "name_any_order") != key(
        name_keys("individual", "张卫"), "name_any_order"
    )
    assert not finds("John Smith", "individual", "Jon Smith")


@pytest.mark.parametrize(
    ("query", "kind", "stored"),
    [
        ("ＪＯＨＮ　ＳＭＩＴＨ", "individual", "john smith"),
        ("  jOhN smITH ", "individual", "Smith, John"),
        ("ａｃｍｅ", "organization", "ACME Co., Ltd."),
        ("某某科技（北京）", "organization", "某某科技(北京)有限公司"),
        ("Li Lily", "individual", "LILY li"),
    ],
)
def test_width_case_and_punctuation_do_not_matter(query: str, kind: str, stored: str) -> None:
    assert finds(query, kind, stored)


@pytest.mark.parametrize(
    "text", ["有限公司", "股份有限公司", "Co., Ltd.", "Inc.", "集团", "（北京）有限公司"]
)
def test_a_lone_legal_form_has_no_core_key(text: str) -> None:
    assert key(query_keys(text), "name_core") is None
    assert key(name_keys("organization", text), "name_core") is None


@pytest.mark.parametrize(
    "stored",
    [
        "北京某某科技有限公司",
        "某某科技（北京）有限公司",
        "（北京）有限公司",
        "Acme Co., Ltd.",
        "有限公司 ",
    ],
)
def test_a_lone_legal_form_finds_only_a_customer_of_that_very_name(stored: str) -> None:
    assert query_keys("有限公司") == {("name", "有限公司")}
    assert finds("有限公司", "organization", stored) == (fold(stored) == "有限公司")


@pytest.mark.parametrize("text", ["", " ", "\u3000\t\n", "・-,.", "（）"])
def test_text_without_letters_or_digits_has_no_keys(text: str) -> None:
    assert query_keys(text) == frozenset()
    assert name_keys("individual", text) == frozenset()
    assert name_keys("organization", text) == frozenset()


def test_the_key_kinds_of_each_customer_kind() -> None:
    assert name_keys("organization", "北京某某科技有限公司") == {
        ("name", "北京某某科技有限公司"),
        ("name_core", "某某科技"),
    }
    assert name_keys("individual", "张伟") == {("name", "张伟"), ("name_any_order", "伟 张")}
    assert name_keys("individual", "李Lily") == {("name", "李lily"), ("name_any_order", "lily 李")}


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^kind must be 'individual' or 'organization'$"):
        name_keys("company", "某某科技")
    with pytest.raises(TypeError, match=r"^name must be str, not NoneType$"):
        name_keys("individual", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^text must be str, not bytes$"):
        query_keys(b"x")  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

_CJK = "张伟卫王李欧阳娜某科技北京上海市有限公司集团股份发展"
_LATIN = "abcehijlmnorstwyzJSWZ"
_SEPARATORS = " ,.-·・\u3000\xa0"
_NAMEISH = _CJK + _LATIN + _SEPARATORS + "（）()ＡＢ１2"
names = st.one_of(st.text(alphabet=_NAMEISH, max_size=24), st.text(max_size=24))
kinds = st.sampled_from(KINDS)
# Parts of a name: words in one script or mixed, no separators inside.
parts = st.lists(
    st.text(alphabet=_CJK + _LATIN, min_size=1, max_size=6)
    | st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
)


def _full_width(text: str) -> str:
    return "".join(
        "\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text
    )


@given(kinds, names)
def test_keys_are_deterministic_and_never_empty(kind: str, name: str) -> None:
    assert name_keys(kind, name) == name_keys(kind, str(name))
    assert query_keys(name) == query_keys(str(name))
    for key_kind, value in name_keys(kind, name) | query_keys(name):
        assert key_kind in NAME_KEY_KINDS
        assert value
        assert value == value.strip()


@given(kinds, names)
def test_a_name_always_finds_itself(kind: str, name: str) -> None:
    assert bool(name_keys(kind, name)) == bool(fold(name))
    assert finds(name, kind, name) == bool(fold(name))


@given(kinds, st.text(alphabet=_NAMEISH, max_size=24), st.sampled_from(["", " ", "\u3000", "\n "]))
def test_keys_do_not_depend_on_width_case_or_surrounding_space(
    kind: str, name: str, space: str
) -> None:
    for variant in (name.upper(), name.lower(), _full_width(name), space + name + space):
        assert name_keys(kind, variant) == name_keys(kind, name)
        assert query_keys(variant) == query_keys(name)


@given(parts, st.randoms(use_true_random=False))
def test_the_any_order_key_does_not_depend_on_the_order_of_the_parts(
    words: list[str], random: Random
) -> None:
    shuffled = list(words)
    random.shuffle(shuffled)
    name, other = " ".join(words), " ".join(shuffled)
    assert key(name_keys("individual", name), "name_any_order") == key(
        name_keys("individual", other), "name_any_order"
    )
    assert key(query_keys(name), "name_any_order") == key(query_keys(other), "name_any_order")
    assert finds(other, "individual", name)


@given(kinds, names)
def test_each_key_is_its_definition(kind: str, name: str) -> None:
    keys = name_keys(kind, name)
    assert key(keys, "name") == (fold(name) or None)
    if kind == "organization":
        assert key(keys, "name_any_order") is None
        assert key(keys, "name_core") in (org_name(name).core, None)
        assert query_keys(name) >= keys  # a stored organisation's keys are all looked up
    else:
        assert key(keys, "name_core") is None


@given(st.text(alphabet=_CJK + _SEPARATORS, max_size=8), st.text(alphabet=_CJK, max_size=8))
def test_a_cjk_name_s_any_order_key_is_its_characters_sorted(name: str, other: str) -> None:
    """So two CJK names share it exactly when they are anagrams (张伟, 伟张), not otherwise."""
    expected = " ".join(sorted(fold(name))) or None
    assert key(name_keys("individual", name), "name_any_order") == expected
    shared = key(name_keys("individual", name), "name_any_order") == key(
        name_keys("individual", other), "name_any_order"
    )
    assert shared == (sorted(fold(name)) == sorted(fold(other)))


@given(st.text(alphabet=_LATIN + _SEPARATORS, max_size=24))
def test_a_latin_name_s_any_order_key_is_its_person_name_key(name: str) -> None:
    assert key(name_keys("individual", name), "name_any_order") == (person_name(name).key or None)


@given(st.text(alphabet="张伟客户龥\u9fa6\u3400\uf900かが\u3099aZz09 -·\u0301", max_size=12))
def test_the_fast_cjk_word_test_agrees_with_spacing_the_token_out(text: str) -> None:
    for token in person_name(text).tokens:
        spaced_out = len(token) < 2 or person_name(" ".join(token)).key == token
        assert name_search._is_cjk_word(token) == spaced_out
