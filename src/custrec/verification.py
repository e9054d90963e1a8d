"""Third-party verification of customer records: the :class:`Verifier` protocol and its result.

A verifier checks a record against an outside source (a business registry for a credit code and
name, a carrier lookup for a phone, a government service for a resident id) and says what it
found. The registry records every result (source, outcome, time, fields checked) in the
customer's history, and a confirmation updates ``last_verified_at`` (``registry.review.verify``).
Results hold no personal data: the fields checked are named, their values are not.

>>> from datetime import UTC, datetime
>>> from custrec.model.records import Customer, CustomerKind
>>> class AlwaysConfirms:
...     name = "example-registry"
...     def verify(self, customer, *, as_of):
...         return VerificationResult(source=self.name, outcome=VerificationOutcome.CONFIRMED,
...                                   checked_at=as_of, fields=("name",))
>>> acme = Customer(kind=CustomerKind.ORGANIZATION, name="Acme")
>>> result = AlwaysConfirms().verify(acme, as_of=datetime(2026, 1, 5, tzinfo=UTC))
>>> result.outcome, result.fields
(<VerificationOutcome.CONFIRMED: 'confirmed'>, ('name',))
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol

import attrs

from custrec._checks import aware, non_empty_text
from custrec.model.records import Customer

__all__ = ["VerificationOutcome", "VerificationResult", "Verifier"]


class VerificationOutcome(enum.StrEnum):
    """What an outside source said about a record."""

    CONFIRMED = "confirmed"  # the source agrees with the record
    REFUTED = "refuted"  # the source contradicts the record: a person must review it
    INCONCLUSIVE = "inconclusive"  # the source could not tell (not found, unavailable)


def _fields(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | frozenset | set):
        raise TypeError("VerificationResult.fields must be a sequence of field names")
    return tuple(str(v) for v in value)


@attrs.frozen(kw_only=True)
class VerificationResult:
    """One check by an outside source.

    ``source`` names the verifier; ``fields`` names the fields it checked (never their values);
    ``detail`` is an optional non-personal code from the source (``"deregistered"``, ...).
    """

    source: str = attrs.field(validator=non_empty_text())
    outcome: VerificationOutcome = attrs.field(converter=VerificationOutcome)
    checked_at: datetime = attrs.field(validator=aware())
    fields: tuple[str, ...] = attrs.field(default=(), converter=_fields)
    detail: str | None = None


class Verifier(Protocol):
    """Checks a customer record against an outside source (implement it; do not subclass)."""

    @property
    def name(self) -> str:
        """The source's name, recorded with every result."""
        ...

    def verify(self, customer: Customer, *, as_of: datetime) -> VerificationResult:
        """Check ``customer`` (unmasked) at ``as_of`` and return what the source said.

        Raise only for failures of the verifier itself (network, credentials); the registry
        records nothing for a call that raises.
        """
        ...
