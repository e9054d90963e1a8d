"""Specification of custrec.quality_breakdown: breakdown(), its results and QualityTally.

Five customers, eight tasks and a handful of audit entries; every expected figure is counted by
hand in the comments. A property test compares the breakdown with a brute-force computation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.model.records import Contact, Customer, CustomerKind, VerificationStatus
from custrec.quality import QualityReport, QualityTally, assess
from custrec.quality_breakdown import (
    AccessCounts,
    FollowUpTimeliness,
    Grouping,
    Provenance,
    QualityBreakdown,
    ReviewTurnaround,
    breakdown,
)
from custrec.storage import AuditRecord
from custrec.workflow.tasks import Task, TaskStatus

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
IND = CustomerKind.INDIVIDUAL
FIELDS = ["name", "phone", "owner"]
GOOD_PHONE = "+8613800138000"


def person(customer_id: str, owner: str | None, team: str | None, **extra: object) -> Customer:
    contacts = extra.pop("contacts", [Contact(phones=[GOOD_PHONE])])
    return Customer(
        id=customer_id,
        kind=IND,
        name=f"Name{customer_id}",
        owner=owner,
        team=team,
        contacts=contacts,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


# a: valid, verified 10 days ago (fresh)
A = person("a", "s-1", "north", last_verified_at=AS_OF - 10 * DAY)
# b: phone.invalid, never verified (stale)
B = person("b", "s-1", "north", contacts=[Contact(phones=["12345"])])
# c: valid, verified 400 days ago (stale), the redundant member of a duplicate cluster
C = person("c", "s-2", "north", last_verified_at=AS_OF - 400 * DAY)
# d: no contact channel (contact.channel_required), never verified (stale)
D = person("d", "s-2", "south", contacts=[])
# e: no owner and no team, valid, verified yesterday
E = person("e", None, None, last_verified_at=AS_OF - DAY)
POPULATION = [A, B, C, D, E]
DUPLICATES = frozenset({"c"})


def origin(entered_by: str, entered: timedelta, approved: timedelta | None) -> Provenance:
    """Entered ``entered`` before AS_OF, approved ``approved`` after it (None: never)."""
    return Provenance(
        entered_by=entered_by,
        entered_at=AS_OF + entered,
        approved_at=None if approved is None else AS_OF + approved,
    )


PROVENANCE = {
    "a": origin("op-1", -10 * DAY, -10 * DAY + 2 * HOUR),  # approved after 2h
    "b": origin("op-1", -20 * DAY, -15 * DAY),  # after 5d: a slow approval
    "c": origin("op-2", -30 * DAY, DAY),  # approved only after as_of
    "d": origin("op-2", -5 * DAY, -4 * DAY),  # after 1d
    # e: no provenance known
}

DONE, CANCELLED = TaskStatus.DONE, TaskStatus.CANCELLED


def task(
    customer_id: str,
    due: timedelta,
    status: TaskStatus = TaskStatus.OPEN,
    done: timedelta | None = None,
) -> Task:
    """A task due ``due`` after AS_OF, completed or cancelled ``done`` after it."""
    return Task(
        customer_id=customer_id,
        due_at=AS_OF + due,
        status=status,
        completed_at=None if done is None else AS_OF + done,
        completed_by=None if done is None else "s-1",
    )


TASKS = {
    "a": [
        task("a", -3 * DAY, DONE, -4 * DAY),  # on time
        task("a", -3 * DAY, DONE, -DAY),  # late
    ],
    "b": [
        task("b", -DAY),  # open, overdue
        task("b", 2 * DAY),  # open, not due
    ],
    "c": [
        task("c", -DAY, CANCELLED, -2 * DAY),  # cancelled
        task("c", -DAY, DONE, DAY),  # done after as_of: overdue at as_of
    ],
    "d": [task("d", -2 * DAY, DONE, -2 * DAY)],  # done at its due instant: on time
    "e": [task("e", timedelta(0))],  # due at as_of exactly: not due yet
}


def entry(actor_id: str, action: str, at: datetime, outcome: str = "ok") -> AuditRecord:
    return AuditRecord(at=at, actor_id=actor_id, action=action, outcome=outcome)


AUDIT = [
    entry("s-1", "customer.unmask", AS_OF - DAY),
    entry("s-1", "history.unmask", AS_OF - 2 * DAY),
    entry("s-1", "customer.export", AS_OF - DAY),
    entry("s-1", "customer.unmask", AS_OF + HOUR),  # after as_of: not counted
    entry("s-2", "customer.export", AS_OF - 40 * DAY),
    entry("s-2", "customer.unmask", AS_OF - DAY, outcome="denied"),  # not counted
    entry("s-2", "denied.unmask", AS_OF - DAY, outcome="denied"),  # not counted
    entry("aud-1", "customer.read", AS_OF - DAY),  # a masked read: not counted
    entry("aud-1", "customer.export", AS_OF),  # at as_of: counted
    entry("op-1", "customer.unmask", AS_OF - 3 * DAY),
]


def tasks_of(customer_id: str) -> list[Task]:
    return TASKS.get(customer_id, [])


def run(by: str, **options: object) -> QualityBreakdown:
    arguments: dict[str, object] = {
        "as_of": AS_OF,
        "fields": FIELDS,
        "duplicate_ids": DUPLICATES,
        "provenance": PROVENANCE.get,
        "tasks": tasks_of,
        "audit": AUDIT,
    }
    arguments.update(options)
    return breakdown(POPULATION, by=by, **arguments)  # type: ignore[arg-type]


def access(unmask: int, exports: int) -> AccessCounts:
    return AccessCounts(unmask_reads=unmask, exports=exports)


# -------------------------------------------------------------------------- hand-computed


def test_by_owner_the_groups_are_the_owners_and_those_without_one_last() -> None:
    result = run("owner")
    assert result.by is Grouping.OWNER
    assert [g.key for g in result.groups] == ["s-1", "s-2", None]
    assert [g.quality.total for g in result.groups] == [2, 2, 1]


def test_by_owner_each_group_has_the_quality_measures_of_its_customers() -> None:
    result = run("owner")
    s1, s2, none = result.groups
    assert (s1.quality.valid_records, s1.quality.stale, s1.quality.duplicates) == (1, 1, 0)
    assert (s2.quality.valid_records, s2.quality.stale, s2.quality.duplicates) == (1, 2, 1)
    assert (none.quality.valid_records, none.quality.stale, none.quality.duplicates) == (1, 0, 0)
    # phone filled: a, b (s-1); c (s-2); e; owner filled for everyone but e
    assert [(f.field, f.filled, f.applicable) for f in s2.quality.completeness] == [
        ("name", 2, 2),
        ("phone", 1, 2),
        ("owner", 2, 2),
    ]
    assert none.quality.filled == 2 and none.quality.applicable == 3
    # every group's report is the one assess() gives over the group's customers
    for group, members in zip(result.groups, ([A, B], [C, D], [E]), strict=True):
        expected = assess(members, as_of=AS_OF, fields=FIELDS, duplicate_ids=DUPLICATES)
        assert group.quality == expected


def test_by_owner_review_turnaround_is_intake_to_first_approval() -> None:
    s1, s2, none = run("owner").groups
    # s-1: a 2h, b 5d -> median is the 1st of 2 (nearest rank), p90 the 2nd
    assert s1.review == ReviewTurnaround(approved=2, median=2 * HOUR, p90=5 * DAY, longest=5 * DAY)
    # s-2: c is approved only after as_of; d took 1d
    assert s2.review == ReviewTurnaround(approved=1, median=DAY, p90=DAY, longest=DAY)
    assert none.review == ReviewTurnaround(approved=0, median=None, p90=None, longest=None)


def test_by_owner_follow_up_timeliness() -> None:
    s1, s2, none = run("owner").groups
    assert s1.follow_up == FollowUpTimeliness(on_time=1, late=1, overdue=1, not_due=1, cancelled=0)
    assert s1.follow_up.due == 3 and s1.follow_up.on_time_percentage == 33.33
    assert s2.follow_up == FollowUpTimeliness(on_time=1, late=0, overdue=1, not_due=0, cancelled=1)
    assert s2.follow_up.due == 2 and s2.follow_up.on_time_percentage == 50.0
    assert none.follow_up == FollowUpTimeliness(
        on_time=0, late=0, overdue=0, not_due=1, cancelled=0
    )
    assert none.follow_up.due == 0 and none.follow_up.on_time_percentage == 0.0


def test_by_owner_access_counts_are_the_owners_own() -> None:
    result = run("owner")
    s1, s2, none = result.groups
    assert s1.access == access(2, 1)  # two unmasked reads (a customer, a history), one export
    assert s2.access == access(0, 1)  # the denied read does not count
    assert none.access is None  # no actor to count
    assert result.overall.access == access(3, 3)  # + op-1's read and aud-1's export
    assert [(a.actor_id, a.access) for a in result.actors or ()] == [
        ("aud-1", access(0, 1)),
        ("op-1", access(1, 0)),
        ("s-1", access(2, 1)),
        ("s-2", access(0, 1)),
    ]


def test_access_since_starts_the_counted_period() -> None:
    result = run("owner", access_since=AS_OF - 30 * DAY)
    assert result.group("s-2").access == access(0, 0)  # its export was 40 days ago
    assert result.overall.access == access(3, 2)
    assert result.access_since == AS_OF - 30 * DAY


def test_a_disclosure_to_a_third_party_counts_as_an_export() -> None:
    audit = [
        entry("s-1", "customer.disclose", AS_OF - DAY),  # one customer sent to a recipient
        entry("s-1", "customer.disclose", AS_OF - DAY, outcome="denied"),  # not counted
        entry("s-2", "customer.export", AS_OF - DAY),
    ]
    result = run("owner", audit=audit)
    assert result.group("s-1").access == access(0, 1)
    assert result.group("s-2").access == access(0, 1)
    assert result.overall.access == access(0, 2)


def test_by_entered_by_the_creators_are_the_groups() -> None:
    result = run("entered_by")
    assert [(g.key, g.quality.total) for g in result.groups] == [
        ("op-1", 2),
        ("op-2", 2),
        (None, 1),
    ]
    op1, op2, _ = result.groups
    assert op1.review == ReviewTurnaround(approved=2, median=2 * HOUR, p90=5 * DAY, longest=5 * DAY)
    assert op2.review is not None and op2.review.approved == 1
    assert op1.access == access(1, 0) and op2.access == access(0, 0)


def test_by_team_access_needs_the_actors_teams() -> None:
    result = run("team")
    assert [(g.key, g.quality.total) for g in result.groups] == [
        ("north", 3),
        ("south", 1),
        (None, 1),
    ]
    assert all(g.access is None for g in result.groups)
    assert result.overall.access == access(3, 3)
    teams = {"s-1": "north", "op-1": "north", "s-2": "south"}
    north, south, none = run("team", actor_teams=teams).groups
    assert north.access == access(3, 1)
    assert south.access == access(0, 1)
    assert none.access is None


def test_the_overall_row_is_the_whole_population() -> None:
    result = run("owner")
    overall = result.overall
    assert overall.key is None
    assert overall.quality == assess(
        POPULATION, as_of=AS_OF, fields=FIELDS, duplicate_ids=DUPLICATES
    )
    # 2h, 1d, 5d: the median is the 2nd, p90 the 3rd
    assert overall.review == ReviewTurnaround(approved=3, median=DAY, p90=5 * DAY, longest=5 * DAY)
    assert overall.follow_up == FollowUpTimeliness(
        on_time=2, late=1, overdue=2, not_due=2, cancelled=1
    )
    assert overall.follow_up.tasks == 8


@pytest.mark.parametrize("by", list(Grouping))
def test_the_groups_add_up_to_the_whole(by: Grouping) -> None:
    result = run(by, actor_teams={"s-1": "north"} if by is Grouping.TEAM else None)
    whole = result.overall
    for name in ("total", "valid_records", "stale", "duplicates", "filled", "applicable"):
        assert sum(getattr(g.quality, name) for g in result.groups) == getattr(whole.quality, name)
    assert whole.review is not None and whole.follow_up is not None
    assert sum(g.review.approved for g in result.groups if g.review) == whole.review.approved
    for name in ("on_time", "late", "overdue", "not_due", "cancelled"):
        assert sum(getattr(g.follow_up, name) for g in result.groups if g.follow_up) == getattr(
            whole.follow_up, name
        )


def test_what_was_not_given_is_not_computed() -> None:
    result = breakdown(POPULATION, by="owner", as_of=AS_OF)
    assert all(g.review is None and g.follow_up is None and g.access is None for g in result.groups)
    assert result.actors is None and result.overall.access is None
    assert result.groups[0].quality.duplicates is None
    table = result.to_table()
    assert "not computed (no provenance given)" in table
    assert "not computed (no tasks given)" in table
    assert "not computed (no audit entries)" in table


def test_an_empty_population() -> None:
    result = breakdown([], by="team", as_of=AS_OF, tasks=tasks_of, audit=[])
    assert result.groups == ()
    assert result.overall.quality.total == 0
    assert result.overall.follow_up == FollowUpTimeliness(
        on_time=0, late=0, overdue=0, not_due=0, cancelled=0
    )
    assert result.to_table().startswith(
        "Data quality by team as of 2025-06-30T00:00:00+00:00: 0 customers in 0 groups"
    )


def test_group_looks_a_key_up() -> None:
    result = run("owner")
    assert result.group(None).quality.total == 1
    with pytest.raises(KeyError):
        result.group("nobody")


# -------------------------------------------------------------------------- table and dict


def test_to_table_shows_one_line_per_group_in_each_section() -> None:
    table = run("owner").to_table()
    lines = table.splitlines()
    assert lines[0] == (
        "Data quality by owner as of 2025-06-30T00:00:00+00:00: 5 customers in 3 groups"
    )
    assert lines[1:] == [
        "",
        "QUALITY         customers  complete   valid  duplicates   stale",
        "  s-1                   2    100.0%   50.0%        0.0%   50.0%",
        "  s-2                   2     83.3%   50.0%       50.0%  100.0%",
        "  (none)                1     66.7%  100.0%        0.0%    0.0%",
        "  all                   5     86.7%   60.0%       20.0%   60.0%",
        "",
        "REVIEW          approved  median    p90  longest",
        "  s-1                  2   2h 0m  5d 0h    5d 0h",
        "  s-2                  1   1d 0h  1d 0h    1d 0h",
        "  (none)               0       -      -        -",
        "  all                  3   1d 0h  5d 0h    5d 0h",
        "",
        "FOLLOW-UP       due  on time  late  overdue  share  not due  cancelled",
        "  s-1             3        1     1        1  33.3%        1          0",
        "  s-2             2        1     0        1  50.0%        0          1",
        "  (none)          0        0     0        0      -        1          0",
        "  all             5        2     1        2  40.0%        2          1",
        "",
        "ACCESS          unmask reads  exports",
        "  s-1                      2        1",
        "  s-2                      0        1",
        "  other actors             1        1",
        "  all                      3        3",
    ]


def test_to_table_by_team_without_actor_teams_lists_the_actors() -> None:
    table = run("team").to_table()
    section = table.split("\n\n")[-1].splitlines()
    assert section == [
        "ACCESS BY ACTOR  unmask reads  exports",
        "  aud-1                     0        1",
        "  op-1                      1        0",
        "  s-1                       2        1",
        "  s-2                       0        1",
        "  all                       3        3",
    ]


def test_to_dict_is_json_safe_and_holds_every_figure() -> None:
    result = run("owner", access_since=AS_OF - 30 * DAY)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["by"] == "owner"
    assert data["access_since"] == "2025-05-31T00:00:00+00:00"
    first = data["groups"][0]
    assert first["key"] == "s-1"
    assert first["quality"] == result.groups[0].quality.to_dict()
    assert first["review"] == {
        "approved": 2,
        "median_seconds": 7200.0,
        "p90_seconds": 432000.0,
        "longest_seconds": 432000.0,
    }
    assert first["follow_up"] == {
        "tasks": 4,
        "due": 3,
        "on_time": 1,
        "late": 1,
        "overdue": 1,
        "not_due": 1,
        "cancelled": 0,
        "on_time_percentage": 33.33,
    }
    assert first["access"] == {"unmask_reads": 2, "exports": 1}
    assert data["groups"][2]["key"] is None and data["groups"][2]["access"] is None
    assert data["overall"]["quality"]["total"] == 5
    assert data["actors"][0] == {"actor_id": "aud-1", "unmask_reads": 0, "exports": 1}


def test_no_personal_data_in_the_breakdown() -> None:
    result = run("owner")
    text = result.to_table() + json.dumps(result.to_dict()) + repr(result)
    for customer in POPULATION:
        assert customer.name not in text
    assert GOOD_PHONE not in text and "12345" not in text


@pytest.mark.parametrize(
    ("count", "median", "p90"),
    [(1, 1, 1), (2, 1, 2), (3, 2, 3), (4, 2, 4), (9, 5, 9), (10, 5, 9), (11, 6, 10), (20, 10, 18)],
)
def test_review_percentiles_are_nearest_rank(count: int, median: int, p90: int) -> None:
    # turnarounds of 1h, 2h, ... count hours, given in reverse order
    people = [person(f"p{i}", "s-1", None) for i in range(count)]
    origins = {
        f"p{i}": Provenance(entered_at=AS_OF - (count - i) * HOUR, approved_at=AS_OF)
        for i in range(count)
    }
    review = breakdown(people, by="owner", as_of=AS_OF, provenance=origins.get).overall.review
    assert review == ReviewTurnaround(
        approved=count, median=median * HOUR, p90=p90 * HOUR, longest=count * HOUR
    )


def test_durations_are_shown_to_the_unit_rounded_down() -> None:
    def review(median: timedelta) -> str:
        provenance = {"a": Provenance(entered_at=AS_OF - median, approved_at=AS_OF)}
        result = breakdown([A], by="owner", as_of=AS_OF, provenance=provenance.get)
        return result.to_table().split("\n\n")[2].splitlines()[1].split()[2:4]

    assert review(timedelta(seconds=59, microseconds=999)) == ["59s", "59s"]
    assert review(timedelta(minutes=5, seconds=7)) == ["5m", "7s"]
    assert review(timedelta(hours=4, minutes=59, seconds=59)) == ["4h", "59m"]
    assert review(timedelta(days=12, hours=23, minutes=59)) == ["12d", "23h"]


# ----------------------------------------------------------------------------- bad input


def test_an_unknown_grouping_is_refused() -> None:
    with pytest.raises(ValueError, match="'entered_by', 'owner', 'team'"):
        breakdown(POPULATION, by="boss", as_of=AS_OF)
    with pytest.raises(TypeError, match="by must be a string"):
        breakdown(POPULATION, by=1, as_of=AS_OF)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"as_of": datetime(2025, 6, 30)}, ValueError, "timezone-aware"),
        ({"access_since": datetime(2025, 6, 1), "audit": []}, ValueError, "access_since"),
        ({"access_since": AS_OF}, ValueError, "only used with audit"),
        ({"access_since": AS_OF + HOUR, "audit": []}, ValueError, "after as_of"),
        ({"actor_teams": {"s-1": "north"}}, ValueError, "only used with audit"),
        ({"actor_teams": {"s-1": "north"}, "audit": []}, ValueError, "only used with by='team'"),
        ({"stale_after": -DAY}, ValueError, "negative"),
        ({"fields": ["shoe_size"]}, ValueError, "unknown field"),
    ],
)
def test_bad_arguments_raise_typed_errors(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    arguments: dict[str, object] = {"as_of": AS_OF}
    arguments.update(options)
    with pytest.raises(error, match=message):
        breakdown(POPULATION, by="owner", **arguments)  # type: ignore[arg-type]


def test_entered_by_needs_provenance() -> None:
    with pytest.raises(ValueError, match="needs provenance"):
        breakdown(POPULATION, by="entered_by", as_of=AS_OF)


def test_actor_teams_must_map_ids_to_teams() -> None:
    with pytest.raises(TypeError, match="actor_teams"):
        breakdown(POPULATION, by="team", as_of=AS_OF, audit=[], actor_teams={"s-1": 3})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("tasks", "error", "message"),
    [
        ({"a": ["not a task"]}, TypeError, "Task records"),
        ({"a": [task("b", DAY)]}, ValueError, "another customer"),
        ({"a": [attrs.evolve(task("a", DAY), due_at=datetime(2025, 7, 1))]}, ValueError, "due_at"),
        ({"a": [attrs.evolve(task("a", DAY), status=DONE)]}, ValueError, "completed_at"),
    ],
)
def test_bad_tasks_raise_typed_errors(
    tasks: dict[str, list[Task]], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        breakdown([A], by="owner", as_of=AS_OF, tasks=lambda c: tasks.get(c, []))


def test_bad_provenance_and_records_raise_typed_errors() -> None:
    with pytest.raises(TypeError, match="Provenance"):
        breakdown([A], by="owner", as_of=AS_OF, provenance=lambda _: "op-1")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="Customer"):
        breakdown(["a"], by="owner", as_of=AS_OF)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="timezone-aware"):
        Provenance(entered_at=datetime(2025, 1, 1))


# ---------------------------------------------------------------------------- QualityTally


def test_tallies_of_parts_merge_into_the_tally_of_the_whole() -> None:
    base = QualityTally(as_of=AS_OF, fields=FIELDS, duplicate_ids=DUPLICATES)
    left, right = base.empty(), base.empty()
    for customer in (A, B, C):
        left.add(customer)
    for customer in (D, E):
        right.add(customer)
    whole = left.merged(right)
    assert whole.total == 5 and left.total == 3  # merged() leaves its parts as they were
    assert whole.report() == assess(
        POPULATION, as_of=AS_OF, fields=FIELDS, duplicate_ids=DUPLICATES
    )
    other = QualityTally(as_of=AS_OF, fields=FIELDS, duplicate_ids=DUPLICATES)
    with pytest.raises(ValueError, match="merged"):
        left.merged(other)
    with pytest.raises(TypeError, match="QualityTally"):
        left.merged("x")  # type: ignore[arg-type]


def test_a_tally_that_refuses_a_record_counts_nothing_of_it() -> None:
    tally = QualityTally(as_of=AS_OF)
    with pytest.raises(TypeError, match="Customer"):
        tally.add("a")  # type: ignore[arg-type]
    assert tally.total == 0 and tally.report().total == 0
    assert "total=0" in repr(tally)


# ------------------------------------------------------------------------------- property

_ACTORS = ["s-1", "s-2", "op-1", "aud-1"]
_keys = st.sampled_from([None, "", " ", "s-1", "s-2", "s-2", "north"])
_offsets = st.integers(-40, 40).map(lambda h: AS_OF + h * 12 * HOUR)
_maybe_instant = st.none() | _offsets


@st.composite
def _population(draw: st.DrawFn) -> list[Customer]:
    n = draw(st.integers(0, 14))
    return [
        Customer(
            id=f"c{i}",
            kind=draw(st.sampled_from(CustomerKind)),
            name=draw(st.sampled_from(["", "Li", "Acme"])),
            owner=draw(_keys),
            team=draw(_keys),
            contacts=draw(
                st.lists(
                    st.builds(Contact, phones=st.lists(st.sampled_from([GOOD_PHONE, "1"]))),
                    max_size=1,
                )
            ),
            last_verified_at=draw(_maybe_instant),
            verification=draw(st.sampled_from(VerificationStatus)),
        )
        for i in range(n)
    ]


_provenance = st.none() | st.builds(
    Provenance, entered_by=_keys, entered_at=_maybe_instant, approved_at=_maybe_instant
)


@st.composite
def _tasks(draw: st.DrawFn, customer_id: str) -> list[Task]:
    found = []
    for _ in range(draw(st.integers(0, 3))):
        status = draw(st.sampled_from(TaskStatus))
        done = draw(_offsets) if status is not TaskStatus.OPEN else None
        found.append(
            Task(customer_id=customer_id, due_at=draw(_offsets), status=status, completed_at=done)
        )
    return found


_EXPORTS = frozenset({"customer.export", "customer.disclose"})  # a disclosure is an export
_entries = st.lists(
    st.builds(
        entry,
        actor_id=st.sampled_from(_ACTORS),
        action=st.sampled_from(
            [
                "customer.unmask",
                "history.unmask",
                "customer.export",
                "customer.disclose",
                "customer.read",
                "x",
            ]
        ),
        at=_offsets,
        outcome=st.sampled_from(["ok", "ok", "denied"]),
    ),
    max_size=12,
)


def _nearest_rank(ordered: list[timedelta], q: Fraction) -> timedelta | None:
    return ordered[math.ceil(q * len(ordered)) - 1] if ordered else None


def _brute_force(
    customers: list[Customer],
    by: str,
    provenance: dict[str, Provenance | None],
    tasks: dict[str, list[Task]],
    entries: list[AuditRecord],
    since: datetime | None,
    teams: dict[str, str] | None,
    duplicates: frozenset[str],
) -> dict[str | None, tuple[QualityReport, object, object, object]]:
    def key(customer: Customer) -> str | None:
        if by == "entered_by":
            facts = provenance.get(customer.id)
            value = None if facts is None else facts.entered_by
        else:
            value = getattr(customer, by)
        return value if isinstance(value, str) and value.strip() else None

    counted = [
        e
        for e in entries
        if e.outcome == "ok" and e.at <= AS_OF and (since is None or e.at >= since)
    ]

    def count(actors: Callable[[str], bool]) -> AccessCounts:
        unmask = sum(1 for e in counted if actors(e.actor_id) and e.action.endswith(".unmask"))
        exports = sum(1 for e in counted if actors(e.actor_id) and e.action in _EXPORTS)
        return access(unmask, exports)

    expected: dict[str | None, tuple[QualityReport, object, object, object]] = {}
    for group in {key(c) for c in customers}:
        members = [c for c in customers if key(c) == group]
        report = assess(members, as_of=AS_OF, duplicate_ids=duplicates)
        turnarounds = sorted(
            p.approved_at - p.entered_at
            for c in members
            if (p := provenance.get(c.id)) is not None
            and p.entered_at is not None
            and p.approved_at is not None
            and p.approved_at <= AS_OF
        )
        review = ReviewTurnaround(
            approved=len(turnarounds),
            median=_nearest_rank(turnarounds, Fraction(1, 2)),
            p90=_nearest_rank(turnarounds, Fraction(9, 10)),
            longest=turnarounds[-1] if turnarounds else None,
        )
        states = {"on_time": 0, "late": 0, "overdue": 0, "not_due": 0, "cancelled": 0}
        for t in (t for c in members for t in tasks[c.id]):
            if t.status is TaskStatus.CANCELLED:
                states["cancelled"] += 1
            elif t.status is TaskStatus.DONE and t.completed_at and t.completed_at <= AS_OF:
                states["on_time" if t.completed_at <= t.due_at else "late"] += 1
            else:
                states["overdue" if t.due_at < AS_OF else "not_due"] += 1
        if group is None:
            counts = None
        elif by == "team":
            counts = None if teams is None else count(lambda a, g=group: teams.get(a) == g)
        else:
            counts = count(lambda a, g=group: a == g)
        expected[group] = (report, review, FollowUpTimeliness(**states), counts)
    return expected


@settings(max_examples=80, deadline=None)
@given(
    customers=_population(),
    by=st.sampled_from(list(Grouping)),
    data=st.data(),
    entries=_entries,
    since=st.none() | _offsets.filter(lambda at: at <= AS_OF),
    with_teams=st.booleans(),
    duplicates=st.frozensets(st.sampled_from(["c0", "c1", "c2", "x"])),
)
def test_the_breakdown_equals_a_brute_force_computation(
    customers: list[Customer],
    by: Grouping,
    data: st.DataObject,
    entries: list[AuditRecord],
    since: datetime | None,
    with_teams: bool,
    duplicates: frozenset[str],
) -> None:
    provenance = {c.id: data.draw(_provenance) for c in customers}
    tasks = {c.id: data.draw(_tasks(c.id)) for c in customers}
    teams = {"s-1": "north", "op-1": "s-2"} if with_teams and by is Grouping.TEAM else None
    result = breakdown(
        iter(customers),
        by=by,
        as_of=AS_OF,
        duplicate_ids=duplicates,
        provenance=provenance.get,
        tasks=tasks.__getitem__,
        audit=iter(entries),
        access_since=since,
        actor_teams=teams,
    )
    expected = _brute_force(customers, by, provenance, tasks, entries, since, teams, duplicates)
    assert {g.key for g in result.groups} == set(expected)
    for group in result.groups:
        assert (group.quality, group.review, group.follow_up, group.access) == expected[group.key]
    whole = assess(customers, as_of=AS_OF, duplicate_ids=duplicates)
    assert result.overall.quality == whole
    assert sum(g.quality.total for g in result.groups) == whole.total == len(customers)
    assert result.overall.access == _brute_force_total(entries, since)
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()
    assert result.to_table()


def _brute_force_total(entries: Iterable[AuditRecord], since: datetime | None) -> AccessCounts:
    counted = [
        e
        for e in entries
        if e.outcome == "ok" and e.at <= AS_OF and (since is None or e.at >= since)
    ]
    return access(
        sum(1 for e in counted if e.action in {"customer.unmask", "history.unmask"}),
        sum(1 for e in counted if e.action in _EXPORTS),
    )
