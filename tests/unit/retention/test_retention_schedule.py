"""Specification of RetentionSchedule.plan: triggers, holds, floors, precedence, idempotence."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone

import attrs
import pytest

from custrec.model.records import CustomerKind, DataCategory, LifecycleStage, RecordState
from custrec.retention import (
    RESTRICTION_REFERENCE,
    LegalHold,
    Period,
    PlannedAction,
    RetentionAction,
    RetentionError,
    RetentionFacts,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
    StatutoryFloor,
)

US = timedelta(microseconds=1)
CST = timezone(timedelta(hours=8))
T0 = datetime(2021, 1, 31, 10, 0, 0, 250000, tzinfo=UTC)
A = RetentionAction
T = RetentionTrigger


def facts(cid: str = "c-1", **kw: object) -> RetentionFacts:
    values: dict[str, object] = {
        "customer_id": cid,
        "kind": CustomerKind.INDIVIDUAL,
        "stage": LifecycleStage.ACTIVE,
        "created_at": T0,
    }
    values.update(kw)
    return RetentionFacts(**values)  # type: ignore[arg-type]


def rule(code: str, trigger: T, period: Period, action: A, **kw: object) -> RetentionRule:
    return RetentionRule(
        code=code,
        trigger=trigger,
        period=period,
        action=action,
        **kw,  # type: ignore[arg-type]
    )


def plan(schedule: RetentionSchedule, *items: RetentionFacts, as_of: datetime) -> list[tuple]:
    return [
        (a.customer_id, a.action.value, a.rule, a.due_at) for a in schedule.plan(items, as_of=as_of)
    ]


# ------------------------------------------------------------------------------ triggers


def test_an_action_is_due_exactly_at_trigger_plus_period() -> None:
    s = RetentionSchedule([rule("r", T.CREATION, Period(months=1), A.ARCHIVE)])
    due = datetime(2021, 2, 28, 10, 0, 0, 250000, tzinfo=UTC)  # 31 Jan + 1 month, clamped
    assert s.plan([facts()], as_of=due - US) == []
    [action] = s.plan([facts()], as_of=due)
    assert (action.action, action.due_at, action.anchor_at, action.trigger) == (
        A.ARCHIVE,
        due,
        T0,
        T.CREATION,
    )
    assert (
        action.reason
        == f"archive by rule r: 1 month after creation of the record on {T0.isoformat()}"
    )


def test_last_activity_falls_back_to_creation() -> None:
    s = RetentionSchedule([rule("r", T.LAST_ACTIVITY, Period(years=2), A.DESTROY)])
    later = T0 + timedelta(days=100)
    assert s.due_at(s.rules[0], facts()) == Period(years=2).add_to(T0)
    assert s.due_at(s.rules[0], facts(last_activity_at=later)) == Period(years=2).add_to(later)
    assert s.due_at(s.rules[0], facts(created_at=None)) is None


def test_contract_end_counts_from_the_end_of_the_last_day_in_the_schedule_time_zone() -> None:
    r = rule("r", T.CONTRACT_END, Period(years=3), A.ANONYMISE)
    f = facts(contract_end_on=date(2024, 2, 29))
    utc = RetentionSchedule([r])
    assert utc.due_at(r, f) == datetime(2027, 3, 1, tzinfo=UTC)
    china = RetentionSchedule([r], tz=CST)
    assert china.due_at(r, f) == datetime(2027, 2, 28, 16, 0, tzinfo=UTC)  # 1 March 00:00 CST
    assert china.due_at(r, facts()) is None


def test_last_transaction_never_falls_back() -> None:
    r = rule("r", T.LAST_TRANSACTION, Period(years=3), A.DESTROY)
    s = RetentionSchedule([r])
    assert s.due_at(r, facts(last_activity_at=T0)) is None
    assert s.due_at(r, facts(last_transaction_at=T0)) == Period(years=3).add_to(T0)


def test_account_closure_only_counts_while_the_account_is_closed() -> None:
    r = rule("r", T.ACCOUNT_CLOSURE, Period(days=30), A.ARCHIVE)
    s = RetentionSchedule([r])
    for stage in (LifecycleStage.CHURNED, LifecycleStage.ARCHIVED):
        assert s.due_at(r, facts(stage=stage, closed_at=T0)) == T0 + timedelta(days=30)
    assert s.due_at(r, facts(stage=LifecycleStage.ACTIVE, closed_at=T0)) is None  # reopened
    assert s.due_at(r, facts(stage=LifecycleStage.CHURNED)) is None


def test_consent_withdrawal_and_last_verification_triggers() -> None:
    withdrawn = rule("w", T.CONSENT_WITHDRAWAL, Period(years=1), A.DESTROY)
    review = rule("q", T.LAST_VERIFICATION, Period(months=3), A.REVIEW)
    s = RetentionSchedule([withdrawn, review])
    assert s.due_at(withdrawn, facts()) is None
    assert s.due_at(withdrawn, facts(consent_withdrawn_at=T0)) == datetime(
        2022, 1, 31, 10, 0, 0, 250000, tzinfo=UTC
    )
    assert s.due_at(review, facts()) == datetime(2021, 4, 30, 10, 0, 0, 250000, tzinfo=UTC)
    verified = T0 + timedelta(days=10)
    assert s.due_at(review, facts(last_verified_at=verified)) == Period(months=3).add_to(verified)


def test_selectors_choose_the_customers_a_rule_applies_to() -> None:
    r = rule(
        "orgs",
        T.CREATION,
        Period(),
        A.REVIEW,
        applies_to=Selector(kinds=[CustomerKind.ORGANIZATION], stages=[LifecycleStage.LEAD]),
    )
    s = RetentionSchedule([r])
    org_lead = facts("o-1", kind=CustomerKind.ORGANIZATION, stage=LifecycleStage.LEAD)
    assert [a.customer_id for a in s.plan([facts(), org_lead], as_of=T0)] == ["o-1"]
    only = RetentionSchedule(
        [rule("one", T.CREATION, Period(), A.REVIEW, applies_to=Selector(customer_ids="c-2"))]
    )
    assert [a.customer_id for a in only.plan([facts(), facts("c-2")], as_of=T0)] == ["c-2"]


# -------------------------------------------------------------------- order, determinism


def test_the_plan_is_deterministic_and_ordered() -> None:
    s = RetentionSchedule(
        [
            rule(
                "archive", T.CREATION, Period(years=1), A.ARCHIVE, categories=[DataCategory.CONTACT]
            ),
            rule(
                "review",
                T.LAST_VERIFICATION,
                Period(years=1),
                A.REVIEW,
                categories=[DataCategory.LOCATION],
            ),
            rule(
                "destroy",
                T.CREATION,
                Period(years=1),
                A.DESTROY,
                categories=[DataCategory.IDENTITY],
            ),
            rule(
                "late",
                T.CREATION,
                Period(years=2),
                A.ANONYMISE,
                categories=[DataCategory.FINANCIAL],
            ),
        ]
    )
    population = [facts(f"c-{n}", created_at=T0 + timedelta(days=n % 3)) for n in range(9)]
    as_of = T0 + timedelta(days=365 * 3)
    first = s.plan(population, as_of=as_of)
    shuffled = population[:]
    random.Random(7).shuffle(shuffled)
    assert s.plan(shuffled, as_of=as_of) == first
    keys = [(a.due_at, a.customer_id, -a.action.severity, a.rule) for a in first]
    assert keys == sorted(keys)
    assert [a.rule for a in first[:3]] == ["destroy", "archive", "review"]  # severity first
    assert len(first) == 9 * 4


# ------------------------------------------------------------------------------- holds


def test_a_legal_hold_turns_destroy_and_anonymise_into_restrict_with_its_reason() -> None:
    s = RetentionSchedule(
        [
            rule(
                "destroy",
                T.CREATION,
                Period(years=1),
                A.DESTROY,
                legal_reference="PIPL Art. 47",
                categories=[DataCategory.CONTACT],
            ),
            rule(
                "anon", T.CREATION, Period(years=1), A.ANONYMISE, categories=[DataCategory.IDENTITY]
            ),
            rule(
                "archive",
                T.CREATION,
                Period(years=1),
                A.ARCHIVE,
                categories=[DataCategory.LOCATION],
            ),
        ],
        holds=[LegalHold(reason="litigation 2022-17", placed_at=T0, customer_ids=["c-1"])],
    )
    as_of = T0 + timedelta(days=400)
    by_rule = {
        a.rule: a for a in s.plan([facts(), facts("c-2")], as_of=as_of) if a.customer_id == "c-1"
    }
    assert by_rule["destroy"].action is A.RESTRICT
    assert by_rule["destroy"].converted_from is A.DESTROY and by_rule["destroy"].blocked
    assert by_rule["destroy"].holds == ("litigation 2022-17",)
    assert "held by legal hold: litigation 2022-17" in by_rule["destroy"].reason
    assert by_rule["destroy"].legal_reference == f"PIPL Art. 47; {RESTRICTION_REFERENCE}"
    assert by_rule["anon"].action is A.RESTRICT and by_rule["anon"].converted_from is A.ANONYMISE
    assert by_rule["archive"].action is A.ARCHIVE and not by_rule["archive"].blocked
    others = {a.rule: a.action for a in s.plan([facts("c-2")], as_of=as_of)}
    assert others == {"destroy": A.DESTROY, "anon": A.ANONYMISE, "archive": A.ARCHIVE}


def test_a_hold_applies_from_placement_until_it_is_lifted() -> None:
    due = Period(years=1).add_to(T0)
    placed, lifted = due + timedelta(days=1), due + timedelta(days=20)
    s = RetentionSchedule(
        [rule("d", T.CREATION, Period(years=1), A.DESTROY)],
        holds=[
            LegalHold(
                reason="audit",
                placed_at=placed,
                lifted_at=lifted,
                applies_to=Selector(kinds=[CustomerKind.INDIVIDUAL]),
            )
        ],
    )
    assert [a.action for a in s.plan([facts()], as_of=placed - US)] == [A.DESTROY]
    assert [a.action for a in s.plan([facts()], as_of=placed)] == [A.RESTRICT]
    assert [a.action for a in s.plan([facts()], as_of=lifted - US)] == [A.RESTRICT]
    [resumed] = s.plan([facts()], as_of=lifted)
    assert (resumed.action, resumed.due_at) == (A.DESTROY, due)
    org = facts("o-1", kind=CustomerKind.ORGANIZATION)
    assert [a.action for a in s.plan([org], as_of=placed)] == [A.DESTROY]


def test_with_holds_adds_holds_to_a_copy() -> None:
    s = RetentionSchedule([rule("d", T.CREATION, Period(), A.DESTROY)])
    held = s.with_holds(LegalHold(reason="r", placed_at=T0, customer_ids="c-1"))
    assert s.holds == () and len(held.holds) == 1
    assert [a.action for a in held.plan([facts()], as_of=T0)] == [A.RESTRICT]


# ------------------------------------------------------------------------------ floors

ACCOUNTING = StatutoryFloor(
    code="accounting",
    records="transaction records",
    trigger=T.LAST_ACTIVITY,
    period=Period(years=3),
    legal_reference="E-Commerce Law Art. 31",
    categories=[DataCategory.FINANCIAL],
)


def test_a_statutory_floor_restricts_until_it_ends_then_postpones_destruction_to_its_end() -> None:
    destroy = rule(
        "withdrawn",
        T.CONSENT_WITHDRAWAL,
        Period(months=6),
        A.DESTROY,
        legal_reference="PIPL Art. 47(1)(3)",
    )
    s = RetentionSchedule([destroy], floors=[ACCOUNTING])
    activity = T0 + timedelta(days=10)
    f = facts(last_activity_at=activity, consent_withdrawn_at=activity)
    floor_end = Period(years=3).add_to(activity)
    due = Period(months=6).add_to(activity)
    assert s.plan([f], as_of=due - US) == []
    [held] = s.plan([f], as_of=due)
    assert (held.action, held.converted_from, held.due_at, held.floors) == (
        A.RESTRICT,
        A.DESTROY,
        due,
        ("accounting",),
    )
    assert "waits for statutory floor accounting until" in held.reason
    assert held.legal_reference == (
        f"PIPL Art. 47(1)(3); E-Commerce Law Art. 31; {RESTRICTION_REFERENCE}"
    )
    assert s.plan([f], as_of=floor_end - US)[0].action is A.RESTRICT
    [destroyed] = s.plan([f], as_of=floor_end)
    assert (destroyed.action, destroyed.due_at, destroyed.converted_from, destroyed.floors) == (
        A.DESTROY,
        floor_end,
        None,
        ("accounting",),
    )
    assert "postponed to the end of statutory floor accounting" in destroyed.reason


def test_a_floor_only_protects_overlapping_data_of_selected_customers_with_an_anchor() -> None:
    anonymise_contact = rule(
        "contact", T.CREATION, Period(years=1), A.ANONYMISE, categories=[DataCategory.CONTACT]
    )
    destroy_all = rule("all", T.CREATION, Period(years=1), A.DESTROY)
    as_of = Period(years=1).add_to(T0)
    s = RetentionSchedule([anonymise_contact], floors=[ACCOUNTING])
    assert [a.action for a in s.plan([facts()], as_of=as_of)] == [A.ANONYMISE]  # disjoint data
    s = RetentionSchedule([destroy_all], floors=[ACCOUNTING])
    assert [a.action for a in s.plan([facts()], as_of=as_of)] == [A.RESTRICT]  # all overlaps
    orgs_only = StatutoryFloor(
        code="orgs",
        records="r",
        trigger=T.CREATION,
        period=Period(years=5),
        legal_reference="x",
        applies_to=Selector(kinds=[CustomerKind.ORGANIZATION]),
    )
    s = RetentionSchedule([destroy_all], floors=[orgs_only])
    assert [a.action for a in s.plan([facts()], as_of=as_of)] == [A.DESTROY]
    no_anchor = StatutoryFloor(
        code="c", records="r", trigger=T.CONTRACT_END, period=Period(years=9), legal_reference="x"
    )
    s = RetentionSchedule([destroy_all], floors=[no_anchor])
    assert [a.action for a in s.plan([facts()], as_of=as_of)] == [A.DESTROY]
    transactions = StatutoryFloor(
        code="t",
        records="transaction records",
        trigger=T.LAST_TRANSACTION,
        period=Period(years=3),
        legal_reference="E-Commerce Law Art. 31",
    )
    s = RetentionSchedule([destroy_all], floors=[transactions])
    assert [a.action for a in s.plan([facts()], as_of=as_of)] == [A.DESTROY]  # no transactions
    buyer = facts(last_transaction_at=T0)
    assert [a.action for a in s.plan([buyer], as_of=as_of)] == [A.RESTRICT]


def test_floors_never_touch_reversible_actions() -> None:
    s = RetentionSchedule([rule("a", T.CREATION, Period(), A.ARCHIVE)], floors=[ACCOUNTING])
    [action] = s.plan([facts()], as_of=T0)
    assert (action.action, action.floors) == (A.ARCHIVE, ())


def test_a_floor_and_a_hold_together() -> None:
    s = RetentionSchedule(
        [rule("d", T.CREATION, Period(), A.DESTROY)],
        floors=[ACCOUNTING],
        holds=[LegalHold(reason="case 9", placed_at=T0, customer_ids="c-1")],
    )
    [action] = s.plan([facts()], as_of=T0)
    assert (action.action, action.converted_from, action.holds, action.floors) == (
        A.RESTRICT,
        A.DESTROY,
        ("case 9",),
        ("accounting",),
    )


# -------------------------------------------------------------------------- precedence


def test_the_most_severe_action_wins_over_less_severe_ones_on_the_same_data() -> None:
    s = RetentionSchedule(
        [
            rule("archive", T.CREATION, Period(months=6), A.ARCHIVE),
            rule("review", T.CREATION, Period(months=3), A.REVIEW),
            rule("destroy", T.CREATION, Period(years=1), A.DESTROY),
        ]
    )
    assert [a.rule for a in s.plan([facts()], as_of=Period(months=6).add_to(T0))] == ["archive"]
    assert [a.rule for a in s.plan([facts()], as_of=Period(years=1).add_to(T0))] == ["destroy"]


def test_actions_on_other_or_wider_data_are_kept() -> None:
    s = RetentionSchedule(
        [
            rule(
                "anon-contact", T.CREATION, Period(), A.ANONYMISE, categories=[DataCategory.CONTACT]
            ),
            rule("restrict-all", T.CREATION, Period(), A.RESTRICT),
            rule(
                "archive-contact",
                T.CREATION,
                Period(),
                A.ARCHIVE,
                categories=[DataCategory.CONTACT],
            ),
        ]
    )
    assert sorted(a.rule for a in s.plan([facts()], as_of=T0)) == ["anon-contact", "restrict-all"]


def test_between_equal_actions_the_broader_then_the_earlier_then_the_lower_code_wins() -> None:
    narrow = rule("a-narrow", T.CREATION, Period(), A.ARCHIVE, categories=[DataCategory.CONTACT])
    broad = rule(
        "z-broad",
        T.CREATION,
        Period(days=1),
        A.ARCHIVE,
        categories=[DataCategory.CONTACT, DataCategory.IDENTITY],
    )
    as_of = T0 + timedelta(days=1)
    assert [a.rule for a in RetentionSchedule([narrow, broad]).plan([facts()], as_of=as_of)] == [
        "z-broad"
    ]
    early = rule("b", T.CREATION, Period(), A.ARCHIVE)
    late = rule("a", T.CREATION, Period(days=1), A.ARCHIVE)
    assert [a.rule for a in RetentionSchedule([late, early]).plan([facts()], as_of=as_of)] == ["b"]
    same = rule("a", T.CREATION, Period(), A.ARCHIVE)
    assert [x.rule for x in RetentionSchedule([early, same]).plan([facts()], as_of=as_of)] == ["a"]


def test_disjoint_actions_of_the_same_kind_all_happen() -> None:
    s = RetentionSchedule(
        [
            rule("contact", T.CREATION, Period(), A.ANONYMISE, categories=[DataCategory.CONTACT]),
            rule("location", T.CREATION, Period(), A.ANONYMISE, categories=[DataCategory.LOCATION]),
        ]
    )
    first = s.plan([facts()], as_of=T0)
    assert sorted(a.rule for a in first) == ["contact", "location"]
    done = facts(applied_keys=[first[0].key])
    assert [a.rule for a in s.plan([done], as_of=T0)] == [first[1].rule]


# --------------------------------------------------------------------------- idempotence


def apply(items: list[RetentionFacts], planned: list[PlannedAction]) -> list[RetentionFacts]:
    """What the registry does: remember the executed keys per customer, and the state."""
    return [f.applying(planned) for f in items]


def test_applying_a_plan_twice_is_a_no_op() -> None:
    s = RetentionSchedule(
        [
            rule("withdrawn", T.CONSENT_WITHDRAWAL, Period(months=6), A.DESTROY),
            rule("archive", T.CREATION, Period(years=1), A.ARCHIVE),
        ],
        floors=[ACCOUNTING],
    )
    activity = T0 + timedelta(days=10)
    population = [
        facts("c-1", last_activity_at=activity, consent_withdrawn_at=activity),
        facts("c-2", created_at=T0 - timedelta(days=800)),
    ]
    as_of = T0 + timedelta(days=400)
    first = s.plan(population, as_of=as_of)
    assert {(a.customer_id, a.action) for a in first} == {
        ("c-1", A.RESTRICT),  # the floor keeps c-1's destruction waiting
        ("c-2", A.ARCHIVE),
    }
    population = apply(population, first)
    assert s.plan(population, as_of=as_of) == []
    assert s.plan(population, as_of=as_of + timedelta(days=30)) == []
    floor_end = Period(years=3).add_to(activity)
    [destroy] = s.plan(population, as_of=floor_end)
    assert (destroy.customer_id, destroy.action) == ("c-1", A.DESTROY)
    assert s.plan(apply(population, [destroy]), as_of=floor_end) == []


def test_keys_are_stable_and_recurring_reviews_get_new_keys() -> None:
    s = RetentionSchedule([rule("quarterly", T.LAST_VERIFICATION, Period(months=3), A.REVIEW)])
    [first] = s.plan([facts()], as_of=T0 + timedelta(days=100))
    assert first.key == "c-1|quarterly|review|2021-04-30T10:00:00.250000Z"
    assert s.plan([facts()], as_of=T0 + timedelta(days=200))[0].key == first.key
    reverified = facts(last_verified_at=T0 + timedelta(days=95), applied_keys=[first.key])
    assert s.plan([reverified], as_of=T0 + timedelta(days=100)) == []
    [second] = s.plan([reverified], as_of=T0 + timedelta(days=200))
    assert second.key != first.key


# ------------------------------------------------------------------------------- render


def test_the_schedule_renders_as_a_markdown_table_for_a_notice() -> None:
    s = RetentionSchedule(
        [
            rule(
                "orders",
                T.CONTRACT_END,
                Period(years=3),
                A.ANONYMISE,
                description="order and contact data",
                legal_reference="PIPL Art. 19",
            ),
            rule(
                "leads",
                T.LAST_ACTIVITY,
                Period(years=2, months=6),
                A.DESTROY,
                applies_to=Selector(stages=[LifecycleStage.LEAD, LifecycleStage.PROSPECT]),
            ),
            rule(
                "q",
                T.LAST_VERIFICATION,
                Period(months=3),
                A.REVIEW,
                categories=[DataCategory.CONTACT, DataCategory.LOCATION],
                applies_to=Selector(kinds=[CustomerKind.ORGANIZATION]),
            ),
        ],
        floors=[ACCOUNTING],
    )
    assert s.to_table() == "\n".join(
        [
            "| Data | Applies to | Counted from | Kept for | Then | Legal reference |",
            "|---|---|---|---|---|---|",
            "| order and contact data | all customers | end of the contract | 3 years | anonymised"
            " | PIPL Art. 19 |",
            "| all personal data | customers in stage lead or prospect | last activity"
            " | 2 years 6 months | destroyed | - |",
            "| contact, location data | organisations | last verification | 3 months"
            " | reviewed and re-verified | - |",
            "| transaction records | all customers | last activity | at least 3 years"
            " | kept; not anonymised or destroyed earlier | E-Commerce Law Art. 31 |",
        ]
    )


def test_table_cells_are_escaped() -> None:
    s = RetentionSchedule(
        [rule("r", T.CREATION, Period(days=1), A.ARCHIVE, description="a | b\nc")]
    )
    assert "| a \\| b c |" in s.to_table()


# ---------------------------------------------------------------------------- validation


def test_schedule_and_plan_validation() -> None:
    r = rule("r", T.CREATION, Period(), A.ARCHIVE)
    with pytest.raises(RetentionError, match="rule code 'r' is used twice"):
        RetentionSchedule([r, r])
    with pytest.raises(RetentionError, match="floor code"):
        RetentionSchedule([], floors=[ACCOUNTING, ACCOUNTING])
    with pytest.raises(TypeError):
        RetentionSchedule([r], tz="Asia/Shanghai")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RetentionSchedule(["r"])  # type: ignore[list-item]
    s = RetentionSchedule([r])
    with pytest.raises(RetentionError, match="appears twice"):
        s.plan([facts(), facts()], as_of=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        s.plan([facts()], as_of=datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        s.plan([{"customer_id": "c-1"}], as_of=T0)  # type: ignore[list-item]
    assert s.plan([], as_of=T0) == []


def test_a_lifted_restriction_no_longer_suppresses_the_archive_that_falls_due() -> None:
    s = RetentionSchedule(
        [
            rule("restrict", T.CREATION, Period(days=10), A.RESTRICT),
            rule("archive", T.CREATION, Period(days=20), A.ARCHIVE),
        ]
    )
    c = facts("c-1", created_at=T0)
    [restrict] = s.plan([c], as_of=T0 + timedelta(days=10))
    c = c.applying([restrict])
    assert c.state is RecordState.RESTRICTED
    assert s.plan([c], as_of=T0 + timedelta(days=30)) == []  # restricted: the archive waits
    lifted = attrs.evolve(c, state=RecordState.LIVE)
    [archive] = s.plan([lifted], as_of=T0 + timedelta(days=30))
    assert (archive.rule, archive.action) == ("archive", A.ARCHIVE)


def test_an_archived_record_is_not_reviewed_until_it_is_taken_back_into_use() -> None:
    s = RetentionSchedule(
        [
            rule("archive", T.CREATION, Period(days=20), A.ARCHIVE),
            rule("review", T.CREATION, Period(days=30), A.REVIEW),
        ]
    )
    c = facts("c-1", created_at=T0)
    [archive] = s.plan([c], as_of=T0 + timedelta(days=25))
    c = c.applying([archive])
    assert s.plan([c], as_of=T0 + timedelta(days=40)) == []
    back = attrs.evolve(c, state=RecordState.LIVE)
    assert [a.rule for a in s.plan([back], as_of=T0 + timedelta(days=40))] == ["review"]
