"""``session.activities``: the activity table contract (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import DuplicateKey
from custrec.grading import ActivitySummary
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.testing import strategies
from custrec.testing._contracts.common import (
    _CST,
    _committed,
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _StoreFixtures,
    _summary,
    kit_settings,
)
from custrec.testing._support import activity, interaction, minutes, reading, writing


class ActivityTableContract(_StoreFixtures):
    """``session.activities``: transactions and interactions, reassignment and summaries."""

    def test_activities_list_for_round_trips_every_field(self, store: Store) -> None:
        owner = new_id()
        sale = activity(
            owner,
            amount=Decimal("1234.5678"),
            currency="USD",
            occurred_at=datetime(2022, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            payload=bytes(range(256)),
        )
        call = interaction(owner, payload=b"")
        with writing(store) as s:
            s.activities.add(sale)
            s.activities.add(call)
        with reading(store) as s:
            got = s.activities.list_for(owner)
        assert got == [sale, call]
        assert type(got[0].payload) is bytes
        assert type(got[0].amount) is Decimal
        assert got[1].amount is None and got[1].currency is None
        assert _is_utc(got[0].occurred_at)

    def test_list_for_orders_by_id(self, store: Store) -> None:
        owner = new_id()
        ids = _ordered_ids(4)
        with writing(store) as s:
            for i, activity_id in enumerate(reversed(ids)):
                s.activities.add(activity(owner, activity_id, occurred_at=minutes(i)))
        with reading(store) as s:
            assert [a.id for a in s.activities.list_for(owner)] == ids

    def test_list_for_filters_by_kind(self, store: Store) -> None:
        owner = new_id()
        sale, call, refund = (
            activity(owner),
            interaction(owner),
            activity(owner, amount=Decimal(-5)),
        )
        with writing(store) as s:
            s.activities.add_many([sale, call, refund])
        with reading(store) as s:
            assert s.activities.list_for(owner, kind="transaction") == [sale, refund]
            assert s.activities.list_for(owner, kind="interaction") == [call]

    def test_list_for_pages_with_after_and_limit(self, store: Store) -> None:
        owner = new_id()
        rows = [activity(owner) for _ in range(5)]
        with writing(store) as s:
            s.activities.add_many(rows)
        with reading(store) as s:
            assert s.activities.list_for(owner, limit=2) == rows[:2]
            assert s.activities.list_for(owner, after=rows[1].id, limit=2) == rows[2:4]
            assert s.activities.list_for(owner, after=rows[4].id) == []

    def test_list_for_lists_only_that_customer(self, store: Store) -> None:
        mine, theirs = activity(new_id()), activity(new_id())
        with writing(store) as s:
            s.activities.add_many([mine, theirs])
        with reading(store) as s:
            assert s.activities.list_for(mine.customer_id) == [mine]
            assert s.activities.list_for(new_id()) == []

    @pytest.mark.parametrize("limit", [0, -1])
    def test_list_for_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.activities.list_for(new_id(), limit=limit)

    def test_list_for_with_unknown_kind_raises_value_error(self, store: Store) -> None:
        with reading(store) as s, _invalid_argument():
            s.activities.list_for(new_id(), kind="purchase")

    def test_activities_add_of_existing_id_raises_duplicate_key(self, store: Store) -> None:
        row = activity(new_id())
        with writing(store) as s:
            s.activities.add(row)
        with pytest.raises(DuplicateKey), store.transaction() as s:
            s.activities.add(activity(new_id(), row.id))
        with reading(store) as s:
            assert s.activities.list_for(row.customer_id) == [row]

    def test_add_with_unknown_kind_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), kind="purchase"))

    def test_add_with_naive_occurred_at_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), occurred_at=datetime(2024, 1, 1)))

    @pytest.mark.parametrize("method", ["add", "add_many"])
    def test_amount_with_more_than_four_decimal_places_raises_value_error(
        self, store: Store, method: str
    ) -> None:
        row = activity(new_id(), amount=Decimal("1.23456"))
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.activities.add(row),
            "add_many": lambda s: s.activities.add_many([row]),
        }
        with store.transaction() as s, _invalid_argument():
            calls[method](s)

    @pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
    def test_amount_that_is_not_finite_raises_value_error(self, store: Store, amount: str) -> None:
        with store.transaction() as s, _invalid_argument():
            s.activities.add(activity(new_id(), amount=Decimal(amount)))

    @pytest.mark.parametrize("missing", ["amount", "currency"])
    def test_transaction_without_amount_or_currency_raises_value_error(
        self, store: Store, missing: str
    ) -> None:
        # Summaries sum amounts per currency; a transaction lacking either cannot be summarised.
        row = activity(new_id(), **{missing: None})
        with store.transaction() as s, _invalid_argument():
            s.activities.add(row)

    def test_amount_with_four_decimal_places_is_stored_exactly(self, store: Store) -> None:
        row = activity(new_id(), amount=Decimal("-0.0001"))
        with writing(store) as s:
            s.activities.add(row)
        with reading(store) as s:
            assert s.activities.list_for(row.customer_id)[0].amount == Decimal("-0.0001")

    def test_activities_add_many_returns_number_inserted(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            assert s.activities.add_many([activity(owner), interaction(owner)]) == 2
            assert s.activities.add_many([]) == 0

    def test_activities_add_many_with_existing_id_raises_duplicate_key_and_leaves_nothing(
        self, store: Store
    ) -> None:
        owner = new_id()
        existing = activity(owner)
        with writing(store) as s:
            s.activities.add(existing)
        with pytest.raises(DuplicateKey):
            _committed(
                store, lambda s: s.activities.add_many([activity(owner), existing, activity(owner)])
            )
        with reading(store) as s:
            assert s.activities.list_for(owner) == [existing]

    def test_activities_add_many_skip_existing_inserts_only_new_rows(self, store: Store) -> None:
        owner = new_id()
        existing, fresh = activity(owner), activity(owner)
        with writing(store) as s:
            s.activities.add(existing)
        with writing(store) as s:
            changed = attrs.evolve(existing, amount=Decimal(999))
            assert s.activities.add_many([changed, fresh], skip_existing=True) == 1
        with reading(store) as s:
            assert s.activities.list_for(owner) == [existing, fresh]

    def test_reassign_moves_every_activity_and_returns_count(self, store: Store) -> None:
        source, target = new_id(), new_id()
        moved = [activity(source), interaction(source)]
        kept = activity(target)
        with writing(store) as s:
            s.activities.add_many([*moved, kept])
        with writing(store) as s:
            assert s.activities.reassign(source, target) == 2
        with reading(store) as s:
            assert s.activities.list_for(source) == []
            assert s.activities.list_for(target) == sorted(
                [kept, *(attrs.evolve(a, customer_id=target) for a in moved)],
                key=lambda a: a.id,
            )

    def test_reassign_of_customer_without_activities_returns_zero(self, store: Store) -> None:
        with writing(store) as s:
            assert s.activities.reassign(new_id(), new_id()) == 0

    def test_summaries_sum_amounts_exactly(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=Decimal("0.1"), occurred_at=minutes(0)))
            s.activities.add(activity(owner, amount=Decimal("0.2"), occurred_at=minutes(1)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(5))
        assert type(summary.total_spent) is Decimal
        assert summary.total_spent == Decimal("0.3")
        assert summary == _summary(owner, first=minutes(0), last=minutes(1), count=2, total="0.3")

    def test_summaries_count_refunds_and_subtract_them(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, amount=Decimal("100.00"), occurred_at=minutes(0)))
            s.activities.add(activity(owner, amount=Decimal("-30.50"), occurred_at=minutes(9)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == [
                _summary(owner, first=minutes(0), last=minutes(9), count=2, total="69.50")
            ]

    def test_summaries_report_first_and_last_purchase(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            for offset in (30, 10, 20):  # stored out of time order
                s.activities.add(activity(owner, occurred_at=minutes(offset)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(60))
        assert (summary.first_purchase_at, summary.last_purchase_at) == (minutes(10), minutes(30))
        assert summary.purchase_count == 3
        assert _is_utc(summary.first_purchase_at) and _is_utc(summary.last_purchase_at)

    def test_summaries_include_transactions_at_as_of(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(5)))
            s.activities.add(activity(owner, occurred_at=minutes(5) + timedelta(microseconds=1)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(5))
        assert summary.purchase_count == 1
        assert summary.last_purchase_at == minutes(5)

    def test_summaries_omit_customers_whose_transactions_are_all_later(self, store: Store) -> None:
        with writing(store) as s:
            s.activities.add(activity(new_id(), occurred_at=minutes(10)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(9)) == []

    def test_summaries_ignore_interactions(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(5)))
            s.activities.add(interaction(owner, occurred_at=minutes(1)))
            s.activities.add(interaction(owner, occurred_at=minutes(9)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == [
                _summary(owner, first=minutes(5), last=minutes(5), count=1, total="10.00")
            ]

    def test_summaries_omit_customers_with_only_interactions(self, store: Store) -> None:
        with writing(store) as s:
            s.activities.add(interaction(new_id()))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(10)) == []

    def test_summaries_give_one_row_per_currency_ordered_by_currency(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, currency="USD", amount=Decimal(5)))
            s.activities.add(activity(owner, currency="CNY", amount=Decimal(7)))
            s.activities.add(activity(owner, currency="USD", amount=Decimal(1)))
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(1)) == [
                _summary(owner, first=minutes(0), last=minutes(0), count=1, total="7"),
                _summary(
                    owner, first=minutes(0), last=minutes(0), count=2, total="6", currency="USD"
                ),
            ]

    def test_summaries_order_by_customer_then_currency(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            for owner, currency in ((c, "CNY"), (a, "USD"), (b, "CNY"), (a, "CNY")):
                s.activities.add(activity(owner, currency=currency))
        with reading(store) as s:
            keys = [(x.customer_id, x.currency) for x in s.activities.summaries(as_of=minutes(1))]
        assert keys == [(a, "CNY"), (a, "USD"), (b, "CNY"), (c, "CNY")]

    def test_summaries_page_by_customer_with_after_and_limit(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            for owner, currency in ((a, "CNY"), (a, "USD"), (b, "CNY"), (c, "EUR")):
                s.activities.add(activity(owner, currency=currency))
        with reading(store) as s:
            first = s.activities.summaries(as_of=minutes(1), limit=2)
            rest = s.activities.summaries(as_of=minutes(1), after=b, limit=2)
            middle = s.activities.summaries(as_of=minutes(1), after=a, limit=1)
        assert [(x.customer_id, x.currency) for x in first] == [(a, "CNY"), (a, "USD"), (b, "CNY")]
        assert [(x.customer_id, x.currency) for x in rest] == [(c, "EUR")]
        assert [(x.customer_id, x.currency) for x in middle] == [(b, "CNY")]

    def test_summaries_compare_as_of_across_time_zones(self, store: Store) -> None:
        owner = new_id()
        with writing(store) as s:
            s.activities.add(activity(owner, occurred_at=minutes(0)))
            s.activities.add(activity(owner, occurred_at=minutes(61)))
        with reading(store) as s:
            (summary,) = s.activities.summaries(as_of=minutes(60).astimezone(_CST))
        assert summary.purchase_count == 1

    def test_summaries_reflect_reassignment(self, store: Store) -> None:
        source, target = _ordered_ids(2)
        with writing(store) as s:
            s.activities.add(activity(source, amount=Decimal(3)))
            s.activities.add(activity(target, amount=Decimal(4)))
            s.activities.reassign(source, target)
        with reading(store) as s:
            assert s.activities.summaries(as_of=minutes(1)) == [
                _summary(target, first=minutes(0), last=minutes(0), count=2, total="7")
            ]

    def test_summaries_with_naive_as_of_raises_value_error(self, store: Store) -> None:
        with reading(store) as s, _invalid_argument():
            s.activities.summaries(as_of=datetime(2024, 1, 1))

    @pytest.mark.parametrize("limit", [0, -1])
    def test_summaries_with_non_positive_limit_raises_value_error(
        self, store: Store, limit: int
    ) -> None:
        with reading(store) as s, pytest.raises(ValueError, match="limit"):
            s.activities.summaries(as_of=minutes(0), limit=limit)

    def test_summaries_of_generated_amounts_are_exact(self, store: Store) -> None:
        @kit_settings(25)
        @given(
            amounts=st.lists(strategies.amounts(), min_size=1, max_size=8),
            instants=st.lists(strategies.aware_datetimes(), min_size=8, max_size=8),
        )
        def check(amounts: list[Decimal], instants: list[datetime]) -> None:
            owner = new_id()
            rows = [
                activity(owner, amount=amount, occurred_at=instant, currency="EUR")
                for amount, instant in zip(amounts, instants, strict=False)
            ]
            with writing(store) as s:
                s.activities.add_many(rows)
            as_of = datetime(2100, 1, 2, tzinfo=UTC)
            with reading(store) as s:
                got = [x for x in s.activities.summaries(as_of=as_of) if x.customer_id == owner]
            assert got == [
                ActivitySummary(
                    customer_id=owner,
                    first_purchase_at=min(r.occurred_at for r in rows),
                    last_purchase_at=max(r.occurred_at for r in rows),
                    purchase_count=len(rows),
                    total_spent=sum(amounts, Decimal(0)),
                    currency="EUR",
                )
            ]

        check()
