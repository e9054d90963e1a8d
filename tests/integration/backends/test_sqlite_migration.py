"""Schemas 4-10 (compact storage, and the tables and indexes since) applied to a file written at
schema 3.

The file is made by a registry on a store that knows only the published steps 1-3 (their DDL is
never edited), so it holds what a user's file holds; opening it with this custrec migrates it,
and every customer, history entry, audit entry (the chain still verifies) and data key is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import custrec.backends._sqlite.tables as sqlite_tables
import custrec.backends.sqlite as sqlite_backend
from custrec import Actor, KeyRing, Registry, SQLiteStore
from custrec.backends._sqlite.dialect import SQLiteDialect
from custrec.backends._sqlite.schema import pack_index_key, unpack_index_key
from custrec.consent import CaptureChannel
from custrec.errors import Erased
from custrec.testing import TickingClock

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
AUDITOR = Actor(id="aud", roles={"auditor"})
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What schema 4 keeps, column for column, read straight from the files.
TABLES = {
    "customers": "pk, id, version, payload, kind, stage, owner, team, grade, created_at, "
    "updated_at, state",
    "customer_index": "customer_pk, key",
    "customer_tags": "customer_pk, pos, tag",
    "history": "customer_id, seq, at, actor_id, action, path, reason, payload",
    "audit": "seq, at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of",
    "meta": "name, value",
}
KEY_TABLES = {
    "data_keys": "customer_id, master_key_id, wrapped, created_at",
    "meta": "name, value",
}


class Absent:
    """The work table, change feed or documents of a store at schema 3, which had none of them:
    writes go nowhere and reads find nothing."""

    def __getattr__(self, name: str) -> Callable[..., list[Any]]:
        return lambda *args, **kwargs: []


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"孙{n:03d}",
        "contacts": [{"phones": [f"1390000{n:04d}"], "emails": [f"s{n}@example.cn"]}],
        "addresses": [{"city": "杭州", "street": f"西湖路{n}号", "postal_code": "310000"}],
        "tags": ["vip"] if n % 2 else [],
        **extra,
    }


def dump(path: Path, tables: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: sorted(conn.execute(f"SELECT {columns} FROM {table}").fetchall())
            for table, columns in tables.items()
        }
    finally:
        conn.close()


def unpacked(rows: list[tuple[Any, ...]]) -> set[tuple[int, str]]:
    return {(pk, unpack_index_key(key)) for pk, key in rows}


def schema_of(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        found = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        return dict(found.fetchall())
    finally:
        conn.close()


@pytest.fixture
def version_3_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, KeyRing, dict[str, Any]]:
    """A database and key store at schema 3 with customers, changes, an erasure and audit.

    The schema is made by the published steps 1-3; the values are written as schema 3's custrec
    wrote them: instants as ISO text, every token with its head as text (tag 1).
    """
    path = tmp_path / "crm.sqlite"
    keyring = KeyRing.generate()
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_backend, "MIGRATIONS", sqlite_backend.MIGRATIONS[:3])
        patch.setattr(SQLiteDialect, "instant", lambda _, value: iso(value))
        patch.setattr(SQLiteDialect, "read_instant", lambda _, stored: read_iso(stored))
        patch.setattr(sqlite_tables, "encode_dt", lambda value, _: iso(value))
        patch.setattr(sqlite_tables, "pack_index_key", schema_3_key)
        patch.setattr(
            sqlite_tables,
            "packed_index_rows",
            lambda pairs: [(pk, schema_3_key(key)) for pk, keys in pairs for key in keys],
        )
        patch.setattr(
            sqlite_backend._SQLiteSession, "_workflow_tables", lambda _: (Absent(), Absent())
        )
        # nor compliance documents (schema 10 added them)
        patch.setattr(sqlite_backend._SQLiteSession, "_document_table", lambda _: Absent())
        # schema 3 had no facets either (schema 9 added them)
        patch.setattr(sqlite_tables._CustomerTable, "_read_facets", lambda *_, **__: None)
        patch.setattr(sqlite_tables._CustomerTable, "_write_facets", lambda *_, **__: None)
        with SQLiteStore(path) as store:
            registry = Registry(store, keyring=keyring, clock=TickingClock(T0))
            made = [registry.customers.intake(person(n), actor=ADMIN) for n in range(6)]
            registry.customers.update(made[1].id, {"name": "孙新"}, actor=ADMIN, reason="typo")
            registry.customers.update(made[2].id, {"owner": "u-7"}, actor=ADMIN, reason="assign")
            registry.privacy.erase(made[3].id, actor=ADMIN, reason="subject request")
            registry.customers.get(made[0].id, actor=ADMIN)
            for n, amount in enumerate(("1250.00", "80.5", "99.99")):
                registry.activities.record_transaction(
                    {
                        "id": f"t-{n}",
                        "customer_id": made[n % 2].id,
                        "occurred_at": f"2025-12-0{n + 1}T10:00:00.00000{n}+08:00",
                        "amount": {"amount": amount, "currency": "CNY"},
                    },
                    actor=ADMIN,
                )
            registry.consent.grant(
                made[0].id, "marketing.email", actor=ADMIN, channel=CaptureChannel.WEB_FORM
            )
            seen: dict[str, Any] = {
                "customers": {
                    c.id: registry.customers.get(c.id, actor=ADMIN)
                    for c in made
                    if c.id != made[3].id
                },
                "history": {
                    c.id: registry.customers.history(c.id, actor=ADMIN)
                    for c in made
                    if c.id != made[3].id
                },
                "erased": made[3].id,
                "summaries": list(registry.activities.summaries(as_of=T0, actor=ADMIN)),
                "activities": registry.activities.list(made[0].id, actor=ADMIN),
                "ledger": registry.consent.ledger(made[0].id, actor=ADMIN),
                "ids": [c.id for c in made],
                "by_stage": registry.reports.counts("stage", actor=ADMIN),
            }
            assert registry.audit.verify(actor=AUDITOR).ok
            with store.transaction(readonly=True) as session:
                seen["audit"] = session.audit.read(limit=1000)
    for file in (path, sqlite_backend.key_file_for(path)):
        assert schema_of(Path(file))["history"].count("pk INTEGER PRIMARY KEY") == 1
    return path, keyring, seen


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def read_iso(stored: str) -> datetime:
    return datetime.fromisoformat(stored)


def schema_3_key(key: str) -> bytes:
    packed = pack_index_key(key)
    if packed[:1] != b"\x02":
        return packed
    head, _, digest = key.rpartition(":")
    return b"\x01" + head.encode() + b":\x00" + bytes.fromhex(digest)


def microseconds(rows: list[tuple[Any, ...]], *columns: int) -> list[tuple[Any, ...]]:
    """Rows of schema 3 with their ISO instants as schema 6 stores them."""
    return sorted(
        tuple(
            (datetime.fromisoformat(v) - EPOCH) // timedelta(microseconds=1) if i in columns else v
            for i, v in enumerate(row)
        )
        for row in rows
    )


def test_a_version_3_file_opens_migrated_with_everything_kept(
    version_3_file: tuple[Path, KeyRing, dict[str, Any]],
) -> None:
    path, keyring, seen = version_3_file
    key_path = Path(sqlite_backend.key_file_for(path))
    before, keys_before = dump(path, TABLES), dump(key_path, KEY_TABLES)
    assert len(keys_before["data_keys"]) == 5  # the erased customer's key is gone

    with SQLiteStore(path) as store:
        registry = Registry(store, keyring=keyring, clock=TickingClock(T0))
        for customer_id, customer in seen["customers"].items():
            assert registry.customers.get(customer_id, actor=ADMIN) == customer
            assert (
                registry.customers.history(customer_id, actor=ADMIN) == seen["history"][customer_id]
            )
        with pytest.raises(Erased):
            registry.customers.get(seen["erased"], actor=ADMIN)
        for customer in seen["customers"].values():  # blind-index look-ups find them
            phone = customer.contacts[0].phones[0].removeprefix("+86")
            assert [c.id for c in registry.customers.find(phone=phone, actor=ADMIN)] == [
                customer.id
            ]
        assert sum(summary.purchase_count for summary in seen["summaries"]) == 3
        assert list(registry.activities.summaries(as_of=T0, actor=ADMIN)) == seen["summaries"]
        assert registry.activities.list(seen["ids"][0], actor=ADMIN) == seen["activities"]
        assert registry.consent.ledger(seen["ids"][0], actor=ADMIN) == seen["ledger"]
        found = registry.customers.query(actor=ADMIN, owner="u-7")
        assert [c.id for c in found] == [
            c.id for c in seen["customers"].values() if c.owner == "u-7"
        ]
        # schema 10: the grouped counts by stage read customers_stage_state; documents
        assert registry.reports.counts("stage", actor=ADMIN) == seen["by_stage"]
        assert seen["by_stage"].total == 5
        assert registry.audit.verify(actor=AUDITOR).ok
        with store.transaction(readonly=True) as session:
            assert session.audit.read(limit=len(seen["audit"])) == seen["audit"]
            assert session.documents.links_for(seen["ids"][0]) == []

    after, keys_after = dump(path, TABLES), dump(key_path, KEY_TABLES)
    # schema 6 stores instants as integer microseconds since 1970 UTC
    assert after["history"] == microseconds(before["history"], 2)
    assert after["customers"] == microseconds(before["customers"], 9, 10)
    assert all(isinstance(row[2], str) for row in before["history"])
    # schema 5 stores the tokens of known kinds with a kind code: the same keys, fewer bytes
    assert unpacked(after["customer_index"]) == unpacked(before["customer_index"])
    assert {bytes(key)[:1] for _, key in before["customer_index"]} == {b"\x01"}
    assert {bytes(key)[:1] for _, key in after["customer_index"]} == {b"\x02"}
    assert sum(len(key) for _, key in after["customer_index"]) < sum(
        len(key) for _, key in before["customer_index"]
    )
    assert after["customer_tags"] == before["customer_tags"]
    # reads were audited since
    assert after["audit"][: len(before["audit"])] == microseconds(before["audit"], 1)
    assert keys_after["data_keys"] == microseconds(keys_before["data_keys"], 3)
    for file in (path, key_path):
        schema = schema_of(file)
        for table in ("history", "data_keys"):
            assert schema[table].endswith("WITHOUT ROWID") and "pk" not in schema[table]
        for table, column in (
            ("customers", "created_at"),
            ("customers", "updated_at"),
            ("activities", "occurred_at"),
            ("consents", "recorded_at"),
            ("history", "at"),
            ("audit", "at"),
            ("data_keys", "created_at"),
        ):
            assert f"{column} INTEGER NOT NULL" in schema[table], table
        assert "REFERENCES customers (pk)" in schema["customer_index"]
        assert "REFERENCES customers (pk)" in schema["customer_tags"]
        assert "history_no_update" in schema and "history_no_delete" in schema
        assert schema["customers_owner"].endswith("WHERE owner IS NOT NULL")
        assert schema["customers_state"].endswith("WHERE state <> 'live'")
        assert "audit_at" not in schema
        assert schema["customers_stage_state"].endswith("(stage, state) WHERE stage >= ''")
        assert schema["document_links"].endswith("WITHOUT ROWID")
        assert {"documents", "documents_tag", "document_links_customer"} <= set(schema)
        assert not any(name.endswith(("_v4", "_v6")) for name in schema)


def test_the_rebuilt_ledgers_are_still_append_only(
    version_3_file: tuple[Path, KeyRing, dict[str, Any]],
) -> None:
    path, _, _ = version_3_file
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        conn.execute(
            "INSERT INTO consents (customer_id, seq, recorded_at, purpose, action, payload) "
            "VALUES ('c-1', 1, 0, 'service', 'grant', x'00')"
        )
        for table in ("history", "audit", "consents"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
            for statement in (f"UPDATE {table} SET seq = seq", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(statement)
    finally:
        conn.close()
