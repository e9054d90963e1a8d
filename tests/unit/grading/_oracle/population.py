"""Pre-optimisation reference: custrec/grading/_population.py as of commit 1bc46ff (issue 16).

Private checks shared by fitting and grading: as-of instants, currencies, duplicates.

Kept unchanged as a test oracle: the fast paths must fit and grade exactly
like this code. Do not edit it to follow the library; it is the definition.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from custrec._checks import require_aware
from custrec.grading.summary import ActivitySummary, MixedCurrencies

__all__ = ["check_graded", "collect_population"]


def collect_population(
    summaries: Iterable[ActivitySummary], as_of: datetime
) -> tuple[list[ActivitySummary], str | None]:
    """Materialise a population and check it; return it with its currency.

    The currency is the one shared by every summary with purchases (``None`` if nobody bought
    anything; summaries without purchases carry no amount and are never checked). Raises
    ``ValueError`` for a naive ``as_of``, a repeated customer id or a summary with purchases after
    ``as_of``; :class:`MixedCurrencies` when purchasers use several currencies.
    """
    require_aware(as_of, "as_of")
    population = list(summaries)
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
        raise MixedCurrencies((currency, summary.currency), customer_id=summary.customer_id)
