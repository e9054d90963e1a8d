"""Normalisation of names and addresses for matching."""

from __future__ import annotations

import re
from unittest import mock

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import normalize
from custrec.matching.normalize import (
    OrgName,
    PersonName,
    address_key,
    fold,
    org_name,
    person_name,
)

# Company-ish and name-ish text: CJK, Latin, brackets, legal forms, separators, full width.
_NAMEISH = (
    "张伟欧阳娜北京上海深圳市有限公司集团股份责任（）()【】abcoltdinc ,.-·・ＡＢ１２\u3000\xa0"
)
texts = st.one_of(st.text(max_size=40), st.text(alphabet=_NAMEISH, max_size=40))

_REGIONS = {
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
}  # fmt: skip


# --- fold ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＺＨＡＮＧ  Wei-", "zhangwei"),
        ("１２３４５", "12345"),
        ("Straße", "strasse"),
        ("欧阳·娜娜", "欧阳娜娜"),
        ("深圳市（南山区）", "深圳市南山区"),
        ("a\u200bb\tc\n", "abc"),  # zero-width space and control characters go
        ("葛\ufe00城", "葛城"),  # variation selector goes
        ("¥100 + $5!", "1005"),
        ("", ""),
    ],
)
def test_fold_examples(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@given(texts)
def test_fold_is_idempotent_and_keeps_only_letters_digits_marks(text: str) -> None:
    folded = fold(text)
    assert fold(folded) == folded
    assert not any(ch.isspace() for ch in folded)


def test_fold_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="must be str"):
        fold(b"abc")  # type: ignore[arg-type]


# --- org_name ------------------------------------------------------------------------------------


def test_chinese_legal_forms_are_equivalent() -> None:
    expected = OrgName(core="华为技术", region=None)
    assert org_name("华为技术有限公司") == expected
    assert org_name("华为技术股份有限公司") == expected
    assert org_name("华为技术有限责任公司") == expected
    assert org_name("华为技术集团股份有限公司") == expected
    assert org_name("华为技术 有限公司 ") == expected


def test_leading_and_bracketed_regions() -> None:
    expected = OrgName(core="字节跳动科技", region="北京")
    assert org_name("北京字节跳动科技有限公司") == expected
    assert org_name("字节跳动科技（北京）有限公司") == expected
    assert org_name("字节跳动科技(北京市)有限公司") == expected
    assert org_name("【北京】字节跳动科技有限公司") == expected
    assert org_name("北京市字节跳动科技有限公司") == expected
    assert org_name("字节跳动科技有限公司（北京分公司）") == expected


def test_region_alone_before_a_short_core() -> None:
    assert org_name("北京银行股份有限公司") == OrgName(core="银行", region="北京")
    assert org_name("上海银行股份有限公司") == OrgName(core="银行", region="上海")
    assert org_name("北京银行") != org_name("上海银行")
    # Fewer than two characters would remain: the region stays in the core.
    assert org_name("北京有限公司") == OrgName(core="北京", region=None)


def test_full_forms_map_to_the_short_form() -> None:
    assert org_name("广东省某某电子有限公司") == OrgName(core="某某电子", region="广东")
    assert org_name("内蒙古自治区某某乳业有限公司") == OrgName(core="某某乳业", region="内蒙古")
    assert org_name("广西壮族自治区某某糖业集团") == OrgName(core="某某糖业", region="广西")
    assert org_name("深圳市腾讯计算机系统有限公司") == OrgName(core="腾讯计算机系统", region="深圳")
    assert org_name("北京市场研究有限公司") == OrgName(core="市场研究", region="北京")


def test_bracketed_region_wins_over_leading_one() -> None:
    assert org_name("深圳某某科技（北京）有限公司") == OrgName(core="深圳某某科技", region="北京")
    assert org_name("北京某某科技（北京）有限公司") == OrgName(core="某某科技", region="北京")


def test_other_suffixes_and_trailing_brackets() -> None:
    assert org_name("某某投资合伙企业（有限合伙）") == OrgName(core="某某投资", region=None)
    assert org_name("某某科技有限公司（筹）") == OrgName(core="某某科技", region=None)
    assert org_name("某某设计工作室").core == "某某设计"
    assert org_name("某某超市个体工商户").core == "某某超市"
    assert org_name("某某集团公司").core == "某某"
    assert org_name("某某科技有限公司分公司").core == "某某科技"
    # A non-region bracket inside the name is kept as text.
    assert org_name("新（东方）教育有限公司").core == "新东方教育"


def test_a_legal_form_alone_is_kept() -> None:
    assert org_name("有限公司") == OrgName(core="有限公司", region=None)
    assert org_name("Company").core == "company"
    assert org_name("") == OrgName(core="", region=None)


@pytest.mark.parametrize(
    "name",
    [
        "Acme Co., Ltd.",
        "ACME Limited",
        "Acme Co Ltd",
        "acme co.,ltd",
        "Acme, Inc.",
        "Acme Incorporated",
        "ACME CORP.",
        "Acme Corporation",
        "Acme LLC",
        "Acme L.L.C.",
        "Acme GmbH",
        "Acme plc",
        "Acme Company Limited",
        "Acme (HK) Limited",
        "ＡＣＭＥ　ＬＩＭＩＴＥＤ",
    ],
)
def test_english_legal_forms(name: str) -> None:
    assert org_name(name) == OrgName(core="acme", region=None)


