"""Exceptions raised by :mod:`custrec.consent`.

Every one is a :class:`ConsentError`, which is both a :class:`~custrec.errors.CustrecError` and a
``ValueError``. Messages name purpose codes, event ids and field names, never personal data.
"""

from __future__ import annotations

from custrec.errors import CustrecError

__all__ = [
    "BasisNotAvailable",
    "BundledConsentError",
    "ConsentError",
    "GuardianConsentRequired",
    "UnknownPurpose",
]


class ConsentError(CustrecError, ValueError):
    """A consent event, notice, profile or ledger operation is invalid."""


class BundledConsentError(ConsentError):
    """A grant names a separate-consent purpose together with another purpose.

    PIPL Arts. 23, 25, 26, 29 and 39 require *separate* consent: such a purpose is granted alone,
    in its own event.
    """


class GuardianConsentRequired(ConsentError):
    """A grant given by the subject was appended for a subject below the age of consent.

    PIPL Art. 31 (under 14) and GDPR Art. 8 (16, or a member-state age of 13 to 16) require the
    consent of a parent or guardian, recorded with :class:`~custrec.consent.GuardianEvidence`.
    """


class BasisNotAvailable(ConsentError):
    """A lawful basis is not available in the subject's jurisdiction.

    The usual case: ``legitimate_interests`` asserted for a PIPL subject (PIPL Art. 13 has no such
    basis).
    """


class UnknownPurpose(ConsentError, KeyError):
    """A purpose code is not in the purpose catalogue in use."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown purpose code {code!r}")
        self.code = code

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])
