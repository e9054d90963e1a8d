"""The audit log of a registry on PostgreSQL does not serialise its writers (issue 18).

Units of work queue their audit entries without any shared lock; after the commit a short
sealing session numbers and chains whatever is queued into the log and moves the head. These
tests hold the log's lock on purpose (as a slow sealer would) and check, by waiting on events
rather than on time, that reads and writes still go through; that nothing queued is ever lost
(a writer that stops between its commit and the sealing); and that verification still catches
tampering with sealed entries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from custrec import Actor, KeyRing, Registry
from custrec.backends.postgres import PostgresStore
from custrec.errors import AuditIntegrityWarning
from custrec.services import context as context_module
from custrec.storage import AuditQueue, AuditRecord
from custrec.storage.sealing import QUEUE_REJECTED

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
ERASER = Actor(id="dpo", roles={"admin", "erase"})
WAIT = 30.0  # seconds a blocked operation may take before the test fails (never when it passes)


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"审计{n}",
        "contacts": [{"phones": [f"1380000{n:04d}"], "emails": [f"a{n}@example.com"]}],
    }


@pytest.fixture
def store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres_dsn, schema=postgres_schema)
    yield opened
    opened.close()


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def registry(store: PostgresStore, keyring: KeyRing, tmp_path: Path) -> Registry:
    return Registry(store, keyring=keyring, audit_head=tmp_path / "audit-head.json")


def queued_count(store: PostgresStore) -> int:
    with store.transaction() as session:
        return len(cast(AuditQueue, session.audit).queued(limit=100_000))


def log(store: PostgresStore) -> list[Any]:
    with store.transaction(readonly=True) as session:
        return session.audit.read(limit=100_000)


@contextmanager
def log_lock_held(store: PostgresStore) -> Iterator[None]:
    """Another session claims the audit log's lock (as a slow sealer would) for the block."""
    holding, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def hold() -> None:
        try:
            with store.transaction() as session:
                assert cast(AuditQueue, session.audit).claim() is not None
                holding.set()
                assert release.wait(WAIT), "never released"
        except BaseException as exc:  # reported below
            failed.append(exc)
            holding.set()

    holder = threading.Thread(target=hold, name="log-lock-holder")
    holder.start()
    try:
        assert holding.wait(WAIT)
        yield
    finally:
        release.set()
        holder.join(WAIT)
    assert failed == []


def test_at_low_traffic_every_entry_is_sealed_when_the_operation_returns(
    registry: Registry, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: now[0])
    stored = registry.customers.intake(person(1), actor=ADMIN)
    now[0] += context_module.SEAL_AFTER
    registry.customers.get(stored.id, actor=ADMIN)
    now[0] += context_module.SEAL_AFTER
    registry.customers.update(stored.id, {"stage": "prospect"}, actor=ADMIN, reason="called")
    assert queued_count(store) == 0
    entries = log(store)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    actions = [e.action for e in entries]
    assert actions.index("customer.create") < actions.index("customer.update")
    assert registry.audit.verify(actor=AUDITOR).ok


