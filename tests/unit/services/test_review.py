"""Registry review and verification: intake review, approve, reject, verify, pending_review,
re-verification by the retention schedule, and the data-quality report.

Every test runs on an encrypted registry (blind-indexed) and on a plaintext one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from custrec import Actor, KeyRing, Registry
from custrec.consent import CaptureChannel
from custrec.errors import AccessDenied, InvalidState
from custrec.model.records import Customer, CustomerKind, VerificationStatus
from custrec.retention import (
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
)
from custrec.storage import AuditRecord
from custrec.testing import TickingClock
from custrec.verification import VerificationOutcome, VerificationResult, Verifier

ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "erase"}, team="hq")
MASKED_ADMIN = Actor(id="admin-2", roles={"admin"}, team="hq")
AUDITOR = Actor(id="aud-1", roles={"auditor"})
STAFF = Actor(id="staff-1", roles={"staff", "unmask"}, team="east")
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

PENDING = VerificationStatus.PENDING_REVIEW
VERIFIED = VerificationStatus.VERIFIED
REJECTED = VerificationStatus.REJECTED
UNVERIFIED = VerificationStatus.UNVERIFIED


_numbers = itertools.count(1)


def new_phone() -> str:
    """A mobile number no other record of the test session holds."""
    return f"1392{next(_numbers):07d}"


def person(
    name: str = "张三",
    *,
    phone: str | None = None,
    email: str | None = None,
    street: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A raw individual with a fresh phone unless one is given."""
    contact: dict[str, Any] = {"phones": [phone or new_phone()]}
    if email is not None:
        contact["emails"] = [email]
    data: dict[str, Any] = {"kind": "individual", "name": name, "contacts": [contact], **extra}
    if street is not None:
        data["addresses"] = [{"city": "北京", "street": street}]
    return data


MakeRegistry = Callable[..., Registry]


@pytest.fixture(params=["encrypted", "plaintext"])
def keyring(request: pytest.FixtureRequest) -> KeyRing | None:
    """Every test runs on an encrypted registry and on a plaintext one."""
    return KeyRing.generate() if request.param == "encrypted" else None


@pytest.fixture
def reviewing(make: MakeRegistry) -> Registry:
    """A registry that takes every new record in for review."""
    return make(review_intake=True)


@attrs.define
class FakeVerifier:
    """A verifier answering ``outcome``; it remembers what it was shown."""

    outcome: VerificationOutcome
    name: str = "fake-business-registry"
    checked_at: datetime | None = None  # default: the instant the registry passes
    detail: str | None = None
    seen: list[tuple[Customer, datetime]] = attrs.field(factory=list)

    def verify(self, customer: Customer, *, as_of: datetime) -> VerificationResult:
        self.seen.append((customer, as_of))
        return VerificationResult(
            source=self.name,
            outcome=self.outcome,
            checked_at=self.checked_at or as_of,
            fields=("name", "contacts"),
            detail=self.detail,
        )


class BrokenVerifier:
    """A verifier whose source is down."""

    name = "broken-source"

    def verify(self, customer: Customer, *, as_of: datetime) -> VerificationResult:
        raise ConnectionError("source unavailable")


class SloppyVerifier:
    """A verifier that answers with something other than a VerificationResult."""

    name = "sloppy-source"

    def verify(self, customer: Customer, *, as_of: datetime) -> Any:
        return {"outcome": "confirmed", "checked_at": as_of}


def audit(registry: Registry, action: str) -> list[AuditRecord]:
    return [e for e in registry.audit.trail(actor=AUDITOR) if e.action == action]


def pending_ids(registry: Registry, actor: Actor = ADMIN, batch_size: int = 500) -> list[str]:
    return [c.id for c in registry.review.pending(actor=actor, batch_size=batch_size)]


# ---------------------------------------------------------------------------- intake review


