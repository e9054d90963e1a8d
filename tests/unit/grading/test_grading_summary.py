"""Specification of custrec.grading.summary: ActivitySummary and summarize()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import CustrecError
from custrec.grading import ActivitySummary, MixedCurrencies, summarize
from custrec.model.records import Money, Transaction

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)


def tx(customer_id: str, at: datetime, amount: str, currency: str = "CNY") -> Transaction:
    return Transaction(
        customer_id=customer_id,
        occurred_at=at,
        amount=Money(amount=Decimal(amount), currency=currency),
    )


# ----------------------------------------------------------------------------- ActivitySummary


def test_empty_summary_has_no_purchases() -> None:
    s = ActivitySummary.empty("c-1", currency="USD")
    assert (s.purchase_count, s.total_spent, s.first_purchase_at, s.last_purchase_at) == (
        0,
        Decimal(0),
        None,
        None,
    )
    assert s.currency == "USD"
    assert not s.has_purchases
    assert s.days_since_last_purchase(AS_OF) is None


def test_summary_is_frozen_and_keyword_only() -> None:
    s = ActivitySummary.empty("c-1")
    with pytest.raises(AttributeError):
        s.purchase_count = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        ActivitySummary("c-1", None, None, 0, Decimal(0))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"purchase_count": -1}, ValueError),
        ({"purchase_count": True}, TypeError),
        ({"total_spent": 10.0}, TypeError),
        ({"total_spent": Decimal("NaN")}, TypeError),
        ({"first_purchase_at": None}, ValueError),
        ({"first_purchase_at": datetime(2024, 1, 1)}, ValueError),  # naive
        ({"last_purchase_at": datetime(2024, 6, 1)}, ValueError),  # naive
        ({"first_purchase_at": datetime(2024, 6, 2, tzinfo=UTC)}, ValueError),  # after last
        ({"customer_id": ""}, ValueError),
        ({"currency": ""}, ValueError),
    ],
)
def test_contradictory_summaries_are_rejected(fields: dict[str, object], error: type) -> None:
    base: dict[str, object] = {
        "customer_id": "c-1",
        "first_purchase_at": datetime(2024, 1, 1, tzinfo=UTC),
        "last_purchase_at": datetime(2024, 6, 1, tzinfo=UTC),
        "purchase_count": 2,
        "total_spent": Decimal("10.00"),
    }
    with pytest.raises(error):
        ActivitySummary(**(base | fields))  # type: ignore[arg-type]


def test_a_summary_without_purchases_cannot_have_a_total() -> None:
    with pytest.raises(ValueError, match="total_spent 0"):
        ActivitySummary(
            customer_id="c-1",
            first_purchase_at=None,
            last_purchase_at=None,
            purchase_count=0,
            total_spent=Decimal(5),
        )


def test_days_since_last_purchase_counts_whole_days() -> None:
    last = datetime(2024, 6, 1, 12, tzinfo=UTC)
    s = ActivitySummary(
        customer_id="c-1",
        first_purchase_at=last,
        last_purchase_at=last,
        purchase_count=1,
        total_spent=Decimal(1),
    )
    assert s.days_since_last_purchase(datetime(2024, 6, 2, 11, 59, tzinfo=UTC)) == 0
    assert s.days_since_last_purchase(datetime(2024, 6, 2, 12, tzinfo=UTC)) == 1
    with pytest.raises(ValueError, match="timezone-aware"):
        s.days_since_last_purchase(datetime(2024, 6, 3))


# ----------------------------------------------------------------------------------- summarize


def test_summarize_counts_refunds_and_ignores_later_transactions() -> None:
    txs = [
        tx("c-2", datetime(2024, 5, 1, tzinfo=UTC), "50.00"),
        tx("c-1", datetime(2024, 6, 10, tzinfo=UTC), "-30.00"),  # refund: counted, lowers total
        tx("c-1", datetime(2024, 3, 1, tzinfo=UTC), "100.00"),
        tx("c-1", AS_OF, "10.00"),  # exactly at as_of: counted
        tx("c-1", AS_OF + timedelta(microseconds=1), "999.00"),  # after as_of: ignored
    ]
    result = summarize(txs, as_of=AS_OF)
    assert list(result) == ["c-1", "c-2"]  # ascending customer id
    c1 = result["c-1"]
    assert c1.purchase_count == 3
    assert c1.total_spent == Decimal("80.00")  # 100 - 30 + 10
    assert c1.first_purchase_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert c1.last_purchase_at == AS_OF
    assert result["c-2"].purchase_count == 1


def test_summarize_adds_empty_summaries_for_listed_customers() -> None:
    txs = [tx("c-1", datetime(2024, 6, 1, tzinfo=UTC), "1")]
    result = summarize(txs, as_of=AS_OF, customer_ids=["c-3", "c-1", "c-0"])
    assert list(result) == ["c-0", "c-1", "c-3"]
    assert result["c-3"] == ActivitySummary.empty("c-3")
    assert result["c-1"].purchase_count == 1


def test_summarize_normalises_instants_to_utc() -> None:
    plus8 = timezone(timedelta(hours=8))
    result = summarize([tx("c-1", datetime(2024, 6, 1, 8, tzinfo=plus8), "1")], as_of=AS_OF)
    assert result["c-1"].first_purchase_at == datetime(2024, 6, 1, tzinfo=UTC)
    assert result["c-1"].first_purchase_at.tzinfo is UTC


def test_mixed_currencies_for_one_customer_raise_a_typed_error() -> None:
    txs = [
        tx("c-1", datetime(2024, 6, 1, tzinfo=UTC), "1", "CNY"),
        tx("c-1", datetime(2024, 6, 2, tzinfo=UTC), "1", "USD"),
    ]
    with pytest.raises(MixedCurrencies) as info:
        summarize(txs, as_of=AS_OF)
    assert isinstance(info.value, CustrecError)
    assert isinstance(info.value, ValueError)
    assert info.value.customer_id == "c-1"
    assert info.value.currencies == ("CNY", "USD")


def test_different_customers_may_use_different_currencies() -> None:
    txs = [
        tx("c-1", datetime(2024, 6, 1, tzinfo=UTC), "1", "CNY"),
        tx("c-2", datetime(2024, 6, 2, tzinfo=UTC), "1", "USD"),
    ]
    result = summarize(txs, as_of=AS_OF)
    assert (result["c-1"].currency, result["c-2"].currency) == ("CNY", "USD")


def test_a_later_transaction_in_another_currency_is_ignored() -> None:
    txs = [
        tx("c-1", datetime(2024, 6, 1, tzinfo=UTC), "1", "CNY"),
        tx("c-1", AS_OF + timedelta(days=1), "1", "USD"),
    ]
    assert summarize(txs, as_of=AS_OF)["c-1"].currency == "CNY"


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        summarize([], as_of=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="naive"):
        summarize([tx("c-1", datetime(2024, 6, 1), "1")], as_of=AS_OF)


# ------------------------------------------------------------------------------ brute force

transactions = st.lists(
    st.builds(
        tx,
        st.sampled_from(["a", "b", "c", "d"]),
        st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31), timezones=st.just(UTC)
        ),
        st.decimals(min_value=-1000, max_value=10000, places=2).map(str),
    ),
    max_size=40,
)


@given(transactions, st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2025, 1, 1)))
def test_summarize_equals_a_brute_force_sum(txs: list[Transaction], naive_as_of: datetime) -> None:
    as_of = naive_as_of.replace(tzinfo=UTC)
    result = summarize(txs, as_of=as_of)
    counted = [t for t in txs if t.occurred_at <= as_of]
    assert sorted(result) == sorted({t.customer_id for t in counted})
    for customer_id, summary in result.items():
        mine = [t for t in counted if t.customer_id == customer_id]
        assert summary.purchase_count == len(mine)
        assert summary.total_spent == sum((t.amount.amount for t in mine), Decimal(0))
        assert summary.first_purchase_at == min(t.occurred_at for t in mine)
        assert summary.last_purchase_at == max(t.occurred_at for t in mine)