def test_a_write_queues_its_entries_with_its_data_and_seals_them_when_due(
    registry: Registry, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write's entries go into the queue in its own transaction (one statement, no lock):
    sealing them there cost six statements and two round trips a write."""
    now = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: now[0])
    monkeypatch.setattr(context_module, "SEAL_EVERY", 10**9)  # no unit seals by its ticket
    stored = registry.customers.intake(person(5), actor=ADMIN)  # seals: the clock starts
    assert queued_count(store) == 0
    now[0] += context_module.SEAL_AFTER / 2
    registry.customers.update(stored.id, {"stage": "prospect"}, actor=ADMIN, reason="called")
    assert queued_count(store) == 1  # sealed a moment ago: the write only queues
    now[0] += context_module.SEAL_AFTER
    registry.customers.update(stored.id, {"stage": "lead"}, actor=ADMIN, reason="again")
    assert queued_count(store) == 0  # due: it sealed after its commit, the earlier one too
    actions = [e.action for e in log(store) if e.customer_id == stored.id]
    assert actions.count("customer.update") == 2, actions
    assert registry.audit.verify(actor=AUDITOR).ok


def test_reads_and_writes_go_through_while_another_session_holds_the_log_lock(
    registry: Registry, store: PostgresStore, in_thread: Any
) -> None:
    """Before, every unit took the log's lock to append its entries: a session holding it
    (a slow sealer, a long transaction that had appended) stopped every reader and writer."""
    stored = registry.customers.intake(person(2), actor=ADMIN)
    with log_lock_held(store):

        def work() -> str:
            got = registry.customers.get(stored.id, actor=ADMIN)
            registry.customers.update(got.id, {"stage": "prospect"}, actor=ADMIN, reason="called")
            return registry.customers.intake(person(3), actor=ADMIN).id

        worker, outcome = in_thread(work)
        worker.join(WAIT)  # a bound for a blocked backend, not a wait for time to pass
        assert not worker.is_alive(), "an operation waited for the audit log's lock"
        assert isinstance(outcome[0], str), outcome
        assert queued_count(store) > 0, "their entries wait in the queue meanwhile"
    result = registry.audit.verify(actor=AUDITOR)  # seals what waited first
    assert result.ok, result
    assert queued_count(store) == 0
    actions = [e.action for e in log(store)]
    assert actions.count("customer.create") == 2 and "customer.update" in actions


def test_entries_of_a_writer_that_stopped_before_sealing_are_sealed_later(
    store: PostgresStore, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = tmp_path / "audit-head.json"
    first = Registry(store, keyring=keyring, audit_head=head)
    # the writer commits its queued entries, then stops before any sealing
    monkeypatch.setattr(context_module, "seal_in", lambda *a, **k: (False, None))
    monkeypatch.setattr(context_module, "seal_more", lambda *a, **k: [])
    stored = first.customers.intake(person(4), actor=ADMIN)
    assert queued_count(store) > 0 and log(store) == []
    monkeypatch.undo()
    later = Registry(store, keyring=keyring, audit_head=head)
    assert later.audit.verify(actor=AUDITOR).ok
    assert queued_count(store) == 0
    trail = later.audit.trail(customer_id=stored.id, actor=AUDITOR)
    assert [e.action for e in trail] == ["customer.create"]


def test_racing_clients_all_land_in_one_verified_chain(
    registry: Registry, store: PostgresStore, in_thread: Any
) -> None:
    stored = [registry.customers.intake(person(10 + i), actor=ADMIN) for i in range(8)]
    start = threading.Barrier(8)
    rounds = 15

    def client(index: int) -> int:
        start.wait(WAIT)
        mine = stored[index % len(stored)]
        for round_ in range(rounds):
            if round_ % 3 == 0:
                registry.customers.update(
                    mine.id, {"tags": [f"t{index}-{round_}"]}, actor=ADMIN, reason="tagged"
                )
            else:
                registry.customers.get(mine.id, actor=ADMIN)
        return rounds

    threads = [in_thread(lambda i=i: client(i)) for i in range(8)]  # type: ignore[misc]
    for thread, _ in threads:
        thread.join(120)
    assert [outcome for _, outcome in threads] == [[rounds]] * 8
    result = registry.audit.verify(actor=AUDITOR)
    assert result.ok, result
    entries = log(store)
    touched = [e for e in entries if e.customer_id in {c.id for c in stored}]
    assert len([e for e in touched if e.action != "customer.create"]) == 8 * rounds
    assert registry.audit.checkpoint(actor=AUDITOR).seq == entries[-1].seq + 1


def test_deleting_the_newest_sealed_entries_is_still_detected(
    registry: Registry, store: PostgresStore, postgres_dsn: str, postgres_schema: str
) -> None:
    stored = registry.customers.intake(person(5), actor=ADMIN)
    registry.customers.get(stored.id, actor=ADMIN)  # queued: verify seals it
    assert registry.audit.verify(actor=AUDITOR).ok
    last = log(store)[-1].seq
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        table = f'"{postgres_schema}".audit'
        admin.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER".encode())
        admin.execute(f"DELETE FROM {table} WHERE seq = %s".encode(), (last,))
        admin.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER".encode())
    result = registry.audit.verify(actor=AUDITOR)
    assert not result.ok
    assert result.problem == "truncated"


def test_deleting_sealed_entries_while_a_read_is_queued_is_still_detected(
    registry: Registry,
    store: PostgresStore,
    postgres_dsn: str,
    postgres_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(context_module, "SEAL_AFTER", 3600.0)  # the read stays queued
    stored = registry.customers.intake(person(6), actor=ADMIN)
    last = log(store)[-1].seq
    registry.customers.get(stored.id, actor=ADMIN)  # queued after the intake's sealed entries
    assert queued_count(store) == 1
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        table = f'"{postgres_schema}".audit'
        admin.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER".encode())
        admin.execute(f"DELETE FROM {table} WHERE seq = %s".encode(), (last,))
        admin.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER".encode())
    # sealing the read chains it where the deleted entry was: the head no longer matches
    with pytest.warns(AuditIntegrityWarning, match="no longer holds"):
        result = registry.audit.verify(actor=AUDITOR)
    assert not result.ok


def test_a_forged_entry_slipped_into_the_queue_is_not_chained(
    registry: Registry, store: PostgresStore
) -> None:
    registry.customers.intake(person(6), actor=ADMIN)
    forged = AuditRecord(
        at=log(store)[-1].at, actor_id="admin", action="customer.erase", chain=b"\x00" * 32
    )
    with store.transaction() as session:
        cast(AuditQueue, session.audit).enqueue([forged])
        session.commit()
    with pytest.warns(AuditIntegrityWarning, match="failed their tag"):
        result = registry.audit.verify(actor=AUDITOR)
    assert result.ok, result
    actions = [e.action for e in log(store)]
    assert "customer.erase" not in actions and QUEUE_REJECTED in actions


def test_a_queued_row_that_cannot_be_read_is_rejected_not_a_stop_for_everyone(
    registry: Registry,
    store: PostgresStore,
    postgres_dsn: str,
    postgres_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in review: one queue row with an instant Python cannot hold stopped every write
    and every audit read. Schema 3 refuses such rows; one slipped in anyway (the owner dropped
    the check) is sealed as rejected."""
    stored = registry.customers.intake(person(7), actor=ADMIN)
    table = f'"{postgres_schema}".audit_queue'
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        with pytest.raises(psycopg.errors.CheckViolation):
            admin.execute(
                f"INSERT INTO {table} (at, actor_id, action, fields, outcome, chain)"
                " VALUES ('infinity', 'x', 'y', '{}', 'ok', '')".encode()
            )
        (check,) = admin.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c'",
            (table,),
        ).fetchone() or ("",)
        admin.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{check}"'.encode())
        admin.execute(
            f"INSERT INTO {table} (at, actor_id, action, fields, outcome, chain)"
            " VALUES ('infinity', 'x', 'y', '{}', 'ok', '')".encode()
        )
    # the write queues its entry and goes through; the next sealing rejects the row and warns
    monkeypatch.setattr(context_module, "_monotonic", lambda: 1000.0)  # no sealing falls due
    monkeypatch.setattr(context_module, "SEAL_EVERY", 10**9)
    updated = registry.customers.update(
        stored.id, {"stage": "prospect"}, actor=ADMIN, reason="called"
    )
    assert updated.version == 2
    with pytest.warns(AuditIntegrityWarning, match="failed their tag"):
        result = registry.audit.verify(actor=AUDITOR)
    assert result.ok, result
    assert queued_count(store) == 0
    assert QUEUE_REJECTED in [e.action for e in log(store)]