def test_intake_into_a_reviewing_registry_enters_pending_review(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    assert c.verification is PENDING
    assert reviewing.customers.get(c.id, actor=ADMIN).verification is PENDING
    assert c.last_verified_at is None
    skipped = reviewing.customers.intake(person(), actor=ADMIN, review=False)
    assert skipped.verification is UNVERIFIED


def test_intake_with_review_enters_pending_review_on_any_registry(registry: Registry) -> None:
    assert registry.customers.intake(person(), actor=ADMIN).verification is UNVERIFIED
    assert registry.customers.intake(person(), actor=ADMIN, review=True).verification is PENDING
    bulk = registry.customers.intake_many([person(), person()], actor=ADMIN, review=True)
    assert [registry.customers.get(i, actor=ADMIN).verification for i in bulk.added] == [
        PENDING,
        PENDING,
    ]


def test_approve_makes_a_pending_record_verified_as_of_now(
    reviewing: Registry, clock: TickingClock
) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    before = clock.now
    approved = reviewing.review.approve(c.id, actor=ADMIN, reason="documents checked")
    assert approved.verification is VERIFIED
    assert approved.last_verified_at is not None
    assert before < approved.last_verified_at <= clock.now
    assert approved.version == c.version + 1
    assert reviewing.customers.get(c.id, actor=ADMIN) == approved


def test_approve_stamps_last_verified_at_with_the_instant_of_the_approval(
    reviewing: Registry,
) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    approved = reviewing.review.approve(c.id, actor=ADMIN, reason="documents checked")
    entry = reviewing.customers.history(c.id, actor=ADMIN)[-1]
    assert approved.last_verified_at == approved.updated_at == entry.at


def test_reject_makes_a_pending_record_rejected_and_keeps_it(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    rejected = reviewing.review.reject(c.id, actor=ADMIN, reason="fake registration")
    assert rejected.verification is REJECTED
    assert rejected.last_verified_at is None
    assert reviewing.customers.get(c.id, actor=ADMIN) == rejected
    assert reviewing.customers.count(actor=ADMIN) == 1


@pytest.mark.parametrize("status", ["unverified", "verified", "rejected"])
def test_approving_or_rejecting_a_record_not_pending_review_raises_invalid_state(
    registry: Registry, status: str
) -> None:
    c = registry.customers.intake(person(), actor=ADMIN, review=status != "unverified")
    if status == "verified":
        registry.review.approve(c.id, actor=ADMIN, reason="ok")
    elif status == "rejected":
        registry.review.reject(c.id, actor=ADMIN, reason="not ok")
    before = registry.customers.get(c.id, actor=ADMIN)
    assert before.verification is VerificationStatus(status)
    with pytest.raises(InvalidState):
        registry.review.approve(c.id, actor=ADMIN, reason="again")
    with pytest.raises(InvalidState):
        registry.review.reject(c.id, actor=ADMIN, reason="again")
    assert registry.customers.get(c.id, actor=ADMIN) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_approve_and_reject_need_a_reason(reviewing: Registry, reason: Any) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    with pytest.raises(ValueError, match="reason"):
        reviewing.review.approve(c.id, actor=ADMIN, reason=reason)
    with pytest.raises(ValueError, match="reason"):
        reviewing.review.reject(c.id, actor=ADMIN, reason=reason)
    assert reviewing.customers.get(c.id, actor=ADMIN) == c


def test_approve_and_reject_need_update_rights_on_the_record(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    for actor in (AUDITOR, STAFF):
        with pytest.raises(AccessDenied):
            reviewing.review.approve(c.id, actor=actor, reason="ok")
        with pytest.raises(AccessDenied):
            reviewing.review.reject(c.id, actor=actor, reason="not ok")
    assert reviewing.customers.get(c.id, actor=ADMIN) == c
    own = reviewing.customers.intake(person(), actor=STAFF)
    assert reviewing.review.approve(own.id, actor=STAFF, reason="ok").verification is VERIFIED


# ----------------------------------------------------------------------------- verification


def test_a_confirmed_check_makes_the_record_verified_as_of_the_check(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    checked = datetime(2025, 2, 27, 18, 30, tzinfo=timezone(timedelta(hours=8)))
    verifier = FakeVerifier(VerificationOutcome.CONFIRMED, checked_at=checked)
    result = reviewing.review.verify(c.id, verifier, actor=ADMIN)
    assert result.outcome is VerificationOutcome.CONFIRMED and result.checked_at == checked
    stored = reviewing.customers.get(c.id, actor=ADMIN)
    assert stored.verification is VERIFIED
    assert stored.last_verified_at == checked


def test_a_check_of_an_unverified_record_can_confirm_it(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=ADMIN)
    result = registry.review.verify(c.id, FakeVerifier(VerificationOutcome.CONFIRMED), actor=ADMIN)
    stored = registry.customers.get(c.id, actor=ADMIN)
    assert stored.verification is VERIFIED and stored.last_verified_at == result.checked_at


def test_the_verifier_sees_the_unmasked_record_even_for_a_masking_actor(
    registry: Registry, clock: TickingClock
) -> None:
    c = registry.customers.intake(person("张三"), actor=ADMIN)
    verifier = FakeVerifier(VerificationOutcome.INCONCLUSIVE)
    registry.review.verify(c.id, verifier, actor=MASKED_ADMIN)
    [(shown, at)] = verifier.seen
    assert shown.name == "张三"
    assert shown.contacts == c.contacts
    assert T0 < at <= clock.now


def test_a_refuted_check_sends_the_record_back_to_review(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    approved = reviewing.review.approve(c.id, actor=ADMIN, reason="documents checked")
    reviewing.review.verify(c.id, FakeVerifier(VerificationOutcome.REFUTED), actor=ADMIN)
    stored = reviewing.customers.get(c.id, actor=ADMIN)
    assert stored.verification is PENDING
    assert stored.last_verified_at == approved.last_verified_at  # a refutation verifies nothing
    assert pending_ids(reviewing) == [c.id]


def test_an_inconclusive_check_changes_nothing_but_is_recorded(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    approved = reviewing.review.approve(c.id, actor=ADMIN, reason="documents checked")
    result = reviewing.review.verify(
        c.id, FakeVerifier(VerificationOutcome.INCONCLUSIVE, detail="not_found"), actor=ADMIN
    )
    stored = reviewing.customers.get(c.id, actor=ADMIN)
    assert stored.verification is VERIFIED
    assert stored.last_verified_at == approved.last_verified_at
    assert attrs.evolve(stored, version=0, updated_at=None) == attrs.evolve(
        approved, version=0, updated_at=None
    )
    assert reviewing.review.results(c.id, actor=ADMIN) == [result]
    last = reviewing.customers.history(c.id, actor=ADMIN)[-1]
    assert (last.action, last.path) == ("verify", "verification_result")


def check(
    registry: Registry, customer_id: str, n: int, outcome: VerificationOutcome
) -> VerificationResult:
    verifier = FakeVerifier(outcome, name=f"source-{n}", detail=f"code-{n}")
    return registry.review.verify(customer_id, verifier, actor=ADMIN, reason=f"check {n}")


def test_verifications_lists_every_recorded_result_oldest_first(reviewing: Registry) -> None:
    # checks that leave the status as it is (see the next test for those that change it)
    c = reviewing.customers.intake(person(), actor=ADMIN)
    results = [
        check(reviewing, c.id, 0, VerificationOutcome.REFUTED),  # pending stays pending
        check(reviewing, c.id, 1, VerificationOutcome.INCONCLUSIVE),
    ]
    reviewing.review.approve(c.id, actor=ADMIN, reason="documents checked")
    results.append(check(reviewing, c.id, 2, VerificationOutcome.CONFIRMED))  # verified stays
    assert reviewing.review.results(c.id, actor=ADMIN) == results
    assert [r.source for r in results] == ["source-0", "source-1", "source-2"]
    assert reviewing.review.results(c.id, actor=MASKED_ADMIN) == results  # no values in them


@pytest.mark.parametrize(
    ("review", "outcome"),
    [
        (True, VerificationOutcome.CONFIRMED),
        (False, VerificationOutcome.CONFIRMED),
        (False, VerificationOutcome.REFUTED),
    ],
    ids=["confirmed-pending", "confirmed-unverified", "refuted-unverified"],
)
def test_verifications_lists_the_result_of_a_check_that_changed_the_status(
    registry: Registry, review: bool, outcome: VerificationOutcome
) -> None:
    c = registry.customers.intake(person(), actor=ADMIN, review=review)
    result = check(registry, c.id, 0, outcome)
    assert registry.customers.get(c.id, actor=ADMIN).verification is not UNVERIFIED
    assert registry.review.results(c.id, actor=ADMIN) == [result]


def test_a_verifier_that_raises_records_nothing(reviewing: Registry) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    history = reviewing.customers.history(c.id, actor=ADMIN)
    with pytest.raises(ConnectionError):
        reviewing.review.verify(c.id, BrokenVerifier(), actor=ADMIN)
    assert reviewing.customers.history(c.id, actor=ADMIN) == history
    assert reviewing.customers.get(c.id, actor=ADMIN) == c
    assert reviewing.review.results(c.id, actor=ADMIN) == []
    assert audit(reviewing, "customer.verify") == []


def test_a_verifier_returning_another_type_raises_type_error_and_records_nothing(
    reviewing: Registry,
) -> None:
    c = reviewing.customers.intake(person(), actor=ADMIN)
    history = reviewing.customers.history(c.id, actor=ADMIN)
    with pytest.raises(TypeError, match="VerificationResult"):
        reviewing.review.verify(c.id, SloppyVerifier(), actor=ADMIN)
    assert reviewing.customers.history(c.id, actor=ADMIN) == history
    assert reviewing.customers.get(c.id, actor=ADMIN) == c


def test_verify_needs_update_rights_before_the_verifier_is_called(registry: Registry) -> None:
    c = registry.customers.intake(person(), actor=ADMIN)
    verifier = FakeVerifier(VerificationOutcome.CONFIRMED)
    for actor in (AUDITOR, STAFF):
        with pytest.raises(AccessDenied):
            registry.review.verify(c.id, verifier, actor=actor)
    assert verifier.seen == []
    with pytest.raises(ValueError, match="reason"):
        registry.review.verify(c.id, verifier, actor=ADMIN, reason=" ")
    assert verifier.seen == []
    assert registry.customers.get(c.id, actor=ADMIN) == c


def test_a_fake_verifier_is_a_verifier() -> None:
    verifier: Verifier = FakeVerifier(VerificationOutcome.CONFIRMED)
    result = verifier.verify(Customer(kind=CustomerKind.INDIVIDUAL, name="x"), as_of=T0)
    assert result == VerificationResult(
        source=verifier.name,
        outcome=VerificationOutcome.CONFIRMED,
        checked_at=T0,
        fields=("name", "contacts"),
    )


# ---------------------------------------------------------------------------- review queue


def test_pending_review_lists_exactly_the_pending_records(registry: Registry) -> None:
    first = registry.customers.intake(person(), actor=ADMIN, review=True)
    registry.customers.intake(person(), actor=ADMIN)  # unverified
    approved = registry.customers.intake(person(), actor=ADMIN, review=True)
    registry.review.approve(approved.id, actor=ADMIN, reason="ok")
    rejected = registry.customers.intake(person(), actor=ADMIN, review=True)
    registry.review.reject(rejected.id, actor=ADMIN, reason="not ok")
    refuted = registry.customers.intake(person(), actor=ADMIN)
    registry.review.verify(refuted.id, FakeVerifier(VerificationOutcome.REFUTED), actor=ADMIN)
    staffs = registry.customers.intake(person(), actor=STAFF, review=True)

    expected = sorted((first.id, refuted.id, staffs.id))
    assert pending_ids(registry) == expected
    assert pending_ids(registry, batch_size=1) == expected
    assert pending_ids(registry, actor=STAFF) == [staffs.id]
    assert [c.verification for c in registry.review.pending(actor=ADMIN)] == [PENDING] * 3


def test_pending_review_leaves_out_merged_records(registry: Registry) -> None:
    a = registry.customers.intake(person(), actor=ADMIN, review=True)
    b = registry.customers.intake(person(), actor=ADMIN, review=True)
    registry.matching.merge(a.id, [b.id], actor=ADMIN, reason="duplicate")
    assert pending_ids(registry) == [a.id]


def test_history_and_audit_record_approve_reject_and_verify(reviewing: Registry) -> None:
    a = reviewing.customers.intake(person(), actor=ADMIN)
    b = reviewing.customers.intake(person(), actor=ADMIN)
    c = reviewing.customers.intake(person(), actor=ADMIN)
    reviewing.review.approve(a.id, actor=ADMIN, reason="documents checked")
    reviewing.review.reject(b.id, actor=ADMIN, reason="fake registration")
    result = reviewing.review.verify(
        c.id, FakeVerifier(VerificationOutcome.CONFIRMED), actor=ADMIN, reason="quarterly check"
    )

    approve = [h for h in reviewing.customers.history(a.id, actor=ADMIN) if h.action == "approve"]
    by_path = {h.path: h for h in approve}
    assert set(by_path) == {"verification", "last_verified_at"}
    assert (by_path["verification"].old, by_path["verification"].new) == (
        "pending_review",
        "verified",
    )
    assert {(h.actor_id, h.reason) for h in approve} == {(ADMIN.id, "documents checked")}

    [reject] = [h for h in reviewing.customers.history(b.id, actor=ADMIN) if h.action == "reject"]
    assert (reject.path, reject.old, reject.new, reject.reason) == (
        "verification",
        "pending_review",
        "rejected",
        "fake registration",
    )

    verify = [h for h in reviewing.customers.history(c.id, actor=ADMIN) if h.action == "verify"]
    [record] = [h for h in verify if h.path == "verification_result"]
    assert record.new == {
        "source": result.source,
        "outcome": "confirmed",
        "checked_at": result.checked_at.isoformat(),
        "fields": ["name", "contacts"],
        "detail": None,
    }
    assert record.reason == "quarterly check"

    for action, customer, reason in [
        ("customer.approve", a, "documents checked"),
        ("customer.reject", b, "fake registration"),
        ("customer.verify", c, "quarterly check"),
    ]:
        entries = audit(reviewing, action)
        assert [(e.customer_id, e.actor_id, e.reason) for e in entries] == [
            (customer.id, ADMIN.id, reason)
        ]


# ------------------------------------------------------------------------ re-verification


def reverify_schedule(days: int = 365) -> RetentionSchedule:
    return RetentionSchedule(
        [
            RetentionRule(
                code="reverify",
                trigger=RetentionTrigger.LAST_VERIFICATION,
                period=timedelta(days=days),
                action=RetentionAction.REVIEW,
            )
        ]
    )


def test_the_review_rule_lists_a_record_verified_long_ago_but_not_one_just_approved(
    make: MakeRegistry, clock: TickingClock
) -> None:
    registry = make(retention=reverify_schedule(), review_intake=True)
    old = registry.customers.intake(person(), actor=ADMIN)
    registry.review.approve(old.id, actor=ADMIN, reason="documents checked")
    clock.now += timedelta(days=400)
    fresh = registry.customers.intake(person(), actor=ADMIN)
    registry.review.approve(fresh.id, actor=ADMIN, reason="documents checked")

    plan = registry.retention.plan(as_of=clock.now, actor=ADMIN)
    assert [(p.customer_id, p.action, p.rule) for p in plan] == [
        (old.id, RetentionAction.REVIEW, "reverify")
    ]

    assert registry.retention.apply(plan, actor=ADMIN).applied == (plan[0].key,)
    assert registry.customers.get(old.id, actor=ADMIN).verification is PENDING
    assert pending_ids(registry) == [old.id]
    assert registry.retention.plan(as_of=clock.now, actor=ADMIN) == []  # applied once only


def test_a_confirmed_check_restarts_the_re_verification_period(
    make: MakeRegistry, clock: TickingClock
) -> None:
    registry = make(retention=reverify_schedule())
    c = registry.customers.intake(person(), actor=ADMIN)
    registry.review.verify(c.id, FakeVerifier(VerificationOutcome.CONFIRMED), actor=ADMIN)
    clock.now += timedelta(days=400)
    assert [p.customer_id for p in registry.retention.plan(as_of=clock.now, actor=ADMIN)] == [c.id]
    registry.review.verify(c.id, FakeVerifier(VerificationOutcome.CONFIRMED), actor=ADMIN)
    assert registry.retention.plan(as_of=clock.now, actor=ADMIN) == []
    registry.review.verify(c.id, FakeVerifier(VerificationOutcome.INCONCLUSIVE), actor=ADMIN)
    later = clock.now + timedelta(days=400)
    assert [p.customer_id for p in registry.retention.plan(as_of=later, actor=ADMIN)] == [c.id]


# --------------------------------------------------------------------------------- quality


@attrs.frozen
class Population:
    """Five live customers (two duplicate pairs), one merged and maybe one erased record."""

    a: Customer
    b: Customer
    c: Customer
    d: Customer
    e: Customer
    values: tuple[str, ...]  # every personal value stored


def population(registry: Registry) -> Population:
    shared = new_phone()
    a = registry.customers.intake(
        person("李雷", email="lilei@example.com", street="学院路1号"), actor=ADMIN, review=True
    )
    registry.review.approve(a.id, actor=ADMIN, reason="documents checked")
    registry.consent.grant(a.id, "marketing.email", actor=ADMIN, channel=CaptureChannel.WEB_FORM)
    b = registry.customers.intake(person("韩梅梅", street="学院路2号"), actor=ADMIN)
    c = registry.customers.intake(
        person("韩梅梅", street="学院路2号"), actor=ADMIN
    )  # probable with b
    d = registry.customers.intake(
        person("王强", phone=shared, email="wq@example.com", street="学院路4号"), actor=ADMIN
    )
    e = registry.customers.intake(  # d again, moved: the same name, phone and e-mail
        person("王强", phone=shared, email="wq@example.com", street="长安街9号"),
        actor=ADMIN,
        allow_duplicates=True,
    )
    m = registry.customers.intake(person("李雷"), actor=ADMIN)
    registry.consent.grant(m.id, "marketing.sms", actor=ADMIN, channel=CaptureChannel.APP)
    registry.matching.merge(a.id, [m.id], actor=ADMIN, reason="duplicate")
    values = ["李雷", "韩梅梅", "王强", "example.com", "学院路", "长安街"]
    if registry.encrypted:
        x = registry.customers.intake(person("赵六", email="zl@example.org"), actor=ADMIN)
        registry.privacy.erase(x.id, actor=ADMIN, reason="subject request")
        values.append("赵六")
    for record in (a, b, c, d, e, m):
        values.extend(p.removeprefix("+86") for ct in record.contacts for p in ct.phones)
    return Population(a=a, b=b, c=c, d=d, e=e, values=tuple(values))


def test_the_quality_report_counts_as_computed_by_hand(
    registry: Registry, clock: TickingClock
) -> None:
    population(registry)
    report = registry.quality.report(
        actor=ADMIN, purposes=["marketing.email", "marketing.sms", "service"]
    )
    assert T0 < report.as_of <= clock.now
    assert report.total == 5  # the merged and the erased record are not counted
    fields = {f.field: (f.filled, f.applicable) for f in report.completeness}
    assert fields["phone"] == (5, 5)
    assert fields["email"] == (3, 5)
    assert fields["address"] == (5, 5)
    assert fields["uscc"] == (0, 0)
    assert report.valid_records == 5
    assert report.duplicates == 2  # {b, c} and {d, e}: one redundant record each
    assert report.stale == 4  # only a was verified
    statuses = {v.status: v.records for v in report.verification_counts}
    assert statuses[VERIFIED] == 1 and statuses[UNVERIFIED] == 4
    consent = {c.purpose: (c.allowed, c.total) for c in report.consent}
    assert consent == {
        "marketing.email": (1, 5),
        "marketing.sms": (1, 5),  # granted to the record merged into a
        "service": (0, 5),
    }


def test_the_quality_report_holds_no_personal_value(registry: Registry) -> None:
    people = population(registry)
    report = registry.quality.report(actor=ADMIN)
    text = report.to_table() + repr(report) + repr(report.to_dict())
    assert isinstance(report.to_table(), str)
    for value in people.values:
        assert value not in text
    for record in (people.a, people.b, people.c):
        assert record.id not in text


def test_the_duplicate_count_equals_the_redundant_records_of_the_clusters(
    registry: Registry,
) -> None:
    population(registry)
    run = registry.matching.clusters(actor=ADMIN)
    assert sum(len(c.ids) - 1 for c in run.clusters) == 2
    assert registry.quality.report(actor=ADMIN).duplicates == len(run.duplicate_ids)
    assert registry.quality.report(actor=ADMIN, duplicates=False).duplicates is None


def test_staleness_is_judged_at_as_of_against_stale_after(
    registry: Registry, clock: TickingClock
) -> None:
    population(registry)
    later = clock.now + timedelta(days=400)
    assert registry.quality.report(actor=ADMIN, as_of=later, duplicates=False).stale == 5
    report = registry.quality.report(
        actor=ADMIN, as_of=later, stale_after=timedelta(days=500), duplicates=False
    )
    assert report.stale == 4


def test_the_quality_report_needs_read_rights_over_everyone(registry: Registry) -> None:
    population(registry)
    registry.customers.intake(person(), actor=STAFF)
    with pytest.raises(AccessDenied):
        registry.quality.report(actor=STAFF)
    by_admin = registry.quality.report(actor=ADMIN, as_of=T0 + timedelta(days=1))
    by_auditor = registry.quality.report(actor=AUDITOR, as_of=T0 + timedelta(days=1))
    assert by_auditor == by_admin  # masked reads are enough: only counts come out
    assert by_admin.total == 6


def test_the_quality_report_is_audited(registry: Registry) -> None:
    registry.customers.intake(person(), actor=ADMIN)
    registry.quality.report(actor=ADMIN)
    assert [(e.actor_id, e.outcome) for e in audit(registry, "customer.quality_report")] == [
        (ADMIN.id, "ok")
    ]
