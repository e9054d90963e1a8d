"""Default rules, rule sets, severity overrides and custom rules."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
    Interaction,
    InteractionKind,
    Milestones,
    Money,
    Transaction,
)
from custrec.validation import (
    DEFAULT_RULES,
    Issue,
    RuleContext,
    Severity,
    validate,
)
from custrec.validation import rule as make_rule

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHONE = "+8613800138000"


def person(**changes: object) -> Customer:
    base: dict[str, object] = {
        "kind": CustomerKind.INDIVIDUAL,
        "name": "张三",
        "contacts": [Contact(phones=[PHONE])],
    }
    base.update(changes)
    return Customer(**base)  # type: ignore[arg-type]


def org(**changes: object) -> Customer:
    base: dict[str, object] = {
        "kind": CustomerKind.ORGANIZATION,
        "name": "某某科技有限公司",
        "industry": "software",
        "contacts": [Contact(name="李雷", phones=[PHONE])],
    }
    base.update(changes)
    return Customer(**base)  # type: ignore[arg-type]


def codes(record: object, **kwargs: object) -> set[tuple[str, str]]:
    report = validate(record, as_of=NOW, **kwargs)  # type: ignore[arg-type]
    return {(i.path, i.code) for i in report}


def test_a_complete_record_is_ok() -> None:
    assert validate(person(), as_of=NOW).ok
    assert validate(org(), as_of=NOW).ok


def test_required_fields_per_kind() -> None:
    assert codes(person(name="  ", contacts=[])) == {
        ("name", "required"),
        ("contacts", "contact.channel_required"),
    }
    assert codes(org(industry=None, contacts=[Contact(phones=[PHONE])])) == {
        ("industry", "required"),
        ("contacts", "required"),
    }


def test_a_wechat_id_alone_is_a_contact_channel() -> None:
    assert validate(person(contacts=[Contact(wechat="zhang_san")]), as_of=NOW).ok


def test_lengths_are_limited_with_element_paths() -> None:
    long_tag = "x" * 51
    assert codes(person(name="名" * 201, tags=["ok", long_tag])) == {
        ("name", "too_long"),
        ("tags[1]", "too_long"),
    }


def test_formats_of_phones_emails_and_identifiers() -> None:
    record = person(
        contacts=[Contact(phones=[PHONE, "12345"], emails=["bad@", "ok@example.com"])],
        identifiers=[
            Identifier(scheme="CN-USCC", value="91110000600037341A"),
            Identifier(scheme="CN-RIC", value="110105194912310021"),
            Identifier(scheme="EXTERNAL", value="42"),
        ],
    )
    assert codes(record) == {
        ("contacts[0].phones[1]", "phone.invalid"),
        ("contacts[0].emails[0]", "email.invalid"),
        ("identifiers[0].value", "uscc.checksum"),
        ("identifiers[1].value", "ric.checksum"),
        ("identifiers[2].system", "identifier.system_required"),
    }


def test_uscc_checksum_can_be_downgraded_to_a_warning() -> None:
    record = org(identifiers=[Identifier(scheme="CN-USCC", value="91110000600037341A")])
    strict = validate(record, as_of=NOW)
    lenient = validate(record, DEFAULT_RULES.with_severity("uscc.checksum", "warning"), as_of=NOW)
    assert not strict.ok
    assert lenient.ok
    assert [(i.code, i.severity) for i in lenient.warnings] == [("uscc.checksum", Severity.WARNING)]


def test_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="severity"):
        DEFAULT_RULES.with_severity("uscc.checksum", "meh")


@pytest.mark.parametrize(
    ("as_of", "latest_today"),
    [
        (datetime(2025, 5, 31, 23, 0, tzinfo=UTC), date(2025, 6, 1)),  # 07:00 in Shanghai
        (datetime(2025, 5, 31, 9, 59, tzinfo=UTC), date(2025, 5, 31)),  # 23:59 at UTC+14
        (datetime(2025, 5, 31, 10, 0, tzinfo=UTC), date(2025, 6, 1)),  # midnight at UTC+14
    ],
)
def test_a_date_is_in_the_future_only_when_it_is_after_today_everywhere(
    as_of: datetime, latest_today: date
) -> None:
    def future(day: date) -> bool:
        report = validate(person(milestones=Milestones(contract_signed_on=day)), as_of=as_of)
        return "date.future" in {i.code for i in report.issues}

    assert not future(latest_today)
    assert future(latest_today + timedelta(days=1))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)
    ),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_the_day_it_is_in_any_zone_is_never_in_the_future(as_of: datetime, minutes: int) -> None:
    local = as_of.astimezone(timezone(timedelta(minutes=minutes))).date()
    report = validate(person(milestones=Milestones(contract_signed_on=local)), as_of=as_of)
    assert "date.future" not in {i.code for i in report.issues}


def test_dates_must_not_lie_in_the_future() -> None:
    # 12:00 UTC on 1 June is already 2 June at UTC+14: only 3 June lies ahead everywhere
    ahead = (NOW + timedelta(days=2)).date()
    record = person(
        birth_date=ahead,
        milestones=Milestones(contract_signed_on=ahead, service_expires_on=ahead),
        last_verified_at=NOW + timedelta(seconds=1),
    )
    assert codes(record) == {
        ("birth_date", "date.future"),
        ("milestones.contract_signed_on", "date.future"),
        ("last_verified_at", "date.future"),
    }


def test_today_and_now_are_not_in_the_future() -> None:
    assert validate(person(birth_date=NOW.date(), last_verified_at=NOW), as_of=NOW).ok


def test_ric_must_agree_with_birth_date_and_gender() -> None:
    ric = Identifier(scheme="CN-RIC", value="11010519491231002X")  # female, 1949-12-31
    assert validate(
        person(identifiers=[ric], birth_date=date(1949, 12, 31), gender=Gender.FEMALE), as_of=NOW
    ).ok
    assert codes(person(identifiers=[ric], birth_date=date(1950, 1, 1), gender=Gender.MALE)) == {
        ("identifiers[0].value", "ric.birth_date_mismatch"),
        ("identifiers[0].value", "ric.sex_mismatch"),
    }


def test_contract_amount_and_satisfaction() -> None:
    record = org(
        milestones=Milestones(
            contract_amount=Money(amount=Decimal("-1"), currency="cny"), satisfaction=6
        )
    )
    assert codes(record) == {
        ("milestones.contract_amount.amount", "amount.negative"),
        ("milestones.contract_amount.currency", "currency.invalid"),
        ("milestones.satisfaction", "satisfaction.range"),
    }


def test_first_payment_before_signature_is_a_warning() -> None:
    record = org(
        milestones=Milestones(
            contract_signed_on=date(2024, 2, 1), first_payment_on=date(2024, 1, 1)
        )
    )
    report = validate(record, as_of=NOW)
    assert report.ok
    assert [i.code for i in report.warnings] == ["milestones.order"]


def test_duplicate_channels_inside_one_record() -> None:
    record = person(
        contacts=[
            Contact(phones=[PHONE], emails=["a@example.com"]),
            Contact(phones=["138 0013 8000"], emails=["A@EXAMPLE.COM"]),
        ],
        identifiers=[
            Identifier(scheme="PASSPORT", value="E1"),
            Identifier(scheme="PASSPORT", value="e1"),
        ],
    )
    assert codes(record) == {
        ("contacts[1].phones[0]", "phone.duplicate"),
        ("contacts[1].emails[0]", "email.duplicate"),
        ("identifiers[1]", "identifier.duplicate"),
    }


def test_addresses_country_and_postal_code() -> None:
    record = person(addresses=[Address(country="china", postal_code="1000")])
    assert codes(record) == {
        ("addresses[0].country", "country.invalid"),
    }
    assert codes(person(addresses=[Address(postal_code="1000")])) == {
        ("addresses[0].postal_code", "postal_code.invalid")
    }


def test_records_built_in_code_with_wrong_types_are_reported_not_raised() -> None:
    record = person(stage="bogus", birth_date="1990-01-01", created_at=datetime(2020, 1, 1))
    assert codes(record) >= {
        ("stage", "enum"),
        ("birth_date", "type"),
        ("created_at", "datetime.naive"),
    }


def test_interaction_rules() -> None:
    i = Interaction(
        customer_id="c",
        kind=InteractionKind.CALL,
        occurred_at=NOW,
        next_action_at=NOW - timedelta(hours=1),
        satisfaction=0,
    )
    assert codes(i) == {
        ("next_action_at", "interaction.next_action_order"),
        ("satisfaction", "satisfaction.range"),
    }


def test_transaction_rules_allow_refunds_but_not_future_dates() -> None:
    t = Transaction(customer_id="c", occurred_at=NOW, amount=Money(amount=Decimal("-5")))
    assert validate(t, as_of=NOW).ok
    future = Transaction(
        customer_id="c", occurred_at=NOW + timedelta(days=1), amount=Money(amount=Decimal("5"))
    )
    assert codes(future) == {("occurred_at", "date.future")}


def test_custom_rules_can_be_added_and_default_rules_dropped() -> None:
    @make_rule("needs_owner", Customer, codes=("owner.required",))
    def needs_owner(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
        if c.owner is None:
            yield ctx.issue("owner", "owner.required", "every customer needs an owner")

    rules = DEFAULT_RULES.with_rules(needs_owner).without("required")
    assert "needs_owner" in rules.names and "required" not in rules.names
    assert codes(person(name=""), rules=rules) == {("owner", "owner.required")}
    with pytest.raises(KeyError):
        DEFAULT_RULES.without("no-such-rule")


def test_validate_requires_an_aware_as_of() -> None:
    with pytest.raises(ValueError, match="timezone"):
        validate(person(), as_of=datetime(2025, 1, 1))


def test_messages_never_repeat_personal_values() -> None:
    record = person(
        name="",
        contacts=[Contact(phones=["13800138000x"], emails=["zhangsan@"])],
        identifiers=[Identifier(scheme="CN-RIC", value="11010519491231002Y")],
    )
    for issue in validate(record, as_of=NOW):
        for value in ("13800138000", "zhangsan", "110105194912"):
            assert value not in issue.message


# ------------------------------------------------------------------------- unstorable text

BAD_TEXT = ["\udcff", "\ud800", "\x00"]


@pytest.mark.parametrize("bad", BAD_TEXT, ids=["surrogateescape", "high-surrogate", "nul"])
def test_text_rule_reports_every_string_holding_a_lone_surrogate_or_nul_at_its_path(
    bad: str,
) -> None:
    record = person(
        name=f"张{bad}三",
        tags=("vip", f"x{bad}"),
        owner=bad,
        notes=f"line one\n{bad}",
        contacts=[
            Contact(phones=[PHONE]),
            Contact(name=f"李{bad}", phones=[f"+86138{bad}00138000"], emails=[f"a{bad}@b.cn"]),
        ],
        addresses=[Address(city="北京", street=f"长安街{bad}1号")],
        identifiers=[Identifier(scheme="EXTERNAL", system=f"crm{bad}", value="42")],
        milestones=Milestones(contract_amount=Money(amount=Decimal(1), currency=f"CN{bad}")),
    )
    found = {path for path, code in codes(record) if code == "text.invalid_character"}
    assert found == {
        "name",
        "tags[1]",
        "owner",
        "notes",
        "contacts[1].name",
        "contacts[1].phones[0]",
        "contacts[1].emails[0]",
        "addresses[0].street",
        "identifiers[0].system",
        "milestones.contract_amount.currency",
    }


def test_text_rule_checks_transactions_and_interactions_too() -> None:
    t = Transaction(
        customer_id="c", occurred_at=NOW, amount=Money(amount=Decimal(5)), reference="\x00"
    )
    i = Interaction(customer_id="c", kind=InteractionKind.CALL, occurred_at=NOW, summary="\udcff")
    assert codes(t) == {("reference", "text.invalid_character")}
    assert codes(i) == {("summary", "text.invalid_character")}


def test_text_rule_message_never_repeats_the_value() -> None:
    report = validate(person(name="王秘密\udcff"), as_of=NOW)
    [issue] = report.by_code("text.invalid_character")
    assert "秘密" not in issue.message and "\udcff" not in issue.message
    assert issue.message.encode("utf-8")  # safe to log: the message itself is encodable


def test_text_rule_is_a_default_rule_named_text() -> None:
    assert "text" in DEFAULT_RULES.names
    assert (
        "text.invalid_character" in next(r for r in DEFAULT_RULES.rules if r.name == "text").codes
    )


def test_a_contact_entry_of_the_wrong_type_is_reported_once() -> None:
    record = person(contacts=("13800138000",))
    assert codes(record) == {("contacts[0]", "type")}
    organisation = org(contacts=(Contact(name="李雷", phones=[PHONE]), None))
    assert codes(organisation) == {("contacts[1]", "required")}


def test_kind_mismatch_is_not_reported_when_the_kind_itself_is_wrong() -> None:
    record = person(kind="robot", birth_date=date(1990, 1, 1))
    assert codes(record) == {("kind", "enum")}


def test_issues_at_or_under_an_unreadable_path_are_left_out() -> None:
    record = person(name="", contacts=[Contact(phones=["12345"], emails=["nobody@"])])
    report = DEFAULT_RULES.check(record, as_of=NOW, unreadable=("name", "contacts[0].phones"))
    assert {(i.path, i.code) for i in report} == {("contacts[0].emails[0]", "email.invalid")}


def test_unreadable_within_looks_at_the_path_and_below_it() -> None:
    ctx = RuleContext(as_of=NOW, unreadable=frozenset({"contacts[1].phones", "name"}))
    assert ctx.unreadable_within("contacts")
    assert ctx.unreadable_within("contacts[1]")
    assert ctx.unreadable_within("contacts[1].phones")
    assert ctx.unreadable_within("name")
    assert not ctx.unreadable_within("contacts[1].phones[0]")
    assert not ctx.unreadable_within("contacts[10]")
    assert not ctx.unreadable_within("names")


def test_text_rule_leaves_values_of_the_wrong_type_to_the_type_rule() -> None:
    loop: list[object] = ["\x00"]
    loop.append(loop)  # a list that contains itself must not make validation loop forever
    assert codes(person(tags=(loop,))) == {("tags[0]", "type")}


def test_rule_sets_pickle_for_worker_processes() -> None:

    lenient = DEFAULT_RULES.with_severity("email.invalid", "warning")
    copied = pickle.loads(pickle.dumps(lenient))
    assert copied == lenient and copied.severities == {"email.invalid": Severity.WARNING}
    formats = lenient.names.index("formats")  # a rule made with @rule: sent by its name
    assert copied.rules[formats] is lenient.rules[formats]

    @make_rule("local", Customer)
    def local(c: Customer, ctx: RuleContext) -> Iterator[Issue]:  # not reachable by name
        yield from ()

    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(DEFAULT_RULES.with_rules(local))


def test_milestone_dates_given_as_date_times_are_type_issues_not_a_crash() -> None:
    # validate() never raises on a bad record: an aware date-time where a date belongs does not
    # compare with the other milestone's date
    signed = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    record = person(
        milestones=Milestones(
            contract_signed_on=signed,  # type: ignore[arg-type]
            first_payment_on=date(2025, 2, 1),
        )
    )
    report = validate(record, as_of=NOW)
    assert "milestones.order" not in {i.code for i in report.issues}
    assert any(i.path == "milestones.contract_signed_on" for i in report.issues)
