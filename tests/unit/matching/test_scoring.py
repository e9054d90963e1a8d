"""Comparing two customers: identifiers decide, every other field adds its match weight."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import (
    MatchDecision,
    MatchProfile,
    Reason,
    Thresholds,
    Weights,
    blocking_keys,
    compare,
    profile,
    strong_keys,
)
from custrec.matching.parameters import match_probability
from custrec.model.records import Address, Contact, Customer, CustomerKind, Gender, Identifier
from custrec.model.serialization import structure_with_issues
from custrec.validation import normalize_customer


def person(name: str = "张伟", **extra: Any) -> Customer:
    return Customer(kind=CustomerKind.INDIVIDUAL, name=name, **extra)


def org(name: str, **extra: Any) -> Customer:
    return Customer(kind=CustomerKind.ORGANIZATION, name=name, **extra)


def normalised(data: dict[str, Any]) -> MatchProfile:
    built, _ = structure_with_issues(data, Customer)
    assert built is not None
    return profile(normalize_customer(built, region="CN"))


HOME = (Address(city="北京", street="朝阳路8号"),)
PHONE = (Contact(phones=("+8613800138000",)),)
LANDLINE = (Contact(phones=("+861065529988",)),)

# Round numbers: name "same" weighs log2(0.8 / 0.1) = 3 bits, birth date "same" log2(0.5 / 0.125)
# = 2 bits, birth date "different" log2(0.5 / 0.875) = -0.807 bits; prior 0.2 (odds 1/4).
ROUND = Weights(
    m={"name": (0.8, 0.1, 0.05, 0.02, 0.02, 0.01), "birth_date": (0.5, 0.5)},
    u={"name": (0.1, 0.1, 0.1, 0.1, 0.2, 0.4), "birth_date": (0.125, 0.875)},
    prior=0.2,
    population=1000,
)


def findings(a: Customer, b: Customer) -> list[str]:
    return [f"{r.field}: {r.finding}" for r in compare(profile(a), profile(b)).reasons]


# ------------------------------------------------------------------ the formulas, by hand


def test_a_level_weighs_log2_of_m_over_u() -> None:
    assert ROUND.weight("name", 0) == pytest.approx(3.0)
    assert ROUND.weight("birth_date", 0) == pytest.approx(2.0)
    assert ROUND.weight("birth_date", 1) == pytest.approx(math.log2(0.5 / 0.875))


@pytest.mark.parametrize(
    ("weight", "prior", "probability"),
    [
        (0.0, 0.5, 0.5),  # odds 1 * 1 = 1
        (3.0, 0.2, 2 / 3),  # odds 8 * 1/4 = 2
        (-2.0, 0.5, 0.2),  # odds 1/4 * 1 = 1/4 -> 0.25 / 1.25
        (5.0, 0.2, 8 / 9),  # odds 32 * 1/4 = 8
        (2000.0, 0.5, 1.0),  # no overflow
        (-2000.0, 0.5, 0.0),
    ],
)
def test_the_probability_is_odds_over_one_plus_odds(
    weight: float, prior: float, probability: float
) -> None:
    assert match_probability(weight, prior) == pytest.approx(probability)


def test_compare_adds_the_weights_of_the_fields_and_converts_with_the_prior() -> None:
    a = person("张伟", birth_date=date(1990, 1, 1))
    m = compare(profile(a), profile(a), weights=ROUND)
    assert m.weight == pytest.approx(5.0)  # 3 (name) + 2 (birth date)
    assert m.score == 0.8889  # 8 / 9, rounded to 4 places
    assert [str(r) for r in m.reasons] == ["name: same (+3.0)", "birth_date: same (+2.0)"]
    assert m.reasons[0] == Reason("name", "same", 3.0)


def test_a_frequency_adjusted_weight_is_log2_m_times_population_over_holders() -> None:
    w = Weights(m={"phone": (0.5, 0.1, 0.4)}, u={"phone": (1e-4, 1e-3, 0.9989)}, population=10_000)
    # log2(0.5 / 1e-4) + log2(1e-4 * 10_000 / n) = log2(0.5 * 10_000 / n)
    assert w.adjusted("phone", 0, holders=2) == pytest.approx(math.log2(2500))
    assert w.adjusted("phone", 0, holders=40) == pytest.approx(math.log2(125))
    assert w.adjusted("phone", 0, holders=1) == w.adjusted("phone", 0, holders=2)
    assert w.adjusted("phone", 0, holders=10**6) == 0.0  # agreement never counts against
    assert w.adjusted("phone", 0, holders=40, population=20_000) == pytest.approx(math.log2(250))


def test_a_rare_value_adds_at_most_max_boost_bits() -> None:
    w = Weights(
        m={"name": (0.8, 0.1, 0.05, 0.02, 0.02, 0.01)},
        u={"name": (0.01, 0.01, 0.1, 0.1, 0.2, 0.58)},
    )
    base = math.log2(0.8 / 0.01)
    # log2(0.01 * 20_000 / 2) = log2(100) = 6.64 bits, capped at 3
    assert w.adjusted("name", 0, holders=2, population=20_000) == pytest.approx(base + 3.0)
    assert Weights(max_boost=0).adjusted("name", 0, holders=2) == Weights().weight("name", 0)


def test_a_value_held_by_many_records_weighs_less_in_compare() -> None:
    a, b = profile(person(contacts=PHONE)), profile(person(contacts=PHONE))
    key = ("phone", "+8613800138000")
    alone = compare(a, b, holders={key: 2})
    crowd = compare(a, b, holders={key: 30})
    assert crowd.score < alone.score
    assert crowd.reasons[1].weight == pytest.approx(
        alone.reasons[1].weight - math.log2(15), abs=1e-3
    )
    common = compare(a, b, holders={("blk.name", "p:张伟"): 200})
    assert common.reasons[0].weight < compare(a, b).reasons[0].weight  # 张伟 is common


def test_better_levels_never_weigh_less_and_agreement_never_counts_against() -> None:
    w = Weights(
        m={"name": (0.1, 0.5, 0.2, 0.1, 0.05, 0.05)}, u={"name": (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)}
    )
    assert w.weight("name", 0) == w.weight("name", 1) == pytest.approx(math.log2(5))
    odd = Weights(m={"gender": (0.1, 0.1)}, u={"gender": (0.5, 0.5)})  # not normalised
    assert (odd.weight("gender", 0), odd.weight("gender", 1)) == (0.0, math.log2(0.2))


def test_weights_round_trip_through_a_dict() -> None:
    assert Weights.from_dict(ROUND.to_dict()) == ROUND
    with pytest.raises(ValueError, match="unknown Weights keys"):
        Weights.from_dict({"lambda": 0.1})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"m": {"nickname": (0.5, 0.5)}}, ValueError, "unknown comparison fields: nickname"),
        ({"m": {"gender": (0.5,)}}, ValueError, "gender needs 2 probabilities"),
        ({"u": {"gender": (0.0, 1.0)}}, ValueError, r"must be in \(0, 1\]"),
        ({"u": {"gender": ("a", 1.0)}}, TypeError, "must be numbers"),
        ({"prior": 1.0}, ValueError, "strictly between 0 and 1"),
        ({"population": 1}, ValueError, "at least 2"),
        ({"max_boost": -1}, ValueError, "max_boost"),
    ],
)
def test_bad_weights_are_refused(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Weights(**kwargs)


# --------------------------------------------------------------------- evidence by strength


def test_a_shared_mobile_no_longer_decides_on_its_own() -> None:
    m = compare(profile(person("张伟", contacts=PHONE)), profile(person("李娜", contacts=PHONE)))
    assert m.decision is not MatchDecision.SAME
    assert [f"{r.field}: {r.finding}" for r in m.reasons][-1] == "phone: same"


def test_a_shared_landline_weighs_less_than_a_shared_mobile() -> None:
    mobile = compare(profile(person(contacts=PHONE)), profile(person(contacts=PHONE)))
    landline = compare(profile(person(contacts=LANDLINE)), profile(person(contacts=LANDLINE)))
    assert landline.reasons[-1].finding == "same landline"
    assert 0 < landline.reasons[-1].weight < mobile.reasons[-1].weight


def test_a_shared_role_mailbox_weighs_less_than_a_personal_one() -> None:
    def shared(email: str) -> Reason:
        c = person(contacts=(Contact(emails=(email,)),))
        return compare(profile(c), profile(c)).reasons[-1]

    role, personal = shared("info@example.com"), shared("zhang.wei@example.com")
    assert (role.finding, personal.finding) == ("same role mailbox", "same")
    assert 0 < role.weight < personal.weight
    assert shared("No-Reply2@example.com").finding == "same role mailbox"


def test_the_three_companies_of_the_issue() -> None:
    def company(**data: Any) -> MatchProfile:
        return normalised({"kind": "organization", "name": "上海明华贸易有限公司", **data})

    a = company(
        identifiers=[{"scheme": "CN-USCC", "value": "91110000600037341L"}],
        contacts=[{"phones": ["021-5234 5678"]}],
    )
    b = company(contacts=[{"phones": ["021-5234 5678", "021-9876 5432"]}])
    c = company(
        identifiers=[{"scheme": "CN-USCC", "value": "91110000710926094P"}],
        contacts=[{"phones": ["021-9876 5432"]}],
    )
    for left, right in ((a, b), (b, c)):
        m = compare(left, right)
        assert m.decision is not MatchDecision.SAME
        assert "phone: same landline" in [f"{r.field}: {r.finding}" for r in m.reasons]
    ac = compare(a, c)
    assert (ac.decision, ac.score) == (MatchDecision.DISTINCT, 0.0)
    assert str(ac.reasons[0]).startswith("uscc: different (-")
    assert all("5234" not in str(r) and "9111" not in str(r) for r in ac.reasons)


def test_a_shared_government_id_decides_same() -> None:
    ric = (Identifier(scheme="CN-RIC", value="11010519491231002X"),)
    m = compare(profile(person("张伟", identifiers=ric)), profile(person("李娜", identifiers=ric)))
    assert (m.decision, m.score) == (MatchDecision.SAME, 1.0)
    assert str(m.reasons[0]).startswith("ric: same (+")


def test_different_resident_ids_decide_distinct_whatever_else_agrees() -> None:
    a = person(
        contacts=PHONE,
        addresses=HOME,
        identifiers=(Identifier(scheme="CN-RIC", value="11010519491231002X"),),
    )
    b = attrs_evolve_ids(a, "110105194912310029")
    m = compare(profile(a), profile(b))
    assert (m.decision, m.score) == (MatchDecision.DISTINCT, 0.0)
    assert "ric: different" in [f"{r.field}: {r.finding}" for r in m.reasons]


def attrs_evolve_ids(c: Customer, ric: str) -> Customer:
    return Customer(
        kind=c.kind,
        name=c.name,
        contacts=c.contacts,
        addresses=c.addresses,
        identifiers=(Identifier(scheme="CN-RIC", value=ric),),
    )


def test_where_and_how_to_reach_someone_counts_once() -> None:
    family = (Contact(phones=("+8613800138000",)),)
    a = person("张伟", contacts=family, addresses=HOME)
    b = person("张丽华", contacts=family, addresses=HOME)  # a mother at home, on the family phone
    m = compare(profile(a), profile(b))
    w = Weights()
    assert [str(r) for r in m.reasons][1:] == [
        "address: same, counted in phone (+0.0)",
        f"phone: same ({w.weight('phone', 0):+.1f})",
    ]
    assert m.weight == pytest.approx(w.weight("name", 4) + w.weight("phone", 0), abs=2e-3)
    assert m.decision is not MatchDecision.PROBABLE
    both = compare(profile(a), profile(b), weights=Weights(contact_once=False))
    assert both.weight == pytest.approx(m.weight + w.weight("address", 0), abs=2e-3)
    assert both.decision is MatchDecision.PROBABLE


def test_a_contact_disagreement_still_counts_in_full() -> None:
    a = person("张伟", contacts=PHONE, addresses=HOME)
    b = person("张伟", contacts=(Contact(phones=("+8613900139000",)),), addresses=HOME)
    found = {r.field: r.weight for r in compare(profile(a), profile(b)).reasons}
    assert found["phone"] == pytest.approx(Weights().weight("phone", 2), abs=1e-3)
    assert found["phone"] < 0


@pytest.mark.parametrize(
    ("left", "right", "finding"),
    [
        ("张伟", "张玮", "one character (0.67)"),
        ("张伟", "张丽华", "partly (0.61)"),
        ("张伟", "李娜", "different (0.00)"),
        ("欧阳娜娜", "欧阳娜妮", "0.88"),
        ("wei zhang", "wei zhao", "0.93"),
    ],
)
def test_name_levels(left: str, right: str, finding: str) -> None:
    m = compare(profile(person(left)), profile(person(right)))
    assert (m.reasons[0].field, m.reasons[0].finding) == ("name", finding)


# ------------------------------------------------------------------ the usual cases, explained


def test_same_name_and_address_is_probable_with_weighted_reasons() -> None:
    m = compare(
        profile(person("Zhang Wei", addresses=HOME)), profile(person("WEI ZHANG", addresses=HOME))
    )
    assert m.decision is MatchDecision.PROBABLE
    assert m.score >= Thresholds().probable
    w = Weights()
    assert m.reasons == (
        Reason("name", "same", round(w.weight("name", 0), 3)),
        Reason("address", "same", round(w.weight("address", 0), 3)),
    )
    assert m.score == round(w.probability(w.weight("name", 0) + w.weight("address", 0)), 4)


def test_full_width_digits_in_the_street_do_not_matter() -> None:
    other = (Address(city="北京", district="朝阳区", street="朝阳路８号"),)
    assert findings(person(addresses=HOME), person(addresses=other)) == [
        "name: same",
        "address: same",
    ]


def test_same_name_at_another_address_is_not_probable() -> None:
    away = (Address(city="北京", street="长安街100号"),)
    m = compare(profile(person(addresses=HOME)), profile(person(addresses=away)))
    assert m.decision is MatchDecision.DISTINCT
    assert "address: different" in [f"{r.field}: {r.finding}" for r in m.reasons]


def test_same_name_alone_is_only_possible() -> None:
    assert compare(profile(person()), profile(person())).decision is MatchDecision.POSSIBLE


def test_a_different_birth_date_or_sex_counts_against() -> None:
    a = person(addresses=HOME, birth_date=date(1990, 1, 1), gender=Gender.MALE)
    b = person(addresses=HOME, birth_date=date(1991, 1, 1), gender=Gender.FEMALE)
    m = compare(profile(a), profile(b))
    assert m.decision is not MatchDecision.PROBABLE
    found = {f"{r.field}: {r.finding}": r.weight for r in m.reasons}
    assert found["birth_date: different"] < 0 and found["gender: different"] < 0


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
    assert "region: different" in [f"{r.field}: {r.finding}" for r in m.reasons]


def test_a_person_never_matches_an_organisation() -> None:
    m = compare(profile(person("华为", contacts=PHONE)), profile(org("华为", contacts=PHONE)))
    assert (m.decision, m.score) == (MatchDecision.DISTINCT, 0.0)
    assert [str(r) for r in m.reasons] == ["kind: different (+0.0)"]


def test_thresholds_are_probabilities_and_weights_configurable() -> None:
    a, b = profile(person()), profile(person())
    p = compare(a, b).score
    assert compare(a, b, thresholds=Thresholds(probable=p, possible=p)).decision is (
        MatchDecision.PROBABLE
    )
    rare_names_only = Weights(u={"name": (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)})
    assert compare(a, b, weights=rare_names_only).decision is MatchDecision.DISTINCT


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
    # an id of its own: a random one may hold the digits "138" the phone is checked for
    fixed = "01890000-0000-7000-8000-000000000001"
    p = profile(person("欧阳娜娜", id=fixed, contacts=PHONE, addresses=HOME))
    assert "娜" not in repr(p) and "138" not in repr(p) and "朝阳" not in repr(p)
    m = compare(p, p)
    assert "娜" not in repr(m) and "138" not in repr(m)
    assert all("娜" not in str(r) and "138" not in str(r) for r in m.reasons)


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


# ------------------------------------------------------------------------------- properties

names = st.text(alphabet=st.sampled_from("张王李伟娜 abcZW·（）()有限公司8８"), max_size=12)
phones = st.sampled_from(["+8613800138000", "+8613900139000", "+861065529988"])
emails = st.sampled_from(["info@example.com", "zw@example.com", "ln@example.org"])
days = st.dates(min_value=date(1950, 1, 1), max_value=date(1950, 1, 3))


@st.composite
def customers(draw: st.DrawFn) -> Customer:
    return person(
        draw(names),
        birth_date=draw(st.none() | days),
        gender=draw(st.sampled_from([None, Gender.MALE, Gender.FEMALE])),
        contacts=(
            Contact(
                phones=tuple(draw(st.sets(phones, max_size=2))),
                emails=tuple(draw(st.sets(emails, max_size=2))),
            ),
        ),
        addresses=draw(st.sampled_from([(), HOME, (Address(city="北京", street="长安街1号"),)])),
    )


holders = st.dictionaries(
    st.sampled_from([("phone", "+8613800138000"), ("email", "info@example.com")]),
    st.integers(1, 500),
)


@given(customers(), customers(), holders)
def test_compare_is_symmetric_and_bounded(a: Customer, b: Customer, held: dict[Any, int]) -> None:
    pa, pb = profile(a), profile(b)
    m1, m2 = compare(pa, pb, holders=held), compare(pb, pa, holders=held)
    assert 0.0 <= m1.score <= 1.0
    assert (m1.score, m1.decision, m1.weight) == (m2.score, m2.decision, m2.weight)
    assert sorted(map(str, m1.reasons)) == sorted(map(str, m2.reasons))


@given(customers(), customers(), holders, st.sampled_from(["birth", "phone", "email", "both"]))
def test_adding_agreeing_evidence_never_lowers_the_probability(
    a: Customer, b: Customer, held: dict[Any, int], what: str
) -> None:
    before = compare(profile(a), profile(b), holders=held)

    def more(c: Customer) -> Customer:
        contact = c.contacts[0]
        assert isinstance(contact, Contact)
        if what == "birth":
            return Customer(**{**_fields(c), "birth_date": date(1949, 12, 31)})
        extra = Contact(
            phones=(*contact.phones, "+8618600186000") if what != "email" else contact.phones,
            emails=(*contact.emails, "new@example.net") if what != "phone" else contact.emails,
        )
        return Customer(**{**_fields(c), "contacts": (extra,)})

    if what == "birth" and (a.birth_date or b.birth_date):
        return  # agreeing on a birth date neither knew is the evidence added here
    after = compare(profile(more(a)), profile(more(b)), holders=held)
    assert after.score >= before.score
    assert after.decision.rank >= before.decision.rank


def _fields(c: Customer) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "name": c.name,
        "birth_date": c.birth_date,
        "gender": c.gender,
        "contacts": c.contacts,
        "addresses": c.addresses,
    }


@given(names)
def test_a_record_compared_with_itself_is_probable_when_it_has_a_name(name: str) -> None:
    p: MatchProfile = profile(person(name, addresses=HOME))
    m = compare(p, p)
    # a name and an address of its own: probable; without a name only the address speaks
    assert m.decision is (MatchDecision.PROBABLE if p.name else MatchDecision.POSSIBLE)


@pytest.mark.parametrize("not_a_customer", [None, {"kind": "individual", "name": "x"}, "x"])
def test_a_profile_is_of_a_customer_only(not_a_customer: object) -> None:
    """A rejected ``parse_customer`` leaves ``record`` as ``None``: profiling it says so."""
    with pytest.raises(TypeError, match="profile\\(\\) takes a Customer"):
        profile(not_a_customer)  # type: ignore[arg-type]
