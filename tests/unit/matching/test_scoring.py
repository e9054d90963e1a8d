"""Comparing two customers: strong identifiers decide, weak evidence adds up, all explained."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import (
    MatchDecision,
    MatchProfile,
    Thresholds,
    Weights,
    blocking_keys,
    compare,
    profile,
    strong_keys,
)
from custrec.model.records import Address, Contact, Customer, CustomerKind, Gender, Identifier


def person(name: str = "张伟", **extra: Any) -> Customer:
    return Customer(kind=CustomerKind.INDIVIDUAL, name=name, **extra)


def org(name: str, **extra: Any) -> Customer:
    return Customer(kind=CustomerKind.ORGANIZATION, name=name, **extra)


HOME = (Address(city="北京", street="朝阳路8号"),)
PHONE = (Contact(phones=("+8613800138000",)),)


def reasons(a: Customer, b: Customer) -> list[str]:
    return [str(r) for r in compare(profile(a), profile(b)).reasons]


def test_a_shared_phone_decides_on_its_own() -> None:
    m = compare(profile(person("张伟", contacts=PHONE)), profile(person("李娜", contacts=PHONE)))
    assert (m.decision, m.score) == (MatchDecision.SAME, 1.0)
    assert [str(r) for r in m.reasons] == ["phone: same"]


def test_different_resident_ids_overrule_a_shared_phone() -> None:
    a = person(
        contacts=PHONE, identifiers=(Identifier(scheme="CN-RIC", value="11010519491231002X"),)
    )
    b = person(
        contacts=PHONE, identifiers=(Identifier(scheme="CN-RIC", value="110105194912310029"),)
    )
    m = compare(profile(a), profile(b))
    assert m.decision is MatchDecision.DISTINCT
    assert "ric: different" in [str(r) for r in m.reasons]


def test_same_name_and_address_is_probable_with_reasons() -> None:
    m = compare(
        profile(person("Zhang Wei", addresses=HOME)), profile(person("WEI ZHANG", addresses=HOME))
    )
    assert m.decision is MatchDecision.PROBABLE
    assert m.score == pytest.approx(0.95)
    assert [str(r) for r in m.reasons] == ["name: same", "address: same"]


def test_full_width_digits_in_the_street_do_not_matter() -> None:
    other = (Address(city="北京", district="朝阳区", street="朝阳路８号"),)
    assert reasons(person(addresses=HOME), person(addresses=other)) == [
        "name: same",
        "address: same",
    ]


def test_same_name_at_another_address_is_not_probable() -> None:
    away = (Address(city="北京", street="长安街100号"),)
    m = compare(profile(person(addresses=HOME)), profile(person(addresses=away)))
    assert m.decision is MatchDecision.DISTINCT
    assert "address: different" in [str(r) for r in m.reasons]


def test_same_name_alone_is_only_possible() -> None:
    assert compare(profile(person()), profile(person())).decision is MatchDecision.POSSIBLE


def test_a_different_birth_date_or_sex_counts_against() -> None:
    a = person(addresses=HOME, birth_date=date(1990, 1, 1), gender=Gender.MALE)
    b = person(addresses=HOME, birth_date=date(1991, 1, 1), gender=Gender.FEMALE)
    m = compare(profile(a), profile(b))
    assert m.decision is MatchDecision.DISTINCT
    assert {"birth_date: different", "gender: different"} <= {str(r) for r in m.reasons}


def test_legal_form_variants_of_an_organisation_match() -> None:
    office = (Address(city="深圳", street="坂田华为基地"),)
    m = compare(
        profile(org("华为技术有限公司", addresses=office)),
        profile(org("华为技术股份有限公司", addresses=office)),
    )
    assert m.decision is MatchDecision.PROBABLE


def test_same_core_name_in_another_region_is_not_probable() -> None:
    m = compare(profile(org("北京银行股份有限公司")), profile(org("上海银行股份有限公司")))
    assert m.decision is not MatchDecision.PROBABLE
    assert "region: different" in [str(r) for r in m.reasons]


def test_a_person_never_matches_an_organisation() -> None:
    m = compare(profile(person("华为", contacts=PHONE)), profile(org("华为", contacts=PHONE)))
    assert (m.decision, m.score) == (MatchDecision.DISTINCT, 0.0)


def test_thresholds_and_weights_are_configurable() -> None:
    a, b = profile(person()), profile(person())
    assert compare(a, b, thresholds=Thresholds(probable=0.6, possible=0.5)).decision is (
        MatchDecision.PROBABLE
    )
    assert compare(a, b, weights=Weights(name=0.3)).decision is MatchDecision.DISTINCT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"probable": 1.5}, "probable must be a number from 0 to 1"),
        ({"possible": -0.1}, "possible must be a number from 0 to 1"),
        ({"probable": 0.5, "possible": 0.7}, "Thresholds.possible must not exceed"),
    ],
)
def test_bad_thresholds_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Thresholds(**kwargs)


@pytest.mark.parametrize("value", [True, "0.5", None])
def test_thresholds_must_be_numbers(value: object) -> None:
    with pytest.raises(TypeError, match="probable must be a number, not"):
        Thresholds(probable=value)  # type: ignore[arg-type]


def test_profiles_and_reasons_show_no_personal_value() -> None:
    p = profile(person("欧阳娜娜", contacts=PHONE, addresses=HOME))
    assert "娜" not in repr(p) and "138" not in repr(p) and "朝阳" not in repr(p)
    m = compare(p, p)
    assert "娜" not in repr(m) and "138" not in repr(m)


def test_strong_and_blocking_keys_of_a_record() -> None:
    c = person(
        "Zhang Wei",
        contacts=(Contact(phones=("+8613800138000",), emails=("Zhang@Example.com",)),),
        addresses=HOME,
    )
    assert strong_keys(c) == {("phone", "+8613800138000"), ("email", "zhang@example.com")}
    assert blocking_keys(c) == {("blk.name", "p:wei zhang"), ("blk.addr", "北京|朝阳路8号")}
    assert ("blk.orgcity", "华为|深圳") in blocking_keys(
        org("华为技术有限公司", addresses=(Address(city="深圳", street="坂田"),))
    )


names = st.text(alphabet=st.sampled_from("张王李伟娜 abcZW·（）()有限公司8８"), max_size=12)


@given(names, names, st.booleans())
def test_compare_is_symmetric_bounded_and_never_crashes(a: str, b: str, orgs: bool) -> None:
    make = org if orgs else person
    pa, pb = profile(make(a, addresses=HOME)), profile(make(b))
    m1, m2 = compare(pa, pb), compare(pb, pa)
    assert 0.0 <= m1.score <= 1.0
    assert (m1.score, m1.decision) == (m2.score, m2.decision)


@given(names)
def test_a_record_compared_with_itself_is_probable_when_it_has_a_name(name: str) -> None:
    p: MatchProfile = profile(person(name, addresses=HOME))
    m = compare(p, p)
    # a name and an address of its own: probable; without a name only the address speaks
    assert m.decision is (MatchDecision.PROBABLE if p.name else MatchDecision.DISTINCT)