def test_english_suffix_must_be_a_separate_word() -> None:
    assert org_name("Tesco").core == "tesco"
    assert org_name("Zinc").core == "zinc"
    assert org_name("Disco Inc.").core == "disco"


def test_org_name_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        org_name("x").core = "y"  # type: ignore[misc]


@given(texts)
def test_org_name_never_raises_and_core_is_folded(name: str) -> None:
    result = org_name(name)
    assert fold(result.core) == result.core
    assert result.region is None or result.region in _REGIONS


# --- person_name ---------------------------------------------------------------------------------


def test_latin_names_ignore_order_case_and_separators() -> None:
    expected = person_name("Zhang Wei")
    assert expected.key == "wei zhang"
    assert expected.tokens == ("zhang", "wei")
    assert person_name("wei zhang") == expected
    assert person_name("ZHANG, Wei") == expected
    assert person_name("  Ｚｈａｎｇ　ＷＥＩ ") == expected
    assert person_name("zhang-wei").key == "wei zhang"
    assert person_name("J. R. R. Tolkien").tokens == ("j", "r", "r", "tolkien")
    assert person_name("O'Brien").tokens == ("obrien",)


def test_cjk_names_are_one_token_in_their_own_order() -> None:
    expected = PersonName(key="欧阳娜娜", tokens=("欧阳娜娜",))
    assert person_name("欧阳娜娜") == expected
    assert person_name("欧阳 娜娜") == expected
    for dot in "·•‧・":
        assert person_name(f"欧阳{dot}娜娜") == expected
    assert person_name("伟张") != person_name("张伟")
    assert person_name("阿依古丽·买买提").key == "阿依古丽买买提"


def test_mixed_names_split_between_scripts() -> None:
    assert person_name("李Lily").tokens == ("李", "lily")
    assert person_name("李Lily") == person_name("Lily 李")
    assert person_name("张伟 Wei Zhang").key == "wei zhang 张伟"


def test_empty_names() -> None:
    assert person_name("") == PersonName(key="", tokens=())
    assert person_name(" ·, ").tokens == ()


def test_equality_uses_the_key_only() -> None:
    a, b = person_name("Zhang Wei"), person_name("Wei Zhang")
    assert a.tokens != b.tokens
    assert a == b
    assert hash(a) == hash(b)


@given(texts)
def test_person_name_key_is_stable(name: str) -> None:
    result = person_name(name)
    assert person_name(result.key) == result
    assert result.key == " ".join(sorted(result.tokens))
    assert all(token and fold(token) == token for token in result.tokens)


# --- address_key ---------------------------------------------------------------------------------


def test_address_key() -> None:
    assert address_key("北京市朝阳区", None, "建国路８８号 ") == "北京市朝阳区建国路88号"
    assert address_key("Room 5, No. 1", "", "Main St.") == "room5no1mainst"
    assert address_key() == ""
    assert address_key(None, "") == ""


@given(st.lists(st.one_of(st.none(), texts), max_size=4))
def test_address_key_is_fold_of_the_parts(parts: list[str | None]) -> None:
    key = address_key(*parts)
    assert key == fold(" ".join(p for p in parts if p))
    assert fold(key) == key


def test_address_key_rejects_non_str_parts() -> None:
    with pytest.raises(TypeError, match="must be str"):
        address_key("a", 5)  # type: ignore[arg-type]


# --- fast paths ---------------------------------------------------------------------------------

# Around the fast paths' edges: ideographs inside and just outside U+4E00..U+9FA5, compatibility
# ideographs, kana with a combining voiced mark, ASCII of every kind, full width, marks, spaces.
_EDGES = (
    "张伟客户北京一龥\u9fa6\u9fff\u4dbf\u3400\uf900\uf9ffかが\u3099ン"
    "aZz09 -,.·・_!~\x00\t\u3000ＡＺ０\u0301\u00e9e\u0130\u00df\ufe0f"
)
edge_texts = st.one_of(texts, st.text(alphabet=_EDGES, max_size=30))


def _general(function, text):  # type: ignore[no-untyped-def]
    """``function(text)`` with every fast path of the module turned off."""
    never = re.compile(r"(?!x)x")
    with mock.patch.multiple(
        normalize,
        _CASEFOLDED=never,
        _FOLDED=never,
        _ONLY_IDEOGRAPHS=never,
        _ASCII_FAST=False,
    ):
        return function(text)


@given(edge_texts)
def test_the_fast_paths_give_what_the_general_code_gives(text: str) -> None:
    assert fold(text) == _general(fold, text)
    assert person_name(text) == _general(person_name, text)
    assert person_name(text).tokens == _general(person_name, text).tokens
    assert org_name(text) == _general(org_name, text)
    assert address_key(text) == _general(address_key, text)
