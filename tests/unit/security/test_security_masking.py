"""Masking: documented examples, shape preservation, and never revealing too much."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
    IdentifierScheme,
    Interaction,
    InteractionKind,
    personal_fields,
)
from custrec.model.serialization import make_converter
from custrec.security import MaskKind, mask, mask_address, mask_record

EXAMPLES = [
    ("13800138000", "mobile", "138****8000"),
    ("+8613800138000", "mobile", "+86138****8000"),
    ("+8613800138000", "phone", "+86138****8000"),
    ("+86 138 0013 8000", "phone", "+86 138 **** 8000"),
    ("138-0013-8000", "mobile", "138-****-8000"),
    ("+447700900123", "mobile", "+44770****123"),
    ("+14155552671", "mobile", "+1415****671"),
    ("010-65529988", "phone", "010-****9988"),
    ("+861065529988", "phone", "+8610****9988"),
    ("01065529988", "phone", "010****9988"),
    ("0755-12345678", "phone", "0755-****5678"),
    ("(010) 6552 9988", "phone", "(010) **** 9988"),
    ("zhang@example.com", "email", "z****@example.com"),
    ("zhang.san+crm@mail.example.cn", "email", "z************@mail.example.cn"),
    ("zh@x.cn", "email", "z*@x.cn"),
    ("a@b", "email", "*@b"),
    ("@b", "email", "@*"),
    ("a@", "email", "*@"),
    ("11010519491231002X", "ric", "110***********002X"),
    ("110105491231002", "ric", "110********1002"),
    ("91350100M000100Y43", "uscc", "91************0Y43"),
    ("E12345678", "passport", "E******78"),
    ("张三", "name", "张*"),
    ("张三丰", "name", "张**"),
    ("欧阳娜娜", "name", "欧阳**"),
    ("诸葛亮", "name", "诸葛*"),
    ("司马", "name", "司*"),
    ("John Doe", "name", "J*** D**"),
    ("Mary-Jane Smith", "name", "M***-J*** S****"),
    ("阿依古丽·买买提", "name", "阿***·***"),
    ("北京市朝阳区建国路1号", "address", "北京市********"),
    ("广东省深圳市南山区科技园", "address", "广东省深圳市******"),
    ("新疆维吾尔自治区阿克苏地区库车市", "address", "新疆维吾尔自治区阿克苏地区***"),
    ("内蒙古自治区锡林郭勒盟某街1号", "address", "内蒙古自治区锡林郭勒盟****"),
    ("延边朝鲜族自治州延吉市", "address", "延边朝鲜族自治州***"),
    ("朝阳区建国路1号", "address", "朝阳******"),
    ("某某路华联超市旁", "address", "某某******"),
    ("wechat_id7", "generic", "w********7"),
    ("likes tea, calls at 6", "full", "***** **** ***** ** *"),
    ("", "mobile", ""),
    ("", "email", ""),
    ("ab", "generic", "**"),
    ("ab", "ric", "**"),
    ("1", "phone", "*"),
    ("张", "name", "*"),
    ("北京", "address", "**"),
]


@pytest.mark.parametrize(("value", "kind", "expected"), EXAMPLES)
def test_documented_examples(value: str, kind: str, expected: str) -> None:
    assert mask(value, kind) == expected
    assert len(mask(value, kind)) == len(value)


def test_kinds_accept_enum_and_reject_unknown() -> None:
    assert mask("13800138000", MaskKind.MOBILE) == "138****8000"
    with pytest.raises(ValueError, match="unknown mask kind"):
        mask("x", "ssn")
    with pytest.raises(ValueError, match="unknown mask kind"):
        mask("x", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        mask(13800138000, "mobile")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- properties

PHONE_SEPARATORS = set("+-()./")
NAME_SEPARATORS = set("-.,·•・‧")


def separator(kind: MaskKind, char: str) -> bool:
    if char.isspace():
        return True
    if kind in (MaskKind.MOBILE, MaskKind.PHONE):
        return char in PHONE_SEPARATORS
    if kind in (MaskKind.RIC, MaskKind.USCC, MaskKind.PASSPORT):
        return char == "-"
    if kind is MaskKind.NAME:
        return char in NAME_SEPARATORS
    return False


# Most characters ever shown (phones: country code + first 3 / area code + last 4).
MAX_SHOWN = {
    MaskKind.MOBILE: 10,
    MaskKind.PHONE: 11,
    MaskKind.RIC: 7,
    MaskKind.USCC: 6,
    MaskKind.PASSPORT: 3,
    MaskKind.GENERIC: 2,
    MaskKind.FULL: 0,
}
# Fewest characters always hidden (or all of them, if the value is shorter).
MIN_HIDDEN = {
    MaskKind.MOBILE: 4,
    MaskKind.PHONE: 4,
    MaskKind.RIC: 8,
    MaskKind.USCC: 8,
    MaskKind.PASSPORT: 3,
    MaskKind.GENERIC: 1,
}


def check_mask(value: str, kind: MaskKind) -> None:
    masked = mask(value, kind)
    assert len(masked) == len(value)
    shown: list[int] = []
    maskable = 0
    for index, (before, after) in enumerate(zip(value, masked, strict=True)):
        assert after in (before, "*")
        if separator(kind, before):
            assert after == before
            continue
        maskable += 1
        if after == before and before != "*":
            shown.append(index)
    if kind is MaskKind.EMAIL:
        at = value.rfind("@")
        local_shown = [i for i in shown if at < 0 or i < at]
        assert len(local_shown) <= 1
        assert local_shown in ([], [0]) or value[: local_shown[0]].isspace()
        if sum(1 for c in value if not c.isspace()) <= 2:
            assert all(c in "*@" or c.isspace() for c in masked)
        elif at >= 0:
            assert masked[at:] == value[at:]
        return
    if kind is MaskKind.NAME:
        words = "".join(" " if separator(kind, c) else c for c in value).split()
        assert len(shown) <= max(2, len(words))
        return
    if kind is MaskKind.ADDRESS:
        assert all(i < 20 for i in shown)
        return
    assert len(shown) <= MAX_SHOWN[kind]
    if maskable <= 2:
        assert not shown
    hidden = maskable - len(shown)
    if kind in MIN_HIDDEN:
        assert hidden >= min(maskable, MIN_HIDDEN[kind]) or value.count("*") > 0


@given(value=st.text(max_size=40), kind=st.sampled_from(list(MaskKind)))
@settings(max_examples=1500)
def test_any_text_never_raises_keeps_shape_and_bounds(value: str, kind: MaskKind) -> None:
    check_mask(value, kind)


phone_like = st.from_regex(r"[ ]?\+?[0-9 ()\-]{0,22}", fullmatch=True)


@given(value=phone_like, kind=st.sampled_from([MaskKind.MOBILE, MaskKind.PHONE]))
@settings(max_examples=800)
def test_phone_shaped_values(value: str, kind: MaskKind) -> None:
    check_mask(value, kind)


CJK = "张王李赵欧阳司马诸葛亮娜丰三四五六七八九十"


@given(value=st.text(alphabet=CJK + "·  ab", max_size=12))
@settings(max_examples=500)
def test_chinese_names_show_only_the_surname(value: str) -> None:
    masked = mask(value, "name")
    assert len(masked) == len(value)
    letters = [c for c in value if not separator(MaskKind.NAME, c)]
    shown = [
        c for c, m in zip(value, masked, strict=True) if c == m and not separator(MaskKind.NAME, c)
    ]
    if any("\u4e00" <= c <= "\u9fff" for c in letters):
        assert len(shown) <= (2 if len(letters) >= 3 else 1 if len(letters) == 2 else 0)
        assert "".join(shown) == "".join(letters[: len(shown)])


@given(
    prefix=st.sampled_from(["北京市", "广东省广州市", "上海市", "四川省成都市", ""]),
    rest=st.text(max_size=30),
)
@settings(max_examples=500)
def test_addresses_keep_at_most_the_city(prefix: str, rest: str) -> None:
    value = prefix + rest
    masked = mask(value, "address")
    assert len(masked) == len(value)
    shown = [i for i, (a, b) in enumerate(zip(value, masked, strict=True)) if a == b != "*"]
    shown = [i for i in shown if not value[i].isspace()]
    limit = len(prefix) if prefix else 20
    assert all(i < limit for i in shown)
    if prefix:
        assert masked.startswith(prefix)


# ------------------------------------------------------------------------------- records


def sample_customer() -> Customer:
    return Customer(
        id="c-1",
        kind=CustomerKind.INDIVIDUAL,
        name="张三丰",
        registered_name="北京张氏科技有限公司",
        gender=Gender.MALE,
        birth_date=date(1949, 12, 31),
        legal_representative="王五",
        identifiers=[
            Identifier(scheme=IdentifierScheme.RIC, value="11010519491231002X"),
            Identifier(scheme=IdentifierScheme.USCC, value="91350100M000100Y43"),
            Identifier(scheme=IdentifierScheme.PASSPORT, value="E12345678"),
            Identifier(scheme="EXTERNAL", value="legacy-000042", system="old-crm"),
        ],
        contacts=[
            Contact(
                name="张三丰",
                title="owner",
                phones=("+8613800138000", "010-65529988"),
                emails=("zhang@example.com",),
                wechat="zsf_wechat",
            )
        ],
        addresses=[
            Address(province="北京市", city="北京市", district="朝阳区", street="建国路88号")
        ],
        notes="prefers calls after 6pm",
        owner="u-1",
        team="east",
        tags=["vip"],
    )


def test_mask_record_customer() -> None:
    customer = sample_customer()
    masked = mask_record(customer)
    assert masked.name == "张**"
    assert masked.registered_name == "北*********"
    assert masked.legal_representative == "王*"
    assert masked.gender is None
    assert masked.birth_date == date(1949, 1, 1)
    assert [i.value for i in masked.identifiers] == [
        "110***********002X",
        "91************0Y43",
        "E******78",
        "l***********2",
    ]
    assert [i.system for i in masked.identifiers][-1] == "old-crm"
    contact = masked.contacts[0]
    assert contact.phones == ("+86138****8000", "010-****9988")
    assert contact.emails == ("z****@example.com",)
    assert contact.wechat == "z********t"
    assert contact.title == "owner"
    address = masked.addresses[0]
    assert (address.province, address.city) == ("北京市", "北京市")
    assert address.district == "***" and address.street == "******"
    assert masked.notes == "******* ***** ***** ***"
    # non-personal facts are untouched
    assert (masked.id, masked.owner, masked.team, masked.tags) == ("c-1", "u-1", "east", ("vip",))
    assert customer.name == "张三丰"  # the original is unchanged


def test_mask_record_leaks_no_personal_value() -> None:
    customer = sample_customer()
    converter = make_converter()
    text = json.dumps(converter.unstructure(mask_record(customer)), ensure_ascii=False)
    for value in (
        "张三丰",
        "王五",
        "13800138000",
        "65529988",
        "zhang@",
        "zsf_wechat",
        "11010519491231002X",
        "E12345678",
        "建国路",
        "朝阳区",
        "prefers",
        "1949-12-31",
        "legacy-000042",
    ):
        assert value not in text, value


def test_every_personal_field_is_masked() -> None:
    customer = sample_customer()
    masked = mask_record(customer)
    for field in personal_fields(Customer):
        if "[]" in field.path:
            continue
        before = getattr(customer, field.name)
        after = getattr(masked, field.name)
        assert not before or after != before, field.path


def test_custom_values_are_masked_all_or_by_definition() -> None:
    from custrec.model.records import CustomValues
    from custrec.security.masking import mask_custom

    values = CustomValues(
        {"member_no": "M-20931", "since": date(2019, 5, 4), "budget": Decimal("120.50")}
    )
    masked = mask_record(attrs.evolve(sample_customer(), custom=values)).custom
    assert masked["member_no"] != "M-20931" and "20931" not in str(masked["member_no"])
    assert masked["since"] == date(2019, 1, 1)
    assert masked["budget"] == "***"
    only = mask_custom(values, lambda name: name == "member_no")
    assert only["budget"] == Decimal("120.50") and only["since"] == date(2019, 5, 4)
    assert only["member_no"] != "M-20931"


def test_mask_record_other_records() -> None:
    interaction = Interaction(
        customer_id="c-1",
        kind=InteractionKind.CALL,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        summary="客户要求回电",
        outcome="callback",
    )
    masked = mask_record(interaction)
    assert masked.summary == "******"
    assert masked.outcome == "callback"
    assert mask_record(Contact()) == Contact()
    with pytest.raises(TypeError, match="attrs record"):
        mask_record({"name": "x"})


def test_mask_address_helper() -> None:
    address = Address(
        province="广东省",
        city="深圳市",
        district="南山区",
        street="科技园 1号",
        postal_code="518000",
    )
    masked = mask_address(address)
    assert (masked.province, masked.city) == ("广东省", "深圳市")
    assert (masked.district, masked.street, masked.postal_code) == ("***", "*** **", "******")
    assert (
        attrs.evolve(masked, district="南山区", street="科技园 1号", postal_code="518000")
        == address
    )
    with pytest.raises(TypeError):
        mask_address(sample_customer())  # type: ignore[arg-type]
