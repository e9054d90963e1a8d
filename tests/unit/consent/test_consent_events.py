"""Specification of ConsentEvent, evidence, notices and subject facts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from custrec.consent import (
    CaptureChannel,
    ConsentError,
    ConsentEvent,
    EventKind,
    Evidence,
    GivenBy,
    GuardianEvidence,
    GuardianRelation,
    Jurisdiction,
    JurisdictionProfile,
    NoticeHistory,
    NoticeVersion,
    SubjectFacts,
    age_on,
    effective_sensitivity,
    notice_hash,
)
from custrec.model.ids import is_valid_id
from custrec.model.records import (
    Contact,
    Customer,
    CustomerKind,
    DataCategory,
    Sensitivity,
    personal_fields,
)
from custrec.model.serialization import make_converter

AT = datetime(2025, 3, 1, 9, 30, 0, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
WEB = CaptureChannel.WEB_FORM
GUARDIAN = GuardianEvidence(
    guardian_ref="g-1",
    relation=GuardianRelation.PARENT,
    proof_reference="birth-cert-ref-7",
    verified_at=AT,
)
V1 = NoticeVersion(version="v1", content_hash=notice_hash("text"), effective_from=AT)


def full_event() -> ConsentEvent:
    return ConsentEvent.grant(
        "c-1",
        ("marketing.email", "analytics"),
        at=AT,
        channel=WEB,
        effective_from=AT + US,
        effective_to=AT + timedelta(days=365),
        data_categories=(DataCategory.CONTACT, DataCategory.IDENTITY),
        notice=V1,
        evidence=Evidence(
            collector="staff-12",
            source="signup-form-2025",
            proof_reference="proof-99",
            written=True,
            double_opt_in_at=AT + timedelta(minutes=5),
        ),
        guardian=GUARDIAN,
    )


def test_event_defaults_and_builders() -> None:
    e = ConsentEvent.grant("c-1", "profiling", at=AT, channel=CaptureChannel.PAPER)
    assert is_valid_id(e.id)
    assert (e.kind, e.purposes, e.effective_from, e.effective_to) == (
        EventKind.GRANT,
        ("profiling",),
        AT,
        None,
    )
    assert (e.given_by, e.guardian, e.jurisdiction, e.evidence) == (
        GivenBy.SUBJECT,
        None,
        Jurisdiction.PIPL,
        Evidence(),
    )
    g = full_event()
    assert g.given_by is GivenBy.GUARDIAN and g.notice_hash == V1.content_hash
    assert ConsentEvent.object_to("c-1", "profiling", at=AT, channel=WEB).kind is EventKind.OBJECT
    r = ConsentEvent.restrict("c-1", at=AT, channel=WEB, effective_to=AT + US)
    assert (r.kind, r.purposes) == (EventKind.RESTRICT, ())
    lift = ConsentEvent.lift_restriction("c-1", at=AT, channel=WEB, id="fixed")
    assert (lift.kind, lift.id) == (EventKind.LIFT_RESTRICTION, "fixed")


def test_events_round_trip_through_the_custrec_converter() -> None:
    conv = make_converter()
    event = full_event()
    data = conv.unstructure(event)
    assert data["kind"] == "grant" and data["data_categories"] == ["contact", "identity"]
    assert data["captured_at"] == "2025-03-01T09:30:00.000001+00:00"
    assert data["guardian"]["relation"] == "parent"
    assert conv.structure(data, ConsentEvent) == event


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"purposes": ()}, "must name a purpose"),
        ({"effective_from": AT - US}, "backdating"),
        ({"effective_to": AT}, "after effective_from"),
        ({"notice_version": None, "notice_hash": "sha256:x"}, "needs notice_version"),
        ({"evidence": Evidence(double_opt_in_at=AT - US)}, "double opt-in"),
        ({"given_by": GivenBy.GUARDIAN}, "guardian evidence"),
    ],
)
def test_inconsistent_events_are_rejected(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "customer_id": "c-1",
        "kind": EventKind.GRANT,
        "purposes": ("analytics",),
        "channel": WEB,
        "captured_at": AT,
        "notice_version": "v1",
    }
    fields.update(change)
    with pytest.raises(ConsentError, match=message):
        ConsentEvent(**fields)  # type: ignore[arg-type]


def test_kind_specific_rules() -> None:
    with pytest.raises(ConsentError, match="only grants and restrictions"):
        ConsentEvent(
            customer_id="c-1",
            kind=EventKind.WITHDRAW,
            purposes=("analytics",),
            channel=WEB,
            captured_at=AT,
            effective_to=AT + US,
        )
    with pytest.raises(ConsentError, match="applies to every purpose"):
        ConsentEvent(
            customer_id="c-1",
            kind=EventKind.RESTRICT,
            purposes=("analytics",),
            channel=WEB,
            captured_at=AT,
        )
    with pytest.raises(ConsentError, match="guardian"):
        ConsentEvent(
            customer_id="c-1",
            kind=EventKind.GRANT,
            purposes="analytics",
            channel=WEB,
            captured_at=AT,
            guardian=GUARDIAN,
        )  # given_by left at subject


def test_a_channel_or_data_category_may_be_given_as_its_value() -> None:
    event = ConsentEvent.grant(
        "c-1", "analytics", at=AT, channel="web_form", data_categories=["contact"]
    )
    assert event.channel is CaptureChannel.WEB_FORM
    assert event.data_categories == (DataCategory.CONTACT,)


def test_types_and_naive_datetimes_are_rejected_eagerly() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ConsentEvent.grant("c-1", "analytics", at=datetime(2025, 1, 1), channel=WEB)
    with pytest.raises(TypeError, match="timezone-aware datetime"):
        ConsentEvent.grant("c-1", "analytics", at=date(2025, 1, 1), channel=WEB)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CaptureChannel must be one of: web_form, "):
        ConsentEvent.grant("c-1", "analytics", at=AT, channel="web")
    with pytest.raises(TypeError, match="expected a CaptureChannel or its value, not int"):
        ConsentEvent.grant("c-1", "analytics", at=AT, channel=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a string"):
        ConsentEvent.grant("c-1", "analytics", at=AT, channel=WEB, data_categories="contact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blank"):
        ConsentEvent.grant(" ", "analytics", at=AT, channel=WEB)
    with pytest.raises(ValueError, match="repeat"):
        ConsentEvent.grant("c-1", ("analytics", "analytics"), at=AT, channel=WEB)
    with pytest.raises(TypeError):
        ConsentEvent.grant("c-1", "analytics", at=AT, channel=WEB, notice="v1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        Evidence(double_opt_in_at=datetime(2025, 1, 1))


def test_reprs_and_errors_hold_references_only() -> None:
    event = full_event()
    text = repr(event)
    assert "g-1" in text and "staff-12" in text  # references, by design
    subject = SubjectFacts(birth_date=date(2012, 5, 1))
    assert "2012" not in repr(subject) and "<redacted>" in repr(subject)


# ------------------------------------------------------------------------------ notices


def test_notice_hash_is_a_tagged_sha256() -> None:
    assert notice_hash("abc") == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert notice_hash(b"abc") == notice_hash("abc")
    with pytest.raises(TypeError):
        notice_hash(1)  # type: ignore[arg-type]


def test_notice_history_validation_and_lookup() -> None:
    v2 = NoticeVersion(version="v2", content_hash="h2", effective_from=AT + US, material=False)
    history = NoticeHistory((V1, v2))
    assert len(history) == 2 and list(history) == [V1, v2]
    assert history.get("v2") is v2 and history.get("v9") is None
    assert history.current(as_of=AT - US) is None
    assert history.current(as_of=AT) is V1 and history.current(as_of=AT + US) is v2
    assert history.baseline(as_of=AT + US) is V1  # v2 is not material
    assert NoticeHistory(V1).versions == (V1,)
    with pytest.raises(ConsentError, match="twice"):
        NoticeHistory((V1, V1))
    with pytest.raises(ConsentError, match="increasing"):
        NoticeHistory((v2, V1))
    with pytest.raises(ValueError, match="timezone-aware"):
        NoticeVersion(version="v", content_hash="h", effective_from=datetime(2025, 1, 1))


def test_notice_covers_rules() -> None:
    v2 = NoticeVersion(version="v2", content_hash="h2", effective_from=AT + US)
    history = NoticeHistory((V1, v2))
    assert history.covers("v2", "h2", as_of=AT + US)
    assert history.covers("v2", None, as_of=AT + US)  # no hash recorded: the version decides
    assert not history.covers("v2", "other", as_of=AT + US)
    assert not history.covers("v1", V1.content_hash, as_of=AT + US)
    assert not history.covers("v0", None, as_of=AT + US)
    assert history.covers("v1", V1.content_hash, as_of=AT)
    assert history.covers(None, None, as_of=AT - US)  # nothing in effect yet


# ----------------------------------------------------------------------------- subjects


def test_age_arithmetic_including_leap_days() -> None:
    assert age_on(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert age_on(date(2012, 2, 29), date(2026, 3, 1)) == 14
    assert age_on(date(2012, 2, 29), date(2024, 2, 29)) == 12
    assert age_on(date(2012, 5, 1), date(2012, 4, 30)) == -1


def test_ages_are_counted_on_the_profiles_calendar() -> None:
    born = date(2011, 6, 1)
    pipl = SubjectFacts(birth_date=born)
    gdpr = SubjectFacts(jurisdiction=Jurisdiction.GDPR, birth_date=born)
    beijing_midnight = datetime(2027, 5, 31, 16, 0, tzinfo=UTC)
    assert pipl.age_at(beijing_midnight - US) == 15 and pipl.age_at(beijing_midnight) == 16
    assert gdpr.age_at(beijing_midnight) == 15  # still 31 May in UTC
    assert gdpr.below_consent_age(beijing_midnight)
    member_13 = SubjectFacts(
        jurisdiction=Jurisdiction.GDPR,
        birth_date=born,
        profile=JurisdictionProfile.gdpr(consent_age=13),
    )
    assert not member_13.below_consent_age(beijing_midnight)
    assert SubjectFacts().age_at(AT) is None and not SubjectFacts().below_consent_age(AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        pipl.age_at(datetime(2025, 1, 1))


def test_subject_facts_validation_and_from_customer() -> None:
    with pytest.raises(ConsentError, match="another jurisdiction"):
        SubjectFacts(jurisdiction=Jurisdiction.PIPL, profile=JurisdictionProfile.gdpr())
    with pytest.raises(TypeError):
        SubjectFacts(birth_date=AT)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SubjectFacts(jurisdiction="pipl")  # type: ignore[arg-type]
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="x", birth_date=date(2013, 1, 2))
    facts = SubjectFacts.from_customer(customer, jurisdiction=Jurisdiction.GDPR)
    assert (facts.jurisdiction, facts.birth_date) == (Jurisdiction.GDPR, date(2013, 1, 2))
    with pytest.raises(TypeError):
        SubjectFacts.from_customer("c-1")  # type: ignore[arg-type]


def test_all_information_of_a_pipl_minor_under_14_is_sensitive() -> None:
    child = SubjectFacts(birth_date=date(2012, 5, 1))
    birthday = datetime(2026, 4, 30, 16, 0, tzinfo=UTC)  # 00:00 CST on 1 May 2026
    fields = personal_fields(Contact)
    assert {f.sensitivity for f in fields} == {Sensitivity.PERSONAL}
    assert {effective_sensitivity(f, child, as_of=birthday - US) for f in fields} == {
        Sensitivity.SENSITIVE
    }
    assert {effective_sensitivity(f, child, as_of=birthday) for f in fields} == {
        Sensitivity.PERSONAL
    }
    name_field = personal_fields(Customer)[0]
    assert (
        effective_sensitivity(Sensitivity.SENSITIVE, child, as_of=birthday) is Sensitivity.SENSITIVE
    )
    assert effective_sensitivity(name_field, None, as_of=birthday) is name_field.sensitivity
    gdpr_child = SubjectFacts(jurisdiction=Jurisdiction.GDPR, birth_date=date(2020, 1, 1))
    assert effective_sensitivity(Sensitivity.PERSONAL, gdpr_child, as_of=birthday) is (
        Sensitivity.PERSONAL
    )
    with pytest.raises(TypeError):
        effective_sensitivity("personal", child, as_of=birthday)  # type: ignore[arg-type]
