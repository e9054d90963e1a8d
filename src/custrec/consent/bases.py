"""Jurisdictions, lawful bases and jurisdiction profiles.

PIPL Art. 13 lists seven lawful bases and, unlike GDPR Art. 6, has no "legitimate interests".
A :class:`JurisdictionProfile` says which bases exist and at which age a subject may consent
alone: 14 under PIPL Art. 31; 16 under GDPR Art. 8, which member states may lower to 13.

>>> pipl = JurisdictionProfile.pipl()
>>> pipl.allows(LawfulBasis.LEGITIMATE_INTERESTS), pipl.consent_age
(False, 14)
>>> JurisdictionProfile.gdpr(consent_age=13).consent_age
13
>>> pipl.require_basis(LawfulBasis.LEGITIMATE_INTERESTS)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
custrec.errors.BasisNotAvailable: lawful basis 'legitimate_interests' is not available ...
"""

from __future__ import annotations

import enum
import types
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Final

import attrs

from custrec._checks import integer, optional
from custrec.errors import BasisNotAvailable, ConsentError

__all__ = ["PROFILES", "Jurisdiction", "JurisdictionProfile", "LawfulBasis", "available_bases"]


class Jurisdiction(enum.StrEnum):
    """The data-protection regime that governs a subject's information."""

    PIPL = "pipl"  # Personal Information Protection Law of the PRC (2021)
    GDPR = "gdpr"  # Regulation (EU) 2016/679


class LawfulBasis(enum.StrEnum):
    """A lawful basis for processing, across both regimes.

    ``CONSENT``, ``CONTRACT`` (PIPL: incl. HR management) and ``LEGAL_OBLIGATION`` exist in both;
    ``EMERGENCY``, ``NEWS_REPORTING``, ``PUBLIC_INFORMATION`` and ``OTHER_LAWS`` only under PIPL;
    ``VITAL_INTERESTS``, ``PUBLIC_TASK`` and ``LEGITIMATE_INTERESTS`` only under GDPR.
    """

    CONSENT = "consent"  # PIPL 13(1); GDPR 6(1)(a)
    CONTRACT = "contract"  # PIPL 13(2) incl. HR management; GDPR 6(1)(b)
    LEGAL_OBLIGATION = "legal_obligation"  # PIPL 13(3); GDPR 6(1)(c)
    EMERGENCY = "emergency"  # PIPL 13(4): public health emergency, life/health/property
    NEWS_REPORTING = "news_reporting"  # PIPL 13(5): news, public-opinion supervision
    PUBLIC_INFORMATION = "public_information"  # PIPL 13(6): lawfully disclosed information
    OTHER_LAWS = "other_laws"  # PIPL 13(7): other circumstances provided by law
    VITAL_INTERESTS = "vital_interests"  # GDPR 6(1)(d)
    PUBLIC_TASK = "public_task"  # GDPR 6(1)(e)
    LEGITIMATE_INTERESTS = "legitimate_interests"  # GDPR 6(1)(f)

    @property
    def objectionable(self) -> bool:
        """Whether an objection by the subject stops processing on this basis.

        True for consent and for GDPR's public-task and legitimate-interests bases (Art. 21);
        false for contract necessity, legal duties, emergencies and the other statutory bases.
        """
        return self in _OBJECTIONABLE


_OBJECTIONABLE: Final = frozenset(
    {LawfulBasis.CONSENT, LawfulBasis.PUBLIC_TASK, LawfulBasis.LEGITIMATE_INTERESTS}
)

_PIPL_BASES: Final = frozenset(
    {
        LawfulBasis.CONSENT,
        LawfulBasis.CONTRACT,
        LawfulBasis.LEGAL_OBLIGATION,
        LawfulBasis.EMERGENCY,
        LawfulBasis.NEWS_REPORTING,
        LawfulBasis.PUBLIC_INFORMATION,
        LawfulBasis.OTHER_LAWS,
    }
)
_GDPR_BASES: Final = frozenset(
    {
        LawfulBasis.CONSENT,
        LawfulBasis.CONTRACT,
        LawfulBasis.LEGAL_OBLIGATION,
        LawfulBasis.VITAL_INTERESTS,
        LawfulBasis.PUBLIC_TASK,
        LawfulBasis.LEGITIMATE_INTERESTS,
    }
)
_STATUTORY_BASES: Final = {Jurisdiction.PIPL: _PIPL_BASES, Jurisdiction.GDPR: _GDPR_BASES}
_CHINA_STANDARD_TIME: Final = timedelta(hours=8)


def _bases(value: Iterable[LawfulBasis]) -> frozenset[LawfulBasis]:
    return frozenset(value)


