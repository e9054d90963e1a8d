"""The harder labelled set (traps real data sets) and precision and recall per case type."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import ClusterRun, DuplicateCluster, MatchDecision
from custrec.matching.normalize import org_name
from custrec.model.records import Customer
from custrec.testing._synthetic import tables
from custrec.testing._synthetic.generator import _Generator
from custrec.testing.synthetic import (
    CASE_TYPES,
    HARD_VARIANTS,
    Label,
    LabelledRecord,
    case_metrics,
    hard_labelled_customers,
    labelled_customers,
    pair_metrics,
)
from custrec.validation import parse_customer

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> list[LabelledRecord]:
    return list(hard_labelled_customers(5_000, seed=5))


@pytest.fixture(scope="module")
def parsed(sample: list[LabelledRecord]) -> list[Customer]:
    customers = []
    for record in sample:
        result = parse_customer(record.data, as_of=NOW)
        assert result.record is not None and not result.report.issues, str(result.report)
        customers.append(result.record)
    return customers


def _originals(sample: list[LabelledRecord], parsed: list[Customer]) -> list[tuple[int, Customer]]:
    return [(i, c) for i, c in enumerate(parsed) if sample[i].variant == "original"]


def _phones(c: Customer) -> set[str]:
    return {p for contact in c.contacts for p in contact.phones}


def _emails(c: Customer) -> set[str]:
    return {e.casefold() for contact in c.contacts for e in contact.emails}


def _uscc(c: Customer) -> set[str]:
    return {i.value for i in c.identifiers if i.scheme == "CN-USCC"}


def _street(c: Customer) -> tuple[str | None, str] | None:
    a = c.addresses[0] if c.addresses else None
    return (a.city, "".join((a.street or "").split())) if a else None


def test_the_hard_set_is_deterministic_and_every_record_parses(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    assert len(parsed) == 5_000
    assert list(hard_labelled_customers(500, seed=5)) == list(hard_labelled_customers(500, seed=5))
    assert list(hard_labelled_customers(500, seed=6)) != list(hard_labelled_customers(500, seed=5))


def test_every_case_type_occurs_and_records_say_which_they_are(
    sample: list[LabelledRecord],
) -> None:
    seen = Counter(case for r in sample for case in r.cases)
    assert set(seen) == set(CASE_TYPES)
    assert {p for r in sample for p in r.variant.split("+")} == set(HARD_VARIANTS)
    for r in sample:
        variants = () if r.variant == "original" else tuple(r.variant.split("+"))
        assert r.cases[len(r.cases) - len(variants) :] == variants
        assert r.label == Label(r.entity, r.cases)
    # the traps are frequent enough to measure
    for trap in ("namesake", "family_phone", "switchboard", "shared_email", "other_city"):
        assert seen[trap] >= 40, trap


def test_the_default_set_labels_its_cases_too() -> None:
    records = list(labelled_customers(2_000, seed=7))
    cases = {case for r in records for case in r.cases}
    assert {"namesake", "other_city", "typo"} <= cases <= set(CASE_TYPES)
    assert not cases & {"switchboard", "shared_email", "family_phone", "missing_id"}


def test_records_of_one_entity_are_always_linked(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    by_entity: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(sample):
        by_entity[r.entity].append(i)
    for positions in by_entity.values():
        for a, b in itertools.combinations(positions, 2):
            ca, cb = parsed[a], parsed[b]
            strong = _phones(ca) & _phones(cb) or _emails(ca) & _emails(cb)
            strong = strong or set(ca.identifiers) & set(cb.identifiers)
            assert strong or (_street(ca) and _street(ca) == _street(cb)), (a, b)


def test_missing_id_copies_lose_the_identifier(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    first = {}
    for i, r in enumerate(sample):
        first.setdefault(r.entity, i)
        if "missing_id" in r.variant:
            assert parsed[first[r.entity]].identifiers and not parsed[i].identifiers


def test_namesakes_differ_in_birth_date_and_home(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    earlier: dict[str, list[Customer]] = defaultdict(list)
    checked = 0
    for i, c in _originals(sample, parsed):
        name = " ".join(sorted(c.name.lower().split()))
        if "namesake" in sample[i].cases:
            # always a birth date and a home, in the city of an earlier person of that name
            assert c.birth_date is not None and c.addresses
            city = c.addresses[0].city
            others = [o for o in earlier[name] if not o.addresses or o.addresses[0].city == city]
            assert others, "a namesake has an earlier entity of that name"
            if len(others) == 1:
                (other,) = others
                assert other.birth_date != c.birth_date
                assert not other.addresses or _street(other) != _street(c)
            checked += 1
        earlier[name].append(c)
    assert checked >= 100


def test_shared_switchboards_and_mailboxes_bridge_distinct_companies(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    holders: dict[str, set[str]] = defaultdict(set)
    for r, c in zip(sample, parsed, strict=True):
        for key in _phones(c) | _emails(c):
            holders[key].add(r.entity)
    shared = {key for key, entities in holders.items() if len(entities) > 1}
    assert any(key.startswith("+86") and not key.startswith("+861") for key in shared)  # landline
    assert any(
        key.split("@")[0] in ("info", "service", "office", "contact", "hr", "sales")
        for key in shared
        if "@" in key
    )
    # chains through shared values reach companies with different credit codes
    entity_of = {}
    groups: dict[str, set[int]] = defaultdict(set)
    for i, (r, c) in enumerate(zip(sample, parsed, strict=True)):
        entity_of[i] = r.entity
        for key in (_phones(c) | _emails(c)) & shared:
            groups[key].add(i)
    conflicting = 0
    for members in groups.values():
        codes = {code for i in members for code in _uscc(parsed[i])}
        conflicting += len(codes) > 1
    assert conflicting >= 20
    # and the companies on one switchboard share name tokens (a group's core name)
    for i, r in enumerate(sample):
        if "switchboard" in r.cases and r.variant == "original":
            mates = [
                j
                for key in _phones(parsed[i]) & shared
                for j in groups[key]
                if entity_of[j] != r.entity
            ]
            assert mates
            assert any(
                len(set(parsed[i].name) & set(parsed[j].name) - set("有限责任公司股份")) >= 2
                for j in mates
            )


def test_family_phones_are_shared_at_one_home(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    by_phone: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(parsed):
        for p in _phones(c):
            by_phone[p].append(i)
    for i, r in enumerate(sample):
        if "family_phone" in r.cases and r.variant == "original":
            others = [
                j for p in _phones(parsed[i]) for j in by_phone[p] if sample[j].entity != r.entity
            ]
            assert any(_street(parsed[j]) == _street(parsed[i]) for j in others)


# ------------------------------------------------------------------------------ case metrics


def test_case_metrics_by_hand() -> None:
    truth = {
        "a": Label("E1"),
        "b": Label("E1", ("typo",)),
        "c": Label("E1", ("full_width",)),
        "d": Label("E2", ("switchboard",)),
        "e": Label("E3", ("switchboard",)),
        "f": Label("E4"),
    }
    m = case_metrics([["a", "b", "d"], ["e", "f"]], truth)
    # predicted pairs: ab (true), ad, bd, ef; true pairs: ab, ac, bc
    assert (m.overall.true_positives, m.overall.false_positives, m.overall.false_negatives) == (
        1,
        3,
        2,
    )
    typo, full_width, board = m.by_case["typo"], m.by_case["full_width"], m.by_case["switchboard"]
    assert (typo.true_positives, typo.false_positives, typo.false_negatives) == (1, 1, 1)
    assert (full_width.precision, full_width.recall) == (1.0, 0.0)  # nothing predicted, ac/bc lost
    assert (board.true_positives, board.false_positives, board.precision) == (0, 3, 0.0)
    assert m.by_case["plain"].false_positives == 0  # a-f never predicted
    assert "switchboard" in m.table() and "overall" in m.table()


def test_case_metrics_take_a_cluster_run() -> None:
    truth = {"a": Label("E1"), "b": Label("E1", ("typo",))}
    cluster = DuplicateCluster(ids=("a", "b"), matches=(), decision=MatchDecision.PROBABLE)
    run = ClusterRun(
        clusters=(cluster,),
        records=2,
        blocks=1,
        comparisons_planned=1,
        comparisons=1,
        stop_keys=(),
        decision=MatchDecision.PROBABLE,
    )
    assert case_metrics(run, truth).by_case["typo"].f1 == 1.0


CASES = ("typo", "namesake", "switchboard")


@given(
    st.lists(
        st.tuples(
            st.integers(0, 4), st.sets(st.sampled_from(CASES), max_size=2), st.integers(0, 5)
        ),
        min_size=1,
        max_size=14,
    )
)
def test_case_metrics_agree_with_counting_every_pair(
    rows: list[tuple[int, set[str], int]],
) -> None:
    truth = {f"r{i}": Label(f"E{e}", tuple(sorted(cases))) for i, (e, cases, _) in enumerate(rows)}
    clusters: dict[int, list[str]] = defaultdict(list)
    for i, (_, _, c) in enumerate(rows):
        clusters[c].append(f"r{i}")
    m = case_metrics(clusters.values(), truth)
    assert m.overall == pair_metrics(clusters.values(), {k: v.entity for k, v in truth.items()})
    cluster_of = {rid: c for c, ids in clusters.items() for rid in ids}
    for case in {*CASES, "plain"}:
        tp = fp = fn = 0
        for x, y in itertools.combinations(truth, 2):
            cx, cy = truth[x].cases or ("plain",), truth[y].cases or ("plain",)
            if case == "plain":
                if cx != ("plain",) or cy != ("plain",):
                    continue
            elif case not in cx and case not in cy:
                continue
            together = cluster_of[x] == cluster_of[y]
            same = truth[x].entity == truth[y].entity
            tp += together and same
            fp += together and not same
            fn += same and not together
        if case in m.by_case:
            got = m.by_case[case]
            assert (got.true_positives, got.false_positives, got.false_negatives) == (tp, fp, fn)
        else:
            assert tp == fp == fn == 0


@given(st.integers(0, 2**32))
def test_every_switchboard_number_is_a_valid_fixed_line(seed: int) -> None:
    gen = _Generator(random.Random(seed), hard=True)
    for city, _ in itertools.product(tables._CITIES.items, range(5)):
        number = gen.landline(city)
        parsed = phonenumbers.parse(number, "CN")
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE


def test_companies_on_one_switchboard_are_distinct_businesses(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    # a sibling company never takes the name (core and trade) of another company of its group:
    # that would be a legal-form re-entry, not another company
    names: dict[str, dict[str, str]] = defaultdict(dict)  # landline -> entity -> core name
    for r, c in zip(sample, parsed, strict=True):
        if r.variant != "original":
            continue
        for p in _phones(c):
            if not p.startswith("+861"):  # a fixed line
                names[p][r.entity] = org_name(c.name).core
    shared = [cores for cores in names.values() if len(cores) > 1]
    assert len(shared) >= 20
    for cores in shared:
        assert len(set(cores.values())) == len(cores), cores
