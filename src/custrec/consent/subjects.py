"""What the consent rules need to know about a data subject: jurisdiction and age.

Ages are whole years counted on the profile's calendar (PIPL: China Standard Time). A subject born
on 29 February turns a year older on 1 March in common years.

>>> from datetime import UTC, date, datetime
>>> child = SubjectFacts(birth_date=date(2012, 5, 1))
>>> child.age_at(datetime(2026, 4, 30, 15, 59, 59, 999999, tzinfo=UTC))  # 23:59:59.999999 CST
13
>>> child.age_at(datetime(2026, 4, 30, 16, 0, tzinfo=UTC))  # midnight in Beijing: the birthday
14
>>> "2012" in repr(child)
False
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs

from custrec._checks import calendar_date, check, member_of, optional, require_aware
from custrec.consent.bases import PROFILES, Jurisdiction, JurisdictionProfile
from custrec.errors import ConsentError
from custrec.model.records import (
    Customer,
    DataCategory,
    PersonalField,
    PersonalInfo,
    Sensitivity,
    personal,
)

__all__ = ["SubjectFacts", "age_on", "effective_sensitivity"]


def age_on(birth_date: date, day: date) -> int:
    """Whole years from ``birth_date`` to ``day`` (negative before birth).

    >>> age_on(date(2012, 2, 29), date(2026, 2, 28)), age_on(date(2012, 2, 29), date(2026, 3, 1))
    (13, 14)
    """
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


@attrs.frozen(kw_only=True)
class SubjectFacts:
    """A subject's jurisdiction, birth date and (optionally) a non-default profile.

    ``profile`` overrides :data:`~custrec.consent.PROFILES` for this subject, for example a GDPR
    member state with an age of digital consent of 13; it must be for ``jurisdiction``. Without a
    birth date the age rules cannot apply and the subject is treated as an adult. ``repr()`` hides
    the birth date.
    """

    jurisdiction: Jurisdiction = Jurisdiction.PIPL
    birth_date: date | None = personal(category=DataCategory.IDENTITY, default=None)
    profile: JurisdictionProfile | None = None

    def __attrs_post_init__(self) -> None:
        check("jurisdiction", self.jurisdiction, member_of(Jurisdiction))
        check("birth_date", self.birth_date, optional(calendar_date()))
        if self.profile is not None:
            if not isinstance(self.profile, JurisdictionProfile):
                raise TypeError("profile must be a JurisdictionProfile")
            if self.profile.jurisdiction is not self.jurisdiction:
                raise ConsentError("the profile is for another jurisdiction than the subject's")

    @classmethod
    def from_customer(
        cls,
        customer: Customer,
        *,
        jurisdiction: Jurisdiction = Jurisdiction.PIPL,
        profile: JurisdictionProfile | None = None,
    ) -> SubjectFacts:
        """The facts of a customer record (its ``birth_date``) under ``jurisdiction``."""
        if not isinstance(customer, Customer):
            raise TypeError("from_customer() needs a Customer")
        return cls(jurisdiction=jurisdiction, birth_date=customer.birth_date, profile=profile)

    @property
    def effective_profile(self) -> JurisdictionProfile:
        """``profile`` if given, else the default profile of ``jurisdiction``."""
        return self.profile if self.profile is not None else PROFILES[self.jurisdiction]

    def age_at(self, as_of: datetime) -> int | None:
        """Age in whole years at the instant ``as_of`` (``None`` without a birth date)."""
        require_aware(as_of, "as_of")
        if self.birth_date is None:
            return None
        local_day = (as_of.astimezone(UTC) + self.effective_profile.utc_offset).date()
        return age_on(self.birth_date, local_day)

    def below_consent_age(self, as_of: datetime) -> bool:
        """Whether the subject is too young at ``as_of`` to consent alone (``False`` if unknown)."""
        age = self.age_at(as_of)
        return age is not None and age < self.effective_profile.consent_age

    def is_sensitive_minor(self, as_of: datetime) -> bool:
        """Whether all of the subject's information is sensitive at ``as_of`` (PIPL Art. 28)."""
        threshold = self.effective_profile.sensitive_minor_age
        age = self.age_at(as_of)
        return threshold is not None and age is not None and age < threshold


def effective_sensitivity(
    declared: Sensitivity | PersonalInfo | PersonalField,
    subject: SubjectFacts | None,
    *,
    as_of: datetime,
) -> Sensitivity:
    """The sensitivity that applies to a field of ``subject`` at ``as_of``.

    ``declared`` is the field's declaration (from :func:`custrec.model.records.personal_fields`) or
    its sensitivity. Under PIPL Art. 28 all information of a subject under 14 is sensitive.

    >>> from datetime import UTC, date, datetime
    >>> as_of = datetime(2026, 1, 1, tzinfo=UTC)
    >>> child = SubjectFacts(birth_date=date(2015, 1, 1))
    >>> effective_sensitivity(Sensitivity.PERSONAL, child, as_of=as_of)
    <Sensitivity.SENSITIVE: 'sensitive'>
    >>> gdpr = SubjectFacts(jurisdiction=Jurisdiction.GDPR, birth_date=date(2015, 1, 1))
    >>> effective_sensitivity(Sensitivity.PERSONAL, gdpr, as_of=as_of)
    <Sensitivity.PERSONAL: 'personal'>
    """
    require_aware(as_of, "as_of")
    if isinstance(declared, PersonalInfo | PersonalField):
        level = declared.sensitivity
    elif isinstance(declared, Sensitivity):
        level = declared
    else:
        raise TypeError("declared must be a Sensitivity, PersonalInfo or PersonalField")
    if subject is not None and subject.is_sensitive_minor(as_of):
        return Sensitivity.SENSITIVE
    return level
