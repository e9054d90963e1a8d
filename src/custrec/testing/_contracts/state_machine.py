"""Random operation sequences against a fresh MemoryStore (private; see
:mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from typing import ClassVar

from hypothesis.stateful import run_state_machine_as_test

from custrec.storage.protocols import Store
from custrec.testing._contracts.common import _StoreFixtures, kit_settings
from custrec.testing._machine import assert_fresh, build_state_machine


class StateMachineContract(_StoreFixtures):
    """Random operation sequences give the same results as on a fresh :class:`MemoryStore`.

    A hypothesis rule-based state machine applies the same operations (customers added, updated
    with the right or a stale version, deleted; activities, consents, history, audit entries and
    keys written; queries, pages and summaries read; multi-operation sessions committed, rolled
    back or abandoned by an exception) to the backend under test and to a fresh ``MemoryStore``,
    and requires equal results, equal exception types and equal observable state.

    Only the ``store`` fixture is needed: every example runs against the same backend store, in
    its own namespace (ids whose UUIDv7 timestamp is the example's number, so each example's ids
    sort after every earlier example's), and compares only that namespace: pages start after
    the namespace's floor, audit sequence numbers are compared relative to the log's end when
    the example started, and ``count`` subtracts the earlier examples' rows.
    """

    state_machine_examples: ClassVar[int] = 30
    state_machine_steps: ClassVar[int] = 20

    def test_random_operations_match_memory_store(self, store: Store) -> None:
        assert_fresh(store)
        machine = build_state_machine(store)
        run_state_machine_as_test(
            machine,
            settings=kit_settings(
                self.state_machine_examples, stateful_step_count=self.state_machine_steps
            ),
        )