@attrs.frozen(kw_only=True)
class JurisdictionProfile:
    """The consent rules of one jurisdiction, as configured.

    ``consent_age``: from this age (in whole years) a subject consents alone; younger subjects need
    a guardian's consent. ``sensitive_minor_age``: below this age all of a subject's information is
    sensitive (PIPL Art. 28: 14), or ``None`` where no such rule exists (GDPR). ``bases``: the
    lawful bases available. ``utc_offset``: the calendar on which birthdays are counted (PIPL:
    China Standard Time, UTC+08:00; GDPR default UTC).

    Use :meth:`pipl` and :meth:`gdpr` rather than the constructor; it refuses a profile that
    contradicts the statute (a GDPR age outside 13-16, a PIPL age below 14, a basis the
    jurisdiction does not have).
    """

    jurisdiction: Jurisdiction = attrs.field(validator=attrs.validators.instance_of(Jurisdiction))
    consent_age: int = attrs.field(validator=integer())
    sensitive_minor_age: int | None = attrs.field(default=None, validator=optional(integer()))
    bases: frozenset[LawfulBasis] = attrs.field(converter=_bases)
    utc_offset: timedelta = attrs.field(
        default=timedelta(0), validator=attrs.validators.instance_of(timedelta)
    )
    legal_reference: str = attrs.field(default="", validator=attrs.validators.instance_of(str))

    def __attrs_post_init__(self) -> None:
        if self.jurisdiction is Jurisdiction.GDPR and not 13 <= self.consent_age <= 16:
            raise ConsentError("GDPR Art. 8 sets the age of digital consent between 13 and 16")
        if self.jurisdiction is Jurisdiction.PIPL and not 14 <= self.consent_age <= 18:
            raise ConsentError("PIPL Art. 31 sets the age of consent at 14 (18 at most here)")
        if self.sensitive_minor_age is not None and not 0 < self.sensitive_minor_age <= 18:
            raise ConsentError("sensitive_minor_age must be between 1 and 18")
        for basis in self.bases:
            if not isinstance(basis, LawfulBasis):
                raise TypeError(f"bases must be LawfulBasis members, not {type(basis).__name__}")
        extra = self.bases - _STATUTORY_BASES[self.jurisdiction]
        if extra:
            names = ", ".join(sorted(extra))
            raise ConsentError(f"{self.jurisdiction.value} has no lawful basis {names}")
        if LawfulBasis.CONSENT not in self.bases:
            raise ConsentError("a profile must offer the consent basis")
        if abs(self.utc_offset) >= timedelta(days=1):
            raise ConsentError("utc_offset must be less than a day")

    @classmethod
    def pipl(cls, *, consent_age: int = 14) -> JurisdictionProfile:
        """The PIPL profile: seven Art. 13 bases, guardian consent and sensitive data below 14."""
        return cls(
            jurisdiction=Jurisdiction.PIPL,
            consent_age=consent_age,
            sensitive_minor_age=14,
            bases=_PIPL_BASES,
            utc_offset=_CHINA_STANDARD_TIME,
            legal_reference="PIPL Arts. 13, 28, 31",
        )

    @classmethod
    def gdpr(
        cls, *, consent_age: int = 16, utc_offset: timedelta = timedelta(0)
    ) -> JurisdictionProfile:
        """The GDPR profile: six Art. 6 bases; ``consent_age`` is the member-state age (13-16)."""
        return cls(
            jurisdiction=Jurisdiction.GDPR,
            consent_age=consent_age,
            sensitive_minor_age=None,
            bases=_GDPR_BASES,
            utc_offset=utc_offset,
            legal_reference="GDPR Arts. 6, 8",
        )

    def allows(self, basis: LawfulBasis) -> bool:
        """Whether ``basis`` is available under this profile."""
        return basis in self.bases

    def require_basis(self, basis: LawfulBasis) -> LawfulBasis:
        """Return ``basis``; raise :class:`BasisNotAvailable` if the profile lacks it."""
        if not isinstance(basis, LawfulBasis):
            raise TypeError(f"basis must be a LawfulBasis, not {type(basis).__name__}")
        if basis not in self.bases:
            raise BasisNotAvailable(
                f"lawful basis {basis.value!r} is not available under {self.jurisdiction.value}"
            )
        return basis


PROFILES: Final[Mapping[Jurisdiction, JurisdictionProfile]] = types.MappingProxyType(
    {
        Jurisdiction.PIPL: JurisdictionProfile.pipl(),
        Jurisdiction.GDPR: JurisdictionProfile.gdpr(),
    }
)
"""The default profile of each jurisdiction (GDPR with the Art. 8 default age of 16)."""


def available_bases(jurisdiction: Jurisdiction) -> frozenset[LawfulBasis]:
    """The lawful bases the statute of ``jurisdiction`` provides.

    >>> LawfulBasis.LEGITIMATE_INTERESTS in available_bases(Jurisdiction.PIPL)
    False
    """
    return _STATUTORY_BASES[jurisdiction]
