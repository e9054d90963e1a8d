"""The writes that end a unit of work on PostgreSQL take no savepoint each.

When a unit commits, it writes its new data keys, its change-feed events and its audit queue
entries, then sends ``COMMIT``. A failure of any of those writes raises out of the commit and
the whole unit is given up, so the savepoint that would leave the session as it was before the
failing write is never used: on PostgreSQL, where a savepoint costs a statement and a
subtransaction, they run inside ``all_or_nothing()``. Nothing of a unit whose last writes fail
is committed. PostgreSQL skips without ``CUSTREC_TEST_POSTGRES_DSN``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="needs the postgres extra (custrec[postgres])")

from custrec import Actor, KeyRing, Registry  # noqa: E402
from custrec.backends._postgres import tables as pg_tables  # noqa: E402
from custrec.backends._sql.session import writes_one_statement  # noqa: E402
from custrec.backends.postgres import PostgresStore  # noqa: E402
from custrec.errors import StorageError  # noqa: E402

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
ENDING = ("INTO {s}.changes", "INTO {s}.audit_queue", "INTO {s}.data_keys")


@pytest.fixture
def registry(postgres_dsn: str, postgres_schema: str) -> Iterator[Registry]:
    store = PostgresStore(postgres_dsn, schema=postgres_schema, max_size=2)
    yield Registry(store, keyring=KeyRing.generate())
    store.close()


def _sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store's connections send from now on, in order."""
    sent: list[str] = []
    real = psycopg.Connection.execute

    def recording(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(query.decode() if isinstance(query, bytes) else str(query))
        return real(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", recording)
    return sent


def _ending_writes(sent: list[str], schema: str) -> list[tuple[str, str]]:
    """(statement before, statement) for each data-key, change-feed and audit-queue write."""
    targets = [t.replace("{s}", f'"{schema}"') for t in ENDING]
    return [
        (before, statement)
        for before, statement in pairwise(sent)
        if statement.startswith("INSERT") and any(t in statement for t in targets)
    ]


def test_an_intake_and_an_update_send_their_ending_writes_without_savepoints(
    registry: Registry, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _sent(monkeypatch)
    made = registry.customers.intake(
        {"kind": "individual", "name": "王芳", "contacts": [{"phones": ["13800138000"]}]},
        actor=ADMIN,
    )
    registry.customers.update(
        made.id, {"tags": ["vip"]}, actor=ADMIN, reason="tagging", expected_version=made.version
    )
    ending = _ending_writes(sent, postgres_schema)
    kinds = {t for _, s in ending for t in ("changes", "audit_queue", "data_keys") if t in s}
    assert kinds == {"changes", "audit_queue", "data_keys"}
    assert [s for b, s in ending if b.startswith("SAVEPOINT")] == []
    assert any(s.startswith("SAVEPOINT") for s in sent)  # the data writes keep theirs


def test_a_unit_whose_ending_write_fails_commits_nothing(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = registry.customers.intake(
        {"kind": "individual", "name": "李雷", "contacts": [{"phones": ["13900139000"]}]},
        actor=ADMIN,
    )
    real = pg_tables._AuditTable.enqueue

    @writes_one_statement
    def failing(self: Any, records: Any) -> list[int]:
        self._exec("SELECT 1 / 0")  # the server refuses: the transaction is aborted
        return []

    monkeypatch.setattr(pg_tables._AuditTable, "enqueue", failing)
    with pytest.raises(StorageError):
        registry.customers.update(
            made.id, {"tags": ["lost"]}, actor=ADMIN, reason="r", expected_version=made.version
        )
    monkeypatch.setattr(pg_tables._AuditTable, "enqueue", real)
    kept = registry.customers.get(made.id, actor=ADMIN)
    assert (kept.version, kept.tags) == (made.version, made.tags)
    events = registry.changes.since(None, actor=ADMIN).events
    assert [e.kind for e in events if e.customer_id == made.id] == ["customer.create"]
    again = registry.customers.update(
        made.id, {"tags": ["kept"]}, actor=ADMIN, reason="r", expected_version=made.version
    )
    assert again.tags == ("kept",)
    assert registry.audit.verify(actor=AUDITOR).ok
