"""The conformance contracts: pytest test classes every storage backend must pass.

Subclass :class:`StoreContract` in a module pytest collects (``test_*.py``), name the subclass
``Test...`` and override the ``store`` fixture so that it yields a fresh, empty store and closes it
afterwards. Optionally override ``store_opener`` (a picklable zero-argument callable opening
another instance on the same database) to enable the cross-process race and the persistence
test. Contract classes are named ``...Contract``, so pytest never collects them on their own.

Each test checks one rule of :mod:`custrec.storage.protocols`; its name states the rule. A rule
that several tables share names its table (``test_work_get_round_trips_every_field``,
``test_changes_a_finished_session_refuses_every_call``): :class:`StoreContract` mixes every
contract, and two contracts defining one name would hide one of the tests. Tests that need an
optional capability (:class:`~custrec.storage.types.Capabilities`) skip with a message when the
backend does not declare it.
"""

from __future__ import annotations

from custrec.testing._contracts.activities import ActivityTableContract
from custrec.testing._contracts.arguments import ArgumentRulesContract
from custrec.testing._contracts.audit_queue import AuditQueueContract
from custrec.testing._contracts.changes import ChangeFeedContract
from custrec.testing._contracts.common import kit_settings
from custrec.testing._contracts.concurrency import ConcurrencyContract
from custrec.testing._contracts.customers import CustomerTableContract
from custrec.testing._contracts.documents import DocumentContract
from custrec.testing._contracts.facets import FacetContract
from custrec.testing._contracts.keys import KeyTableContract
from custrec.testing._contracts.ledgers import (
    AuditTableContract,
    ConsentTableContract,
    HistoryTableContract,
)
from custrec.testing._contracts.meta import MetaTableContract
from custrec.testing._contracts.state_machine import StateMachineContract
from custrec.testing._contracts.transactions import UnitOfWorkContract
from custrec.testing._contracts.work import WorkTableContract

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
    "UnitOfWorkContract",
    "WorkTableContract",
    "kit_settings",
]


class StoreContract(
    CustomerTableContract,
    FacetContract,
    ActivityTableContract,
    ConsentTableContract,
    HistoryTableContract,
    AuditTableContract,
    AuditQueueContract,
    KeyTableContract,
    MetaTableContract,
    WorkTableContract,
    ChangeFeedContract,
    DocumentContract,
    ArgumentRulesContract,
    UnitOfWorkContract,
    ConcurrencyContract,
    StateMachineContract,
):
    """Every contract at once: what a backend subclasses (as ``Test<Name>``).

    Override the ``store`` fixture (function-scoped: yield a fresh, empty store, close it after)
    and, for multi-process or persistent backends, ``store_opener``::

        class TestMyStore(StoreContract):
            @pytest.fixture
            def store(self, tmp_path):
                store = MyStore(tmp_path / "db")
                yield store
                store.close()
    """
