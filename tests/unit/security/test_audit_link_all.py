"""Linking a run of audit entries (``AuditChain.link_all``) encodes the parts they share once:
the chain values are those of linking each entry alone (``AuditChain.link``), for any run of
entries, with shared or varied parts, ``on_behalf_of`` or not, and the same error for an
entry the canonical encoding refuses (a naive instant, a seq that is no integer, a field that
is no text, an attribute missing).

A queued entry's tag (``AuditChain.tag``) is built from the same shared parts, which the chain
keeps for the next few entries (a queued entry is tagged, its tag checked, then it is linked):
it is the HMAC of the general canonical encoding, and linking after tagging still gives the
values of linking each entry alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.security import GENESIS, AuditChain
from custrec.security import audit as audit_module

CHAIN = AuditChain(bytes(range(32)))
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class Entry:
    """The attributes of custrec.storage.AuditRecord."""

    seq: Any = 0
    at: Any
    actor_id: Any
    action: Any
    customer_id: Any = None
    fields: Any = ()
    reason: Any = None
    outcome: Any = "ok"
    on_behalf_of: Any = None
    chain: bytes = b""


@attrs.frozen(kw_only=True)
class Bare:
    """An entry without a reason attribute."""

    seq: int
    at: datetime
    actor_id: str
    action: str
    customer_id: str | None = None
    fields: tuple[str, ...] = ()
    outcome: str = "ok"


class Text(str):
    """A str subclass (not a plain str)."""


instants = st.sampled_from(
    [
        T0,
        T0 + timedelta(microseconds=1),
        T0.astimezone(timezone(timedelta(hours=8))),  # the same instant, another zone
        datetime(2025, 3, 1, 8, 0),  # naive
    ]
)
unusual = st.sampled_from([None, 5, Text("x"), b"x", "\udcff"])
texts = st.sampled_from(["admin", "u-1", "customer.create", "", "张三"])


@st.composite
def runs(draw: st.DrawFn) -> list[Any]:
    """A run of entries numbered from 1, mostly sharing every part but seq and customer."""
    base: dict[str, Any] = {
        "at": draw(instants),
        "actor_id": draw(texts),
        "action": draw(texts),
        "fields": draw(st.sampled_from([(), ("name",), ("name", "notes")])),
        "reason": draw(st.sampled_from([None, "", "import"])),
        "outcome": "ok",
        "on_behalf_of": draw(st.sampled_from([None, "u-2"])),
    }
    entries: list[Any] = []
    for seq in range(1, draw(st.integers(1, 6)) + 1):
        values = dict(base)
        values["customer_id"] = draw(st.sampled_from([None, "c-1", "c-2", "客户"]))
        for name in draw(st.lists(st.sampled_from(sorted(base)), max_size=2)):
            values[name] = draw(st.one_of(texts, instants, unusual, st.just(["name"])))
        if draw(st.integers(0, 9)) == 0:
            values["customer_id"] = draw(unusual)
        number: Any = seq if draw(st.integers(0, 19)) else draw(st.sampled_from([True, 1.0]))
        if draw(st.integers(0, 29)) == 0:
            entries.append(Bare(seq=seq, at=T0, actor_id="a", action="b"))
        else:
            entries.append(Entry(seq=number, **values))
    return entries


def one_by_one(entries: list[Any]) -> object:
    """The chain values linking each entry alone, or the error."""
    values: list[bytes] = []
    chain = GENESIS
    try:
        for expected, entry in enumerate(entries, 1):
            if entry.seq != expected:
                raise ValueError(f"entry seq must be {expected}, got {entry.seq}")
            chain = CHAIN.link(entry, chain)
            values.append(chain)
    except (ValueError, TypeError) as exc:
        return (type(exc), str(exc))
    return values


def together(entries: list[Any]) -> object:
    try:
        return CHAIN.link_all(entries, previous=None)
    except (ValueError, TypeError) as exc:
        return (type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(entries=runs())
def test_linking_a_run_gives_the_values_of_linking_each_entry(entries: list[Any]) -> None:
    assert together(entries) == one_by_one(entries)


def test_a_run_after_an_entry_continues_its_chain() -> None:
    first = Entry(seq=1, at=T0, actor_id="a", action="customer.create", customer_id="c-1")
    [value] = CHAIN.link_all([first], previous=None)
    stored = attrs.evolve(first, chain=value)
    run = [attrs.evolve(first, seq=n, customer_id=f"c-{n}") for n in (2, 3)]
    values = CHAIN.link_all(run, previous=stored)
    assert values[0] == CHAIN.link(run[0], value)
    assert values[1] == CHAIN.link(run[1], values[0])


def tag_general(entry: Any) -> object:
    """The tag from the general canonical encoding of a queued entry, or the error."""
    try:
        _, encoded = audit_module._canonical(entry, queued=True)
    except audit_module._Malformed as exc:
        return (ValueError, exc.message)
    return CHAIN._mac(GENESIS, encoded)


def tag(entry: Any) -> object:
    try:
        return CHAIN.tag(entry)
    except (ValueError, TypeError) as exc:
        return (type(exc), str(exc))


@settings(max_examples=400, deadline=None)
@given(entries=runs())
def test_a_tag_is_the_hmac_of_the_general_encoding_and_linking_after_it_agrees(
    entries: list[Any],
) -> None:
    for entry in entries:
        expected = tag_general(entry)
        assert tag(entry) == expected
        assert tag(entry) == expected  # from the kept parts
        assert CHAIN.check_tag(entry, expected) is isinstance(expected, bytes)
    assert together(entries) == one_by_one(entries)


def test_equal_instants_of_another_offset_do_not_share_kept_parts() -> None:
    """Two datetimes of one zone that differ only in fold compare equal but are an hour apart
    (the hour a clock goes back twice): each is tagged and linked as its own instant."""
    zone = ZoneInfo("America/New_York")
    first = datetime(2025, 11, 2, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert first == second and first.utcoffset() != second.utcoffset()
    entries = [Entry(seq=1, at=first, actor_id="a", action="b")]
    entries.append(attrs.evolve(entries[0], seq=2, at=second))
    for entry in entries:
        assert tag(entry) == tag_general(entry)
    assert tag(entries[0]) != tag(entries[1])
    assert together(entries) == one_by_one(entries)
