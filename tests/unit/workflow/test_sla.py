"""Service-level targets and the case clock (custrec.workflow.sla).

The instants are hand-computed on a Shanghai office calendar (09:00-18:00, Monday to Friday)
and pinned in UTC next to the local time they stand for; a property checks ``sla_status``
against a brute-force walk, minute by minute, with random pauses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.workflow.calendar import BusinessCalendar, CalendarTime
from custrec.workflow.sla import (
    FIRST_RESPONSE,
    RESOLUTION,
    TARGET_NAMES,
    Deadline,
    SlaPolicy,
    SlaRule,
    SlaStatus,
    SlaTarget,
    escalations_due,
    next_due,
    sla_status,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

# Dragon Boat Festival 2025: Saturday 31 May to Monday 2 June.
OFFICE = BusinessCalendar(
    zone="Asia/Shanghai", holidays={date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)}
)
A_CUSTOMERS = SlaTarget(first_response=2 * HOUR, resolution=16 * HOUR)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def status(
    target: SlaTarget = A_CUSTOMERS, *, opened_at: datetime, as_of: datetime, **facts: object
) -> SlaStatus:
    return sla_status(target, OFFICE, opened_at=opened_at, as_of=as_of, **facts)  # type: ignore[arg-type]


# --------------------------------------------------------------------- the policy


HIGH = SlaTarget(first_response=HOUR)
A_GRADE = SlaTarget(first_response=2 * HOUR)
A_COMPLAINT = SlaTarget(first_response=30 * MINUTE)
ANYONE = SlaTarget(first_response=8 * HOUR, resolution=40 * HOUR)

POLICY = SlaPolicy(
    id="support",
    rules=(
        SlaRule(target=ANYONE),
        SlaRule(target=HIGH, priority="high"),
        SlaRule(target=A_GRADE, grade="A", escalate_to="key-accounts"),
        SlaRule(target=A_COMPLAINT, kind="complaint", grade="A"),
    ),
    time=OFFICE,
    escalate_to="support-lead",
)


class TestPolicy:
    def test_the_most_specific_matching_rule_wins(self) -> None:
        assert POLICY.target_for("complaint", "high", "A") is A_COMPLAINT
        assert POLICY.target_for("inquiry", "normal", "A") is A_GRADE
        assert POLICY.target_for("inquiry", "normal", "C") is ANYONE
        assert POLICY.target_for(None, None, None) is ANYONE

    def test_a_tie_goes_to_the_rule_listed_first(self) -> None:
        assert POLICY.target_for("inquiry", "high", "A") is HIGH

    def test_no_matching_rule_means_no_target(self) -> None:
        narrow = SlaPolicy(id="vip", rules=(SlaRule(target=HIGH, grade="A"),))
        assert narrow.target_for("inquiry", "high", "B") is None
        assert narrow.escalation_for("inquiry", "high", "B") is None
        assert narrow.rule_for("inquiry", "high", None) is None

    def test_a_breach_escalates_to_the_rule_s_owner_else_the_policy_s(self) -> None:
        assert POLICY.escalation_for("inquiry", "normal", "A") == "key-accounts"
        assert POLICY.escalation_for("complaint", "normal", "A") == "support-lead"

    def test_the_clock_is_24x7_unless_given(self) -> None:
        assert SlaPolicy(id="plain", rules=()).time == CalendarTime()

    @pytest.mark.parametrize(
        ("build", "error"),
        [
            (lambda: SlaTarget(first_response=timedelta(0)), ValueError),
            (lambda: SlaTarget(resolution=-HOUR), ValueError),
            (lambda: SlaTarget(first_response=2), TypeError),
            (lambda: SlaTarget(warn_ratio=1.0), ValueError),
            (lambda: SlaTarget(warn_ratio=0), ValueError),
            (lambda: SlaTarget(warn_ratio=True), TypeError),
            (lambda: SlaRule(target=HOUR), TypeError),
            (lambda: SlaRule(target=HIGH, grade=""), ValueError),
            (lambda: SlaRule(target=HIGH, kind=3), TypeError),
            (lambda: SlaPolicy(id="x", rules=(HIGH,)), TypeError),
            (lambda: SlaPolicy(id="x", rules="rules"), TypeError),
            (lambda: SlaPolicy(id=" ", rules=()), ValueError),
            (lambda: SlaPolicy(id=None, rules=()), TypeError),
            (lambda: SlaPolicy(id="x", rules=(), time="24x7"), TypeError),
        ],
    )
    def test_bad_definitions_are_refused(self, build: object, error: type) -> None:
        with pytest.raises(error):
            build()  # type: ignore[operator]

    def test_criteria_given_must_be_strings(self) -> None:
        with pytest.raises(TypeError, match="grade"):
            POLICY.target_for("inquiry", "high", 1)  # type: ignore[arg-type]


# ------------------------------------------------------------------- the clock


class TestACustomerOverAHoliday:
    """Opened Friday 17:00 with a 2-hour first-response target; Monday is a holiday."""

    OPENED = local(2025, 5, 30, 17)  # 09:00 UTC

    def test_first_response_is_due_tuesday_10_00(self) -> None:
        deadline = status(opened_at=self.OPENED, as_of=self.OPENED).first_response
        assert deadline.due_at == local(2025, 6, 3, 10) == utc(2025, 6, 3, 2)
        assert deadline.due_at.tzinfo is UTC
        assert deadline.warn_at == local(2025, 6, 3, 9, 36)  # 80 % of 2 h: 1 h 36 min
        assert deadline.name == FIRST_RESPONSE
        assert deadline.target == 2 * HOUR
        assert deadline.counted == timedelta(0)

    def test_resolution_is_due_two_working_days_later(self) -> None:
        deadline = status(opened_at=self.OPENED, as_of=self.OPENED).resolution
        assert deadline.due_at == local(2025, 6, 4, 15)  # 1 h Fri, 9 h Tue, 6 h Wed

    def test_not_breached_a_minute_before_due(self) -> None:
        before = status(opened_at=self.OPENED, as_of=local(2025, 6, 3, 9, 59))
        assert not before.first_response.breached
        assert before.first_response.counted == 2 * HOUR - MINUTE
        assert escalations_due(before, already=()) == []
        assert next_due(before) == local(2025, 6, 3, 10)

    def test_breached_just_after_the_due_instant_not_at_it(self) -> None:
        due = local(2025, 6, 3, 10)
        at_due = status(opened_at=self.OPENED, as_of=due)  # an answer now is still on time
        assert not at_due.first_response.breached
        assert escalations_due(at_due, already=()) == []
        after = status(opened_at=self.OPENED, as_of=due + timedelta(microseconds=1))
        assert after.first_response.breached
        assert after.first_response.breached_at == due
        assert escalations_due(after, already=()) == [FIRST_RESPONSE]
        assert escalations_due(after, already=[FIRST_RESPONSE]) == []
        assert next_due(after) == due  # overdue cases head the due list

    def test_met_at_the_due_instant_is_on_time(self) -> None:
        due = local(2025, 6, 3, 10)
        on_time = status(opened_at=self.OPENED, first_response_at=due, as_of=due + HOUR)
        assert on_time.first_response.met_at == due
        assert not on_time.first_response.breached
        assert on_time.first_response.breached_at is None
        assert next_due(on_time) == local(2025, 6, 4, 15)  # the resolution is next

    def test_met_after_due_is_breached(self) -> None:
        late = local(2025, 6, 3, 10, 1)
        answered = status(opened_at=self.OPENED, first_response_at=late, as_of=late + HOUR)
        assert answered.first_response.breached
        assert answered.first_response.breached_at == local(2025, 6, 3, 10)
        assert answered.first_response.met_at == late
        assert escalations_due(answered, already=()) == [FIRST_RESPONSE]


class TestMetAndUnmet:
    MONDAY_16 = local(2025, 6, 9, 16)

    def test_met_after_hours_past_a_close_due_is_breached(self) -> None:
        # Due at 18:00 Monday; an answer at 20:00 counts no more working time, yet it is late.
        evening = local(2025, 6, 9, 20)
        answered = status(opened_at=self.MONDAY_16, first_response_at=evening, as_of=evening)
        assert answered.first_response.due_at == local(2025, 6, 9, 18)
        assert answered.first_response.counted == 2 * HOUR
        assert answered.first_response.breached

    def test_a_resolution_answers_the_case(self) -> None:
        resolved = local(2025, 6, 9, 17)
        done = status(opened_at=self.MONDAY_16, resolved_at=resolved, as_of=local(2025, 6, 12))
        assert done.first_response.met_at == resolved == done.resolution.met_at
        assert not done.first_response.breached and not done.resolution.breached
        assert next_due(done) is None
        assert escalations_due(done, already=()) == []

    def test_an_earlier_response_stands_when_resolved_later(self) -> None:
        answered, resolved = local(2025, 6, 9, 16, 30), local(2025, 6, 10, 12)
        done = status(
            opened_at=self.MONDAY_16,
            first_response_at=answered,
            resolved_at=resolved,
            as_of=resolved,
        )
        assert done.first_response.met_at == answered
        assert done.resolution.counted == 5 * HOUR

    def test_a_met_target_projects_its_due_instant(self) -> None:
        answered = local(2025, 6, 9, 16, 30)
        done = status(opened_at=self.MONDAY_16, first_response_at=answered, as_of=answered)
        assert done.first_response.due_at == local(2025, 6, 9, 18)
        assert done.first_response.counted == 30 * MINUTE

    def test_facts_after_as_of_are_ignored(self) -> None:
        answered = local(2025, 6, 10, 12)
        earlier = status(
            opened_at=self.MONDAY_16, first_response_at=answered, as_of=local(2025, 6, 10, 10)
        )
        assert earlier.first_response.met_at is None
        assert earlier.first_response.breached
        assert earlier.first_response.counted == 3 * HOUR

    def test_a_target_left_out_has_no_deadline(self) -> None:
        target = SlaTarget(resolution=8 * HOUR)
        later = status(target, opened_at=self.MONDAY_16, as_of=local(2025, 6, 20))
        assert later.first_response == Deadline(
            name=FIRST_RESPONSE,
            target=None,
            due_at=None,
            warn_at=None,
            met_at=None,
            breached=False,
            breached_at=None,
            counted=later.resolution.counted,
        )
        assert later.resolution.breached
        assert escalations_due(later, already=()) == [RESOLUTION]

    def test_both_breaches_are_named_in_order(self) -> None:
        much_later = status(opened_at=self.MONDAY_16, as_of=local(2025, 7, 1))
        assert escalations_due(much_later, already=()) == list(TARGET_NAMES)
        assert escalations_due(much_later, already={RESOLUTION}) == [FIRST_RESPONSE]

    def test_a_24x7_clock(self) -> None:
        opened = local(2025, 6, 7, 23)  # Saturday night
        clocked = sla_status(A_CUSTOMERS, CalendarTime(), opened_at=opened, as_of=opened)
        assert clocked.first_response.due_at == utc(2025, 6, 7, 17)


class TestWaitingOnTheCustomer:
    MONDAY_9 = local(2025, 6, 9, 9)

    def test_a_paused_case_does_not_breach_while_waiting(self) -> None:
        waiting = [(local(2025, 6, 9, 10), None)]
        weeks_later = status(opened_at=self.MONDAY_9, pauses=waiting, as_of=local(2025, 6, 30))
        assert weeks_later.paused
        assert weeks_later.first_response.due_at is None
        assert weeks_later.first_response.warn_at is None
        assert not weeks_later.first_response.breached
        assert weeks_later.first_response.counted == HOUR
        assert next_due(weeks_later) is None
        assert escalations_due(weeks_later, already=()) == []

    def test_a_resumed_case_s_due_instant_moves_by_the_paused_working_time(self) -> None:
        paused, resumed = local(2025, 6, 9, 10), local(2025, 6, 10, 15)
        without = status(opened_at=self.MONDAY_9, as_of=self.MONDAY_9).first_response.due_at
        assert without == local(2025, 6, 9, 11)
        back = status(opened_at=self.MONDAY_9, pauses=[(paused, resumed)], as_of=resumed)
        assert not back.paused
        assert back.first_response.due_at == local(2025, 6, 10, 16)
        waited = OFFICE.elapsed(paused, resumed)
        assert waited == 14 * HOUR  # 8 h Monday and 6 h Tuesday
        assert back.first_response.due_at == OFFICE.add(without, waited)
        assert OFFICE.elapsed(without, back.first_response.due_at) == waited

    def test_the_clock_runs_again_from_the_instant_of_resuming(self) -> None:
        paused, resumed = local(2025, 6, 9, 10), local(2025, 6, 10, 15)
        back = status(opened_at=self.MONDAY_9, pauses=[(paused, resumed)], as_of=resumed)
        assert back.first_response.counted == HOUR
        assert next_due(back) == local(2025, 6, 10, 16)

    def test_a_pause_starting_at_as_of_stops_the_clock(self) -> None:
        paused = local(2025, 6, 9, 10)
        at_pause = status(opened_at=self.MONDAY_9, pauses=[(paused, None)], as_of=paused)
        assert at_pause.paused
        later = status(
            opened_at=self.MONDAY_9, pauses=[(paused, local(2025, 6, 9, 12))], as_of=paused
        )
        assert later.paused  # the pause's end lies after as_of: not yet known

    def test_a_breach_before_the_pause_stays_a_breach(self) -> None:
        paused = local(2025, 6, 9, 15)
        waiting = status(opened_at=self.MONDAY_9, pauses=[(paused, None)], as_of=local(2025, 6, 10))
        assert waiting.paused
        assert waiting.first_response.breached
        assert waiting.first_response.breached_at == local(2025, 6, 9, 11)
        assert next_due(waiting) is None
        assert escalations_due(waiting, already=()) == [FIRST_RESPONSE]

    def test_an_empty_pause_changes_nothing(self) -> None:
        instant = local(2025, 6, 9, 10)
        touched = status(opened_at=self.MONDAY_9, pauses=[(instant, instant)], as_of=instant)
        assert touched == status(opened_at=self.MONDAY_9, as_of=instant)

    def test_the_warning_comes_before_the_due_instant(self) -> None:
        target = SlaTarget(first_response=10 * HOUR, warn_ratio=0.5)
        fresh = status(target, opened_at=self.MONDAY_9, as_of=self.MONDAY_9)
        assert fresh.first_response.warn_at == local(2025, 6, 9, 14)
        assert fresh.first_response.due_at == local(2025, 6, 10, 10)


# ------------------------------------------------------------------- bad input


class TestBadInput:
    OPENED = local(2025, 6, 9, 9)

    @pytest.mark.parametrize(
        ("facts", "error", "message"),
        [
            ({"opened_at": datetime(2025, 6, 9, 9)}, ValueError, "opened_at must be timezone"),
            ({"as_of": datetime(2025, 6, 9, 9)}, ValueError, "as_of must be timezone"),
            ({"as_of": date(2025, 6, 9)}, TypeError, "as_of must be"),
            ({"as_of": local(2025, 6, 9, 8)}, ValueError, "as_of must not be before"),
            ({"first_response_at": local(2025, 6, 8)}, ValueError, "first_response_at must not"),
            ({"resolved_at": datetime(2025, 6, 10)}, ValueError, "resolved_at must be timezone"),
            ({"pauses": [(local(2025, 6, 8), None)]}, ValueError, "before opened_at"),
            ({"pauses": [(datetime(2025, 6, 10), None)]}, ValueError, "pause's start must be"),
            ({"pauses": [(local(2025, 6, 10), local(2025, 6, 9, 12))]}, ValueError, "end before"),
            (
                {"pauses": [(local(2025, 6, 10), None), (local(2025, 6, 11), None)]},
                ValueError,
                "must not overlap",
            ),
            (
                {
                    "pauses": [
                        (local(2025, 6, 10), local(2025, 6, 12)),
                        (local(2025, 6, 11), local(2025, 6, 13)),
                    ]
                },
                ValueError,
                "must not overlap",
            ),
            (
                {
                    "pauses": [
                        (local(2025, 6, 11), local(2025, 6, 12)),
                        (local(2025, 6, 10), local(2025, 6, 10, 12)),
                    ]
                },
                ValueError,
                "in order",
            ),
            ({"pauses": [local(2025, 6, 10)]}, TypeError, "pairs"),
            ({"pauses": "soon"}, TypeError, "pauses"),
        ],
    )
    def test_case_facts_are_checked(
        self, facts: dict[str, object], error: type, message: str
    ) -> None:
        arguments: dict[str, object] = {"opened_at": self.OPENED, "as_of": local(2025, 6, 20)}
        with pytest.raises(error, match=message):
            status(**{**arguments, **facts})  # type: ignore[arg-type]

    def test_target_and_clock_are_checked(self) -> None:
        with pytest.raises(TypeError, match="target"):
            sla_status(HOUR, OFFICE, opened_at=self.OPENED, as_of=self.OPENED)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="time"):
            sla_status(A_CUSTOMERS, "24x7", opened_at=self.OPENED, as_of=self.OPENED)  # type: ignore[arg-type]

    def test_escalation_bookkeeping_is_checked(self) -> None:
        fresh = status(opened_at=self.OPENED, as_of=self.OPENED)
        with pytest.raises(TypeError, match="already"):
            escalations_due(fresh, already="first_response")
        with pytest.raises(ValueError, match="already"):
            escalations_due(fresh, already=["first-response"])
        with pytest.raises(TypeError, match="status"):
            escalations_due(fresh.first_response, already=())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="status"):
            next_due(None)  # type: ignore[arg-type]


# --------------------------------------------------------- property vs brute force

LUNCH = BusinessCalendar(
    zone="Asia/Shanghai",
    hours={day: [(time(9), time(12)), (time(13, 30), time(18))] for day in range(5)},
    holidays={date(2025, 10, 1), date(2025, 10, 2), date(2025, 10, 3)},
    workdays={date(2025, 9, 28): 0},
)
START = local(2025, 9, 26)  # a Friday
SPAN = 14 * 24 * 60  # minutes brute-forced


def shanghai_minute_counts(minute: int) -> bool:
    """Whether the minute ``START + minute`` is working time on :data:`LUNCH` (no DST)."""
    wall = START + minute * MINUTE
    day = wall.date()
    if day in LUNCH.holidays:
        return False
    if day not in LUNCH.workdays and day.weekday() >= 5:
        return False
    moment = wall.time()
    return time(9) <= moment < time(12) or time(13, 30) <= moment < time(18)


WORKING = [shanghai_minute_counts(m) for m in range(SPAN)]


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, list[tuple[int, int | None]], int, int]:
    """Opening minute, pauses (minute pairs, the last maybe open), as_of minute, target."""
    opened = draw(st.integers(0, 2 * 24 * 60))
    marks = sorted(draw(st.sets(st.integers(opened, SPAN // 2), max_size=6)))
    pauses: list[tuple[int, int | None]] = [
        (a, b) for a, b in zip(marks[::2], marks[1::2], strict=False)
    ]
    if len(marks) % 2:
        pauses.append((marks[-1], None))
    as_of = draw(st.integers(opened, SPAN // 2))
    target = draw(st.integers(1, 20 * 60))
    return opened, pauses, as_of, target


def brute_due(opened: int, pauses: list[tuple[int, int | None]], as_of: int, target: int) -> object:
    """Walk the minutes: a minute counts if it is working time and in no pause known at
    ``as_of``; due at the end of the minute that completes the target, ``None`` if the case
    is paused at ``as_of`` short of it."""
    stopped = [False] * SPAN
    for start, end in pauses:
        if start <= as_of:
            known_end = end if end is not None and end <= as_of else SPAN
            stopped[start:known_end] = [True] * (known_end - start)
    counted = 0
    for minute in range(opened, SPAN):
        if minute >= as_of and stopped[minute]:
            return None
        if WORKING[minute] and not stopped[minute]:
            counted += 1
            if counted == target:
                return START + (minute + 1) * MINUTE
    raise AssertionError("the brute-force range is too short")


@settings(max_examples=200, deadline=None)
@given(cases())
def test_due_at_agrees_with_a_minute_walk(
    case: tuple[int, list[tuple[int, int | None]], int, int],
) -> None:
    opened, pauses, as_of, target = case
    result = sla_status(
        SlaTarget(resolution=target * MINUTE),
        LUNCH,
        opened_at=START + opened * MINUTE,
        pauses=[(START + a * MINUTE, None if b is None else START + b * MINUTE) for a, b in pauses],
        as_of=START + as_of * MINUTE,
    )
    expected = brute_due(opened, pauses, as_of, target)
    assert result.resolution.due_at == expected
    assert result.resolution.breached == (expected is not None and expected <= result.as_of)