def test_an_erasure_does_not_wait_for_the_log_lock(
    registry: Registry, store: PostgresStore, in_thread: Any
) -> None:
    """Found in review: the erasure journal (keys beside the data) was appended under the
    log's lock, so an erasure waited for whoever held it."""
    stored = registry.customers.intake(person(8), actor=ADMIN)
    with log_lock_held(store):
        worker, outcome = in_thread(
            lambda: registry.privacy.erase(stored.id, actor=ERASER, reason="asked")
        )
        worker.join(WAIT)  # a bound for a blocked backend, not a wait for time to pass
        assert not worker.is_alive(), "the erasure waited for the audit log's lock"
        assert not isinstance(outcome[0], BaseException), outcome
    assert registry.audit.verify(actor=AUDITOR).ok
    journal = registry.privacy.journal(actor=AUDITOR)
    assert [entry.customer_id for entry in journal] == [stored.id]


def test_an_audit_read_behind_a_lock_held_for_ever_fails_typed_after_the_timeout(
    postgres_dsn: str, postgres_schema: str, keyring: KeyRing, tmp_path: Path, in_thread: Any
) -> None:
    """Found in review: any role may hold the advisory lock; a waiting claim is bounded by the
    store's ``timeout`` instead of hanging."""
    from custrec.errors import StorageError

    quick = PostgresStore(postgres_dsn, schema=postgres_schema, timeout=0.5)
    try:
        registry = Registry(quick, keyring=keyring, audit_head=tmp_path / "h.json")
        with log_lock_held(quick), pytest.raises(StorageError) as info:
            registry.audit.verify(actor=AUDITOR)
        assert info.value.retry_safe
        assert registry.audit.verify(actor=AUDITOR).ok
    finally:
        quick.close()


