"""Specification of ConsentLedger.decide: every rule, at microsecond precision, ties included."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from custrec.consent import (
    PURPOSES,
    BundledConsentError,
    CaptureChannel,
    ConsentDecision,
    ConsentError,
    ConsentEvent,
    ConsentLedger,
    GuardianConsentRequired,
    GuardianEvidence,
    GuardianRelation,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    NoticeHistory,
    NoticeVersion,
    ReasonCode,
    SubjectFacts,
    UnknownPurpose,
    notice_hash,
)
from custrec.model.records import DataCategory

US = timedelta(microseconds=1)
T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
T1 = T0 + timedelta(days=10)
T2 = T0 + timedelta(days=20)
T3 = T0 + timedelta(days=30)
WEB = CaptureChannel.WEB_FORM
CID = "c-1"
GUARDIAN = GuardianEvidence(
    guardian_ref="g-77", relation=GuardianRelation.PARENT, proof_reference="doc-9"
)


def grant(purposes: str | tuple[str, ...], at: datetime, **kw: object) -> ConsentEvent:
    return ConsentEvent.grant(CID, purposes, at=at, channel=WEB, **kw)  # type: ignore[arg-type]


def withdraw(purposes: str | tuple[str, ...], at: datetime, **kw: object) -> ConsentEvent:
    return ConsentEvent.withdraw(CID, purposes, at=at, channel=WEB, **kw)  # type: ignore[arg-type]


def ledger(*events: ConsentEvent) -> ConsentLedger:
    return ConsentLedger(CID, events)


def reason(lg: ConsentLedger, purpose: str, at: datetime, **kw: object) -> str:
    return lg.decide(purpose, as_of=at, **kw).reason.value  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ withdrawal


def test_withdrawal_is_prospective_and_never_rewrites_the_past() -> None:
    g = grant("marketing.email", T1)
    w = withdraw("marketing.email", T2)
    lg = ledger(g, w)
    assert reason(lg, "marketing.email", T1 - US) == "no_consent"
    before = lg.decide("marketing.email", as_of=T1)
    assert before == ConsentDecision(
        allowed=True,
        reason=ReasonCode.GRANTED,
        basis=LawfulBasis.CONSENT,
        evidence_ids=(g.id,),
        purpose="marketing.email",
        as_of=T1,
    )
    assert reason(lg, "marketing.email", T2 - US) == "granted"
    after = lg.decide("marketing.email", as_of=T2)
    assert (after.allowed, after.reason, after.evidence_ids) == (False, "withdrawn", (w.id,))
    assert lg.events == (g, w)  # both events stay, unchanged


def test_withdrawal_wins_over_a_grant_at_the_same_instant_in_either_order() -> None:
    g = grant("marketing.sms", T1)
    w = withdraw("marketing.sms", T1)
    assert reason(ledger(g, w), "marketing.sms", T1) == "withdrawn"
    assert reason(ledger(w, g), "marketing.sms", T1) == "withdrawn"
    assert reason(ledger(w, g), "marketing.sms", T1 - US) == "no_consent"


def test_a_later_grant_after_withdrawal_grants_again() -> None:
    lg = ledger(grant("analytics", T0), withdraw("analytics", T1), grant("analytics", T1 + US))
    assert reason(lg, "analytics", T1) == "withdrawn"
    assert reason(lg, "analytics", T1 + US) == "granted"


def test_withdraw_and_object_take_the_same_arguments_as_grant_minus_the_expiry() -> None:
    from custrec.consent.events import EventDetails, GrantDetails

    assert GrantDetails.__optional_keys__ - EventDetails.__optional_keys__ == {"effective_to"}
    signatures = [
        inspect.signature(builder).parameters
        for builder in (ConsentEvent.grant, ConsentEvent.withdraw, ConsentEvent.object_to)
    ]
    for parameters in signatures:
        required = {n for n, p in parameters.items() if p.default is inspect.Parameter.empty}
        assert required - {"details"} == {"customer_id", "purposes", "at", "channel"}


def test_an_objection_records_every_detail_a_withdrawal_does() -> None:
    from custrec.consent import Evidence, GuardianEvidence, GuardianRelation, NoticeVersion
    from custrec.consent.events import EventDetails as GrantDetailsLike

    notice = NoticeVersion(version="v2", effective_from=T0, content_hash="ab" * 32)
    guardian = GuardianEvidence(guardian_ref="g-1", relation=GuardianRelation.PARENT)
    details: GrantDetailsLike = {
        "effective_from": T1,
        "data_categories": (DataCategory.CONTACT,),
        "notice": notice,
        "evidence": Evidence(collector="staff-2"),
        "guardian": guardian,
    }
    made = [
        build("c-1", "profiling", at=T0, channel=CaptureChannel.WEB_FORM, **details)
        for build in (ConsentEvent.withdraw, ConsentEvent.object_to)
    ]
    for event in made:
        assert event.effective_from == T1
        assert event.data_categories == (DataCategory.CONTACT,)
        assert (event.notice_version, event.guardian) == ("v2", guardian)
        assert event.given_by.value == "guardian"


@pytest.mark.parametrize("builder", ["grant", "withdraw", "object_to"])
def test_an_unknown_detail_is_refused_not_ignored(builder: str) -> None:
    with pytest.raises(TypeError, match="effective_until"):
        getattr(ConsentEvent, builder)(
            "c-1", "profiling", at=T0, channel=CaptureChannel.WEB_FORM, effective_until=T1
        )


def test_a_withdrawal_cannot_expire() -> None:
    with pytest.raises(TypeError, match="effective_to"):
        ConsentEvent.withdraw(
            "c-1",
            "profiling",
            at=T0,
            channel=CaptureChannel.WEB_FORM,
            effective_to=T1,  # type: ignore[call-arg]
        )


def test_a_scheduled_withdrawal_takes_effect_at_its_effective_from() -> None:
    w = withdraw("profiling", T1, effective_from=T2)
    lg = ledger(grant("profiling", T0), w)
    assert reason(lg, "profiling", T2 - US) == "granted"
    assert reason(lg, "profiling", T2) == "withdrawn"


def test_withdrawal_of_several_purposes_at_once_is_allowed() -> None:
    lg = ledger(
        grant(("marketing.email", "marketing.sms"), T0),
        grant("third_party", T0),
        withdraw(("marketing.email", "marketing.sms", "third_party"), T1),
    )
    decisions = lg.decide_all(as_of=T1)
    assert {c for c, d in decisions.items() if d.reason == "withdrawn"} == {
        "marketing.email",
        "marketing.sms",
        "third_party",
    }


# ---------------------------------------------------------------------- separate consent


@pytest.mark.parametrize(
    "purposes",
    [
        ("third_party", "cross_border"),
        ("marketing.email", "third_party"),
        ("sensitive", "analytics", "profiling"),
    ],
)
def test_a_grant_bundling_a_separate_consent_purpose_is_rejected(
    purposes: tuple[str, ...],
) -> None:
    event = grant(purposes, T0)
    with pytest.raises(BundledConsentError, match="separate consent"):
        ledger(event)
    with pytest.raises(BundledConsentError):
        ConsentLedger(CID).append(event)
    assert issubclass(BundledConsentError, ConsentError)
    assert issubclass(BundledConsentError, ValueError)


def test_separate_consent_purposes_are_satisfied_only_by_their_own_grant() -> None:
    general = grant(("service", "marketing.email", "marketing.sms", "profiling", "analytics"), T0)
    lg = ledger(general)
    for code in ("third_party", "cross_border", "public_disclosure", "sensitive", "public_images"):
        d = lg.decide(code, as_of=T1)
        assert (d.allowed, d.reason) == (False, "separate_consent_required")
    own = grant("cross_border", T1)
    lg = lg.append(own)
    assert reason(lg, "cross_border", T1 - US) == "separate_consent_required"
    assert lg.decide("cross_border", as_of=T1).evidence_ids == (own.id,)
    assert reason(lg, "third_party", T1) == "separate_consent_required"


def test_a_separate_purpose_may_be_withdrawn_and_objected_to_like_any_other() -> None:
    lg = ledger(grant("third_party", T0), withdraw("third_party", T1))
    assert reason(lg, "third_party", T1) == "withdrawn"


# ------------------------------------------------------------------------------ minors

BORN = date(2012, 5, 1)  # 14th birthday: 2026-05-01 00:00 China Standard Time
BIRTHDAY_UTC = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)


def test_a_subject_under_14_needs_guardian_consent_under_pipl() -> None:
    child = SubjectFacts(birth_date=BORN)
    own = grant("marketing.email", BIRTHDAY_UTC - US)  # 13 years old in Beijing
    lg = ledger(own)
    d = lg.decide("marketing.email", as_of=BIRTHDAY_UTC + timedelta(days=1), subject=child)
    assert (d.allowed, d.reason, d.evidence_ids) == (False, "guardian_required", (own.id,))
    with pytest.raises(GuardianConsentRequired):
        ConsentLedger(CID).append(own, subject=child)
    # a guardian's grant is accepted and records the guardian's reference
    by_guardian = grant("marketing.email", BIRTHDAY_UTC - US, guardian=GUARDIAN)
    lg = ConsentLedger(CID).append(by_guardian, subject=child)
    assert reason(lg, "marketing.email", BIRTHDAY_UTC - US, subject=child) == "granted"
    assert lg.events[0].guardian is not None
    assert lg.events[0].guardian.guardian_ref == "g-77"


def test_the_subject_may_consent_alone_from_the_14th_birthday_in_china_time() -> None:
    child = SubjectFacts(birth_date=BORN)
    on_birthday = grant("profiling", BIRTHDAY_UTC)
    lg = ConsentLedger(CID).append(on_birthday, subject=child)
    assert reason(lg, "profiling", BIRTHDAY_UTC, subject=child) == "granted"


def test_age_is_taken_when_consent_was_given_not_later() -> None:
    child = SubjectFacts(birth_date=BORN)
    lg = ledger(grant("profiling", BIRTHDAY_UTC - US))  # given at 13
    years_later = BIRTHDAY_UTC + timedelta(days=800)
    assert reason(lg, "profiling", years_later, subject=child) == "guardian_required"


def test_without_a_birth_date_the_age_rule_cannot_apply() -> None:
    lg = ledger(grant("profiling", T0))
    assert reason(lg, "profiling", T0, subject=SubjectFacts()) == "granted"


def test_gdpr_age_comes_from_the_profile_and_member_state_setting() -> None:
    thirteen = datetime(2025, 6, 1, tzinfo=UTC)
    born = date(2012, 1, 1)
    gdpr_default = SubjectFacts(jurisdiction=Jurisdiction.GDPR, birth_date=born)
    member_13 = SubjectFacts(
        jurisdiction=Jurisdiction.GDPR,
        birth_date=born,
        profile=JurisdictionProfile.gdpr(consent_age=13),
    )
    event = ConsentEvent.grant(
        CID, "marketing.email", at=thirteen, channel=WEB, jurisdiction=Jurisdiction.GDPR
    )
    lg = ledger(event)
    assert reason(lg, "marketing.email", thirteen, subject=gdpr_default) == "guardian_required"
    assert reason(lg, "marketing.email", thirteen, subject=member_13) == "granted"
    ConsentLedger(CID).append(event, subject=member_13)  # accepted
    with pytest.raises(GuardianConsentRequired):
        ConsentLedger(CID).append(event, subject=gdpr_default)


def test_append_refuses_an_event_from_another_jurisdiction_than_the_subjects() -> None:
    with pytest.raises(ConsentError, match="recorded under pipl"):
        ConsentLedger(CID).append(
            grant("analytics", T0), subject=SubjectFacts(jurisdiction=Jurisdiction.GDPR)
        )


# ---------------------------------------------------------------------------- notices

V1 = NoticeVersion(version="v1", content_hash=notice_hash("notice one"), effective_from=T0)
V2_MATERIAL = NoticeVersion(
    version="v2", content_hash=notice_hash("notice two"), effective_from=T2, material=True
)
V2_MINOR = NoticeVersion(
    version="v2", content_hash=notice_hash("notice two"), effective_from=T2, material=False
)


def test_a_material_notice_change_requires_reconsent_from_its_effective_instant() -> None:
    g = grant("marketing.email", T1, notice=V1)
    assert (g.notice_version, g.notice_hash) == ("v1", V1.content_hash)
    lg = ledger(g)
    history = NoticeHistory((V1, V2_MATERIAL))
    assert reason(lg, "marketing.email", T2 - US, notices=history) == "granted"
    d = lg.decide("marketing.email", as_of=T2, notices=history)
    assert (d.allowed, d.reason, d.evidence_ids) == (False, "reconsent_required", (g.id,))
    # re-consent under v2 restores it
    lg = lg.append(grant("marketing.email", T2 + US, notice=V2_MATERIAL))
    assert reason(lg, "marketing.email", T2 + US, notices=history) == "granted"


def test_a_non_material_notice_change_keeps_consent_valid() -> None:
    lg = ledger(grant("marketing.email", T1, notice=V1))
    assert reason(lg, "marketing.email", T3, notices=NoticeHistory((V1, V2_MINOR))) == "granted"


def test_a_material_change_is_remembered_behind_later_minor_versions() -> None:
    v3 = NoticeVersion(
        version="v3", content_hash=notice_hash("three"), effective_from=T3, material=False
    )
    lg = ledger(grant("analytics", T1, notice=V1))
    history = NoticeHistory((V1, V2_MATERIAL, v3))
    assert reason(lg, "analytics", T3, notices=history) == "reconsent_required"


def test_a_single_current_notice_can_be_passed() -> None:
    lg = ledger(grant("analytics", T1, notice=V1))
    assert reason(lg, "analytics", T2, notices=V2_MATERIAL) == "reconsent_required"
    assert reason(lg, "analytics", T2, notices=V2_MINOR) == "granted"


def test_a_grant_whose_hash_differs_from_the_published_text_needs_reconsent() -> None:
    tampered = grant(
        "analytics",
        T1,
        notice=NoticeVersion(
            version="v1", content_hash=notice_hash("other text"), effective_from=T0
        ),
    )
    assert reason(ledger(tampered), "analytics", T1, notices=NoticeHistory((V1,))) == (
        "reconsent_required"
    )


def test_a_grant_without_notice_is_not_covered_by_a_material_notice() -> None:
    lg = ledger(grant("analytics", T1))
    assert reason(lg, "analytics", T1, notices=V1) == "reconsent_required"
    assert reason(lg, "analytics", T1) == "granted"  # no notice history given: not checked


# -------------------------------------------------------------------------- objections


def test_an_objection_blocks_until_a_later_explicit_grant() -> None:
    o = ConsentEvent.object_to(CID, "profiling", at=T1, channel=CaptureChannel.APP)
    lg = ledger(grant("profiling", T0), o)
    d = lg.decide("profiling", as_of=T1)
    assert (d.allowed, d.reason, d.evidence_ids) == (False, "objected", (o.id,))
    # a grant at the same instant does not lift it; a later one does
    assert reason(lg.append(grant("profiling", T1)), "profiling", T1) == "objected"
    lifted = lg.append(grant("profiling", T1 + US))
    assert reason(lifted, "profiling", T1 + US) == "granted"
    assert reason(lifted, "profiling", T1) == "objected"


def test_a_withdrawal_or_grant_of_another_purpose_does_not_lift_an_objection() -> None:
    o = ConsentEvent.object_to(CID, ("marketing.email", "profiling"), at=T0, channel=WEB)
    lg = ledger(o, grant("marketing.email", T1), withdraw("profiling", T2))
    assert reason(lg, "marketing.email", T3) == "granted"
    assert reason(lg, "profiling", T3) == "objected"


def test_an_objection_stops_legitimate_interests_but_not_a_legal_obligation() -> None:
    gdpr = SubjectFacts(jurisdiction=Jurisdiction.GDPR)
    lg = ledger(ConsentEvent.object_to(CID, "marketing.email", at=T0, channel=WEB))
    li = lg.decide(
        "marketing.email", as_of=T1, subject=gdpr, basis=LawfulBasis.LEGITIMATE_INTERESTS
    )
    assert (li.allowed, li.reason, li.basis) == (False, "objected", "legitimate_interests")
    legal = lg.decide("marketing.email", as_of=T1, subject=gdpr, basis=LawfulBasis.LEGAL_OBLIGATION)
    assert (legal.allowed, legal.reason) == (True, "lawful_basis")


# ------------------------------------------------------------------------------- expiry


def test_a_grant_lapses_at_its_effective_to_exclusive() -> None:
    g = grant("marketing.phone", T0, effective_to=T1)
    lg = ledger(g)
    assert reason(lg, "marketing.phone", T1 - US) == "granted"
    d = lg.decide("marketing.phone", as_of=T1)
    assert (d.allowed, d.reason, d.evidence_ids) == (False, "expired", (g.id,))


def test_the_latest_grant_decides_the_expiry() -> None:
    lg = ledger(grant("analytics", T0), grant("analytics", T1, effective_to=T2))
    assert reason(lg, "analytics", T2) == "expired"
    renewed = ledger(grant("analytics", T0, effective_to=T1), grant("analytics", T1))
    assert reason(renewed, "analytics", T3) == "granted"


def test_same_effective_instant_grants_resolve_by_capture_time_then_ledger_order() -> None:
    late_capture = grant("analytics", T0, effective_from=T1)  # no expiry
    early_capture = grant("analytics", T0 - US, effective_from=T1, effective_to=T2)
    for order in ((late_capture, early_capture), (early_capture, late_capture)):
        assert reason(ledger(*order), "analytics", T2) == "granted"  # latest capture wins
    a = grant("analytics", T1, effective_to=T2)
    b = grant("analytics", T1)
    assert reason(ledger(a, b), "analytics", T2) == "granted"
    assert reason(ledger(b, a), "analytics", T2) == "expired"


# -------------------------------------------------------------------- contract necessity


def test_contract_necessity_needs_no_consent_for_necessary_purposes() -> None:
    lg = ConsentLedger(CID)
    d = lg.decide("service", as_of=T0, basis=LawfulBasis.CONTRACT)
    assert d == ConsentDecision(
        allowed=True,
        reason=ReasonCode.CONTRACT_NECESSITY,
        basis=LawfulBasis.CONTRACT,
        purpose="service",
        as_of=T0,
    )
    assert reason(lg, "service", T0) == "no_consent"  # the contract basis must be asserted


def test_the_contract_basis_does_not_cover_unnecessary_purposes() -> None:
    lg = ledger(grant("marketing.email", T0))
    d = lg.decide("marketing.email", as_of=T0, basis=LawfulBasis.CONTRACT)
    assert (d.allowed, d.reason, d.basis) == (True, "granted", "consent")
    assert reason(ConsentLedger(CID), "profiling", T0, basis=LawfulBasis.CONTRACT) == "no_consent"


def test_objection_does_not_stop_contract_necessity() -> None:
    lg = ledger(ConsentEvent.object_to(CID, "service", at=T0, channel=WEB))
    assert reason(lg, "service", T1, basis=LawfulBasis.CONTRACT) == "contract_necessity"


# ------------------------------------------------------------------------ lawful bases


def test_legitimate_interests_is_not_available_under_pipl() -> None:
    d = ConsentLedger(CID).decide(
        "marketing.email", as_of=T0, basis=LawfulBasis.LEGITIMATE_INTERESTS
    )
    assert (d.allowed, d.reason, d.basis) == (False, "basis_not_available", "legitimate_interests")
    gdpr = SubjectFacts(jurisdiction=Jurisdiction.GDPR)
    assert (
        reason(ConsentLedger(CID), "marketing.email", T0, subject=gdpr, basis=LawfulBasis.EMERGENCY)
        == "basis_not_available"
    )
    d = ConsentLedger(CID).decide(
        "analytics", as_of=T0, subject=gdpr, basis=LawfulBasis.LEGITIMATE_INTERESTS
    )
    assert (d.allowed, d.reason) == (True, "lawful_basis")


def test_basis_not_available_is_checked_before_anything_else() -> None:
    lg = ledger(ConsentEvent.restrict(CID, at=T0, channel=WEB))
    assert reason(lg, "analytics", T1, basis=LawfulBasis.PUBLIC_TASK) == "basis_not_available"


def test_pipl_statutory_bases_allow_without_consent() -> None:
    for basis in (LawfulBasis.LEGAL_OBLIGATION, LawfulBasis.EMERGENCY, LawfulBasis.OTHER_LAWS):
        d = ConsentLedger(CID).decide("third_party", as_of=T0, basis=basis)
        assert (d.allowed, d.reason, d.basis) == (True, "lawful_basis", basis)


# -------------------------------------------------------------------------- restriction


def test_a_restriction_blocks_everything_but_storage_until_lifted() -> None:
    r = ConsentEvent.restrict(CID, at=T1, channel=CaptureChannel.EMAIL)
    lift = ConsentEvent.lift_restriction(CID, at=T2, channel=CaptureChannel.EMAIL)
    lg = ledger(grant("analytics", T0), r, lift)
    assert reason(lg, "analytics", T1 - US) == "granted"
    d = lg.decide("analytics", as_of=T1)
    assert (d.allowed, d.reason, d.evidence_ids) == (False, "restricted", (r.id,))
    assert reason(lg, "service", T1, basis=LawfulBasis.CONTRACT) == "restricted"
    assert reason(lg, "third_party", T1, basis=LawfulBasis.LEGAL_OBLIGATION) == "restricted"
    assert reason(lg, "storage", T1, basis=LawfulBasis.CONTRACT) == "contract_necessity"
    assert reason(lg, "storage", T1, basis=LawfulBasis.LEGAL_OBLIGATION) == "lawful_basis"
    assert reason(lg, "analytics", T2) == "granted"


def test_a_restriction_wins_a_tie_with_its_lift_and_may_expire() -> None:
    lg = ledger(
        grant("analytics", T0),
        ConsentEvent.lift_restriction(CID, at=T1, channel=WEB),
        ConsentEvent.restrict(CID, at=T1, channel=WEB, effective_to=T2),
    )
    assert reason(lg, "analytics", T1) == "restricted"
    assert reason(lg, "analytics", T2 - US) == "restricted"
    assert reason(lg, "analytics", T2) == "granted"


# ----------------------------------------------------------------------- expiring_within


def test_expiring_within_lists_each_lapsing_grant_once() -> None:
    soon = grant(("marketing.email", "marketing.sms"), T0, effective_to=T1 + timedelta(days=5))
    later = grant("analytics", T0, effective_to=T1 + timedelta(days=60))
    open_ended = grant("profiling", T0)
    lg = ledger(soon, later, open_ended)
    found = lg.expiring_within(30, as_of=T1)
    assert [(e.event_id, e.purposes, e.expires_at) for e in found] == [
        (soon.id, ("marketing.email", "marketing.sms"), soon.effective_to)
    ]
    assert found[0].customer_id == CID


def test_expiring_within_window_boundaries() -> None:
    g = grant("analytics", T0, effective_to=T0 + timedelta(days=30))
    lg = ledger(g)
    assert [e.event_id for e in lg.expiring_within(30, as_of=T0)] == [g.id]  # end inclusive
    assert lg.expiring_within(30, as_of=T0 - US) == []  # one microsecond outside the window
    assert lg.expiring_within(1, as_of=g.effective_to - US) != []
    assert lg.expiring_within(1, as_of=g.effective_to) == []  # already expired


def test_expiring_within_skips_withdrawn_superseded_renewed_and_objected_grants() -> None:
    end = T1 + timedelta(days=3)
    withdrawn = grant("marketing.email", T0, effective_to=end)
    superseded = grant("marketing.sms", T0, effective_to=end)
    renewed = grant("analytics", T0, effective_to=end)
    objected = grant("profiling", T0, effective_to=end)
    partly = grant(("marketing.phone", "service"), T0, effective_to=end)
    lg = ledger(
        withdrawn,
        superseded,
        renewed,
        objected,
        partly,
        withdraw("marketing.email", T0 + US),
        grant("marketing.sms", T0 + US),
        grant("analytics", T1, effective_from=end),  # renewal takes over at the lapse instant
        ConsentEvent.object_to(CID, "profiling", at=T0 + US, channel=WEB),
        withdraw("service", T0 + US),
    )
    found = lg.expiring_within(7, as_of=T1)
    assert [(e.event_id, e.purposes) for e in found] == [(partly.id, ("marketing.phone",))]


def test_expiring_within_validates_arguments() -> None:
    lg = ConsentLedger(CID)
    with pytest.raises(ValueError, match="positive"):
        lg.expiring_within(0, as_of=T0)
    with pytest.raises(TypeError):
        lg.expiring_within(True, as_of=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        lg.expiring_within(1, as_of=datetime(2025, 1, 1))


# --------------------------------------------------------------------- ledger mechanics


def test_append_returns_a_new_ledger_and_leaves_the_old_one_unchanged() -> None:
    empty = ConsentLedger(CID)
    g = grant("analytics", T0)
    one = empty.append(g)
    assert len(empty) == 0 and list(one) == [g]
    assert empty.decide("analytics", as_of=T1).reason == "no_consent"
    with pytest.raises(AttributeError):
        one._events = ()  # type: ignore[misc]
    assert repr(one) == "ConsentLedger(customer_id='c-1', events=1)"
    assert one == ConsentLedger(CID, [g]) and hash(one) == hash(ConsentLedger(CID, [g]))


def test_ledger_rejects_foreign_duplicate_and_unknown_events() -> None:
    g = grant("analytics", T0)
    with pytest.raises(ConsentError, match="another customer"):
        ConsentLedger("c-2", [g])
    with pytest.raises(ConsentError, match="already"):
        ConsentLedger(CID, [g]).append(g)
    with pytest.raises(UnknownPurpose, match=r"no\.such"):
        ConsentLedger(CID, [grant("no.such", T0)])
    with pytest.raises(TypeError):
        ConsentLedger(CID, ["grant"])  # type: ignore[list-item]


def test_decide_validates_its_arguments() -> None:
    lg = ConsentLedger(CID)
    with pytest.raises(ValueError, match="timezone-aware"):
        lg.decide("analytics", as_of=datetime(2025, 1, 1))
    with pytest.raises(UnknownPurpose):
        lg.decide("nope", as_of=T0)
    with pytest.raises(TypeError):
        lg.decide("analytics", as_of=T0, basis="consent")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lg.decide("analytics", as_of=T0, notices="v1")  # type: ignore[arg-type]


def test_instants_in_other_time_zones_compare_as_instants() -> None:
    beijing = timezone(timedelta(hours=8))
    g = grant("analytics", T1.astimezone(beijing))
    lg = ledger(g)
    assert reason(lg, "analytics", T1 - US) == "no_consent"
    assert reason(lg, "analytics", T1) == "granted"


def test_a_custom_catalogue_is_used_for_codes_and_flags() -> None:
    from custrec.consent import Purpose

    catalogue = PURPOSES.extended(
        Purpose(code="loyalty", title="Loyalty programme"),
        Purpose(code="analytics", title="Analytics", requires_separate_consent=True),
    )
    lg = ConsentLedger(CID, [grant("loyalty", T0)], catalogue=catalogue)
    assert reason(lg, "loyalty", T0) == "granted"
    assert reason(lg, "analytics", T0) == "separate_consent_required"
    with pytest.raises(BundledConsentError):
        lg.append(grant(("loyalty", "analytics"), T1))


def test_consent_withdrawn_at_reports_the_withdrawal_once_nothing_is_granted() -> None:
    lg = ledger(
        grant(("marketing.email", "analytics"), T0),
        withdraw("marketing.email", T1),
        withdraw("analytics", T2),
    )
    assert lg.consent_withdrawn_at(as_of=T1) is None  # analytics still granted
    assert lg.consent_withdrawn_at(as_of=T2) == T2
    assert ConsentLedger(CID).consent_withdrawn_at(as_of=T2) is None
    expired = ledger(grant("analytics", T0, effective_to=T1), withdraw("profiling", T0))
    assert expired.consent_withdrawn_at(as_of=T1) == T0


def test_consent_withdrawn_at_can_look_at_some_purposes_only() -> None:
    lg = ledger(
        grant("marketing.email", T0),
        grant("third_party", T0),
        withdraw("marketing.email", T1),
    )
    assert lg.consent_withdrawn_at(as_of=T2) is None  # third_party still granted
    marketing = ("marketing.email", "marketing.sms")
    assert lg.consent_withdrawn_at(as_of=T2, purposes=marketing) == T1
    assert lg.consent_withdrawn_at(as_of=T2, purposes="marketing.email") == T1
    assert lg.consent_withdrawn_at(as_of=T2, purposes=["profiling"]) is None  # never withdrawn
    with pytest.raises(UnknownPurpose):
        lg.consent_withdrawn_at(as_of=T2, purposes=["nope"])


def test_decision_explains_itself_without_personal_data() -> None:
    d = ConsentLedger(CID).decide("third_party", as_of=T0)
    assert d.explain() == (
        "third_party: not allowed (separate_consent_required: "
        "the purpose needs its own separate grant)"
    )
