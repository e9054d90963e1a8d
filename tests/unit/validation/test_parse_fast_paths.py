"""Steps of parse_customer's fast paths: the ``dates`` predicate read field by field for a
customer (``rules._customer_future``) answers as the walk of the date paths, the rule context
made once per ``as_of`` (``_api._context``) is the context made anew, an identifier's scheme
kept by its text (``_api._scheme``) is the scheme cleaned anew, and the short cuts of the
glue around them (a report without issues is ok, no custom field set and no value has no
issue, fewer than two values cannot repeat) answer as the general code, and a phone number
the normaliser remembers as valid is valid."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec._text import clean
from custrec.model.custom import CustomField, CustomFieldSet, FieldType
from custrec.model.issues import Issue, Severity, ValidationReport
from custrec.model.records import Customer, CustomerKind, Milestones
from custrec.validation import _api, phone
from custrec.validation.rules import (
    _DATE_TREE,
    RuleContext,
    _any_future,
    _customer_future,
)

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
EAST = dt.timezone(dt.timedelta(hours=8))
when = st.sampled_from(
    [
        None,
        dt.date(1990, 1, 1),
        dt.date(2026, 6, 1),
        dt.date(2026, 6, 2),
        NOW,
        NOW - dt.timedelta(seconds=1),
        NOW + dt.timedelta(seconds=1),
        (NOW + dt.timedelta(hours=1)).astimezone(EAST),
        dt.datetime(2030, 1, 1),  # naive: never "in the future"
        "2030-01-01",
        5,
    ]
)
milestones = st.one_of(
    st.builds(Milestones, contract_signed_on=when, first_payment_on=when),
    st.sampled_from([None, "x", 3, ()]),
)
DATES = ("birth_date", "founded_on", "created_at", "last_verified_at", "last_contacted_at")


@settings(max_examples=500, deadline=None)
@given(
    dates=st.fixed_dictionaries(dict.fromkeys(DATES, when)),
    m=milestones,
    as_of=st.sampled_from([NOW, NOW.astimezone(EAST), NOW + dt.timedelta(days=400)]),
)
def test_the_customer_s_dates_read_one_by_one_answer_as_the_walk(
    dates: dict[str, Any], m: Any, as_of: dt.datetime
) -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="张三")
    for name, value in dates.items():
        object.__setattr__(customer, name, value)  # any value, as a caller could set it
    object.__setattr__(customer, "milestones", m)
    ctx = RuleContext(as_of=as_of)
    assert _customer_future(customer, ctx) == _any_future(customer, _DATE_TREE, ctx)


instants = st.sampled_from([NOW, NOW.astimezone(EAST), NOW + dt.timedelta(days=1)])


@settings(max_examples=200, deadline=None)
@given(
    asks=st.lists(
        st.tuples(
            st.one_of(instants, instants.map(lambda d: d.replace())),  # equal, not the same
            st.sampled_from(["CN", "US", "cn"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_context_of_an_instant_is_the_context_made_anew(
    asks: list[tuple[dt.datetime, str]],
) -> None:
    for as_of, region in asks:
        ctx = _api._context(as_of, region)
        assert ctx == RuleContext(as_of=as_of, region=region)
        assert ctx.as_of is as_of  # the instant given, not an equal one in another zone
        assert ctx.today == RuleContext(as_of=as_of, region=region).today


def test_a_naive_instant_is_refused_every_time() -> None:
    naive = dt.datetime(2026, 1, 1)
    for _ in range(2):
        with pytest.raises(ValueError, match="timezone-aware"):
            _api._context(naive, "CN")
    assert _api._context(None, "CN").as_of.tzinfo is dt.UTC


class _Text(str):
    """A str subclass, as an application may pass."""


schemes = st.text() | st.sampled_from(
    ["CN-RIC", " cn-ric ", "ｃｎ－ｕｓｃｃ", "passport", "ＰＡＳＳ", ""]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(schemes, st.booleans()), max_size=8))
def test_a_scheme_kept_by_its_text_is_the_scheme_cleaned_anew(
    given_schemes: list[tuple[str, bool]],
) -> None:
    """Each scheme is asked twice (the second answer is the kept one), str subclasses are not
    kept, and a full store is emptied."""
    for text, subclass in given_schemes:
        value = _Text(text) if subclass else text
        for _ in range(2):
            assert _api._scheme(value) == clean(text).upper()
            assert type(_api._scheme(value)) is str
    assert len(_api._SCHEMES) <= 1024


def test_a_full_store_of_schemes_is_emptied() -> None:
    for i in range(1030):
        assert _api._scheme(f"s{i}") == f"S{i}"
    assert 0 < len(_api._SCHEMES) <= 1024
    assert _api._scheme("s3") == "S3"


issues = st.builds(
    Issue,
    path=st.sampled_from(["", "name", "tags[0]"]),
    code=st.sampled_from(["type", "required"]),
    message=st.just("m"),
    severity=st.sampled_from(list(Severity)),
)


@given(st.lists(issues, max_size=3))
def test_a_report_is_ok_as_the_general_test_says(found: list[Issue]) -> None:
    report = ValidationReport(found)
    assert report.ok is (not any(i.severity is Severity.ERROR for i in found))


field_sets = st.sampled_from(
    [
        CustomFieldSet(),
        CustomFieldSet(fields=[CustomField(name="vip", type=FieldType.BOOLEAN)], version=1),
        CustomFieldSet(
            fields=[CustomField(name="no", type=FieldType.TEXT, required=True)], version=1
        ),
    ]
)


@given(field_sets, st.dictionaries(st.sampled_from(["vip", "no", "x"]), st.text(), max_size=2))
def test_custom_values_are_checked_as_by_each_definition(
    fields: CustomFieldSet, values: dict[str, str]
) -> None:
    """validate answers at once for no definitions and no values; anything else as its loop:
    required definitions, then unknown names."""
    expected = [
        Issue(path=f"custom.{f.name}", code="required", message="a value is required")
        for f in fields.fields
        if f.required and not values.get(f.name, "").strip()
    ]
    issues = fields.validate(values)
    assert [i for i in issues if i.code == "required"] == expected
    unknown = sorted(n for n in values if n not in {f.name for f in fields.fields})
    assert [i.path for i in issues if i.code == "unknown_field"] == [f"custom.{n}" for n in unknown]
    if not values and not fields.fields:
        assert issues == ()


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4).map(tuple))
def test_values_repeat_as_a_set_of_them_says(values: tuple[str, ...]) -> None:
    assert _api._unique(values) is (len(set(values)) == len(values))


raw_phones = st.one_of(
    st.from_regex(r"(\+86[ -]?|0086|86)?1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"\+?[0-9 ()./-]{0,16}", fullmatch=True),
    st.sampled_from(
        ["010-6552 9988", "(650) 253-0000", "+44 20 7946 0958", "１３８００１３８０００"]
    ),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(raw_phones, min_size=1, max_size=3), st.sampled_from(["CN", "US", "GB"]))
def test_a_phone_number_remembered_as_normalised_is_valid(raws: list[str], region: str) -> None:
    """The fused rules take the numbers the normaliser remembers as valid without asking
    again: each is valid in the region (with the parse cache emptied first), and the number
    given back is the one _normalize_phone gives."""
    normaliser = _api._Normaliser(region)
    kwargs: dict[str, Any] = {"phones": tuple(raws)}
    normaliser.contact(kwargs)
    assert list(kwargs["phones"]) == [_api._normalize_phone(raw, region) for raw in raws]
    phone._clear_cache()
    for number in normaliser.phones:
        assert number in kwargs["phones"]
        assert phone.is_valid(number, region)
