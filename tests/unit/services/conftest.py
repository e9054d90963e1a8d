"""Fixtures shared by the service tests: a registry over a memory store, a keyring and a clock.

``registry`` is ``make()``; ``make`` builds further registries over the same store, keyring and
clock (several may share them), with any ``Registry`` option. A module takes a variant by
overriding only the fixture it changes, for example a plaintext registry::

    @pytest.fixture
    def keyring() -> None:
        return None

Every module keeps its own start instant: ``t0`` is the module's ``T0`` when it defines one (a
timezone-aware datetime at module level), else :data:`DEFAULT_T0`, and ``clock`` starts there.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from custrec import KeyRing, MemoryStore, PlaintextStorageWarning, Registry
from custrec.storage import Store
from custrec.testing import TickingClock

DEFAULT_T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

MakeRegistry = Callable[..., Registry]


@pytest.fixture
def t0(request: pytest.FixtureRequest) -> datetime:
    """The test module's ``T0`` if it defines one, else ``DEFAULT_T0``: where ``clock`` starts."""
    start: datetime = getattr(request.module, "T0", DEFAULT_T0)
    return start


@pytest.fixture
def clock(t0: datetime) -> TickingClock:
    """A clock starting at ``t0`` that moves on one second per call."""
    return TickingClock(t0)


@pytest.fixture
def keyring() -> KeyRing | None:
    """A fresh keyring (an encrypted, blind-indexed registry); override with ``None`` for a
    plaintext one."""
    return KeyRing.generate()


@pytest.fixture
def store() -> Iterator[Store]:
    """An empty memory store, closed after the test."""
    s = MemoryStore()
    yield s
    s.close()


@pytest.fixture
def make(store: Store, keyring: KeyRing | None, clock: TickingClock) -> MakeRegistry:
    """Build a registry over the test's store, keyring and clock, with any ``Registry`` options;
    without a keyring the plaintext warning is silenced."""

    def build(**options: Any) -> Registry:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextStorageWarning)
            return Registry(store, keyring=keyring, clock=clock, **options)

    return build


@pytest.fixture
def registry(make: MakeRegistry) -> Registry:
    """The test's registry: ``make()`` with no options."""
    return make()
