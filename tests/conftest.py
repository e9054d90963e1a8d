"""Fixtures shared by the unit and the integration tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from custrec.services import _intake


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
