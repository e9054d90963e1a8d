"""Consent, retention and subject export through the registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.consent import BundledConsentError, CaptureChannel, GuardianConsentRequired
from custrec.errors import AccessDenied, Erased
from custrec.grading import ParetoPolicy
from custrec.model.custom import CustomField, FieldType
from custrec.model.records import (
    Customer,
    DataCategory,
    LifecycleStage,
    RecordState,
    personal_fields,
)
from custrec.retention import (
    Period,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
)
from custrec.testing import TickingClock

OFFICER = Actor(id="dpo", roles={"admin", "unmask", "export", "erase"})
T0 = datetime(2025, 1, 10, 9, 0, 0, 123456, tzinfo=UTC)
APP = CaptureChannel.APP

MakeRegistry = Callable[..., Registry]


def full_customer(n: int = 1, **extra: Any) -> dict[str, Any]:
    """A record with a value in every personal field."""
    return {
        "kind": "individual",
        "name": f"李{n}华",
        "registered_name": f"李{n}华（登记）",
        "gender": "female",
        "birth_date": "1949-12-31",
        "legal_representative": "无",
        "identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002X"}],
        "contacts": [
            {
                "name": f"李{n}华",
                "phones": [f"1380013{n:04d}"],
                "emails": [f"li{n}@example.com"],
                "wechat": f"li_{n}",
            }
        ],
        "addresses": [
            {"city": "北京", "district": "东城区", "street": "王府井1号", "postal_code": "100006"}
        ],
        "notes": "prefers mornings",
        "source": "exhibition",
        **extra,
    }


@pytest.fixture
def clock(t0: datetime) -> TickingClock:
    """A clock that stands still at ``T0`` until a test moves it on."""
    return TickingClock(t0, step=timedelta(0))


def test_grant_then_withdraw_changes_the_decision_from_that_instant_on(
    registry: Registry, clock: TickingClock
) -> None:
    c = registry.customers.intake(full_customer(), actor=OFFICER)
    assert registry.consent.may_use(c.id, "marketing.sms", actor=OFFICER).reason == "no_consent"
    granted_at = clock.advance(minutes=1)
    registry.consent.grant(c.id, "marketing.sms", actor=OFFICER, channel=APP)
    assert registry.consent.may_use(c.id, "marketing.sms", actor=OFFICER).reason == "granted"
    clock.advance(days=3)
    registry.consent.withdraw(c.id, "marketing.sms", actor=OFFICER, channel=APP)
    now = registry.consent.may_use(c.id, "marketing.sms", actor=OFFICER)
    assert (now.allowed, now.reason) == (False, "withdrawn")
    earlier = registry.consent.may_use(c.id, "marketing.sms", actor=OFFICER, as_of=granted_at)
    assert (earlier.allowed, earlier.reason) == (True, "granted")
    kinds = [e.kind.value for e in registry.consent.ledger(c.id, actor=OFFICER).events]
    assert kinds == ["grant", "withdraw"]


def test_separate_consent_purposes_cannot_be_bundled_and_nothing_is_stored(
    registry: Registry,
) -> None:
    c = registry.customers.intake(full_customer(), actor=OFFICER)
    with pytest.raises(BundledConsentError):
        registry.consent.grant(c.id, ["third_party", "cross_border"], actor=OFFICER, channel=APP)
    assert registry.consent.ledger(c.id, actor=OFFICER).events == ()
    registry.consent.grant(c.id, "marketing.email", actor=OFFICER, channel=APP)
    third = registry.consent.may_use(c.id, "third_party", actor=OFFICER)
    assert third.reason == "separate_consent_required"


def test_a_child_cannot_consent_alone(registry: Registry) -> None:
    child = registry.customers.intake(
        full_customer(2, birth_date="2015-06-01", identifiers=[]), actor=OFFICER
    )
    with pytest.raises(GuardianConsentRequired):
        registry.consent.grant(child.id, "marketing.email", actor=OFFICER, channel=APP)


def test_regrade_skips_and_ungrades_customers_who_objected_to_profiling(
    registry: Registry, clock: TickingClock
) -> None:
    a = registry.customers.intake(full_customer(1), actor=OFFICER)
    b = registry.customers.intake(full_customer(2, identifiers=[]), actor=OFFICER)
    registry.grading.regrade(ParetoPolicy(basis="customers"), as_of=clock(), actor=OFFICER)
    assert registry.customers.get(b.id, actor=OFFICER).grade is not None
    clock.advance(hours=1)
    registry.consent.object_to(b.id, "profiling", actor=OFFICER, channel=APP)
    report = registry.grading.regrade(ParetoPolicy(basis="customers"), as_of=clock(), actor=OFFICER)
    assert report.skipped_by_consent == (b.id,)
    assert registry.customers.get(b.id, actor=OFFICER).grade is None
    assert registry.customers.get(a.id, actor=OFFICER).grade is not None


def test_audience_lists_only_customers_who_agreed(registry: Registry, clock: TickingClock) -> None:
    ids = [
        registry.customers.intake(full_customer(n, identifiers=[]), actor=OFFICER).id
        for n in range(4)
    ]
    for cid in ids[:2]:
        registry.consent.grant(cid, "marketing.email", actor=OFFICER, channel=APP)
    clock.advance(seconds=1)
    registry.consent.withdraw(ids[1], "marketing.email", actor=OFFICER, channel=APP)
    assert list(registry.consent.audience("marketing.email", actor=OFFICER)) == [ids[0]]


def _values_at(data: Any, path: str) -> list[Any]:
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head[:-2] if many else head
    value = data.get(name)
    items = value if many else [value]
    if not rest:
        return list(items)
    return [v for item in items for v in _values_at(item, rest)]


def test_subject_export_holds_every_declared_personal_field(make: MakeRegistry) -> None:
    schedule = RetentionSchedule(
        [
            RetentionRule(
                code="dormant-archive",
                trigger=RetentionTrigger.LAST_ACTIVITY,
                period=Period(years=3),
                action=RetentionAction.ARCHIVE,
                legal_reference="PIPL Art. 19",
            )
        ]
    )
    registry = make(retention=schedule)
    registry.fields.define(
        CustomField(
            name="member_no", type=FieldType.TEXT, personal=True, category=DataCategory.IDENTIFIER
        ),
        actor=OFFICER,
        reason="loyalty programme",
    )
    graded = {
        "dimension": "stars",
        "label": "4",
        "policy_id": "stars:v1",
        "graded_at": T0.isoformat(),
        "explanation": "12 purchases, 4,800 spent",
    }
    c = registry.customers.intake(
        full_customer(custom={"member_no": "M-1"}, grades=[graded]), actor=OFFICER
    )
    registry.consent.grant(c.id, "marketing.email", actor=OFFICER, channel=APP)
    export = registry.privacy.export_subject(c.id, actor=OFFICER).to_dict()
    assert export["schema_version"] == 1 and export["masked"] is False
    declared = personal_fields(Customer)
    assert {f["path"] for f in export["personal_fields"]} == {f.path for f in declared}
    for field in declared:
        values = _values_at(export["record"], field.path)
        assert values, f"personal field {field.path} missing from the export"
        assert all(v not in (None, [], "") for v in values), field.path
    assert export["sources"]["source"] == "exhibition"
    assert export["consent"]["purposes"]["marketing.email"]["reason"] == "granted"
    assert export["consent"]["events"][0]["purposes"] == ["marketing.email"]
    assert "| last activity | 3 years | archived | PIPL Art. 19 |" in export["retention"]


def test_subject_export_is_masked_without_unmask_and_refused_without_export(
    registry: Registry,
) -> None:
    c = registry.customers.intake(full_customer(), actor=OFFICER)
    masked = registry.privacy.export_subject(c.id, actor=Actor(id="x", roles={"admin", "export"}))
    assert masked.masked is True
    assert masked.record["contacts"][0]["phones"] == ["+86138****0001"]
    with pytest.raises(AccessDenied):
        registry.privacy.export_subject(c.id, actor=Actor(id="y", roles={"admin", "unmask"}))


def test_retention_plans_apply_once(make: MakeRegistry, clock: TickingClock) -> None:
    schedule = RetentionSchedule(
        [
            RetentionRule(
                code="lead-archive",
                applies_to=Selector(stages=(LifecycleStage.LEAD,)),
                trigger=RetentionTrigger.CREATION,
                period=Period(days=30),
                action=RetentionAction.ARCHIVE,
            ),
            RetentionRule(
                code="archived-destroy",
                applies_to=Selector(states=(RecordState.ARCHIVED,)),
                trigger=RetentionTrigger.ACCOUNT_CLOSURE,
                period=Period(days=365),
                action=RetentionAction.DESTROY,
            ),
        ]
    )
    registry = make(retention=schedule)
    lead = registry.customers.intake(full_customer(1, identifiers=[]), actor=OFFICER)
    active = registry.customers.intake(
        full_customer(2, identifiers=[], stage="active"), actor=OFFICER
    )
    clock.advance(days=31)
    plan = registry.retention.plan(as_of=clock(), actor=OFFICER)
    assert [(p.customer_id, p.action) for p in plan] == [(lead.id, RetentionAction.ARCHIVE)]
    assert registry.retention.apply(plan, actor=OFFICER).applied == (plan[0].key,)
    again = registry.retention.apply(plan, actor=OFFICER)  # a no-op the second time
    assert again.applied == () and again.already_applied == (plan[0].key,)
    archived = registry.customers.get(lead.id, actor=OFFICER)
    assert archived.state is RecordState.ARCHIVED
    assert archived.stage is LifecycleStage.LEAD  # archiving keeps the lifecycle stage
    assert registry.retention.plan(as_of=clock(), actor=OFFICER) == []
    clock.advance(days=366)
    plan = registry.retention.plan(as_of=clock(), actor=OFFICER)
    assert [(p.customer_id, p.action) for p in plan] == [(lead.id, RetentionAction.DESTROY)]
    assert registry.retention.apply(plan, actor=OFFICER).applied == (plan[0].key,)
    with pytest.raises(Erased):
        registry.customers.get(lead.id, actor=OFFICER)
    assert registry.customers.get(active.id, actor=OFFICER).name == "李2华"
    assert registry.retention.apply(plan, actor=OFFICER).already_applied == (plan[0].key,)
    trail = registry.audit.trail(actor=Actor(id="a", roles={"auditor"}), customer_id=lead.id)
    assert [e.action for e in trail if e.action.startswith("retention.")] == [
        "retention.archive",
        "retention.destroy",
    ]


def test_birth_dates_in_exports_round_trip(registry: Registry) -> None:
    c = registry.customers.intake(full_customer(), actor=OFFICER)
    assert registry.privacy.export_subject(c.id, actor=OFFICER).to_dict()["record"][
        "birth_date"
    ] == str(date(1949, 12, 31))


def test_regrade_neither_fits_nor_grades_on_the_data_of_customers_who_objected(
    registry: Registry, clock: TickingClock
) -> None:
    a = registry.customers.intake(full_customer(1), actor=OFFICER)
    b = registry.customers.intake(full_customer(2, identifiers=[]), actor=OFFICER)
    registry.consent.object_to(b.id, "profiling", actor=OFFICER, channel=APP)
    clock.advance(hours=1)
    seen: dict[str, list[str]] = {"fit": [], "grade": []}

    class Watched:
        """Pareto, recording whose summaries it fits and grades."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self.policy_id = inner.policy_id

        def fit(self, summaries: Any, *, as_of: Any) -> Any:
            listed = list(summaries)
            seen["fit"] += [s.customer_id for s in listed]
            return Watched(self._inner.fit(listed, as_of=as_of))

        def grade_many(self, summaries: Any, *, as_of: Any) -> Any:
            seen["grade"] += [s.customer_id for s in summaries]
            return self._inner.grade_many(summaries, as_of=as_of)

    report = registry.grading.regrade(
        Watched(ParetoPolicy(basis="customers")), as_of=clock(), actor=OFFICER
    )
    assert seen == {"fit": [a.id], "grade": [a.id]}
    assert report.skipped_by_consent == (b.id,)
    assert registry.customers.get(b.id, actor=OFFICER).grade is None
