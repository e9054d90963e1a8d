"""Specification of custrec.grading.rfm: exact RFM scores on hand-computed populations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from custrec.grading import (
    RFM_SEGMENTS,
    ActivitySummary,
    FittedRFMPolicy,
    MixedCurrencies,
    RFMPolicy,
    rfm_segment,
    rfm_segment_rule,
)

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def buyer(
    customer_id: str, days: int, count: int, total: int | str, *, currency: str = "CNY"
) -> ActivitySummary:
    last = AS_OF - timedelta(days=days)
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=last - timedelta(days=count),
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
        currency=currency,
    )


def rfm(fitted: FittedRFMPolicy, summary: ActivitySummary) -> tuple[int, int, int]:
    c = fitted.grade(summary, as_of=AS_OF).components
    return c["R"], c["F"], c["M"]  # type: ignore[return-value]


# (id, days since last purchase, purchase count, total spent); n = 7
POPULATION = [
    buyer("a", 2, 12, 3000),
    buyer("b", 5, 8, 1200),
    buyer("c", 5, 3, 1200),
    buyer("d", 30, 3, 400),
    buyer("e", 60, 1, 90),
    buyer("f", 200, 2, 400),
    buyer("g", 365, 1, 15),
]


def test_bins_5_hand_computed() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    # recency [2, 5, 5, 30, 60, 200, 365]; R = ceil(5 * #{rec >= own} / 7)
    #   a: 7 -> 5; b, c: 6 -> ceil(30/7) = 5; d: 4 -> ceil(20/7) = 3; e: 3 -> ceil(15/7) = 3;
    #   f: 2 -> ceil(10/7) = 2; g: 1 -> ceil(5/7) = 1
    # frequency [1, 1, 2, 3, 3, 8, 12]; F = ceil(5 * #{freq <= own} / 7)
    #   a: 7 -> 5; b: 6 -> 5; c, d: 5 -> ceil(25/7) = 4; e, g: 2 -> ceil(10/7) = 2; f: 3 -> 3
    # monetary [15, 90, 400, 400, 1200, 1200, 3000]; M = ceil(5 * #{mon <= own} / 7)
    #   a: 7 -> 5; b, c: 6 -> 5; d, f: 4 -> ceil(20/7) = 3; e: 2 -> 2; g: 1 -> 1
    assert {s.customer_id: rfm(fitted, s) for s in POPULATION} == {
        "a": (5, 5, 5),
        "b": (5, 5, 5),
        "c": (5, 4, 5),
        "d": (3, 4, 3),
        "e": (3, 2, 2),
        "f": (2, 3, 3),
        "g": (1, 2, 1),
    }
    # cut for score s is the sorted value at j = floor((s - 1) * 7 / 5) = 1, 2, 4, 5 (s = 2..5)
    assert fitted.monetary_cuts == (Decimal(90), Decimal(400), Decimal(1200), Decimal(1200))
    assert fitted.frequency_cuts == (1, 2, 3, 8)
    # recency cuts from the other end: ascending[7 - 1 - j] = ascending[5, 4, 2, 1]
    assert fitted.recency_cuts == (200, 60, 5, 5)
    assert fitted.population_size == 7


def test_bins_5_segments() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    # FM = (F + M) / 2: a 5, b 5, c 4.5, d 3.5, e 2, f 3, g 1.5
    assert {s.customer_id: fitted.grade(s, as_of=AS_OF).label for s in POPULATION} == {
        "a": "champions",  # R 5 >= 4, FM 5 >= 4
        "b": "champions",
        "c": "champions",  # FM 4.5
        "d": "loyal",  # R 3, FM 3.5
        "e": "need attention",  # R 3, FM 2
        "f": "at risk",  # R 2 < 3, FM 3
        "g": "lost",  # R 1, FM 1.5
    }


def test_bins_3_hand_computed() -> None:
    fitted = RFMPolicy(bins=3).fit(POPULATION, as_of=AS_OF)
    # R = ceil(3c/7): a 7 -> 3; b, c 6 -> ceil(18/7) = 3; d 4 -> ceil(12/7) = 2;
    #   e 3 -> ceil(9/7) = 2; f 2 -> ceil(6/7) = 1; g 1 -> 1
    # F: a 7 -> 3; b 6 -> 3; c, d 5 -> ceil(15/7) = 3; e, g 2 -> 1; f 3 -> 2
    # M: a 3; b, c 6 -> 3; d, f 4 -> 2; e 2 -> 1; g 1 -> 1
    assert {s.customer_id: rfm(fitted, s) for s in POPULATION} == {
        "a": (3, 3, 3),
        "b": (3, 3, 3),
        "c": (3, 3, 3),
        "d": (2, 3, 2),
        "e": (2, 1, 1),
        "f": (1, 2, 2),
        "g": (1, 1, 1),
    }
    # j = floor((s - 1) * 7 / 3) = 2, 4 for s = 2, 3
    assert fitted.monetary_cuts == (Decimal(400), Decimal(1200))
    assert fitted.recency_cuts == (60, 5)
    assert fitted.policy.policy_id == "rfm:bins=3"


def test_single_customer_scores_top() -> None:
    fitted = RFMPolicy().fit([buyer("solo", 100, 1, 10)], as_of=AS_OF)
    # n = 1: every count is 1 -> ceil(5 * 1 / 1) = 5
    grade = fitted.grade(buyer("solo", 100, 1, 10), as_of=AS_OF)
    assert grade.components == {"R": 5, "F": 5, "M": 5}
    assert grade.label == "champions"


def test_all_equal_population_scores_top_for_everyone() -> None:
    population = [buyer(f"c{i}", 10, 2, 50) for i in range(4)]
    fitted = RFMPolicy().fit(population, as_of=AS_OF)
    # every count is 4 of 4 -> ceil(5 * 4 / 4) = 5
    assert {rfm(fitted, s) for s in population} == {(5, 5, 5)}


def test_ties_get_equal_scores() -> None:
    # monetary [10, 20, 20, 20, 30]: the three 20s count 4 each -> ceil(5 * 4 / 5) = 4
    population = [buyer(f"c{i}", 1, 1, total) for i, total in enumerate([10, 20, 20, 20, 30])]
    fitted = RFMPolicy().fit(population, as_of=AS_OF)
    assert [rfm(fitted, s)[2] for s in population] == [1, 4, 4, 4, 5]


def test_customers_without_purchases_are_excluded_and_score_one() -> None:
    population = [*POPULATION, ActivitySummary.empty("p1"), ActivitySummary.empty("p2")]
    fitted = RFMPolicy().fit(population, as_of=AS_OF)
    assert fitted.population_size == 7  # prospects are not in the population
    assert {s.customer_id: rfm(fitted, s) for s in POPULATION} == {
        s.customer_id: rfm(RFMPolicy().fit(POPULATION, as_of=AS_OF), s) for s in POPULATION
    }
    grade = fitted.grade(ActivitySummary.empty("p1"), as_of=AS_OF)
    assert grade.components == {"R": 1, "F": 1, "M": 1}
    assert grade.label == "no purchases"
    assert grade.score == 1.0
    assert "no purchases: not part of the fitted population; R=F=M=1" in grade.reasons
    custom = RFMPolicy(no_purchase_label="prospect").fit(population, as_of=AS_OF)
    assert custom.grade(ActivitySummary.empty("p1"), as_of=AS_OF).label == "prospect"


def test_customers_outside_the_population_count_against_it() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    # better than everyone: counts 7 of 7 -> 5, 5, 5
    assert rfm(fitted, buyer("new", 0, 20, 5000)) == (5, 5, 5)
    # recency 45: #{rec >= 45} = 3 (60, 200, 365) -> ceil(15/7) = 3
    # frequency 5: #{freq <= 5} = 5 -> ceil(25/7) = 4
    # monetary 1000: #{mon <= 1000} = 4 -> ceil(20/7) = 3
    assert rfm(fitted, buyer("new", 45, 5, 1000)) == (3, 4, 3)
    # worse than everyone: counts 0 -> ceil(0) = 0, floored at 1
    assert rfm(fitted, buyer("new", 1000, 1, -20)) == (1, 2, 1)  # F: 2 customers have 1 purchase


def test_grading_at_a_later_as_of_measures_recency_then() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    later = AS_OF + timedelta(days=40)
    # d: recency 30 + 40 = 70 days; #{fitted rec >= 70} = 2 (200, 365) -> ceil(10/7) = 2
    grade = fitted.grade(buyer("d", 30, 3, 400), as_of=later)
    assert grade.components == {"R": 2, "F": 4, "M": 3}
    assert grade.as_of == later
    assert grade.reasons[-1] == (
        "graded as of 2024-08-10T00:00:00+00:00: recency measured then, cuts as fitted on "
        "2024-07-01T00:00:00+00:00"
    )


def test_reasons_cite_cut_points_and_population() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    grade = fitted.grade(buyer("d", 30, 3, 400), as_of=AS_OF)
    assert grade.reasons == (
        "R=3: 30 days since last purchase, <= 60 (cut for R=3) and > 5 (cut for R=4)",
        "F=4: 3 purchases, >= 3 (cut for F=4) and < 8 (cut for F=5)",
        "M=3: total_spent 400, >= 400 (cut for M=3) and < 1200 (cut for M=4)",
        "segment 'loyal': R>=3 and FM>=3 (default map; FM = (F + M) / 2)",
        "cuts fitted as of 2024-07-01T00:00:00+00:00 on 7 customers with purchases "
        "(score = ceil(5 x count / 7))",
    )
    assert grade.score == pytest.approx(10 / 3)
    top = fitted.grade(buyer("a", 2, 12, 3000), as_of=AS_OF).reasons
    assert top[0] == "R=5: 2 days since last purchase, <= 5 (cut for R=5)"
    bottom = fitted.grade(buyer("g", 365, 1, 15), as_of=AS_OF).reasons
    assert bottom[2] == "M=1: total_spent 15, < 90 (cut for M=2)"


# ------------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("r", "fm_pair", "label"),
    [
        (5, (5, 4), "champions"),  # FM 4.5
        (4, (4, 4), "champions"),
        (5, (3, 3), "loyal"),
        (3, (5, 5), "loyal"),
        (1, (4, 4), "cannot lose"),
        (1, (3, 3), "at risk"),
        (2, (5, 5), "at risk"),
        (5, (2, 2), "potential loyalist"),
        (4, (1, 2), "new"),  # FM 1.5
        (3, (1, 1), "promising"),
        (3, (2, 2), "need attention"),
        (2, (2, 3), "need attention"),
        (2, (1, 1), "hibernating"),
        (1, (2, 2), "lost"),
        (1, (1, 1), "lost"),
    ],
)
def test_default_segment_map(r: int, fm_pair: tuple[int, int], label: str) -> None:
    assert rfm_segment(r, *fm_pair) == label


def test_every_default_segment_is_reachable_and_every_cell_is_named() -> None:
    cells = {rfm_segment(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert cells == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 10


def test_segments_rescale_other_bin_counts() -> None:
    # bins = 3 -> 1, 2, 3 map to 1, 3, 5 on the 5-point scale
    assert rfm_segment_rule(3, 3, 3, bins=3) == ("champions", "R>=4 and FM>=4")
    assert rfm_segment(2, 2, 2, bins=3) == "loyal"  # R 3, FM 3
    assert rfm_segment(1, 3, 3, bins=3) == "cannot lose"  # R 1, FM 5
    assert rfm_segment(1, 1, 1, bins=3) == "lost"
    with pytest.raises(ValueError, match="r must be an integer from 1 to 3"):
        rfm_segment(4, 1, 1, bins=3)


def test_custom_segment_callable() -> None:
    def vip_or_not(r: int, f: int, m: int) -> str:
        return "vip" if m == 5 else "standard"

    policy = RFMPolicy(segments=vip_or_not)
    assert policy.policy_id == "rfm:bins=5:segments=vip_or_not"
    fitted = policy.fit(POPULATION, as_of=AS_OF)
    grade = fitted.grade(buyer("a", 2, 12, 3000), as_of=AS_OF)
    assert grade.label == "vip"
    assert "segment 'vip' from the segments callable for (5, 5, 5)" in grade.reasons
    with pytest.raises(ValueError, match="segments_name"):
        RFMPolicy(segments=lambda r, f, m: "x")
    bad = RFMPolicy(segments=lambda r, f, m: 5, segments_name="bad")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="non-empty str"):
        bad.fit(POPULATION, as_of=AS_OF).grade(POPULATION[0], as_of=AS_OF)


def test_custom_segment_mapping() -> None:
    policy = RFMPolicy(bins=2, segments={(2, 2, 2): "best", (1, 1, 1): "worst"})
    assert policy.policy_id == "rfm:bins=2:segments=custom"
    fitted = policy.fit(POPULATION, as_of=AS_OF)
    assert fitted.grade(buyer("a", 2, 12, 3000), as_of=AS_OF).label == "best"
    assert fitted.grade(buyer("g", 365, 1, 15), as_of=AS_OF).label == "worst"
    other = fitted.grade(buyer("f", 200, 2, 400), as_of=AS_OF)
    assert other.label == "other"
    named = RFMPolicy(bins=2, segments={(2, 2, 2): "best"}, segments_name="mine")
    assert named.policy_id == "rfm:bins=2:segments=mine"
    with pytest.raises(ValueError, match="r must be an integer from 1 to 2"):
        RFMPolicy(bins=2, segments={(3, 1, 1): "typo"})
    with pytest.raises(ValueError, match="tuples"):
        RFMPolicy(segments={"555": "champ"})  # type: ignore[dict-item]


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("bins", "error"),
    [(1, ValueError), (0, ValueError), (-3, ValueError), (True, TypeError), (2.5, TypeError)],
)
def test_bins_must_be_an_int_of_at_least_two(bins: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="bins must be an integer"):
        RFMPolicy(bins=bins)  # type: ignore[arg-type]


def test_other_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="segments_name"):
        RFMPolicy(segments_name="x")
    with pytest.raises(TypeError, match="segments"):
        RFMPolicy(segments=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no_purchase_label"):
        RFMPolicy(no_purchase_label="")


def test_fit_rejects_bad_populations() -> None:
    policy = RFMPolicy()
    with pytest.raises(ValueError, match="no customer in the population has purchases"):
        policy.fit([ActivitySummary.empty("p")], as_of=AS_OF)
    with pytest.raises(ValueError, match="no customer"):
        policy.fit([], as_of=AS_OF)
    with pytest.raises(ValueError, match="twice"):
        policy.fit([buyer("a", 1, 1, 1), buyer("a", 2, 1, 1)], as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        policy.fit(POPULATION, as_of=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="after as_of"):
        policy.fit(POPULATION, as_of=AS_OF - timedelta(days=3))
    with pytest.raises(MixedCurrencies):
        policy.fit([buyer("a", 1, 1, 1), buyer("b", 1, 1, 1, currency="USD")], as_of=AS_OF)


def test_grade_rejects_naive_as_of_future_purchases_and_other_currencies() -> None:
    fitted = RFMPolicy().fit(POPULATION, as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        fitted.grade(POPULATION[0], as_of=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="after as_of"):
        fitted.grade(POPULATION[0], as_of=AS_OF - timedelta(days=30))
    with pytest.raises(MixedCurrencies):
        fitted.grade(buyer("x", 1, 1, 1, currency="USD"), as_of=AS_OF)


# ----------------------------------------------------------------------------- properties

rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60),  # days since last purchase
        st.integers(min_value=1, max_value=12),  # purchase count
        st.integers(min_value=-100, max_value=400),  # total spent
    ),
    min_size=1,
    max_size=30,
)


def population_of(data: list[tuple[int, int, int]]) -> list[ActivitySummary]:
    return [buyer(f"c{i:02d}", *row) for i, row in enumerate(data)]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@given(rows, st.integers(min_value=2, max_value=9))
def test_scores_match_the_literal_formula(data: list[tuple[int, int, int]], bins: int) -> None:
    fitted = RFMPolicy(bins=bins).fit(population_of(data), as_of=AS_OF)
    n = len(data)
    for i, (rec, freq, mon) in enumerate(data):
        r = ceil_div(bins * sum(1 for row in data if row[0] >= rec), n)
        f = ceil_div(bins * sum(1 for row in data if row[1] <= freq), n)
        m = ceil_div(bins * sum(1 for row in data if row[2] <= mon), n)
        assert rfm(fitted, buyer(f"c{i:02d}", rec, freq, mon)) == (r, f, m)


@given(
    rows,
    st.integers(min_value=2, max_value=9),
    st.tuples(st.integers(0, 90), st.integers(1, 15), st.integers(-200, 600)),
)
def test_scores_stay_within_bins_for_anyone(
    data: list[tuple[int, int, int]], bins: int, other: tuple[int, int, int]
) -> None:
    fitted = RFMPolicy(bins=bins).fit(population_of(data), as_of=AS_OF)
    for summary in [*population_of(data), buyer("outsider", *other)]:
        assert all(1 <= score <= bins for score in rfm(fitted, summary))


@given(rows, st.integers(min_value=2, max_value=9))
def test_equal_values_get_equal_scores(data: list[tuple[int, int, int]], bins: int) -> None:
    population = population_of(data)
    fitted = RFMPolicy(bins=bins).fit(population, as_of=AS_OF)
    scores = [rfm(fitted, s) for s in population]
    for i, a in enumerate(data):
        for j, b in enumerate(data):
            for k in range(3):
                if a[k] == b[k]:
                    assert scores[i][k] == scores[j][k]


@given(
    rows,
    st.integers(min_value=2, max_value=9),
    st.integers(0, 90),
    st.integers(1, 15),
    st.integers(-200, 600),
    st.integers(0, 300),
)
def test_more_spend_never_lowers_m_and_more_recent_never_lowers_r(
    data: list[tuple[int, int, int]], bins: int, rec: int, freq: int, mon: int, extra: int
) -> None:
    fitted = RFMPolicy(bins=bins).fit(population_of(data), as_of=AS_OF)
    base = rfm(fitted, buyer("x", rec, freq, mon))
    richer = rfm(fitted, buyer("x", rec, freq, mon + extra))
    assert richer[2] >= base[2]
    assume(rec >= 1)
    fresher = rfm(fitted, buyer("x", rec - 1, freq, mon))
    assert fresher[0] >= base[0]
    busier = rfm(fitted, buyer("x", rec, freq + 1, mon))
    assert busier[1] >= base[1]
