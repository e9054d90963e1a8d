"""Specification of purposes, jurisdictions, lawful bases and profiles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custrec.consent import (
    PROFILES,
    PURPOSES,
    BasisNotAvailable,
    ConsentError,
    ContactChannel,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    Purpose,
    PurposeCatalogue,
    UnknownPurpose,
    available_bases,
)


def test_builtin_catalogue_codes_and_flags() -> None:
    assert list(PURPOSES) == [
        "service",
        "storage",
        "marketing.email",
        "marketing.sms",
        "marketing.phone",
        "profiling",
        "analytics",
        "third_party",
        "cross_border",
        "public_disclosure",
        "sensitive",
        "public_images",
    ]
    separate = {c for c, p in PURPOSES.items() if p.requires_separate_consent}
    assert separate == {
        "third_party",
        "cross_border",
        "public_disclosure",
        "sensitive",
        "public_images",
    }
    assert PURPOSES["third_party"].legal_reference.startswith("PIPL Art. 23")
    assert PURPOSES["cross_border"].legal_reference.startswith("PIPL Arts. 38, 39")
    assert PURPOSES["public_disclosure"].legal_reference.startswith("PIPL Art. 25")
    assert PURPOSES["sensitive"].legal_reference.startswith("PIPL Arts. 28, 29")
    assert PURPOSES["public_images"].legal_reference.startswith("PIPL Art. 26")
    assert {c for c, p in PURPOSES.items() if p.necessary_for_service} == {"service", "storage"}
    assert {c for c, p in PURPOSES.items() if p.storage_only} == {"storage"}
    assert {c for c, p in PURPOSES.items() if p.is_profiling} == {"profiling"}
    assert [p.channel for p in PURPOSES.values() if p.is_marketing] == [
        ContactChannel.EMAIL,
        ContactChannel.SMS,
        ContactChannel.PHONE,
    ]


def test_catalogue_is_an_immutable_mapping_that_can_be_extended_or_replaced() -> None:
    loyalty = Purpose(code="loyalty", title="Loyalty programme", is_marketing=True)
    stricter = Purpose(code="analytics", title="Analytics", requires_separate_consent=True)
    mine = PURPOSES.extended(loyalty, stricter)
    assert mine["loyalty"] is loyalty and mine["analytics"] is stricter
    assert list(mine)[-1] == "loyalty" and list(mine).index("analytics") == 6  # replaced in place
    assert not PURPOSES["analytics"].requires_separate_consent  # the original is unchanged
    smaller = mine.without("public_images", "loyalty")
    assert "public_images" not in smaller and len(smaller) == len(PURPOSES) - 1
    own = PurposeCatalogue([loyalty])
    assert dict(own) == {"loyalty": loyalty}
    assert own == PurposeCatalogue([loyalty]) and hash(own) == hash(PurposeCatalogue([loyalty]))
    assert repr(own) == "PurposeCatalogue(['loyalty'])"
    with pytest.raises(AttributeError):
        own.x = 1  # type: ignore[attr-defined]


def test_catalogue_errors() -> None:
    with pytest.raises(UnknownPurpose, match="unknown purpose code 'nope'") as info:
        PURPOSES["nope"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value) == "unknown purpose code 'nope'"
    assert PURPOSES.get("nope") is None and "nope" not in PURPOSES and 3 not in PURPOSES
    with pytest.raises(UnknownPurpose):
        PURPOSES.without("nope")
    with pytest.raises(ConsentError, match="defined twice"):
        PurposeCatalogue([PURPOSES["service"], PURPOSES["service"]])
    with pytest.raises(TypeError):
        PurposeCatalogue(["service"])  # type: ignore[list-item]


@pytest.mark.parametrize("code", ["", "Marketing", "marketing..email", ".x", "x y", "1x"])
def test_purpose_codes_are_validated(code: str) -> None:
    with pytest.raises(ValueError, match="code"):
        Purpose(code=code, title="t")


def test_purpose_flags_are_validated() -> None:
    with pytest.raises(TypeError):
        Purpose(code="x", title="t", is_profiling=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blank"):
        Purpose(code="x", title="  ")


def test_pipl_has_seven_bases_and_no_legitimate_interests() -> None:
    pipl = available_bases(Jurisdiction.PIPL)
    assert len(pipl) == 7 and LawfulBasis.LEGITIMATE_INTERESTS not in pipl
    assert {
        LawfulBasis.EMERGENCY,
        LawfulBasis.NEWS_REPORTING,
        LawfulBasis.PUBLIC_INFORMATION,
        LawfulBasis.OTHER_LAWS,
    } <= pipl
    gdpr = available_bases(Jurisdiction.GDPR)
    assert len(gdpr) == 6 and LawfulBasis.LEGITIMATE_INTERESTS in gdpr
    assert LawfulBasis.EMERGENCY not in gdpr
    assert PROFILES[Jurisdiction.PIPL].bases == pipl
    assert PROFILES[Jurisdiction.GDPR].bases == gdpr


def test_require_basis_raises_a_typed_error() -> None:
    pipl = PROFILES[Jurisdiction.PIPL]
    assert pipl.require_basis(LawfulBasis.CONTRACT) is LawfulBasis.CONTRACT
    with pytest.raises(BasisNotAvailable, match="legitimate_interests"):
        pipl.require_basis(LawfulBasis.LEGITIMATE_INTERESTS)
    with pytest.raises(TypeError):
        pipl.require_basis("consent")  # type: ignore[arg-type]


def test_objectionable_bases() -> None:
    assert {b for b in LawfulBasis if b.objectionable} == {
        LawfulBasis.CONSENT,
        LawfulBasis.PUBLIC_TASK,
        LawfulBasis.LEGITIMATE_INTERESTS,
    }


def test_profiles_and_their_limits() -> None:
    pipl = JurisdictionProfile.pipl()
    assert (pipl.consent_age, pipl.sensitive_minor_age, pipl.utc_offset) == (
        14,
        14,
        timedelta(hours=8),
    )
    gdpr = JurisdictionProfile.gdpr()
    assert (gdpr.consent_age, gdpr.sensitive_minor_age) == (16, None)
    for age in (13, 14, 15, 16):
        assert JurisdictionProfile.gdpr(consent_age=age).consent_age == age
    for age in (12, 17):
        with pytest.raises(ConsentError, match="between 13 and 16"):
            JurisdictionProfile.gdpr(consent_age=age)
    with pytest.raises(ConsentError, match="14"):
        JurisdictionProfile.pipl(consent_age=13)
    assert JurisdictionProfile.pipl(consent_age=16).sensitive_minor_age == 14
    with pytest.raises(ConsentError, match="no lawful basis legitimate_interests"):
        JurisdictionProfile(
            jurisdiction=Jurisdiction.PIPL,
            consent_age=14,
            bases={LawfulBasis.CONSENT, LawfulBasis.LEGITIMATE_INTERESTS},
        )
    with pytest.raises(ConsentError, match="consent basis"):
        JurisdictionProfile(
            jurisdiction=Jurisdiction.GDPR, consent_age=16, bases={LawfulBasis.CONTRACT}
        )
    with pytest.raises(TypeError):
        JurisdictionProfile.gdpr(consent_age=True)
