"""The labelled synthetic customer generator and the pairwise clustering metrics."""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from custrec.model.records import Customer, CustomerKind, IdentifierScheme
from custrec.testing._synthetic import tables
from custrec.testing.synthetic import (
    VARIANTS,
    LabelledRecord,
    PairMetrics,
    labelled_customers,
    pair_metrics,
)
from custrec.validation import parse_customer, phone

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SAMPLE_SIZE = 5_000


@pytest.fixture(scope="module")
def sample() -> list[LabelledRecord]:
    return list(labelled_customers(SAMPLE_SIZE, seed=11))


@pytest.fixture(scope="module")
def parsed(sample: list[LabelledRecord]) -> list[Customer]:
    customers = []
    for record in sample:
        result = parse_customer(record.data, as_of=NOW)
        assert result.record is not None, str(result.report)
        customers.append(result.record)
    return customers


def _by_entity(sample: list[LabelledRecord]) -> dict[str, list[int]]:
    positions: dict[str, list[int]] = defaultdict(list)
    for position, record in enumerate(sample):
        positions[record.entity].append(position)
    return positions


def _strong_keys(customer: Customer) -> set[tuple[str, str]]:
    keys = {("id", f"{i.scheme}:{i.value}") for i in customer.identifiers}
    for contact in customer.contacts:
        keys |= {("phone", p) for p in contact.phones}
        keys |= {("email", e.casefold()) for e in contact.emails}
    return keys


def _street_keys(customer: Customer) -> set[tuple[str | None, str]]:
    return {(a.city, re.sub(r"\s", "", a.street or "")) for a in customer.addresses if a.street}


def _folded_name(name: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", name)).casefold()


# ------------------------------------------------------------------------------- generation


def test_the_same_seed_gives_the_same_records() -> None:
    first = list(labelled_customers(800, seed=5))
    assert first == list(labelled_customers(800, seed=5))
    assert first != list(labelled_customers(800, seed=6))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 300, 1_234])
@pytest.mark.parametrize("share", [0.0, 0.2, 0.6])
def test_exactly_n_records_are_yielded(n: int, share: float) -> None:
    records = list(labelled_customers(n, seed=n, duplicate_share=share, window=50))
    assert len(records) == n
    if share == 0.0:
        assert all(r.variant == "original" for r in records)


def test_the_stream_is_lazy() -> None:
    """A trillion-record stream starts at once: records are made entity by entity."""
    head = list(itertools.islice(labelled_customers(10**12, seed=1), 50))
    assert len(head) == 50
    assert head[0].variant == "original"


