"""parse_customer: raw mapping in, normalised record and one report out; never raises."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import CustomerKind, LifecycleStage
from custrec.validation import DEFAULT_RULES, parse_customer

NOW = datetime(2025, 6, 1, tzinfo=UTC)

MESSY = {
    "kind": "Organization",
    "name": "  北京某某科技有限公司 ",
    "industry": "软件",
    "stage": "PROSPECT",
    "identifiers": [{"scheme": "cn-uscc", "value": "９１１１-００００-６０００３７３４１ｌ"}],
    "contacts": [
        {
            "name": "李雷",
            "phones": ["＋８６ １３８-００１３-８０００", "010-6552 9988"],
            "emails": ["  LiLei@Example.COM "],
        }
    ],
    "tags": ["vip", "vip", "重点"],
}


def test_a_messy_record_is_normalised() -> None:
    result = parse_customer(MESSY, as_of=NOW)
    assert result.ok, str(result.report)
    c = result.record
    assert c is not None
    assert c.kind is CustomerKind.ORGANIZATION and c.stage is LifecycleStage.PROSPECT
    assert c.name == "北京某某科技有限公司"
    assert c.identifiers[0].scheme == "CN-USCC"
    assert c.identifiers[0].value == "91110000600037341L"
    assert c.contacts[0].phones == ("+8613800138000", "+861065529988")
    assert c.contacts[0].emails == ("LiLei@example.com",)
    assert c.tags == ("vip", "重点")


def test_structure_format_and_rule_issues_are_reported_together() -> None:
    result = parse_customer(
        {
            "kind": "organization",
            "name": "",
            "colour": "blue",
            "contacts": [{"phones": ["123"], "emails": ["nobody@"]}],
        },
        as_of=NOW,
    )
    assert result.record is None
    assert {(i.path, i.code) for i in result.report} == {
        ("colour", "unknown_field"),
        ("name", "required"),
        ("industry", "required"),
        ("contacts", "required"),
        ("contacts[0].phones[0]", "phone.invalid"),
        ("contacts[0].emails[0]", "email.invalid"),
    }


def test_fifteen_digit_resident_ids_are_converted() -> None:
    result = parse_customer(
        {
            "kind": "individual",
            "name": "王五",
            "contacts": [{"phones": "13800138000"}],
            "identifiers": [{"scheme": "CN-RIC", "value": "110105491231002"}],
        },
        as_of=NOW,
    )
    assert result.ok, str(result.report)
    assert result.record is not None
    value = result.record.identifiers[0].value
    assert len(value) == 18 and value.startswith("11010519491231002")


def test_rule_sets_and_severities_apply_to_parsing() -> None:
    data = {**MESSY, "identifiers": [{"scheme": "CN-USCC", "value": "91110000600037341A"}]}
    assert not parse_customer(data, as_of=NOW).ok
    lenient = DEFAULT_RULES.with_severity("uscc.checksum", "warning")
    result = parse_customer(data, rules=lenient, as_of=NOW)
    assert result.ok and result.record is not None
    assert [i.code for i in result.report.warnings] == ["uscc.checksum"]


def test_bad_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="region"):
        parse_customer(MESSY, region="XX")


@pytest.mark.parametrize("data", [None, 42, "text", b"bytes", [], [{"kind": "individual"}]])
def test_non_mappings_are_reported(data: object) -> None:
    result = parse_customer(data, as_of=NOW)
    assert result.record is None
    assert [(i.path, i.code) for i in result.report] == [("", "type")]


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_like = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=15,
)
field_names = st.sampled_from(
    [
        "kind",
        "name",
        "contacts",
        "identifiers",
        "addresses",
        "milestones",
        "birth_date",
        "gender",
        "stage",
        "tags",
        "industry",
        "created_at",
    ]
)
contact_like = st.fixed_dictionaries(
    {},
    optional={
        "name": json_leaf,
        "phones": st.lists(st.text(alphabet="0123456789+-() １２３", max_size=16), max_size=3)
        | json_like,
        "emails": st.lists(st.emails() | st.text(max_size=20), max_size=2) | json_like,
    },
)
customer_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["individual", "organization"]) | json_leaf},
    optional={
        "name": st.text(max_size=40) | json_leaf,
        "contacts": st.lists(contact_like, max_size=3) | json_like,
        "identifiers": st.lists(
            st.fixed_dictionaries(
                {
                    "scheme": st.sampled_from(["CN-USCC", "CN-RIC", "PASSPORT", "EXTERNAL"]),
                    "value": st.text(alphabet="0123456789ABXxL", max_size=20) | json_leaf,
                }
            ),
            max_size=2,
        ),
        "birth_date": st.dates().map(str) | json_leaf,
    },
)


@settings(max_examples=200)
@given(st.dictionaries(field_names, json_like) | json_like | customer_like)
def test_parse_customer_never_raises_and_reports_every_problem(data: object) -> None:
    result = parse_customer(data, as_of=NOW)
    assert (result.record is not None) == result.report.ok
    for issue in result.report:
        assert issue.code and issue.message


# --------------------------------------------------------------------- every issue, one pass

VECTOR_RIC = "11010519491231002X"  # born 1949-12-31, female


def valid_person() -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": "张三",
        "gender": "female",
        "birth_date": "1949-12-31",
        "contacts": [{"name": "张三", "phones": ["13800138000"], "emails": ["zs@example.com"]}],
        "identifiers": [{"scheme": "CN-RIC", "value": VECTOR_RIC}],
        "tags": ["vip"],
    }


@pytest.mark.parametrize("birth_date", ["1990-02-30", "last spring", 19900230, ["1990-01-01"]])
def test_parse_customer_reports_every_issue_when_one_field_has_a_type_error(
    birth_date: object,
) -> None:
    data = valid_person()
    data["birth_date"] = birth_date
    data["contacts"][0]["phones"] = ["12345"]
    data["contacts"][0]["emails"] = ["nobody@"]
    data["identifiers"][0]["value"] = "110105194912310021"
    result = parse_customer(data, as_of=NOW)
    assert result.record is None
    assert {(i.path, i.code) for i in result.report} == {
        ("birth_date", "type"),
        ("contacts[0].phones[0]", "phone.invalid"),
        ("contacts[0].emails[0]", "email.invalid"),
        ("identifiers[0].value", "ric.checksum"),
    }


def test_the_valid_person_used_below_is_valid() -> None:
    result = parse_customer(valid_person(), as_of=NOW)
    assert result.ok, str(result.report)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", 42.5, "type"),
        ("name", ["张三"], "type"),
        ("kind", "robot", "enum"),
        ("gender", "robot", "enum"),
        ("contacts", {"phones": "13800138000"}, "type"),
        ("identifiers", 4.2, "type"),
        ("milestones", "soon", "type"),
    ],
)
def test_parse_customer_reports_a_field_that_cannot_be_structured_once(
    field: str, value: object, code: str
) -> None:
    data = valid_person()
    data[field] = value
    result = parse_customer(data, as_of=NOW)
    assert result.record is None
    assert [(i.path, i.code) for i in result.report] == [(field, code)]


@pytest.mark.parametrize(
    ("contact", "path"),
    [
        ({"phones": {"number": "13800138000"}}, "contacts[0].phones"),
        ({"phones": [["13800138000"]]}, "contacts[0].phones[0]"),
        ({"emails": [{"address": "zs@example.com"}]}, "contacts[0].emails[0]"),
        ({"wechat": ["zs"]}, "contacts[0].wechat"),
        (42, "contacts[0]"),
    ],
)
def test_parse_customer_does_not_call_a_contact_unreachable_when_its_channels_cannot_be_read(
    contact: object, path: str
) -> None:
    data = {"kind": "individual", "name": "张三", "contacts": [contact]}
    result = parse_customer(data, as_of=NOW)
    assert result.record is None
    assert [(i.path, i.code) for i in result.report] == [(path, "type")]


def test_parse_customer_does_not_ask_for_a_named_contact_when_the_name_cannot_be_read() -> None:
    data = {**MESSY, "contacts": [{"name": {"first": "雷"}, "phones": ["13800138000"]}]}
    result = parse_customer(data, as_of=NOW)
    assert [(i.path, i.code) for i in result.report] == [("contacts[0].name", "type")]


def test_parse_customer_still_asks_for_a_channel_when_a_contact_was_read_without_one() -> None:
    data = {"kind": "individual", "name": "张三", "birth_date": "soon", "contacts": [{}]}
    result = parse_customer(data, as_of=NOW)
    assert {(i.path, i.code) for i in result.report} == {
        ("birth_date", "type"),
        ("contacts", "contact.channel_required"),
    }


def test_parse_customer_keeps_the_index_of_elements_after_one_that_cannot_be_read() -> None:
    data = valid_person()
    data["contacts"][0]["phones"] = [{"n": 1}, "12345", "13900139000"]
    data["tags"] = [["x"], "t" * 51]
    result = parse_customer(data, as_of=NOW)
    assert {(i.path, i.code) for i in result.report} == {
        ("contacts[0].phones[0]", "type"),
        ("contacts[0].phones[1]", "phone.invalid"),
        ("tags[0]", "type"),
        ("tags[1]", "too_long"),
    }


def test_parse_customer_names_the_input_element_even_when_repeated_tags_are_dropped() -> None:
    data = {**valid_person(), "tags": ["vip", "vip", "t" * 51]}
    result = parse_customer(data, as_of=NOW)
    assert [(i.path, i.code) for i in result.report] == [("tags[2]", "too_long")]
    data["tags"] = ["vip", "vip", "key account"]
    accepted = parse_customer(data, as_of=NOW).record
    assert accepted is not None and accepted.tags == ("vip", "key account")


def test_parse_customer_gives_no_record_when_a_value_could_not_be_read_even_if_downgraded() -> None:
    lenient = DEFAULT_RULES.with_severity("type", "warning")
    result = parse_customer(
        {**valid_person(), "birth_date": "1990-02-30"}, rules=lenient, as_of=NOW
    )
    assert result.report.ok
    assert [(i.path, i.code) for i in result.report.warnings] == [("birth_date", "type")]
    assert result.record is None


# Independent faults, each in a field of its own. A fault spoils a valid record and returns
# where it must be reported, and with which code; ``at`` varies the position in a list.
Fault = Callable[[dict[str, Any], int], tuple[str, str]]


def _walk(data: dict[str, Any], names: list[str]) -> Any:
    target: Any = data
    for name in names:
        target = target[int(name)] if name.isdigit() else target.setdefault(name, {})
    return target


def _set(path: str, value: object, code: str, where: str | None = None) -> Fault:
    def spoil(data: dict[str, Any], _: int) -> tuple[str, str]:
        *parents, last = path.split(".")
        _walk(data, parents)[last] = value
        return where or path, code

    return spoil


def _insert(path: str, value: object, code: str, *, at_end: bool = False) -> Fault:
    def spoil(data: dict[str, Any], at: int) -> tuple[str, str]:
        target = _walk(data, path.split("."))
        at = len(target) if at_end else at % (len(target) + 1)
        target.insert(at, value)
        return f"{path.replace('.0', '[0]')}[{at}]", code

    return spoil


FAULTS: dict[str, Fault] = {
    "birth_date": _set("birth_date", "1990-02-30", "type"),
    "gender": _set("gender", "robot", "enum"),
    "stage": _set("stage", "sideways", "enum"),
    "created_at": _set("created_at", "2024-01-01T00:00:00", "datetime.naive"),
    "last_verified_at": _set("last_verified_at", "2999-01-01T00:00:00+00:00", "date.future"),
    "satisfaction": _set("milestones.satisfaction", "very", "type"),
    "contract_amount": _set(
        "milestones.contract_amount",
        {"amount": "lots"},
        "type",
        "milestones.contract_amount.amount",
    ),
    "name": _set("name", "张\udcff三", "text.invalid_character"),
    "notes": _set("notes", "call back\x00", "text.invalid_character"),
    "owner": _set("owner", "u" * 65, "too_long"),
    "colour": _set("colour", "blue", "unknown_field"),
    "ric": _set(
        "identifiers",
        [{"scheme": "CN-RIC", "value": "110105194912310021"}],
        "ric.checksum",
        "identifiers[0].value",
    ),
    "country": _set(
        "addresses",
        [{"country": "China", "city": "北京"}],
        "country.invalid",
        "addresses[0].country",
    ),
    "wechat": _set("contacts.0.wechat", "w" * 65, "too_long", "contacts[0].wechat"),
    "phone": _insert("contacts.0.phones", "12345", "phone.invalid"),
    "email": _insert("contacts.0.emails", "nobody@", "email.invalid"),
    "contact": _insert("contacts", 42, "type", at_end=True),  # contacts[0] stays where it is
    "tag": _insert("tags", "a\udcff\x00b", "text.invalid_character"),
}


@settings(max_examples=150)
@given(
    faults=st.sets(st.sampled_from(sorted(FAULTS)), min_size=2, max_size=8),
    positions=st.lists(st.integers(0, 5), min_size=8, max_size=8),
)
def test_parse_customer_reports_each_of_several_independent_faults_at_its_path(
    faults: set[str], positions: list[int]
) -> None:
    data = valid_person()
    expected = {
        FAULTS[fault](data, at) for fault, at in zip(sorted(faults), positions, strict=False)
    }
    result = parse_customer(data, as_of=NOW)
    assert result.record is None
    assert {(i.path, i.code) for i in result.report} == expected


# ------------------------------------------------------------------------- unstorable text

BAD_TEXT = ["\udcff", "\ud800", "\x00"]
TEXT_PATHS = [
    "name",
    "registered_name",
    "notes",
    "owner",
    "tags.1",
    "product_interests.0",
    "contacts.0.name",
    "contacts.0.wechat",
    "contacts.0.phones.0",
    "contacts.0.emails.0",
    "addresses.0.street",
    "addresses.0.city",
    "identifiers.0.value",
    "identifiers.1.system",
    "milestones.contract_amount.currency",
]


def _full_person() -> dict[str, Any]:
    data = valid_person()
    data.update(
        registered_name="张三",
        notes="首次来电",
        owner="u-1",
        tags=["vip", "重点"],
        product_interests=["云"],
        addresses=[{"city": "北京", "street": "长安街1号", "postal_code": "100000"}],
        milestones={"contract_amount": {"amount": "100", "currency": "CNY"}},
    )
    data["contacts"][0]["wechat"] = "zhangsan"
    data["identifiers"].append({"scheme": "EXTERNAL", "system": "crm", "value": "42"})
    return data


def test_the_full_person_used_below_is_valid() -> None:
    assert parse_customer(_full_person(), as_of=NOW).ok


@pytest.mark.parametrize("bad", BAD_TEXT, ids=["surrogateescape", "high-surrogate", "nul"])
@pytest.mark.parametrize("path", TEXT_PATHS)
def test_parse_customer_reports_a_lone_surrogate_or_nul_in_any_string_at_its_path(
    path: str, bad: str
) -> None:
    data = _full_person()
    *parents, last = path.split(".")
    target = _walk(data, parents)
    key: Any = int(last) if last.isdigit() else last
    target[key] = f"{target[key]}{bad}"
    result = parse_customer(data, as_of=NOW)
    where = re.sub(r"\.(\d+)", r"[\1]", path)
    assert result.record is None
    assert [(i.path, i.code) for i in result.report] == [(where, "text.invalid_character")]
    [issue] = result.report
    assert bad not in issue.message and bad not in str(issue)


def test_parse_customer_reports_bad_text_together_with_the_other_issues() -> None:
    data = valid_person()
    data["name"] = "张\x00三"
    data["contacts"][0]["phones"].append("12345")
    result = parse_customer(data, as_of=NOW)
    assert {(i.path, i.code) for i in result.report} == {
        ("name", "text.invalid_character"),
        ("contacts[0].phones[1]", "phone.invalid"),
    }


@given(
    text=st.text(st.characters(codec="utf-8"), max_size=10),
    bad=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.just("\x00"),
    at=st.integers(0, 10),
)
def test_parse_customer_never_accepts_a_name_it_could_not_store(
    text: str, bad: str, at: int
) -> None:
    name = f"张{text[:at]}{bad}{text[at:]}"
    result = parse_customer({**valid_person(), "name": name}, as_of=NOW)
    assert result.record is None
    assert ("name", "text.invalid_character") in {(i.path, i.code) for i in result.report}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 10**5000),  # str() refuses an int beyond Python's digit limit
        ("version", "9" * 5000),  # so does int() for the text
        ("version", "\U00010a40"),  # a digit (isdigit) that int() does not read
    ],
    ids=["huge-int-as-text", "huge-digits-as-int", "kharoshthi-digit"],
)
def test_values_python_cannot_convert_are_type_issues_not_exceptions(
    field: str, value: object
) -> None:
    result = parse_customer({"kind": "individual", "name": "张三", field: value})
    assert [(i.path, i.code) for i in result.report.issues if i.code == "type"] == [(field, "type")]


def test_parsing_leaves_no_reference_cycle_behind() -> None:
    # a bulk intake parses thousands of customers: whatever a parse made is freed as soon as
    # it is dropped, never left for the cyclic garbage collector to find
    import gc

    parse_customer(MESSY, as_of=NOW)  # caches filled on first use
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        for _ in range(3):
            assert parse_customer(MESSY, as_of=NOW).ok
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "c"]), max_size=2).map(
            lambda codes: ValidationReport(tuple(Issue(path=c, code=c, message=c) for c in codes))
        ),
        min_size=1,
        max_size=4,
    )
)
def test_merging_reports_without_a_new_one_gives_the_merged_report(
    reports: list[ValidationReport],
) -> None:
    from custrec.validation._api import _merged

    assert _merged(*reports) == reports[0].merged(*reports[1:])
