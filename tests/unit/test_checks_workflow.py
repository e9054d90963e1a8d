"""custrec.storage.checks for work rows, work filters, change events and feed cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.storage import ChangeEvent, WorkFilter, WorkRow, checks

T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
NAIVE = datetime(2024, 3, 1, 9, 30)


def work(**changes: Any) -> WorkRow:
    row = WorkRow(
        id="w-1",
        kind="case",
        customer_id="c-1",
        status="new",
        assignee="staff-1",
        team="north",
        due_at=T0,
        created_at=T0,
        updated_at=T0,
        payload=b"sealed",
    )
    return attrs.evolve(row, **changes)


def event(**changes: Any) -> ChangeEvent:
    return attrs.evolve(
        ChangeEvent(at=T0, kind="case.open", customer_id="c-1", actor_id="staff-1"), **changes
    )


def test_a_valid_utc_row_comes_back_as_it_is() -> None:
    row = work()
    assert checks.check_work(row) is row
    assert checks.check_work(work(due_at=None, assignee=None, team=None)) is not None


def test_instants_of_other_zones_come_back_in_utc() -> None:
    local = T0.astimezone(CST)
    got = checks.check_work(work(created_at=local, updated_at=local, due_at=local))
    assert got == work()
    assert {t.tzinfo for t in (got.created_at, got.updated_at, got.due_at)} == {UTC}
    assert checks.check_change(event(at=local)).at.tzinfo is UTC
    assert checks.check_change(event(at=local)) == event()


@pytest.mark.parametrize("field", ["created_at", "updated_at", "due_at"])
def test_naive_instants_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        checks.check_work(work(**{field: NAIVE}))


@pytest.mark.parametrize("field", ["id", "customer_id", "status", "assignee", "team"])
def test_nul_in_work_text_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        checks.check_work(work(**{field: "a\x00b"}))


def test_status_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="status"):
        checks.check_work(work(status=""))


def test_a_kind_changed_behind_the_validator_is_refused() -> None:
    row = work()
    object.__setattr__(row, "kind", "note")
    with pytest.raises(ValueError, match="kind"):
        checks.check_work(row)


@pytest.mark.parametrize("field", ["open", "breached"])
def test_flags_must_be_bool(field: str) -> None:
    with pytest.raises(TypeError, match=field):
        checks.check_work(work(**{field: 1}))
    with pytest.raises(TypeError, match=field):
        checks.check_work_filter(WorkFilter(**{field: 0}))


@pytest.mark.parametrize("field", ["kind", "status", "customer_id", "assignee", "team"])
def test_nul_in_a_filter_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        checks.check_work_filter(WorkFilter(**{field: "\x00"}))
    checks.check_work_filter(WorkFilter(**{field: "x"}), "after")


def test_nul_in_after_is_refused() -> None:
    with pytest.raises(ValueError, match="after"):
        checks.check_work_filter(None, "a\x00")


def test_due_after_is_a_pair_with_an_aware_instant() -> None:
    assert checks.check_due_after(None) is None
    assert checks.check_due_after((T0.astimezone(CST), "w-1")) == (T0, "w-1")
    for bad in ((T0,), (T0, "w", "x"), [T0, "w"], (NAIVE, "w"), (T0, "w\x00")):
        with pytest.raises(ValueError):  # noqa: PT011
            checks.check_due_after(bad)


@pytest.mark.parametrize("field", ["kind", "actor_id", "customer_id", "record_id"])
def test_nul_in_change_text_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        checks.check_change(event(**{field: "\x00"}))


def test_change_fields_kind_and_instant_are_checked() -> None:
    with pytest.raises(ValueError, match="field"):
        checks.check_change(event(fields=("name", "x\x00")))
    with pytest.raises(ValueError, match="kind"):
        checks.check_change(event(kind=""))
    with pytest.raises(ValueError, match="at"):
        checks.check_change(event(at=NAIVE))


@pytest.mark.parametrize(
    ("cursor", "position"), [(None, 0), ("0", 0), ("7", 7), (str(2**63 - 1), 2**63 - 1)]
)
def test_decimal_cursors_name_a_position(cursor: str | None, position: int) -> None:
    assert checks.check_decimal_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor",
    ["", " 1", "1 ", "+1", "-1", "01", "1.0", "1e3", "x", "١", "１", "1\n", "\x00", str(2**63), 7],
)
def test_other_cursors_are_refused(cursor: object) -> None:
    with pytest.raises(ValueError, match="cursor"):
        checks.check_decimal_cursor(cursor)


@given(st.one_of(st.integers(-5, 2**64), st.text(max_size=22)))
def test_a_decimal_cursor_is_exactly_the_text_of_a_position(drawn: int | str) -> None:
    text = str(drawn)
    canonical = text.isascii() and text.isdigit() and str(int(text)) == text
    if canonical and int(text) <= checks.INT64_MAX:
        assert checks.check_decimal_cursor(text) == int(text)
    else:
        with pytest.raises(ValueError, match="cursor"):
            checks.check_decimal_cursor(text)


@given(st.integers(0, 2**64 + 5), st.integers(0, 2**63 + 5), st.sampled_from(["", " ", "+", "0"]))
def test_a_postgres_cursor_is_exactly_xid_dot_seq(xid: int, seq: int, noise: str) -> None:
    from custrec.backends._postgres.workflow import _cursor

    text = f"{noise}{xid}.{seq}"
    if not noise and xid < 2**64 and seq <= checks.INT64_MAX:
        assert _cursor(text) == (xid, seq)
    else:
        with pytest.raises(ValueError, match="cursor"):
            _cursor(text)