def test_updates_without_an_expected_version_racing_on_one_customer_all_apply(
    registry: Registry, store: PostgresStore, in_thread: Any
) -> None:
    """Found while testing the queue: on PostgreSQL two updates of one customer could meet
    between read and write, and the one without ``expected_version`` raised VersionConflict
    although its caller asked for no optimistic check. A write session now locks the customer
    row it reads (``FOR UPDATE``), so the second waits for the first."""
    stored = registry.customers.intake(person(9), actor=ADMIN)
    start = threading.Barrier(6)
    rounds = 10

    def client(index: int) -> int:
        start.wait(WAIT)
        for round_ in range(rounds):
            registry.customers.update(
                stored.id, {"tags": [f"t{index}-{round_}"]}, actor=ADMIN, reason="tagged"
            )
        return rounds

    threads = [in_thread(lambda i=i: client(i)) for i in range(6)]  # type: ignore[misc]
    for thread, _ in threads:
        thread.join(120)
    assert [outcome for _, outcome in threads] == [[rounds]] * 6
    final = registry.customers.get(stored.id, actor=ADMIN)
    assert final.version == 1 + 6 * rounds
    assert len(registry.customers.history(stored.id, actor=ADMIN)) >= 6 * rounds


def test_reset_head_warns_of_a_forged_entry_it_seals(
    registry: Registry, store: PostgresStore
) -> None:
    registry.customers.intake(person(11), actor=ADMIN)
    at = log(store)[-1].at
    with store.transaction() as session:
        cast(AuditQueue, session.audit).enqueue(
            [AuditRecord(at=at, actor_id="x", action="y", chain=b"\x00" * 32)]
        )
        session.commit()
    with pytest.warns(AuditIntegrityWarning, match="failed their tag"):
        head = registry.audit.reset_head(actor=ADMIN, reason="after a restore")
    assert head is not None and head.seq == log(store)[-1].seq
    assert QUEUE_REJECTED in [e.action for e in log(store)]


