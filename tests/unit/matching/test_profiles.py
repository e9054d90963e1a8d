"""Batch clustering's fast paths equal the reference: one-pass profiles (from a record or a
stored document) equal the separate profile and key functions, and ``decide`` gives
``compare``'s decision and score."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.matching import Thresholds, Weights, blocking_keys, compare, profile, strong_keys
from custrec.matching._profiles import document_profile, profile_and_keys
from custrec.matching.scoring import decide
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Gender,
    Identifier,
)
from custrec.model.serialization import make_converter
from custrec.services._match_profiles import stored_profiles
from custrec.testing.synthetic import hard_labelled_customers
from custrec.validation import parse_customer

_PIECES = (
    "张",
    "伟",
    "王",
    "欧阳",
    "Zhang",
    "WEI",
    "ｗｅｉ",
    "１２",
    "北京",
    "上海市",
    "（北京）",
    "(深圳)",
    "科技",
    "网络科技",
    "有限公司",
    "股份有限公司",
    "集团",
    "Co., Ltd.",
    "Inc",
    "·",
    "-",
    ",",
    " ",
    "  ",
    "\u200b",
    "é",
    "e\u0301",
    "ß",
    "朝阳路",
    "8号",
    "８号",
    "",
)

texts = st.lists(st.sampled_from(_PIECES), max_size=6).map("".join)
optional_texts = st.none() | texts


@st.composite
def customers(draw: st.DrawFn) -> Customer:
    kind = draw(st.sampled_from(list(CustomerKind)))
    identifiers = draw(
        st.lists(
            st.builds(
                Identifier,
                scheme=st.sampled_from(["CN-USCC", "CN-RIC", "PASSPORT", "EXTERNAL", "tax", "x"]),
                value=st.sampled_from(["", "91110000600037341l", "A12", "a12", "42", "x"]),
                system=st.none() | st.sampled_from(["", "crm", "erp"]),
            ),
            max_size=3,
        )
    )
    contacts = draw(
        st.lists(
            st.builds(
                Contact,
                phones=st.lists(
                    st.sampled_from(["", "+8613800138000", "+862152345678", "+8613900139000"]),
                    max_size=3,
                ),
                emails=st.lists(
                    st.sampled_from(["", "Info@Acme.CN", "info@acme.cn", "wei@qq.com", "ß@x.de"]),
                    max_size=2,
                ),
            ),
            max_size=2,
        )
    )
    addresses = draw(
        st.lists(st.builds(Address, city=optional_texts, street=optional_texts), max_size=5)
    )
    return Customer(
        id=draw(st.sampled_from(["a", "b", "c1"])),
        kind=kind,
        name=draw(texts),
        gender=draw(st.none() | st.sampled_from(list(Gender))),
        birth_date=draw(st.none() | st.dates(min_value=date(1900, 1, 1))),
        identifiers=tuple(identifiers),
        contacts=tuple(contacts),
        addresses=tuple(addresses),
    )


def separately(customer: Customer) -> tuple[Any, Any]:
    return profile(customer), strong_keys(customer) | blocking_keys(customer)


@settings(max_examples=300, deadline=None)
@given(customers())
def test_one_pass_equals_the_separate_functions(customer: Customer) -> None:
    assert profile_and_keys(customer) == separately(customer)


@settings(max_examples=300, deadline=None)
@given(customers())
def test_a_stored_document_gives_the_same_profile(customer: Customer) -> None:
    document = make_converter().unstructure(customer)
    assert document_profile(document) == separately(customer)


def test_an_unexpected_document_is_left_to_the_full_path() -> None:
    document = make_converter().unstructure(
        Customer(kind=CustomerKind.INDIVIDUAL, name="Zhang Wei")
    )
    assert document_profile(document) is not None
    for field, value in (
        ("name", None),
        ("kind", "robot"),
        ("gender", "none of these"),
        ("birth_date", "1 May"),
        ("contacts", [{"phones": [1]}]),
        ("identifiers", [{"scheme": "CN-RIC", "value": None}]),
        ("addresses", ["somewhere"]),
    ):
        assert document_profile({**document, field: value}) is None, field


def test_stored_profiles_equal_the_profiles_of_the_opened_customers() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    actor = Actor(id="t", roles={"admin"})
    records = [
        {**r.data, "id": f"r{n:04d}"} for n, r in enumerate(hard_labelled_customers(300, seed=2))
    ]
    registry.customers.intake_many(records, actor=actor, allow_duplicates=True)
    service = registry.matching
    context, stored = service._context, service._records
    expected = [separately(c) for c in stored.every_customer(50)]
    assert list(stored_profiles(context, stored, 50)) == expected
    assert list(stored_profiles(context, stored, 7)) == expected
    assert len(expected) == len(records)
    assert expected == [
        separately(parse_customer(r).record) for r in sorted(records, key=lambda r: r["id"])
    ]


@settings(max_examples=300, deadline=None)
@given(customers(), customers())
def test_decide_gives_compares_decision_and_score(left: Customer, right: Customer) -> None:
    a, b = profile(left), profile(right)
    for weights in (Weights(), Weights(contact_once=False)):
        full = compare(a, b, weights=weights)
        assert decide(a, b, weights=weights) == (full.decision, full.score)


def test_decide_agrees_with_compare_on_the_harder_set() -> None:
    found = [
        profile(parse_customer({**r.data, "id": f"h{n}"}).record)
        for n, r in enumerate(hard_labelled_customers(400, seed=4))
    ]
    thresholds = Thresholds(probable=0.9, possible=0.2)
    pairs = [*pairwise(found), *zip(found, found[7:], strict=False)]
    for a, b in pairs:
        full = compare(a, b, thresholds=thresholds)
        assert decide(a, b, thresholds=thresholds) == (full.decision, full.score)
