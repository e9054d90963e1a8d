"""Verification results: what an outside source said, checked eagerly, free of personal values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from custrec.matching import MatchConfig
from custrec.model.records import Customer, CustomerKind
from custrec.verification import VerificationOutcome, VerificationResult, Verifier

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class CarrierLookup:
    """A verifier as a user would write one: it never subclasses anything."""

    name = "carrier"

    def verify(self, customer: Customer, *, as_of: datetime) -> VerificationResult:
        found = bool(customer.contacts)
        outcome = VerificationOutcome.CONFIRMED if found else VerificationOutcome.INCONCLUSIVE
        return VerificationResult(
            source=self.name, outcome=outcome, checked_at=as_of, fields=["phone"]
        )


def test_a_plain_class_satisfies_the_verifier_protocol() -> None:
    verifier: Verifier = CarrierLookup()
    result = verifier.verify(Customer(kind=CustomerKind.INDIVIDUAL, name="张三"), as_of=AT)
    assert result.outcome is VerificationOutcome.INCONCLUSIVE
    assert result.fields == ("phone",)


def test_outcomes_are_converted_from_their_values() -> None:
    result = VerificationResult(source="registry", outcome="refuted", checked_at=AT)  # type: ignore[arg-type]
    assert result.outcome is VerificationOutcome.REFUTED


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"source": " "}, ValueError),
        ({"source": None}, TypeError),
        ({"outcome": "maybe"}, ValueError),
        ({"checked_at": datetime(2026, 1, 5)}, ValueError),
        ({"checked_at": "2026-01-05T00:00:00+00:00"}, TypeError),
        ({"fields": "phone"}, TypeError),
    ],
)
def test_bad_results_are_refused(kwargs: dict[str, Any], error: type[Exception]) -> None:
    base: dict[str, Any] = {"source": "registry", "outcome": "confirmed", "checked_at": AT}
    with pytest.raises(error):
        VerificationResult(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("cap", "error"), [(1, ValueError), (0, ValueError), (True, TypeError), (2.5, TypeError)]
)
def test_a_match_config_needs_a_cap_of_at_least_two(cap: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="cap must be an integer"):
        MatchConfig(cap=cap)
