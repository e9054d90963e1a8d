"""Schema migrations of :class:`custrec.backends.postgres.PostgresStore`: concurrent migrators
serialise on a session-level advisory lock per schema name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg.rows import TupleRow

from custrec.backends._postgres.schema import PostgresMigration, lock_key, quote_ident
from custrec.backends._sql.migrations import Migrator
from custrec.errors import StorageError

__all__ = ["PostgresMigrator"]

_Conn = psycopg.Connection[TupleRow]


class PostgresMigrator(Migrator[PostgresMigration]):
    """Concurrent migrators serialise on a session-level advisory lock per schema name."""

    def __init__(self, conn: _Conn, schema: str, where: str) -> None:
        super().__init__(where, "custrec.backends.postgres.MIGRATIONS")
        self._conn = conn
        self._schema = schema
        self._quoted = quote_ident(schema)

    def current(self) -> int | None:
        """The schema's version, or ``None`` when the schema is missing or empty."""
        row = self._conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, "
            "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            " WHERE n.nspname = %s)",
            (f"{self._quoted}.schema_version", self._schema),
        ).fetchone()
        assert row is not None
        has_table, relations = bool(row[0]), int(row[1])
        if not has_table:
            if relations:
                raise StorageError(
                    f"{self.where}: schema {self._schema!r} holds tables but is not a custrec "
                    "schema (no schema_version table); choose another schema"
                )
            return None
        found = self._conn.execute(
            f"SELECT coalesce(max(version), 0) FROM {self._quoted}.schema_version".encode()
        ).fetchone()
        assert found is not None
        return int(found[0])

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        key = lock_key("custrec", "migrate", self._schema)
        self._conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            with self._conn.transaction():
                self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._quoted}".encode())
                yield
        finally:
            with suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def create_version_table(self) -> None:
        self._conn.execute(
            f"CREATE TABLE {self._quoted}.schema_version ("
            "version integer PRIMARY KEY, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())".encode()
        )

    def apply(self, migration: PostgresMigration) -> None:
        for statement in migration.statements:
            self._conn.execute(statement.replace("{s}", self._quoted).encode())
        self._conn.execute(
            f"INSERT INTO {self._quoted}.schema_version (version, description) "
            "VALUES (%s, %s)".encode(),
            (migration.version, migration.description),
        )

    def newer_message(self, current: int, latest: int) -> str:
        return (
            f"{self.where}: schema {self._schema!r} has version {current}, newer than this "
            f"custrec knows ({latest}); upgrade custrec to use it"
        )
