"""The storage conformance kit: pytest contracts every custrec backend must pass.

Subclass :class:`StoreContract` in a test module, name the subclass ``Test...`` and override the
``store`` fixture::

    import pytest
    from custrec.backends import SQLiteStore
    from custrec.testing import StoreContract

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = SQLiteStore(tmp_path / "kit.db")
            yield store
            store.close()

The per-table contracts (:class:`CustomerTableContract`, ...) can be used on their own.
:mod:`custrec.testing.strategies` holds hypothesis strategies for rows and records. The kit needs
pytest and hypothesis: ``pip install custrec[testing]``. See ``docs/backends.md``.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the kit's tests
    raise ImportError(
        f"custrec.testing needs pytest and hypothesis ({exc.name or exc} is missing): "
        "pip install custrec[testing]"
    ) from exc

from custrec.testing import strategies
from custrec.testing._machine import build_state_machine
from custrec.testing._support import increment_counter, race_worker
from custrec.testing.clock import TickingClock
from custrec.testing.contracts import (
    ActivityTableContract,
    ArgumentRulesContract,
    AuditQueueContract,
    AuditTableContract,
    ChangeFeedContract,
    ConcurrencyContract,
    ConsentTableContract,
    CustomerTableContract,
    DocumentContract,
    FacetContract,
    HistoryTableContract,
    KeyTableContract,
    MetaTableContract,
    StateMachineContract,
    StoreContract,
    UnitOfWorkContract,
    WorkTableContract,
    kit_settings,
)

__all__ = [
    "ActivityTableContract",
    "ArgumentRulesContract",
    "AuditQueueContract",
    "AuditTableContract",
    "ChangeFeedContract",
    "ConcurrencyContract",
    "ConsentTableContract",
    "CustomerTableContract",
    "DocumentContract",
    "FacetContract",
    "HistoryTableContract",
    "KeyTableContract",
    "MetaTableContract",
    "StateMachineContract",
    "StoreContract",
    "TickingClock",
    "UnitOfWorkContract",
    "WorkTableContract",
    "build_state_machine",
    "increment_counter",
    "kit_settings",
    "race_worker",
    "strategies",
]
