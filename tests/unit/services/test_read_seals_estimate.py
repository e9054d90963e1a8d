"""When a read that queued its audit entry seals the queue (``Context.read_seals``).

A read due to seal by time seals when its ticket is a multiple of the tickets the store issues
per ``SEAL_AFTER``, estimated from this registry's last two tickets, so many processes reading
at once seal about once per interval between them. An estimate from a read long ago says
nothing of the traffic now: then the read seals, so that after a burst an entry of a quiet
system does not wait in the queue for whatever comes next.
"""

from __future__ import annotations

import pytest

from custrec import KeyRing, MemoryStore, Registry
from custrec.services import context as context_module


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: now[0])
    return now


def test_a_recent_estimate_of_busy_traffic_spreads_the_sealing(clock: list[float]) -> None:
    context = Registry(MemoryStore(), keyring=KeyRing.generate())._context
    assert context.read_seals([1000]) is True  # never sealed: due, no estimate yet
    clock[0] += context_module.SEAL_AFTER  # one interval later, 1,000 tickets issued
    # 1,000 tickets per interval: a due read seals only on a multiple of SEAL_EVERY (32)
    assert context.read_seals([2005]) is False
    clock[0] += context_module.SEAL_AFTER
    assert context.read_seals([3008]) is True  # 3,008 = 94 x 32


def test_an_estimate_from_long_ago_does_not_hold_a_quiet_read_back(clock: list[float]) -> None:
    context = Registry(MemoryStore(), keyring=KeyRing.generate())._context
    context.read_seals([1000])
    clock[0] += 1.0  # 20 intervals later; 1,000 tickets issued meanwhile by others
    # the average (50 an interval) would make it wait for a multiple of 32; 2,000 is not one
    assert 2000 % context_module.SEAL_EVERY != 0
    assert context.read_seals([2000]) is True


def busy_writer(clock: list[float]) -> tuple[context_module.Context, int]:
    """A registry whose recent units are mostly writes, at 1,000 tickets an interval; returns
    it and the next ticket."""
    context = Registry(MemoryStore(), keyring=KeyRing.generate())._context
    ticket = 1001
    for _ in range(6):  # six writes: well over WRITE_SHARE of its recent units
        context.read_seals([ticket], write=True)
        clock[0] += context_module.SEAL_AFTER
        ticket += 1000
    return context, ticket


def test_where_writes_are_frequent_a_busy_read_leaves_the_sealing_to_them(
    clock: list[float],
) -> None:
    context, ticket = busy_writer(clock)
    ticket -= ticket % context_module.SEAL_EVERY  # a multiple of SEAL_EVERY, due by time too
    assert context.seal_due()
    assert context.read_seals([ticket]) is False
    # a registry that only reads seals on that ticket, as before
    reader = Registry(MemoryStore(), keyring=KeyRing.generate())._context
    reader.read_seals([ticket - 1000])
    assert reader.read_seals([ticket]) is True


def test_where_writes_are_frequent_due_writes_seal_about_once_an_interval(
    clock: list[float],
) -> None:
    context, ticket = busy_writer(clock)
    sealed = 0
    for n in range(64):  # 64 due writes in a row, 1,000 tickets an interval store-wide
        clock[0] += context_module.SEAL_AFTER / 1000
        sealed += context.read_seals([ticket + n], write=True)
    # more often than a multiple of SEAL_EVERY alone (2 in 64): the reads do not seal
    assert sealed > 2


def test_where_writes_are_frequent_a_read_at_quiet_traffic_still_seals(
    clock: list[float],
) -> None:
    context, ticket = busy_writer(clock)
    clock[0] += context_module.SEAL_AFTER  # one ticket in the last interval: quiet
    assert context.read_seals([ticket - 999]) is True