def test_a_sealing_failure_after_a_commit_warns_and_the_data_stands(
    registry: Registry, store: PostgresStore, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custrec.storage.sealing import queue_entries

    stored = registry.customers.intake(person(12), actor=ADMIN)
    at = log(store)[-1].at
    with store.transaction() as session:  # another writer's entry, waiting
        queue_entries(
            session,
            [AuditRecord(at=at, actor_id="other", action="customer.read")],
            keyring.audit_chain(),
        )
        session.commit()

    def broken(*args: Any, **kwargs: Any) -> list[Any]:
        raise ValueError("the sealing broke")

    monkeypatch.setattr(context_module, "seal_more", broken)  # runs after the commit
    monkeypatch.setattr(context_module, "SEAL_EVERY", 1)  # every read seals after its commit
    with pytest.warns(RuntimeWarning, match="stay queued"):
        read = registry.customers.get(stored.id, actor=ADMIN)
    assert read.id == stored.id
    assert queued_count(store) == 2  # the other writer's entry and the read's
    monkeypatch.undo()
    assert registry.audit.verify(actor=AUDITOR).ok
    assert "other" in [e.actor_id for e in log(store)]
    assert len([e for e in log(store) if e.customer_id == stored.id]) == 2  # create, read


def test_a_read_queues_its_entry_and_every_few_reads_seal_the_queue(
    registry: Registry, store: PostgresStore
) -> None:
    stored = registry.customers.intake(person(13), actor=ADMIN)
    sealed = log(store)[-1].seq
    for _ in range(2 * context_module.SEAL_EVERY):
        registry.customers.get(stored.id, actor=ADMIN)
    # reads do not take the log's lock; a read whose ticket is a multiple of SEAL_EVERY
    # seals what is queued, so at most SEAL_EVERY - 1 reads wait in the queue
    assert queued_count(store) < context_module.SEAL_EVERY
    assert log(store)[-1].seq > sealed
    assert registry.audit.verify(actor=AUDITOR).ok
    reads = [e for e in log(store) if e.customer_id == stored.id and e.seq > sealed]
    assert len(reads) == 2 * context_module.SEAL_EVERY


def test_a_queued_read_is_sealed_once_the_registry_has_not_sealed_for_seal_after(
    registry: Registry, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: now[0])
    monkeypatch.setattr(context_module, "SEAL_EVERY", 10**9)  # no read seals by its ticket
    stored = registry.customers.intake(person(14), actor=ADMIN)  # seals: the clock starts
    now[0] += context_module.SEAL_AFTER / 2
    registry.customers.get(stored.id, actor=ADMIN)
    assert queued_count(store) == 1  # sealed a moment ago: the read only queues
    now[0] += context_module.SEAL_AFTER
    registry.customers.get(stored.id, actor=ADMIN)
    # at low traffic a read's entry does not wait in the queue (where it could be deleted
    # unnoticed) for the next writer or the SEAL_EVERY-th read
    assert queued_count(store) == 0
    sealed = [e for e in log(store) if e.customer_id == stored.id]
    assert len(sealed) == 3, [e.action for e in sealed]  # the creation and the two reads
    assert registry.audit.verify(actor=AUDITOR).ok


def test_registries_reading_at_once_seal_about_once_per_interval_between_them(
    store: PostgresStore, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(context_module, "_monotonic", lambda: now[0])
    monkeypatch.setattr(context_module, "SEAL_EVERY", 10**9)  # only the interval rule
    registries = [Registry(store, keyring=keyring) for _ in range(4)]  # as four processes
    stored = registries[0].customers.intake(person(20), actor=ADMIN)
    sealings: list[int] = []
    real = context_module.seal_more

    def counted(*args: Any, **kwargs: Any) -> Any:
        sealings.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(context_module, "seal_more", counted)
    per_interval = 7.5  # reads between the four registries
    for n in range(60):
        now[0] += context_module.SEAL_AFTER / per_interval
        registries[n % 4].customers.get(stored.id, actor=ADMIN)
        # whatever is queued was queued within about one interval
        assert queued_count(store) <= 2 * per_interval
    # 8 intervals: each registry is due once per interval (32 sealings if each sealed then);
    # a due read seals only when its ticket is a multiple of the reads per interval (after
    # each registry's first read, which has no rate to go by)
    assert len(sealings) <= 4 + 8 + 2, len(sealings)
    monkeypatch.undo()
    assert registries[1].audit.verify(actor=AUDITOR).ok
    reads = [e for e in log(store) if e.customer_id == stored.id and e.action != "customer.create"]
    assert len(reads) == 60