def test_every_record_parses_without_any_issue(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    for record in sample[:2_500]:
        report = parse_customer(record.data, as_of=NOW).report
        assert not report.issues, (record.variant, str(report))
    assert len(parsed) == len(sample)


def test_phones_are_valid_chinese_mobiles(parsed: list[Customer]) -> None:
    phones = [p for c in parsed for contact in c.contacts for p in contact.phones]
    assert len(phones) == len(parsed)
    assert all(p.startswith("+861") and phone.is_mobile(p) for p in phones[:1_000])


def test_the_population_mix(sample: list[LabelledRecord], parsed: list[Customer]) -> None:
    originals = [c for r, c in zip(sample, parsed, strict=True) if r.variant == "original"]
    people = [c for c in originals if c.kind is CustomerKind.INDIVIDUAL]
    orgs = [c for c in originals if c.kind is CustomerKind.ORGANIZATION]
    assert 0.65 < len(people) / len(originals) < 0.75
    with_email = sum(bool(c.contacts[0].emails) for c in people) / len(people)
    with_address = sum(bool(c.addresses) for c in people) / len(people)
    with_ric = sum(any(i.scheme == IdentifierScheme.RIC for i in c.identifiers) for c in people)
    with_uscc = sum(any(i.scheme == IdentifierScheme.USCC for i in c.identifiers) for c in orgs)
    assert 0.5 < with_email < 0.7
    assert 0.7 < with_address < 0.9
    assert 0.15 < with_ric / len(people) < 0.25
    assert 0.6 < with_uscc / len(orgs) < 0.8
    pinyin = sum(c.name.isascii() for c in people) / len(people)
    assert 0.1 < pinyin < 0.2
    assert all(c.contacts[0].name and c.industry and c.addresses for c in orgs)


def test_the_duplicate_share_is_roughly_right(sample: list[LabelledRecord]) -> None:
    copies = sum(r.variant != "original" for r in sample)
    assert 0.17 < copies / len(sample) < 0.23
    half = list(labelled_customers(3_000, seed=2, duplicate_share=0.5))
    assert 0.46 < sum(r.variant != "original" for r in half) / len(half) < 0.54


def test_copies_follow_their_original_within_the_window(sample: list[LabelledRecord]) -> None:
    adjacent = 0
    for positions in _by_entity(sample).values():
        first, *copies = positions
        assert sample[first].variant == "original"
        assert len(copies) <= 3
        assert all(sample[p].variant != "original" for p in copies)
        assert all(0 < p - first <= 330 for p in copies)
        adjacent += sum(p == first + 1 for p in copies)
    total = sum(r.variant != "original" for r in sample)
    assert 0.03 < adjacent / total < 0.3  # sometimes adjacent, mostly not


def test_every_variant_occurs(sample: list[LabelledRecord]) -> None:
    seen = Counter(part for r in sample for part in r.variant.split("+"))
    assert set(seen) == set(VARIANTS)
    assert all(1 <= len(r.variant.split("+")) <= 2 for r in sample)
    combined = sum("+" in r.variant for r in sample) / sum(r.variant != "original" for r in sample)
    assert 0.3 < combined < 0.5


def test_records_of_one_entity_are_always_linked(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    """Any two records of an entity share a strong key or a street; many copies share no key."""
    without_strong_key = copies = 0
    for positions in _by_entity(sample).values():
        for a, b in itertools.combinations(positions, 2):
            ca, cb = parsed[a], parsed[b]
            shared = _strong_keys(ca) & _strong_keys(cb)
            assert shared or _street_keys(ca) & _street_keys(cb), (sample[a], sample[b])
            if a == positions[0]:
                copies += 1
                without_strong_key += not shared
    assert 0.1 < without_strong_key / copies < 0.3


def test_names_of_copies_stay_close(sample: list[LabelledRecord]) -> None:
    for positions in _by_entity(sample).values():
        original = sample[positions[0]]
        for p in positions[1:]:
            copy = sample[p]
            a, b = _folded_name(original.data["name"]), _folded_name(copy.data["name"])
            if "typo" in copy.variant or "legal_form" in copy.variant:
                assert len(set(a) ^ set(b)) <= 8
            elif "swapped_name" in copy.variant:
                assert sorted(a) == sorted(b)
            else:
                assert a == b


def test_perturbations_do_what_they_say(
    sample: list[LabelledRecord], parsed: list[Customer]
) -> None:
    by_entity = _by_entity(sample)
    for positions in by_entity.values():
        original, first = sample[positions[0]], parsed[positions[0]]
        for p in positions[1:]:
            copy, customer = sample[p], parsed[p]
            if "swapped_name" in copy.variant and "typo" not in copy.variant:
                assert original.data["name"].split()[::-1] == _nfkc(copy.data["name"]).split()
            if "changed_phone" in copy.variant:
                assert customer.contacts[0].phones != first.contacts[0].phones
                kept = bool(set(customer.contacts[0].emails) & set(first.contacts[0].emails))
                kept_id = bool(set(customer.identifiers) & set(first.identifiers))
                assert not (kept and kept_id)
            if "full_width" in copy.variant:
                assert _has_full_width(json.dumps(copy.data, ensure_ascii=False))
            if "legal_form" in copy.variant:
                assert copy.data["kind"] == "organization"


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _has_full_width(text: str) -> bool:
    """Full-width ASCII forms, other than the brackets of organisation names."""
    return any(0xFF01 <= ord(ch) <= 0xFF5E and ch not in "（）" for ch in text)


def test_hard_negatives_exist(sample: list[LabelledRecord], parsed: list[Customer]) -> None:
    people: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    orgs: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    cities = {c.addresses[0].city for c in parsed if c.addresses}
    shorts = sorted({str(city).removesuffix("市") for city in cities}, key=len, reverse=True)
    for record, customer in zip(sample, parsed, strict=True):
        if record.variant != "original":
            continue
        city = customer.addresses[0].city if customer.addresses else None
        if customer.kind is CustomerKind.INDIVIDUAL:
            people[(_folded_name(customer.name), city)].add(record.entity)
        else:
            core = re.sub("|".join(shorts), "", customer.name).replace("()", "")
            orgs[core].add((record.entity, city))
    namesakes = [key for key, entities in people.items() if key[1] and len(entities) > 1]
    assert len(namesakes) >= 50
    assert max(len(people[key]) for key in namesakes) >= 4  # several 张伟 in one city
    same_core_elsewhere = [
        core for core, found in orgs.items() if len({city for _, city in found}) > 1
    ]
    assert len(same_core_elsewhere) >= 50


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n must"):
        labelled_customers(-1)
    with pytest.raises(ValueError, match="duplicate_share"):
        labelled_customers(10, duplicate_share=0.9)
    with pytest.raises(ValueError, match="window"):
        labelled_customers(10, window=0)


def test_the_name_tables_are_complete() -> None:
    chars = set(tables._CORE_CHARS)
    for male in (True, False):
        chars |= set(tables._GIVEN_CHARS[male])
        chars |= set("".join(tables._COMMON_GIVEN[male].items))
    assert chars <= set(tables._PINYIN)
    assert chars <= set(tables._SIMILAR)  # every character can take a typo
    assert all(key not in similar for key, similar in tables._SIMILAR.items())
    assert set(tables._SURNAMES.items) <= set(tables._PINYIN)


# ---------------------------------------------------------------------------------- metrics

TRUTH = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "c1": "C"}  # 3 + 1 true pairs


def test_a_perfect_clustering() -> None:
    m = pair_metrics([["a1", "a2", "a3"], ["b1", "b2"], ["c1"]], TRUTH)
    assert m == PairMetrics(4, 0, 0, 1.0, 1.0, 1.0)
    assert pair_metrics([["a3", "a1", "a2"], ("b2", "b1")], TRUTH) == m  # singletons omitted


def test_one_false_merge() -> None:
    m = pair_metrics([["a1", "a2", "a3"], ["b1", "b2", "c1"]], TRUTH)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (4, 2, 0)
    assert m.precision == pytest.approx(4 / 6)
    assert m.recall == 1.0
    assert m.f1 == pytest.approx(0.8)


def test_one_missed_pair() -> None:
    m = pair_metrics([["a1", "a2", "a3"]], TRUTH)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (3, 0, 1)
    assert (m.precision, m.recall) == (1.0, 0.75)
    assert m.f1 == pytest.approx(6 / 7)


def test_a_split_entity() -> None:
    m = pair_metrics([["a1", "a2"], ["a3"], ["b1", "b2"]], TRUTH)
    assert (m.true_positives, m.false_positives, m.false_negatives) == (2, 0, 2)
    assert m.recall == 0.5


def test_an_empty_prediction() -> None:
    m = pair_metrics([], TRUTH)
    assert m == PairMetrics(0, 0, 4, 1.0, 0.0, 0.0)
    assert pair_metrics([["a1"], ["b1"]], TRUTH) == m


def test_no_true_pairs() -> None:
    truth = {"x": "X", "y": "Y"}
    assert pair_metrics([], truth) == PairMetrics(0, 0, 0, 1.0, 1.0, 1.0)
    assert pair_metrics([["x", "y"]], truth) == PairMetrics(0, 1, 0, 0.0, 1.0, 0.0)


def test_bad_clusters_are_rejected() -> None:
    with pytest.raises(ValueError, match="more than one"):
        pair_metrics([["a1", "a2"], ["a2", "a3"]], TRUTH)
    with pytest.raises(ValueError, match="more than one"):
        pair_metrics([["a1", "a1"]], TRUTH)
    with pytest.raises(ValueError, match="not labelled"):
        pair_metrics([["a1", "zz"]], TRUTH)


def test_metrics_of_the_generated_truth(sample: list[LabelledRecord]) -> None:
    truth = {str(i): r.entity for i, r in enumerate(sample)}
    clusters = [[str(p) for p in ps] for ps in _by_entity(sample).values()]
    perfect = pair_metrics(clusters, truth)
    assert perfect.precision == perfect.recall == 1.0
    assert perfect.true_positives > 0
    # clustering by name alone merges namesakes and misses typos
    by_name: dict[str, list[str]] = defaultdict(list)
    for i, r in enumerate(sample):
        by_name[_folded_name(r.data["name"])].append(str(i))
    naive = pair_metrics(by_name.values(), truth)
    assert naive.precision < 0.6  # many namesakes
    assert naive.recall < 1.0
