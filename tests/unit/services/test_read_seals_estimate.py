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
