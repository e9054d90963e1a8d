"""Per-customer activity summaries: the only input grading policies read.

A summary is what a SQL backend computes with one ``GROUP BY customer_id`` over the transactions
that occurred at or before ``as_of``::

    SELECT customer_id, MIN(occurred_at), MAX(occurred_at), COUNT(*), SUM(amount), currency
    FROM transactions WHERE occurred_at <= :as_of GROUP BY customer_id, currency

(a customer on two rows is the :class:`MixedCurrencies` case).

Every transaction counts, refunds included: a refund (negative amount) lowers ``total_spent``,
adds one to ``purchase_count`` and can move ``last_purchase_at``. :func:`summarize` is the
reference implementation of that definition.

>>> from datetime import UTC, datetime
>>> from decimal import Decimal
>>> from custrec.model.records import Money, Transaction
>>> def tx(customer_id, month, day, amount):
...     at = datetime(2024, month, day, tzinfo=UTC)
...     return Transaction(customer_id=customer_id, occurred_at=at, amount=Money(amount=amount))
>>> txs = [tx("c-1", 6, 1, Decimal("120.00")), tx("c-1", 6, 9, Decimal("-20.00")),
...        tx("c-2", 7, 1, Decimal("5"))]
>>> s = summarize(txs, as_of=datetime(2024, 6, 30, tzinfo=UTC))
>>> list(s)
['c-1']
>>> s["c-1"].purchase_count, s["c-1"].total_spent, s["c-1"].last_purchase_at.day
(2, Decimal('100.00'), 9)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from custrec._checks import check, int_range, require_aware
from custrec.errors import MixedCurrencies
from custrec.model.records import Transaction

__all__ = ["ActivitySummary", "MixedCurrencies", "summarize"]

_ZERO = Decimal(0)
_COUNT = int_range(0)


@attrs.frozen(kw_only=True)
class ActivitySummary:
    """What a customer bought up to some instant: first/last purchase, count, total, currency.

    ``purchase_count`` counts every transaction, refunds included, and ``total_spent`` is their
    signed sum, so it can be zero or negative. A customer with no transaction has
    ``purchase_count == 0``, both instants ``None`` and ``total_spent == 0``
    (:meth:`empty`). Instants must be timezone-aware. Raises ``ValueError`` (``TypeError`` for
    wrong types) when the fields contradict each other.

    >>> ActivitySummary.empty("c-9").has_purchases
    False
    """

    customer_id: str
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    purchase_count: int
    total_spent: Decimal
    currency: str = "CNY"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.customer_id, str) or not self.customer_id:
            raise ValueError("customer_id must be a non-empty string")
        count = self.purchase_count
        try:
            check("purchase_count", count, _COUNT)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"customer {self.customer_id}: {exc}") from None
        if not isinstance(self.total_spent, Decimal) or not self.total_spent.is_finite():
            raise TypeError(f"total_spent must be a finite Decimal (customer {self.customer_id})")
        if not isinstance(self.currency, str) or not self.currency:
            raise ValueError("currency must be a non-empty string")
        first, last = self.first_purchase_at, self.last_purchase_at
        if count == 0:
            if first is not None or last is not None or self.total_spent != 0:
                raise ValueError(
                    f"customer {self.customer_id}: a summary without purchases has no purchase "
                    "instants and total_spent 0"
                )
            return
        if first is None or last is None:
            raise ValueError(
                f"customer {self.customer_id}: purchase_count > 0 needs first_purchase_at "
                "and last_purchase_at"
            )
        require_aware(first, "first_purchase_at")
        require_aware(last, "last_purchase_at")
        if first > last:
            raise ValueError(
                f"customer {self.customer_id}: first_purchase_at is after last_purchase_at"
            )

    @classmethod
    def empty(cls, customer_id: str, *, currency: str = "CNY") -> ActivitySummary:
        """The summary of a customer with no transaction (a prospect)."""
        return cls(
            customer_id=customer_id,
            first_purchase_at=None,
            last_purchase_at=None,
            purchase_count=0,
            total_spent=_ZERO,
            currency=currency,
        )

    @property
    def has_purchases(self) -> bool:
        """Whether at least one transaction was counted."""
        return self.purchase_count > 0

    def days_since_last_purchase(self, as_of: datetime) -> int | None:
        """Whole days from the last purchase to ``as_of`` (``timedelta.days``); ``None`` if none.

        This is RFM recency, not the "age at last purchase" some CLV libraries call recency.

        >>> from datetime import UTC, datetime
        >>> at = datetime(2024, 1, 1, tzinfo=UTC)
        >>> s = ActivitySummary(customer_id="c-1", first_purchase_at=at, last_purchase_at=at,
        ...                     purchase_count=1, total_spent=Decimal(10))
        >>> s.days_since_last_purchase(datetime(2024, 1, 31, 23, tzinfo=UTC))
        30
        """
        require_aware(as_of, "as_of")
        if self.last_purchase_at is None:
            return None
        return (as_of - self.last_purchase_at).days


class _Running:
    """Mutable per-customer accumulator used by :func:`summarize`."""

    __slots__ = ("count", "currency", "first", "last", "total")

    def __init__(self, at: datetime, amount: Decimal, currency: str) -> None:
        self.first = at
        self.last = at
        self.count = 1
        self.total = amount
        self.currency = currency


def summarize(
    transactions: Iterable[Transaction],
    *,
    as_of: datetime,
    customer_ids: Iterable[str] = (),
) -> dict[str, ActivitySummary]:
    """Summarise transactions per customer, counting those that occurred at or before ``as_of``.

    Returns a ``dict`` keyed by customer id, in ascending customer-id order. Customers listed in
    ``customer_ids`` that have no counted transaction get :meth:`ActivitySummary.empty` (currency
    ``CNY``; a summary without purchases is never checked against other currencies). Instants in
    the result are converted to UTC.

    Raises ``ValueError`` for a naive ``as_of`` or a naive ``occurred_at``, and
    :class:`MixedCurrencies` when one customer's counted transactions use several currencies.
    """
    require_aware(as_of, "as_of")
    acc: dict[str, _Running] = {}
    for tx in transactions:
        try:
            at = require_aware(tx.occurred_at, "occurred_at")
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"transaction {tx.id}: {exc}") from None
        if at > as_of:
            continue
        money = tx.amount
        running = acc.get(tx.customer_id)
        if running is None:
            acc[tx.customer_id] = _Running(at, money.amount, money.currency)
            continue
        if money.currency != running.currency:
            raise MixedCurrencies((running.currency, money.currency), customer_id=tx.customer_id)
        if at < running.first:
            running.first = at
        if at > running.last:
            running.last = at
        running.count += 1
        running.total += money.amount
    result: dict[str, ActivitySummary] = {}
    for customer_id in sorted(acc.keys() | set(customer_ids)):
        running = acc.get(customer_id)
        if running is None:
            result[customer_id] = ActivitySummary.empty(customer_id)
            continue
        result[customer_id] = ActivitySummary(
            customer_id=customer_id,
            first_purchase_at=running.first.astimezone(UTC),
            last_purchase_at=running.last.astimezone(UTC),
            purchase_count=running.count,
            total_spent=running.total,
            currency=running.currency,
        )
    return result
