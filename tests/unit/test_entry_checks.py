"""The storage checks of customer rows, history and audit entries and change events pass an
entry whose instants are exact datetimes in UTC and whose texts are text without NUL at once
(``checks._plain``); whatever the entry holds, each check answers as checking it field by field
does: the same error for the first field that is wrong, nothing (or the same event) otherwise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.storage import checks
from custrec.storage.types import AuditRecord, ChangeEvent, CustomerRow, HistoryRecord

AT = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


class Text(str):
    """A string subclass: text for the checks, never on the fast path's exact-type tests."""


class Instant(datetime):
    """A datetime subclass."""


texts = st.one_of(
    st.text(max_size=4),
    st.sampled_from(["", "a\x00", "\x00"]),
    st.builds(Text, st.text(max_size=2)),
)
values = st.one_of(texts, texts, texts, st.none(), st.integers(0, 2), st.binary(max_size=2))
instants = st.one_of(
    st.just(AT),
    st.just(AT.astimezone(timezone(timedelta(hours=8)))),
    st.just(AT.replace(tzinfo=None)),
    st.just(Instant(2026, 1, 2, tzinfo=UTC)),
    st.just("2026-01-02"),
)
groups = st.one_of(
    st.lists(values, max_size=3).map(tuple),
    st.lists(texts, max_size=3).map(tuple),
    st.frozensets(st.text(max_size=3), max_size=3),
    st.lists(texts, max_size=3),
    st.just("ab"),
)


def with_fields(entry: Any, changes: dict[str, Any]) -> Any:
    """``entry`` holding ``changes`` as they are (no converter or validator runs)."""
    for name, value in changes.items():
        object.__setattr__(entry, name, value)
    return entry


def outcome(check: Callable[[Any], object], entry: Any) -> object:
    try:
        result = check(entry)
    except (TypeError, ValueError) as exc:
        return (type(exc), str(exc))
    return ("ok", result is entry if result is not None else None)


def field_by_field(check: Callable[[Any], object], entry: Any) -> object:
    with mock.patch.object(checks, "_plain", return_value=False):
        return outcome(check, entry)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "created_at": instants,
            "updated_at": instants,
            "id": values,
            "kind": values,
            "stage": values,
            "owner": values,
            "team": values,
            "grade": values,
            "index_keys": groups,
            "tags": groups,
            "facets": groups,
        },
    )
)
@settings(max_examples=300)
def test_customer_row(changes: dict[str, Any]) -> None:
    row = CustomerRow(
        id="c-1",
        payload=b"x",
        index_keys=frozenset({"phone:i1:00"}),
        kind="individual",
        stage="lead",
        owner="u-1",
        tags=("vip",),
        facets=frozenset({"industry=x"}),
        created_at=AT,
        updated_at=AT,
    )
    row = with_fields(row, changes)
    assert outcome(checks.check_customer, row) == field_by_field(checks.check_customer, row)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "at": instants,
            "customer_id": values,
            "actor_id": values,
            "action": values,
            "path": values,
            "reason": values,
        },
    )
)
@settings(max_examples=200)
def test_history_entry(changes: dict[str, Any]) -> None:
    entry = HistoryRecord(
        customer_id="c-1", at=AT, actor_id="u-1", action="create", path="", payload=b"x"
    )
    entry = with_fields(entry, changes)
    assert outcome(checks.check_history, entry) == field_by_field(checks.check_history, entry)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "at": instants,
            "actor_id": values,
            "action": values,
            "outcome": values,
            "customer_id": values,
            "reason": values,
            "on_behalf_of": values,
            "fields": groups,
        },
    )
)
@settings(max_examples=200)
def test_audit_entry(changes: dict[str, Any]) -> None:
    entry = AuditRecord(at=AT, actor_id="u-1", action="customer.create", customer_id="c-1")
    entry = with_fields(entry, changes)
    assert outcome(checks.check_audit, entry) == field_by_field(checks.check_audit, entry)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "at": instants,
            "kind": values,
            "actor_id": values,
            "customer_id": values,
            "record_id": values,
            "fields": groups,
        },
    )
)
@settings(max_examples=200)
def test_change_event(changes: dict[str, Any]) -> None:
    event = ChangeEvent(at=AT, kind="customer.create", actor_id="u-1", customer_id="c-1")
    event = with_fields(event, changes)
    fast = outcome(checks.check_change, event)
    assert fast == field_by_field(checks.check_change, event)
    if fast[0] == "ok" and event.at is AT:  # type: ignore[index]
        assert checks.check_change(event) is event
