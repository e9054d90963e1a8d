"""The kit's stateful test: a backend and a fresh ``MemoryStore`` must agree on every step.

:func:`build_state_machine` returns a :class:`hypothesis.stateful.RuleBasedStateMachine` class
bound to one backend store. Every example (one run of the machine) gets a fresh ``MemoryStore``
as the reference model but reuses the backend store, so that a backend author overrides only
the ``store`` fixture. Examples stay independent through namespaces:

- the ids of example *n* (customers, activities, actors) are UUIDv7 strings whose timestamp
  field is *n*; they sort after every id of examples ``1 .. n - 1``, so keyset pages starting
  after the namespace's floor id see this example's rows only;
- index keys carry the namespace, so lookups never match earlier examples' customers;
- the audit log is global: the machine remembers its last sequence number when the example
  starts and compares sequence numbers relative to it;
- ``count`` (which cannot start after a floor) is compared after subtracting what the backend
  counted for the same filter when the example started.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from custrec.backends.memory import MemoryStore
from custrec.errors import DuplicateKey, NotFound, StorageError, VersionConflict
from custrec.storage.protocols import Session, Store
from custrec.storage.types import (
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
)
from custrec.testing._support import minutes
from custrec.testing.strategies import uuid7_from_parts

__all__ = ["assert_fresh", "build_state_machine"]

# Small pools make operations collide (duplicates, stale versions, shared index keys, boundaries).
_CUSTOMERS: Final = 3
_ACTIVITIES: Final = 5
_ACTORS: Final = 2
_INDEX_KEYS: Final = 3
_TIMES: Final = tuple(minutes(n) for n in range(3))
_FAR_FUTURE: Final = datetime(2100, 1, 1, tzinfo=UTC)
_AMOUNTS: Final = tuple(
    Decimal(a)
    for a in ("0.1", "0.2", "-5", "19.9999", "1000", "0.00001")  # the last is invalid
)
_KNOWN_ERRORS: Final = (NotFound, DuplicateKey, VersionConflict, StorageError, ValueError)

customer_index = st.integers(0, _CUSTOMERS - 1)
activity_index = st.integers(0, _ACTIVITIES - 1)
actor_index = st.integers(0, _ACTORS - 1)
time_index = st.integers(0, len(_TIMES) - 1)
key_sets = st.frozensets(st.integers(0, _INDEX_KEYS - 1), max_size=2)
facets = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(("individual", "organization")),
        "stage": st.sampled_from(("lead", "active", "churned")),
        "owner": st.none() | st.sampled_from(("u1", "u2")),
        "team": st.none() | st.just("north"),
        "grade": st.none() | st.sampled_from(("A", "B")),
        "tags": st.lists(st.sampled_from(("vip", "b2b", "risk")), max_size=2, unique=True),
    }
)
customer_filters = st.builds(
    CustomerFilter,
    kind=st.none() | st.just("organization"),
    stage=st.none() | st.sampled_from(("lead", "active")),
    owner=st.none() | st.just("u1"),
    team=st.none() | st.just("north"),
    grade=st.none() | st.just("A"),
    tag=st.none() | st.sampled_from(("vip", "risk")),
    updated_after=st.none() | st.sampled_from(_TIMES),
    updated_before=st.none() | st.sampled_from(_TIMES),
)


_OBSERVED_FILTERS: Final = (
    CustomerFilter(),
    CustomerFilter(kind="organization"),
    CustomerFilter(stage="lead"),
    CustomerFilter(owner="u1"),
    CustomerFilter(team="north"),
    CustomerFilter(grade="A"),
    CustomerFilter(tag="vip"),
    CustomerFilter(tag="risk", stage="active"),
    *(CustomerFilter(updated_after=t) for t in _TIMES),
    *(CustomerFilter(updated_before=t) for t in _TIMES),
)


# count() cannot be paged from the namespace floor, so it scans every example's rows: the
# invariant counts a few filters only (count_customers samples all of them).
_INVARIANT_COUNTS: Final = (
    CustomerFilter(),
    CustomerFilter(tag="risk", stage="active"),
    CustomerFilter(updated_before=_TIMES[1]),
)


def _shift_nested(value: object, offset: int) -> object:
    """Add ``offset`` to the ``seq`` of every audit record in ``value`` (a list or nested lists)."""
    if isinstance(value, AuditRecord):
        return attrs.evolve(value, seq=value.seq + offset)
    if isinstance(value, list):
        return [_shift_nested(v, offset) for v in value]
    return value


@attrs.frozen
class _Outcome:
    """What an operation did: its return value, or the kind of error it raised."""

    value: object = None
    error: type[BaseException] | None = None


def _run(operation: Callable[[], object]) -> _Outcome:
    try:
        return _Outcome(value=operation())
    except _KNOWN_ERRORS as exc:
        kind = next(k for k in _KNOWN_ERRORS if isinstance(exc, k))
        return _Outcome(error=kind)


def _autocommit(store: Store, operation: Callable[[Session], object]) -> object:
    with store.transaction() as session:
        result = operation(session)
        session.commit()
    return result


class _Abandon(Exception):
    """Raised into an open transaction to check that an exception rolls it back."""


@attrs.define
class _OpenPair:
    """A unit of work open on both stores at once."""

    backend_cm: Any
    backend: Session
    model_cm: Any
    model: Session


class _StoreMachine(RuleBasedStateMachine):
    """Rules shared by every backend; :func:`build_state_machine` binds a store."""

    backend: ClassVar[Store]
    namespaces: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        super().__init__()
        self.model = MemoryStore()
        ns = next(self.namespaces)
        self.floor = uuid7_from_parts(ns, 0, 0)
        self.customer_ids = [uuid7_from_parts(ns, 0, n + 1) for n in range(_CUSTOMERS)]
        self.activity_ids = [uuid7_from_parts(ns, 1, n + 1) for n in range(_ACTIVITIES)]
        self.actor_ids = [uuid7_from_parts(ns, 2, n + 1) for n in range(_ACTORS)]
        self.index_keys = [f"k{n}@{ns}" for n in range(_INDEX_KEYS)]
        with self.backend.transaction(readonly=True) as session:
            last = session.audit.last()
            # Earlier examples' rows never change again: count them once, before this one starts.
            self.prior_counts = {w: session.customers.count(where=w) for w in _OBSERVED_FILTERS}
        self.audit_offset = 0 if last is None else last.seq
        self.open: _OpenPair | None = None

    # ------------------------------------------------------------------ running operations

    def _compare(
        self,
        operation: Callable[[Session], object],
        *,
        model_operation: Callable[[Session], object] | None = None,
        translate: Callable[[Any], object] = lambda value: value,
    ) -> None:
        """Run an operation on both stores and require the same outcome.

        Outside a session each store runs it in its own committed unit of work. Inside one, an
        error on either side ends the session (rolled back on both), because a session's state
        after a failed call is backend-specific.
        """
        on_model = model_operation or operation
        if self.open is None:
            got = _run(lambda: _autocommit(self.backend, operation))
            want = _run(lambda: _autocommit(self.model, on_model))
        else:
            backend_session, model_session = self.open.backend, self.open.model
            got = _run(lambda: operation(backend_session))
            want = _run(lambda: on_model(model_session))
            if got.error is not None or want.error is not None:
                self._finish(commit=False)
        if want.error is None:
            want = _Outcome(value=translate(want.value))
        assert got == want, f"backend gave {got}, MemoryStore gave {want}"

    def _model_read(self, operation: Callable[[Session], Any]) -> Any:
        if self.open is not None:
            return operation(self.open.model)
        with self.model.transaction(readonly=True) as session:
            return operation(session)

    def _shift_audit(self, records: list[AuditRecord]) -> list[AuditRecord]:
        return [attrs.evolve(r, seq=r.seq + self.audit_offset) for r in records]

    def _finish(self, *, commit: bool) -> None:
        """End the open session on both stores: commit (comparing outcomes) or roll back."""
        pair, self.open = self.open, None
        assert pair is not None
        try:
            if commit:
                outcomes = (_run(pair.backend.commit), _run(pair.model.commit))
        finally:
            try:
                pair.backend_cm.__exit__(None, None, None)
            finally:
                pair.model_cm.__exit__(None, None, None)
        if commit:
            assert outcomes[0] == outcomes[1], f"commit: backend {outcomes[0]}, model {outcomes[1]}"

    # ----------------------------------------------------------------------------- values

    def _customer(
        self, c: int, facet_values: dict[str, Any], keys: frozenset[int], t: int
    ) -> CustomerRow:
        return CustomerRow(
            id=self.customer_ids[c],
            payload=f"c{c}:t{t}:{sorted(keys)}".encode(),
            index_keys=frozenset(self.index_keys[k] for k in keys),
            created_at=_TIMES[t],
            updated_at=_TIMES[t],
            **facet_values,
        )

    def _activity(self, a: int, c: int, is_transaction: bool, amount: int, t: int) -> ActivityRow:
        return ActivityRow(
            id=self.activity_ids[a],
            customer_id=self.customer_ids[c],
            kind="transaction" if is_transaction else "interaction",
            occurred_at=_TIMES[t],
            amount=_AMOUNTS[amount] if is_transaction else None,
            currency=("CNY" if amount % 2 else "USD") if is_transaction else None,
            payload=f"a{a}".encode(),
        )

    def _version(self, c: int) -> int:
        rows = self._model_read(lambda s: s.customers.get_many([self.customer_ids[c]]))
        return int(rows[0].version) if rows else 1

    # ------------------------------------------------------------------------- customers

    @rule(c=customer_index, facet_values=facets, keys=key_sets, t=time_index)
    def add_customer(
        self, c: int, facet_values: dict[str, Any], keys: frozenset[int], t: int
    ) -> None:
        row = self._customer(c, facet_values, keys, t)
        self._compare(lambda s: s.customers.add(row))

    @rule(
        rows=st.lists(st.tuples(customer_index, facets, key_sets, time_index), max_size=3),
        skip_existing=st.booleans(),
    )
    def add_customers(
        self, rows: list[tuple[int, dict[str, Any], frozenset[int], int]], skip_existing: bool
    ) -> None:
        built = [self._customer(*spec) for spec in rows]
        self._compare(lambda s: s.customers.add_many(built, skip_existing=skip_existing))

    @rule(
        c=customer_index,
        facet_values=facets,
        keys=key_sets,
        t=time_index,
        version_offset=st.sampled_from((0, 0, -1, 1)),
    )
    def update_customer(
        self,
        c: int,
        facet_values: dict[str, Any],
        keys: frozenset[int],
        t: int,
        version_offset: int,
    ) -> None:
        row = self._customer(c, facet_values, keys, t)
        expected = self._version(c) + version_offset
        self._compare(lambda s: s.customers.update(row, expected_version=expected))

    @rule(c=customer_index, version_offset=st.sampled_from((0, 0, -1, 1)))
    def delete_customer(self, c: int, version_offset: int) -> None:
        customer_id, expected = self.customer_ids[c], self._version(c) + version_offset
        self._compare(lambda s: s.customers.delete(customer_id, expected_version=expected))

    @rule(
        c=customer_index, cs=st.lists(customer_index, max_size=3), k=st.integers(0, _INDEX_KEYS - 1)
    )
    def read_customers(self, c: int, cs: list[int], k: int) -> None:
        self._compare(lambda s: s.customers.get(self.customer_ids[c]))
        self._compare(lambda s: s.customers.get_many([self.customer_ids[i] for i in cs]))
        self._compare(lambda s: s.customers.lookup(self.index_keys[k]))

    @rule(
        where=st.none() | customer_filters,
        after=st.none() | customer_index,
        limit=st.integers(1, 3),
    )
    def page_customers(self, where: CustomerFilter | None, after: int | None, limit: int) -> None:
        start = self.floor if after is None else self.customer_ids[after]
        self._compare(lambda s: s.customers.query(where=where, after=start, limit=limit))

    @rule(where=st.sampled_from(_OBSERVED_FILTERS))
    def count_customers(self, where: CustomerFilter) -> None:
        prior = self.prior_counts[where]
        self._compare(
            lambda s: s.customers.count(where=where) - prior,
            model_operation=lambda s: s.customers.count(where=where),
        )

    # ------------------------------------------------------------------------ activities

    @rule(
        a=activity_index,
        c=customer_index,
        is_transaction=st.booleans(),
        amount=st.integers(0, len(_AMOUNTS) - 1),
        t=time_index,
    )
    def add_activity(self, a: int, c: int, is_transaction: bool, amount: int, t: int) -> None:
        row = self._activity(a, c, is_transaction, amount, t)
        self._compare(lambda s: s.activities.add(row))

    @rule(
        rows=st.lists(
            st.tuples(
                activity_index,
                customer_index,
                st.booleans(),
                st.integers(0, len(_AMOUNTS) - 2),
                time_index,
            ),
            max_size=3,
        ),
        skip_existing=st.booleans(),
    )
    def add_activities(
        self, rows: list[tuple[int, int, bool, int, int]], skip_existing: bool
    ) -> None:
        built = [self._activity(*spec) for spec in rows]
        self._compare(lambda s: s.activities.add_many(built, skip_existing=skip_existing))

    @rule(source=customer_index, destination=customer_index)
    def reassign_activities(self, source: int, destination: int) -> None:
        ids = self.customer_ids
        self._compare(lambda s: s.activities.reassign(ids[source], ids[destination]))

    @rule(
        c=customer_index,
        kind=st.sampled_from((None, "transaction", "interaction")),
        after=st.none() | activity_index,
        limit=st.integers(1, 3),
    )
    def list_activities(self, c: int, kind: str | None, after: int | None, limit: int) -> None:
        customer_id = self.customer_ids[c]
        start = None if after is None else self.activity_ids[after]
        self._compare(
            lambda s: s.activities.list_for(customer_id, kind=kind, after=start, limit=limit)
        )

    @rule(t=time_index, after=st.none() | customer_index, limit=st.integers(1, 3))
    def summaries(self, t: int, after: int | None, limit: int) -> None:
        start = self.floor if after is None else self.customer_ids[after]
        as_of = _TIMES[t]
        self._compare(lambda s: s.activities.summaries(as_of=as_of, after=start, limit=limit))

    # --------------------------------------------------------------------- ledgers, audit

    @rule(
        c=customer_index,
        purpose=st.sampled_from(("marketing", "profiling")),
        action=st.sampled_from(("grant", "withdraw")),
        t=time_index,
    )
    def append_consent(self, c: int, purpose: str, action: str, t: int) -> None:
        record = ConsentRecord(
            customer_id=self.customer_ids[c],
            seq=99,
            recorded_at=_TIMES[t],
            purpose=purpose,
            action=action,
            payload=f"{purpose}:{action}".encode(),
        )
        self._compare(lambda s: s.consents.append(record))

    @rule(source=customer_index, destination=customer_index)
    def reassign_consents(self, source: int, destination: int) -> None:
        ids = self.customer_ids
        self._compare(lambda s: s.consents.reassign(ids[source], ids[destination]))

    @rule(
        entries=st.lists(st.tuples(customer_index, actor_index, time_index), max_size=3),
    )
    def append_history(self, entries: list[tuple[int, int, int]]) -> None:
        records = [
            HistoryRecord(
                customer_id=self.customer_ids[c],
                at=_TIMES[t],
                actor_id=self.actor_ids[actor],
                action="update",
                path=f"field{t}",
                payload=b"diff",
            )
            for c, actor, t in entries
        ]
        self._compare(lambda s: s.history.append(records))

    @rule(c=customer_index, after_seq=st.integers(0, 3))
    def read_ledgers(self, c: int, after_seq: int) -> None:
        customer_id = self.customer_ids[c]
        self._compare(lambda s: s.consents.list_for(customer_id, after_seq=after_seq))
        self._compare(lambda s: s.history.list_for(customer_id, after_seq=after_seq))

    @rule(
        entries=st.lists(
            st.tuples(st.none() | customer_index, actor_index, time_index), max_size=3
        ),
    )
    def append_audit(self, entries: list[tuple[int | None, int, int]]) -> None:
        records = [
            AuditRecord(
                seq=7,
                at=_TIMES[t],
                actor_id=self.actor_ids[actor],
                action="read",
                customer_id=None if c is None else self.customer_ids[c],
                fields=("name",),
                chain=bytes([t]),
            )
            for c, actor, t in entries
        ]
        offset = self.audit_offset
        self._compare(
            lambda s: s.audit.append(records), translate=lambda seqs: [q + offset for q in seqs]
        )

    @rule(
        after_seq=st.integers(0, 4),
        limit=st.integers(1, 4),
        c=st.none() | customer_index,
        actor=st.none() | actor_index,
        since=st.none() | time_index,
        until=st.none() | time_index,
    )
    def read_audit(
        self,
        after_seq: int,
        limit: int,
        c: int | None,
        actor: int | None,
        since: int | None,
        until: int | None,
    ) -> None:
        filters: dict[str, Any] = {
            "limit": limit,
            "customer_id": None if c is None else self.customer_ids[c],
            "actor_id": None if actor is None else self.actor_ids[actor],
            "since": None if since is None else _TIMES[since],
            "until": None if until is None else _TIMES[until],
        }
        offset = self.audit_offset
        self._compare(
            lambda s: s.audit.read(after_seq=after_seq + offset, **filters),
            model_operation=lambda s: s.audit.read(after_seq=after_seq, **filters),
            translate=self._shift_audit,
        )

        def last_relative(session: Session) -> AuditRecord | None:
            last = session.audit.last()
            if last is None or last.seq <= offset:
                assert last is None or last.seq == offset, "the audit log lost entries"
                return None
            return attrs.evolve(last, seq=last.seq - offset)

        self._compare(last_relative, model_operation=lambda s: s.audit.last())

    # ------------------------------------------------------------------------------ keys

    def _key(self, c: int, master: str) -> WrappedKey:
        return WrappedKey(
            customer_id=self.customer_ids[c],
            master_key_id=master,
            wrapped=f"{master}/{c}".encode(),
            created_at=_TIMES[c % len(_TIMES)],
        )

    @rule(c=customer_index, master=st.sampled_from(("mk-1", "mk-2")))
    def put_key(self, c: int, master: str) -> None:
        key = self._key(c, master)
        self._compare(lambda s: s.keys.put(key))

    @rule(c=customer_index, master=st.sampled_from(("mk-1", "mk-2")))
    def replace_key(self, c: int, master: str) -> None:
        key = self._key(c, master)
        self._compare(lambda s: s.keys.replace(key))

    @rule(c=customer_index)
    def delete_key(self, c: int) -> None:
        self._compare(lambda s: s.keys.delete(self.customer_ids[c]))

    @rule(c=customer_index, after=st.none() | customer_index, limit=st.integers(1, 3))
    def read_keys(self, c: int, after: int | None, limit: int) -> None:
        start = self.floor if after is None else self.customer_ids[after]
        self._compare(lambda s: s.keys.get(self.customer_ids[c]))
        self._compare(lambda s: s.keys.list(after=start, limit=limit))

    # -------------------------------------------------------------------------- sessions

    @precondition(lambda self: self.open is None)
    @rule()
    def begin(self) -> None:
        backend_cm = self.backend.transaction()
        backend = backend_cm.__enter__()
        model_cm = self.model.transaction()
        self.open = _OpenPair(backend_cm, backend, model_cm, model_cm.__enter__())

    @precondition(lambda self: self.open is not None)
    @rule()
    def commit(self) -> None:
        self._finish(commit=True)

    @precondition(lambda self: self.open is not None)
    @rule()
    def rollback(self) -> None:
        assert self.open is not None
        outcomes = (_run(self.open.backend.rollback), _run(self.open.model.rollback))
        self._finish(commit=False)
        assert outcomes[0] == outcomes[1], f"rollback: backend {outcomes[0]}, model {outcomes[1]}"

    @precondition(lambda self: self.open is not None)
    @rule()
    def leave_without_commit(self) -> None:
        self._finish(commit=False)

    @precondition(lambda self: self.open is not None)
    @rule()
    def raise_in_session(self) -> None:
        pair, self.open = self.open, None
        assert pair is not None
        try:
            backend_swallowed = self._raise_into(pair.backend_cm)
        finally:
            model_swallowed = self._raise_into(pair.model_cm)
        assert not model_swallowed
        assert not backend_swallowed, "the transaction swallowed the exception raised in its block"

    @staticmethod
    def _raise_into(cm: Any) -> bool:
        """Leave ``cm`` as if its block raised; return whether it swallowed the exception."""
        error = _Abandon("abandon the unit of work")
        try:
            return bool(cm.__exit__(_Abandon, error, None))
        except _Abandon:
            return False

    # ------------------------------------------------------------------------ invariants

    def _observe(self, session: Session, *, audit_after: int) -> dict[str, object]:
        """Everything observable in this example's namespace, through many query shapes.

        Keys starting with ``audit`` hold audit records (compared relative to the offset).
        """
        ids, floor = self.customer_ids, self.floor
        customers, activities, audit = session.customers, session.activities, session.audit
        seen: dict[str, object] = {
            "customers": customers.query(after=floor, limit=100),
            "customers by id": customers.get_many(ids),
            "customer pages of 2": self._pages(session),
            "index": customers.lookup_many(self.index_keys),
            # which ids a capped key returns is the backend's choice: compare how many
            "index capped at 2": {
                k: len(v) for k, v in customers.lookup_many(self.index_keys, limit=2).items()
            },
            "activities": [activities.list_for(c) for c in ids],
            "first activity": [activities.list_for(c, limit=1) for c in ids],
            "transactions": [activities.list_for(c, kind="transaction") for c in ids],
            "interactions": [activities.list_for(c, kind="interaction") for c in ids],
            "consents": [session.consents.list_for(c) for c in ids],
            "later consents": [session.consents.list_for(c, after_seq=1) for c in ids],
            "history": [session.history.list_for(c) for c in ids],
            "later history": [session.history.list_for(c, after_seq=1) for c in ids],
            "keys": session.keys.list(after=floor),
            "first key": session.keys.list(after=floor, limit=1),
            "audit": audit.read(after_seq=audit_after),
            "audit first 2": audit.read(after_seq=audit_after, limit=2),
            "audit by actor": [
                audit.read(after_seq=audit_after, actor_id=a) for a in self.actor_ids
            ],
            "audit by customer": [audit.read(after_seq=audit_after, customer_id=c) for c in ids],
        }
        seen["first summaries"] = activities.summaries(as_of=_TIMES[-1], after=floor, limit=1)
        for t, at in enumerate(_TIMES):
            seen[f"summaries as of t{t}"] = activities.summaries(as_of=at, after=floor)
            seen[f"audit since t{t}"] = audit.read(after_seq=audit_after, since=at)
            seen[f"audit until t{t}"] = audit.read(after_seq=audit_after, until=at)
        for where in _OBSERVED_FILTERS:
            seen[f"query {where}"] = customers.query(where=where, after=floor)
        return seen

    def _pages(self, session: Session) -> list[list[str]]:
        pages: list[list[str]] = []
        after = self.floor
        while page := session.customers.query(after=after, limit=2):
            pages.append([r.id for r in page])
            after = page[-1].id
        return pages

    def _counts(self, session: Session, *, backend: bool) -> list[int]:
        return [
            session.customers.count(where=where) - (self.prior_counts[where] if backend else 0)
            for where in _INVARIANT_COUNTS
        ]

    @precondition(lambda self: self.open is None)
    @invariant()
    def observable_state_agrees(self) -> None:
        with self.backend.transaction(readonly=True) as session:
            got = self._observe(session, audit_after=self.audit_offset)
            got["counts"] = self._counts(session, backend=True)
        with self.model.transaction(readonly=True) as session:
            want = self._observe(session, audit_after=0)
            want["counts"] = self._counts(session, backend=False)
        for part, value in want.items():
            if part.startswith("audit"):
                value = _shift_nested(value, self.audit_offset)
            assert got[part] == value, f"{part}: backend has {got[part]}, MemoryStore {value}"

    def teardown(self) -> None:
        if self.open is not None:
            self._finish(commit=False)
        self.model.close()


def assert_fresh(store: Store) -> None:
    """Check that ``store`` is empty as the machine sees it (run before the first example).

    The machine compares counts relative to what the store counted when an example started, so
    an offset present from the start would go unnoticed without this check.
    """
    with store.transaction(readonly=True) as session:
        last = session.audit.last()
        counts = {w: session.customers.count(where=w) for w in _OBSERVED_FILTERS}
    assert last is None, f"the audit log of a fresh store holds {last}"
    assert set(counts.values()) == {0}, f"a fresh store counts customers: {counts}"


def build_state_machine(store: Store) -> type[RuleBasedStateMachine]:
    """Return a state machine class comparing ``store`` with a fresh ``MemoryStore`` per example.

    Successive examples use successive namespaces (see the module docstring), so ``store`` need
    not be emptied between them.
    """
    return type(
        "BackendMatchesMemoryStore",
        (_StoreMachine,),
        {"backend": store, "namespaces": itertools.count(1)},
    )
