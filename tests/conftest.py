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


POSTGRES_ONLY_FILES = ("tests/integration/backends/test_audit_queue.py",)
"""Files whose tests all use the PostgreSQL server without saying so in their ids."""


def suite_scope(nodeid: str) -> str:
    """The unit pytest-xdist hands to one worker: ``"postgres"`` for every test that uses the
    PostgreSQL server (their ids say so, or their file is one of :data:`POSTGRES_ONLY_FILES`),
    else the test's file.

    The PostgreSQL tests run one after another on one worker: the change feed's cursors follow
    the server's transaction ids, which all its databases and schemas share, so an open
    transaction of another test would hold a feed test back. Other tests keep their file
    together, as ``--dist loadfile`` would.
    """
    path = nodeid.split("::", 1)[0]
    return "postgres" if "postgres" in nodeid.lower() or path in POSTGRES_ONLY_FILES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``-n``, schedule by :func:`suite_scope`, in the order of the collection (the tests
    marked ``slow`` first: see :func:`pytest_collection_modifyitems`)."""
    from xdist.scheduler import LoadScopeScheduling

    class SuiteScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return suite_scope(nodeid)

    config.option.loadscopereorder = False  # keep the slow tests first
    return SuiteScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests marked ``slow`` first (a stable sort), so that under pytest-xdist the
    longest start at once instead of arriving last and leaving the other workers idle; and
    check that every test using the PostgreSQL server is scheduled with the others."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if ("postgres_dsn" in names or "postgres_schema" in names) and suite_scope(
            item.nodeid
        ) != "postgres":
            raise pytest.UsageError(
                f"{item.nodeid} uses the PostgreSQL server: name it so, or list its file in "
                "POSTGRES_ONLY_FILES (tests/conftest.py)"
            )
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
