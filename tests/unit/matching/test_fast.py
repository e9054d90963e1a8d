"""The batch run's link test decides exactly as decide() does, on any pair of profiles."""

from __future__ import annotations

import marshal
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.matching import MatchDecision, MatchProfile, Thresholds, Weights, profile
from custrec.matching._fast import LinkTest, prepare
from custrec.matching.scoring import decide
from custrec.testing.synthetic import hard_labelled_customers
from custrec.validation import parse_customer

# few, similar values, so that pairs agree, nearly agree and conflict often
_NAMES = st.sampled_from(
    [
        *("", "wei zhang", "wei zhan", "wei zhang jr", "wu hanyan", "wu huiyu"),
        *("张伟", "张玮", "张", "新纪嘉科技", "新纪嘉网络科技", "新纪嘉", "王伟", "王玮"),
    ]
)
_STREETS = st.sampled_from(
    ["|朝阳路8号", "北京|朝阳路8号", "北京|朝阳路9号", "上海|朝阳路8号", "|main st 1", "|main st 2"]
)
_STRONG = st.sampled_from(
    [
        ("phone", "+8613800138000"),
        ("phone", "+8613800138001"),
        ("phone", "+861062345678"),
        ("email", "wei@example.com"),
        ("email", "info@example.com"),
        ("email", "sales@example.com"),
        ("ric", "110101199003077777"),
        ("ric", "110101199003078888"),
        ("uscc", "91110000MA01ABCD1X"),
        ("passport", "E12345678"),
        ("external", "crm:1"),
        ("external", "crm:2"),
        ("id.OTHER", "7"),
    ]
)


@st.composite
def profiles(draw: st.DrawFn) -> MatchProfile:
    return MatchProfile(
        id=draw(st.sampled_from(["a", "b", "c"])),
        kind=draw(st.sampled_from(["individual", "organization"])),
        name=draw(_NAMES),
        region=draw(st.sampled_from([None, "", "北京", "上海"])),
        addresses=tuple(draw(st.lists(_STREETS, max_size=3, unique=True))),
        cities=frozenset(draw(st.sets(st.sampled_from(["北京", "上海", "广州"]), max_size=2))),
        birth_date=draw(st.sampled_from([None, date(1990, 3, 7), date(1990, 3, 8)])),
        sex=draw(st.sampled_from([None, "male", "female"])),
        strong=frozenset(draw(st.sets(_STRONG, max_size=4))),
    )


_WEIGHTS = st.sampled_from([Weights(), Weights(contact_once=False), Weights(prior=0.01)])
_THRESHOLDS = st.sampled_from(
    [Thresholds(), Thresholds(probable=0.5, possible=0.01), Thresholds(probable=1.0, possible=1.0)]
)


@settings(max_examples=600)
@given(
    a=profiles(),
    b=profiles(),
    wanted=st.sampled_from([MatchDecision.PROBABLE, MatchDecision.POSSIBLE, MatchDecision.SAME]),
    weights=_WEIGHTS,
    thresholds=_THRESHOLDS,
)
def test_the_link_test_decides_as_decide(
    a: MatchProfile,
    b: MatchProfile,
    wanted: MatchDecision,
    weights: Weights,
    thresholds: Thresholds,
) -> None:
    test = LinkTest(wanted, thresholds, weights)
    decided, _ = decide(a, b, thresholds=thresholds, weights=weights)
    expected = decided.rank >= wanted.rank
    assert test(prepare(a), prepare(b)) is expected
    assert test(prepare(a), prepare(b)) is expected  # from its caches too
    # what a clustering run reads back from its scratch file
    again = marshal.loads(marshal.dumps(prepare(a))), marshal.loads(marshal.dumps(prepare(b)))
    assert test(*again) is expected


def test_the_link_test_decides_as_decide_on_the_harder_labelled_set() -> None:
    found = []
    for n, labelled in enumerate(hard_labelled_customers(400, seed=3)):
        customer = parse_customer({**labelled.data, "id": f"r{n:04d}"}).record
        assert customer is not None
        found.append(profile(customer))
    test = LinkTest(MatchDecision.PROBABLE, Thresholds(), Weights())
    prepared = [prepare(p) for p in found]
    links = 0
    for i in range(len(found)):
        for j in range(i + 1, min(len(found), i + 40)):
            decided, _ = decide(found[i], found[j])
            expected = decided.rank >= MatchDecision.PROBABLE.rank
            assert test(prepared[i], prepared[j]) is expected
            links += expected
    assert links > 20
