"""Private checks shared by fitting and grading: as-of instants, currencies, duplicates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from operator import attrgetter, lt

from custrec._checks import require_aware
from custrec.grading.summary import ActivitySummary, MixedCurrencies

__all__ = [
    "LAST",
    "check_graded",
    "check_many",
    "collect_population",
    "raise_first_problem",
]

LAST = attrgetter("last_purchase_at")
_ID = attrgetter("customer_id")
_CURRENCY = attrgetter("currency")


def collect_population(
    summaries: Iterable[ActivitySummary], as_of: datetime, *, unique_ids: bool = False
) -> tuple[list[ActivitySummary], str | None, list[datetime | None]]:
    """Materialise a population and check it; return it with its currency and the last purchase
    instant of each summary.

    The currency is the one shared by every summary with purchases (``None`` if nobody bought
    anything; summaries without purchases carry no amount and are never checked). Raises
    ``ValueError`` for a naive ``as_of``, a repeated customer id or a summary with purchases after
    ``as_of``; :class:`MixedCurrencies` when purchasers use several currencies.

    ``unique_ids=True`` skips the repeated-id check: the caller checks (cheaply, on ids it sorts
    anyway) and calls :func:`raise_first_problem` when an id repeats.
    """
    require_aware(as_of, "as_of")
    population = list(summaries)
    ids = [] if unique_ids else list(map(_ID, population))
    lasts = list(map(LAST, population))
    latest = max(filter(None, lasts), default=None)  # instants are always true
    currencies = set(map(_CURRENCY, population))
    if len(currencies) > 1:  # prospects carry a currency too; only purchasers' count
        currencies = {s.currency for s, last in zip(population, lasts, strict=True) if last}
    unique = _ascending(ids) or len(set(ids)) == len(ids)
    if unique and len(currencies) <= 1 and not (latest and latest > as_of):
        return population, (currencies.pop() if latest else None), lasts
    return (*raise_first_problem(population, as_of), lasts)


def _ascending(ids: list[str]) -> bool:
    """Whether the ids strictly ascend (so are distinct); cheaper than a set when they do."""
    return all(map(lt, ids, islice(ids, 1, None)))


def raise_first_problem(
    population: list[ActivitySummary], as_of: datetime
) -> tuple[list[ActivitySummary], str | None]:
    """:func:`collect_population` one summary at a time: raises the first problem in order."""
    seen: set[str] = set()
    currency: str | None = None
    for summary in population:
        customer_id = summary.customer_id
        if customer_id in seen:
            raise ValueError(f"customer {customer_id} appears twice in the population")
        seen.add(customer_id)
        last = summary.last_purchase_at
        if last is None:
            continue
        if last > as_of:
            raise ValueError(
                f"customer {customer_id}: the summary has purchases after as_of; "
                "summarise at or before the fitting instant"
            )
        if currency is None:
            currency = summary.currency
        elif summary.currency != currency:
            raise MixedCurrencies((currency, summary.currency))
    return population, currency


def check_many(
    summaries: Sequence[ActivitySummary],
    as_of: datetime,
    currency: str | None,
    lasts: Iterable[datetime | None] | None = None,
) -> None:
    """:func:`check_graded` for every summary (the first problem in order raises); ``lasts``,
    when given, are the summaries' last purchase instants."""
    require_aware(as_of, "as_of")
    if lasts is None:
        lasts = map(LAST, summaries)
    latest = max(filter(None, lasts), default=None)  # instants are always true
    if latest is None:
        return
    bad = latest > as_of
    if not bad and currency is not None and set(map(_CURRENCY, summaries)) != {currency}:
        bad = any(s.currency != currency for s in summaries if s.last_purchase_at is not None)
    if bad:
        for summary in summaries:
            check_graded(summary, as_of, currency)


def check_graded(summary: ActivitySummary, as_of: datetime, currency: str | None) -> None:
    """Check one summary about to be graded at ``as_of`` against a policy's currency.

    Raises ``ValueError`` for a naive ``as_of`` or purchases after ``as_of``, and
    :class:`MixedCurrencies` when the summary has purchases in another currency than ``currency``
    (``None`` accepts any).
    """
    require_aware(as_of, "as_of")
    last = summary.last_purchase_at
    if last is None:
        return
    if last > as_of:
        raise ValueError(
            f"customer {summary.customer_id}: the summary has purchases after as_of; "
            "grade at or after the summary's instant"
        )
    if currency is not None and summary.currency != currency:
        raise MixedCurrencies(
            (currency, summary.currency), customer_id=summary.customer_id, expected=currency
        )
