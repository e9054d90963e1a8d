"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings

from custrec.services import _intake

# No per-example deadline: speed goals live in benchmarks/, and on a loaded two-core machine
# (or under pytest-xdist) the first example of a test also pays for lazy imports, so a
# wall-clock deadline only makes property tests flaky. Tests that need one set it themselves.
settings.register_profile("custrec", deadline=None)
settings.load_profile("custrec")


class IntakeValidations:
    """Counts the validations intake runs itself (``parse_customer`` and ``validate`` as
    ``custrec.services._intake`` calls them), from the moment it is made."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("parse_customer", "validate"):
            original = getattr(_intake, name)

            def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.calls += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(_intake, name, counted)


@pytest.fixture
def count_intake_validations(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[], IntakeValidations]:
    """Start counting intake's own validations (call it where counting should begin)."""
    return lambda: IntakeValidations(monkeypatch)


Started = tuple[threading.Thread, list[Any]]
"""A started thread and the list its outcome (return value or exception) is appended to."""


def _start(work: Callable[[], Any]) -> Started:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # reported by the test's assertion
            outcome.append(exc)

    thread = threading.Thread(target=run, name="test-worker")
    thread.start()
    return thread, outcome


@pytest.fixture
def in_thread() -> Callable[[Callable[[], Any]], Started]:
    """Start ``work`` in a thread; returns the thread and the list its result or exception is
    appended to (join the thread, then compare the list)."""
    return _start


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first (a stable sort: the order is otherwise unchanged).

    Under pytest-xdist (``-n auto --dist loadfile``, as README and ``.ci/run`` run the suite)
    the longest files then start at once on their own workers instead of arriving last and
    leaving the other workers idle; in one process the order makes no difference to the result.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
