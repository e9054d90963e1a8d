"""parse_customer: raw mapping in, normalised record and one report out; never raises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.records import CustomerKind, LifecycleStage
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
