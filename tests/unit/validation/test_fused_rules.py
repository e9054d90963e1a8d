"""The default rules fused for customers (``validation/_fused.py``) against the rule engine.

:meth:`RuleSet.check` under :data:`DEFAULT_RULES` answers a customer the fused pass finds
clean with the empty report, without running the rules one by one. These tests build customers
in code, from valid ones to ones each default rule reports on, and require the same report as
the general engine gives (a rule set holding the same rules in another tuple takes the general
path): the fused pass must never call clean a customer any rule reports on.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec.model.issues import ValidationReport
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
    Milestones,
    Money,
)
from custrec.validation import DEFAULT_RULES, parse_customer, rules
from custrec.validation._fused import customer_clean
from custrec.validation.rules import RuleSet

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
GENERAL = RuleSet((*DEFAULT_RULES.rules,), DEFAULT_RULES.severities)  # a new tuple
FUSED = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# 11010519491231002X: born 1949-12-31, female; 440524188001010014: born 1880-01-01, male
RICS = ["11010519491231002X", "440524188001010014", "11010519491231002Y", "1101051949123100"]
USCCS = ["91110000600037341L", "91350100M000100Y43", "91110000600037341X"]
PHONES = ["+8613800138000", "+8613912345678", "+861380013800", "13800138000", " ", ""]
EMAILS = ["li@example.com", "wang@example.cn", "not-an-address", "li@example.com ", ""]
text = st.sampled_from(["张三", "Acme", " ", "", "a\x00b", "x" * 201, "\udcff"])
optional_text = st.one_of(st.none(), text)
identifiers = st.one_of(
    st.builds(Identifier, scheme=st.just("CN-RIC"), value=st.sampled_from(RICS)),
    st.builds(Identifier, scheme=st.just("CN-USCC"), value=st.sampled_from(USCCS)),
    st.builds(
        Identifier,
        scheme=st.sampled_from(["EXTERNAL", "PASSPORT", "OTHER"]),
        value=st.sampled_from(["E123", "e123", "E123"]),
        system=st.sampled_from([None, "", "crm", " "]),
    ),
)
contacts = st.builds(
    Contact,
    name=optional_text,
    phones=st.lists(st.sampled_from(PHONES), max_size=2).map(tuple),
    emails=st.lists(st.sampled_from(EMAILS), max_size=2).map(tuple),
    wechat=st.sampled_from([None, "", "wx_li"]),
)
addresses = st.builds(
    Address,
    country=st.sampled_from(["CN", "US", "cn", "CHN", "C1"]),
    postal_code=st.sampled_from([None, "100000", "10000", "１０００００", "ABCDEF"]),
    street=optional_text,
)
dates = st.sampled_from([None, dt.date(1949, 12, 31), dt.date(1880, 1, 1), dt.date(2030, 1, 1)])
milestone_dates = st.one_of(
    dates,
    st.sampled_from([dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.datetime(2024, 5, 1, 8)]),
)
# valid and invalid values about equally often: every rule's case is met within a few draws
moneys = st.one_of(
    st.none(),
    st.builds(
        Money,
        amount=st.sampled_from([Decimal("5"), Decimal("-0.01"), Decimal("0"), Decimal("-0")])
        | st.sampled_from([Decimal("NaN"), Decimal("-Infinity"), Decimal("746070.000"), 5, "5"]),
        currency=st.sampled_from(["CNY", "USD"])
        | st.sampled_from(["cny", "Cny", "CN", "CNYY", "人民币", "ÄBÇ", "1A2", "123", "", 156]),
    ),
    st.just("5"),
)
milestones = st.one_of(
    st.just(Milestones()),
    st.builds(
        Milestones,
        contract_signed_on=milestone_dates,
        first_payment_on=milestone_dates,
        satisfaction=st.sampled_from([None, 0, 1, 3, 5, 6, 9, True, "3"]),
        contract_amount=moneys,
    ),
)
instants = st.sampled_from([None, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1)])
junk: st.SearchStrategy[Any] = st.sampled_from([5, None, "x", (), ("x",), [Contact()]])


VALID = {
    CustomerKind.INDIVIDUAL: {
        "name": "张三",
        "gender": Gender.FEMALE,
        "birth_date": dt.date(1949, 12, 31),
        "identifiers": (Identifier(scheme="CN-RIC", value="11010519491231002X"),),
        "contacts": (Contact(phones=("+8613800138000",), emails=("li@example.com",)),),
        "addresses": (Address(postal_code="100000"),),
    },
    CustomerKind.ORGANIZATION: {
        "name": "Acme",
        "industry": "制造业",
        "identifiers": (Identifier(scheme="CN-USCC", value="91110000600037341L"),),
        "contacts": (Contact(name="李四", phones=("+8613912345678",)),),
        "addresses": (Address(country="US"),),
    },
}
CHANGES: dict[str, st.SearchStrategy[Any]] = {
    "name": text,
    "gender": st.sampled_from([None, Gender.MALE, Gender.FEMALE, Gender.UNKNOWN]),
    "birth_date": dates,
    "industry": st.sampled_from([None, "", "制造业"]),
    "identifiers": st.lists(identifiers, max_size=2).map(tuple),
    "contacts": st.lists(contacts, max_size=2).map(tuple),
    "addresses": st.lists(addresses, max_size=2).map(tuple),
    "milestones": milestones,
    "tags": st.lists(text, max_size=2).map(tuple),
    "created_at": instants,
    "last_verified_at": instants,
}


@st.composite
def customers(draw: st.DrawFn) -> Customer:
    """A valid customer of either kind with up to two fields changed (to a value that may or
    may not be valid, or, rarely, to one of the wrong type as a caller could set it)."""
    kind = draw(st.sampled_from(list(VALID)))
    fields = dict(VALID[kind])
    for name in draw(st.lists(st.sampled_from(sorted(CHANGES)), max_size=2, unique=True)):
        fields[name] = draw(CHANGES[name])
    customer = Customer(kind=kind, **fields)
    if draw(st.integers(0, 19)) == 0:
        name = draw(
            st.sampled_from(["name", "contacts", "identifiers", "kind", "addresses", "milestones"])
        )
        object.__setattr__(customer, name, draw(junk))
    return customer


@FUSED
@given(customer=customers())
def test_a_customer_gets_the_report_of_the_rule_engine(customer: Customer) -> None:
    assert outcome(DEFAULT_RULES, customer) == outcome(GENERAL, customer)


def outcome(ruleset: RuleSet, customer: Customer) -> object:
    """The report, or the type and text of the exception (junk in a record built in code may
    make a rule raise, on either path alike)."""
    try:
        return ruleset.check(customer, as_of=NOW)
    except Exception as exc:
        return (type(exc), str(exc))


@FUSED
@given(customer=customers(), known=st.booleans())
def test_the_fused_pass_calls_clean_only_what_every_rule_accepts(
    customer: Customer, known: bool
) -> None:
    emails = frozenset(EMAILS[:2]) if known else frozenset()
    token = rules._NORMALISED_EMAILS.set(emails)
    try:
        clean = customer_clean(
            customer,
            today=NOW.date(),
            region="CN",
            emails=emails,
            too_long=rules._ANY_TOO_LONG,
        )
        general = outcome(GENERAL, customer)
    finally:
        rules._NORMALISED_EMAILS.reset(token)
    if clean:
        assert isinstance(general, ValidationReport)
        assert [i for i in general.issues if i.code != "date.future"] == []


@settings(max_examples=1500, deadline=None)
@given(milestones=milestones)
def test_milestones_keep_the_fused_pass_exactly_when_the_rules_accept_them(
    milestones: Milestones,
) -> None:
    """On a customer valid otherwise: clean only if no rule reports on its milestones, and
    clean whenever none does and every value has its declared type (the rest is left to the
    rules)."""
    kind = CustomerKind.INDIVIDUAL
    valid: dict[str, Any] = dict(VALID[kind])
    customer = Customer(kind=kind, **valid, milestones=milestones)
    clean = customer_clean(
        customer, today=NOW.date(), region="CN", emails=frozenset(), too_long=rules._ANY_TOO_LONG
    )
    general = outcome(GENERAL, customer)
    accepted = isinstance(general, ValidationReport) and not [
        i for i in general.issues if i.code != "date.future"
    ]
    if clean:
        assert accepted
    money = milestones.contract_amount
    declared = (
        (
            money is None
            or (
                type(money) is Money
                and type(money.amount) is Decimal
                and type(money.currency) is str
            )
        )
        and type(milestones.satisfaction) in (int, type(None))
        and all(
            type(d) in (dt.date, type(None))
            for d in (milestones.contract_signed_on, milestones.first_payment_on)
        )
    )
    if declared and accepted:
        assert clean


def test_a_valid_customer_is_clean() -> None:
    customer = Customer(
        kind=CustomerKind.INDIVIDUAL,
        name="张三",
        gender=Gender.FEMALE,
        birth_date=dt.date(1949, 12, 31),
        identifiers=[Identifier(scheme="CN-RIC", value="11010519491231002X")],
        contacts=[Contact(phones=("+8613800138000",), emails=("li@example.com",))],
        addresses=[Address(postal_code="100000")],
    )
    kwargs: dict[str, Any] = {"today": NOW.date(), "region": "CN", "emails": frozenset()}
    assert customer_clean(customer, too_long=rules._ANY_TOO_LONG, **kwargs)
    assert DEFAULT_RULES.check(customer, as_of=NOW).issues == ()


@pytest.mark.parametrize(
    "milestones",
    [
        Milestones(contract_amount=Money(amount=Decimal("746070.000"))),
        Milestones(contract_amount=Money(amount=Decimal("0"), currency="USD"), satisfaction=5),
        Milestones(
            contract_signed_on=dt.date(2024, 5, 1),
            first_payment_on=dt.date(2024, 5, 1),
            satisfaction=1,
        ),
    ],
)
def test_a_customer_with_valid_milestones_is_clean(milestones: Milestones) -> None:
    """Milestones the cross_field rule accepts keep a customer on the fused pass (an import's
    legacy rows carry contract amounts and dates)."""
    kind = CustomerKind.INDIVIDUAL
    valid: dict[str, Any] = dict(VALID[kind])
    customer = Customer(kind=kind, **valid, milestones=milestones)
    kwargs: dict[str, Any] = {"today": NOW.date(), "region": "CN", "emails": frozenset()}
    assert customer_clean(customer, too_long=rules._ANY_TOO_LONG, **kwargs)
    assert DEFAULT_RULES.check(customer, as_of=NOW).issues == ()


def test_parsing_a_valid_mapping_reports_nothing() -> None:
    result = parse_customer(
        {
            "kind": "organization",
            "name": "Acme",
            "industry": "制造业",
            "identifiers": [{"scheme": "CN-USCC", "value": "91110000600037341L"}],
            "contacts": [{"name": "李四", "phones": ["13800138000"], "emails": ["li@example.com"]}],
        },
        as_of=NOW,
    )
    assert result.ok and result.report.issues == ()
