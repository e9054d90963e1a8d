"""A bulk intake sets the stored-form fields of the record ``parse_customer`` just built for
it in place (``services._intake.stamped``) instead of copying it: the record is the one
``stored_form`` makes of it, for any raw input parse_customer accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from custrec.model._replace import replace
from custrec.services._intake import stamped
from custrec.services._records import stored_form
from custrec.validation import parse_customer

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
OPTIONAL = {
    "owner": st.sampled_from([None, "", "u-9", " u-8 "]),
    "team": st.sampled_from([None, "", "east"]),
    "created_at": st.sampled_from([None, "2025-01-02T03:04:05+00:00", "2025-01-02T03:04:05+08:00"]),
    "updated_at": st.sampled_from([None, "2025-02-02T03:04:05+00:00"]),
    "version": st.sampled_from([0, 3]),
    "verification": st.sampled_from(["unverified", "verified", "pending_review", "rejected"]),
    "id": st.sampled_from(["0190a5a0-0000-7000-8000-000000000001"]),
}


@st.composite
def raw(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "individual",
        "name": draw(st.sampled_from(["张三", " 李 四 ", "Ａｃｍｅ"])),
        "contacts": [{"phones": [draw(st.sampled_from(["13800138000", "+8613912345678"]))]}],
    }
    for name in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True)):
        data[name] = draw(OPTIONAL[name])
    return data


@settings(max_examples=300, deadline=None)
@given(
    data=raw(),
    owner=st.sampled_from(["bench", "u-1"]),
    team=st.sampled_from([None, "west"]),
    review=st.booleans(),
)
def test_stamping_a_parsed_record_gives_its_stored_form(
    data: dict[str, Any], owner: str, team: str | None, review: bool
) -> None:
    record = parse_customer(data, as_of=NOW).record
    assume(record is not None)
    assert record is not None
    copy = replace(record)
    expected = stored_form(record, owner=owner, team=team, now=NOW, review=review)
    got = stamped(copy, owner=owner, team=team, now=NOW, review=review)
    assert got is copy
    assert got == expected
