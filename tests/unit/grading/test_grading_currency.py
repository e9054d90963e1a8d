"""A grading policy's currency takes the one check of custrec.validation.currency: a policy in
``RMB`` would never match the ``CNY`` purchases it was meant for."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.grading import ThresholdPolicy, abcd_by_amount
from custrec.validation.currency import CODES


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("RMB", "currency: not an ISO 4217 code: use CNY"),
        ("人民币", "currency: not an ISO 4217 code: use CNY"),
        ("¥", "currency: not an ISO 4217 code: use CNY"),
        ("US$", "currency: not an ISO 4217 code: use USD"),
        ("cny", "currency: use upper case: CNY"),
        ("ABC", "currency: not an ISO 4217 currency code (such as CNY)"),
        ("XXX", "currency: XXX means no currency: name the currency of the amount"),
        ("BGN", "currency: withdrawn from ISO 4217 (replaced by EUR)"),
    ],
)
def test_a_policy_currency_that_is_not_an_accepted_code_is_refused(code: str, message: str) -> None:
    exactly = f"^{re.escape(message)}$"
    with pytest.raises(ValueError, match=exactly):
        abcd_by_amount(1000, 100, currency=code)
    with pytest.raises(ValueError, match=exactly):
        ThresholdPolicy("total_spent", (Decimal(10),), ("A", "B"), currency=code)


@given(st.sampled_from(sorted(CODES)))
def test_a_policy_takes_every_accepted_code(code: str) -> None:
    policy = abcd_by_amount(1000, 100, currency=code)
    assert policy.currency == code
    assert policy.policy_id.endswith(f":{code}")


def test_a_policy_without_a_currency_stays_without_one() -> None:
    assert ThresholdPolicy("purchase_count", (3,), ("A", "B")).currency is None
