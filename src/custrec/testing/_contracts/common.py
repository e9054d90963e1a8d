"""What the conformance contracts share (private; see :mod:`custrec.testing.contracts`):
hypothesis settings, expectation helpers and the fixtures a backend overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, Phase, settings

from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.grading import ActivitySummary
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.testing._support import writing

_CST: Final = timezone(timedelta(hours=8))  # China Standard Time, for instant comparisons
_ZERO: Final = timedelta(0)


def kit_settings(max_examples: int, **changes: Any) -> settings:
    """Hypothesis settings for the kit's property tests, bounded by the active profile.

    ``max_examples`` (and ``stateful_step_count`` when given) are capped by the loaded profile's
    values, so a fast profile (for example ``settings.register_profile("smoke",
    max_examples=5)``) shortens the kit. Deadlines are off (storage timing varies), and so is the
    ``explain`` phase: it replays a failing example hundreds of times against a store that grows
    with every run, which can take minutes, while the shrunk example already tells the story.
    """
    profile = settings.default
    phases = tuple(p for p in Phase if p is not Phase.explain)
    if profile is not None:
        max_examples = min(max_examples, profile.max_examples)
        phases = tuple(p for p in profile.phases if p is not Phase.explain)
        if "stateful_step_count" in changes:
            changes["stateful_step_count"] = min(
                changes["stateful_step_count"], profile.stateful_step_count
            )
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=phases,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
        ],
        **changes,
    )


def _invalid_argument() -> pytest.RaisesExc[ValueError]:
    """Expect ``ValueError``; the kit prescribes no message (messages are backend-specific)."""
    return pytest.raises(ValueError)  # noqa: PT011


def _committed(store: Store, work: Callable[[Session], object]) -> None:
    """Run ``work`` in a unit of work and commit it (the commit is skipped if ``work`` raises)."""
    with writing(store) as session:
        work(session)


@contextmanager
def _refused() -> Iterator[None]:
    """Expect a plain session refusal: ``StorageError``, not a not-found/duplicate/conflict."""
    with pytest.raises(StorageError) as excinfo:
        yield
    assert not isinstance(excinfo.value, NotFound | DuplicateKey | VersionConflict), (
        f"expected a session refusal, got {type(excinfo.value).__name__}: {excinfo.value}"
    )


def _is_utc(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == _ZERO


def _summary(
    customer_id: str,
    *,
    first: datetime,
    last: datetime,
    count: int,
    total: str,
    currency: str = "CNY",
) -> ActivitySummary:
    return ActivitySummary(
        customer_id=customer_id,
        first_purchase_at=first,
        last_purchase_at=last,
        purchase_count=count,
        total_spent=Decimal(total),
        currency=currency,
    )


def _ordered_ids(n: int) -> list[str]:
    """``n`` fresh ids in increasing order (``new_id`` is monotonic within a process)."""
    return [new_id() for _ in range(n)]


class _StoreFixtures:
    """The fixtures a backend overrides: ``store`` (required) and ``store_opener`` (optional)."""

    @pytest.fixture
    def store(self) -> Store:
        """Yield a fresh, empty store and close it afterwards (override this)."""
        raise NotImplementedError(
            "override the store fixture in your StoreContract subclass: yield a fresh, empty "
            "store and close it afterwards"
        )

    @pytest.fixture
    def store_opener(self) -> Callable[[], Store]:
        """Return a picklable zero-argument callable opening the ``store`` database again."""
        raise NotImplementedError(
            "override the store_opener fixture to return a picklable zero-argument callable "
            "that opens another instance of the same database, e.g. "
            "functools.partial(SQLiteStore, path)"
        )

    @staticmethod
    def opener_or_skip(request: pytest.FixtureRequest) -> Callable[[], Store]:
        """Return the ``store_opener`` fixture's value, or skip the test when not provided."""
        try:
            opener: Callable[[], Store] = request.getfixturevalue("store_opener")
        except NotImplementedError as exc:
            pytest.skip(f"no store_opener fixture: {exc}")
        return opener
