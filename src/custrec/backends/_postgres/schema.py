"""PostgreSQL's schema: the DDL of every version and the forward-only migration steps.

Statements are templates: ``{s}`` is replaced by the quoted schema name.

The index-key, tag and facet tables carry no foreign key to customers: the backend writes and
deletes them in the same statements as their customer (data-modifying CTEs), and per-row
foreign-key triggers would cost about 40 % of a bulk load. Activities, ledgers and keys may name
customers without a row by design (see docs/backends.md, "Independent tables").
"""

from __future__ import annotations

import hashlib
from typing import Final, NamedTuple

from custrec.storage import ROW_STATES

__all__ = [
    "MIGRATIONS",
    "REFUSED_STATE",
    "SCHEMA_VERSION",
    "PostgresMigration",
    "lock_key",
    "quote_ident",
]

REFUSED_STATE: Final = "CR001"  # SQLSTATE raised by the append-only triggers


def _append_only(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {{s}}.{table} "
        "FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {{s}}.{table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change()",
    )


_SCHEMA_V1: Final[tuple[str, ...]] = (
    f"""CREATE FUNCTION {{s}}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the % table is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = '{REFUSED_STATE}';
    END
    $$""",
    """CREATE TABLE {s}.customers (
        id text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL CHECK (version >= 1),
        payload bytea NOT NULL,
        kind text COLLATE "C" NOT NULL,
        stage text COLLATE "C" NOT NULL,
        owner text COLLATE "C",
        team text COLLATE "C",
        grade text COLLATE "C",
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    )""",
    "CREATE INDEX customers_kind ON {s}.customers (kind, id)",
    "CREATE INDEX customers_stage ON {s}.customers (stage, id)",
    "CREATE INDEX customers_owner ON {s}.customers (owner, id)",
    "CREATE INDEX customers_team ON {s}.customers (team, id)",
    "CREATE INDEX customers_grade ON {s}.customers (grade, id)",
    "CREATE INDEX customers_updated_at ON {s}.customers (updated_at)",
    """CREATE TABLE {s}.customer_index (
        customer_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        PRIMARY KEY (customer_id, key)
    )""",
    "CREATE INDEX customer_index_key ON {s}.customer_index (key, customer_id)",
    """CREATE TABLE {s}.customer_tags (
        customer_id text COLLATE "C" NOT NULL,
        pos integer NOT NULL CHECK (pos >= 0),
        tag text COLLATE "C" NOT NULL,
        PRIMARY KEY (customer_id, pos)
    )""",
    "CREATE INDEX customer_tags_tag ON {s}.customer_tags (tag, customer_id)",
    """CREATE TABLE {s}.activities (
        id text COLLATE "C" PRIMARY KEY,
        customer_id text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('transaction', 'interaction')),
        occurred_at timestamptz NOT NULL,
        amount numeric(24, 4),
        currency text COLLATE "C",
        payload bytea NOT NULL,
        CHECK (kind <> 'transaction' OR (amount IS NOT NULL AND currency IS NOT NULL
            AND currency <> ''))
    )""",
    "CREATE INDEX activities_customer ON {s}.activities (customer_id, id)",
    # Covering index for summaries(): the GROUP BY walks it in (customer, currency) order.
    "CREATE INDEX activities_purchases ON {s}.activities (customer_id, currency, occurred_at) "
    "INCLUDE (amount) WHERE kind = 'transaction'",
    """CREATE TABLE {s}.consents (
        customer_id text COLLATE "C" NOT NULL,
        seq integer NOT NULL CHECK (seq >= 1),
        recorded_at timestamptz NOT NULL,
        purpose text NOT NULL,
        action text NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (customer_id, seq)
    )""",
    *_append_only("consents"),
    """CREATE TABLE {s}.history (
        customer_id text COLLATE "C" NOT NULL,
        seq integer NOT NULL CHECK (seq >= 1),
        at timestamptz NOT NULL,
        actor_id text NOT NULL,
        action text NOT NULL,
        path text NOT NULL,
        reason text,
        payload bytea NOT NULL,
        PRIMARY KEY (customer_id, seq)
    )""",
    *_append_only("history"),
    """CREATE TABLE {s}.audit (
        seq bigint PRIMARY KEY CHECK (seq >= 1),
        at timestamptz NOT NULL,
        actor_id text COLLATE "C" NOT NULL,
        action text NOT NULL,
        customer_id text COLLATE "C",
        fields text[] NOT NULL,
        reason text,
        outcome text NOT NULL,
        chain bytea NOT NULL
    )""",
    "CREATE INDEX audit_customer ON {s}.audit (customer_id, seq)",
    "CREATE INDEX audit_actor ON {s}.audit (actor_id, seq)",
    "CREATE INDEX audit_at ON {s}.audit (at)",
    *_append_only("audit"),
    """CREATE TABLE {s}.data_keys (
        customer_id text COLLATE "C" PRIMARY KEY,
        master_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        created_at timestamptz NOT NULL
    )""",
)


class PostgresMigration(NamedTuple):
    """One forward schema step: SQL templates run in order inside the migrating transaction.

    ``{s}`` in a statement stands for the quoted schema name.
    """

    version: int
    description: str
    statements: tuple[str, ...]


_STATES: Final = ", ".join(f"'{state}'" for state in ROW_STATES)

# Schema 2: the stored row state, the audit log's on_behalf_of and the meta table. Rows written
# before it holding an erasure tombstone or a merge alias (custrec's schema-1 payload formats,
# recognised by their first bytes) are marked erased and merged; every other row is live.
_TOMBSTONE_V1: Final = b'{"schema_version":1,"erased":'
_ALIAS_V1: Final = b'{"schema_version":1,"merged_into":'


def _starts_with(prefix: bytes) -> str:
    return f"substring(payload FROM 1 FOR {len(prefix)}) = '\\x{prefix.hex()}'::bytea"


_SCHEMA_V2: Final[tuple[str, ...]] = (
    "ALTER TABLE {s}.customers ADD COLUMN state text COLLATE \"C\" NOT NULL DEFAULT 'live' "
    f"CHECK (state IN ({_STATES}))",
    "UPDATE {s}.customers SET state = 'erased' WHERE " + _starts_with(_TOMBSTONE_V1),
    "UPDATE {s}.customers SET state = 'merged' WHERE " + _starts_with(_ALIAS_V1),
    "CREATE INDEX customers_state ON {s}.customers (state, id)",
    "ALTER TABLE {s}.audit ADD COLUMN on_behalf_of text",
    'CREATE TABLE {s}.meta (name text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)',
)

# Schema 3: the audit queue. Writing sessions queue their audit entries here without a lock;
# a sealing session numbers and chains them into the audit table and deletes them from here.
# Queued entries may be deleted (by the sealer) but never changed.
_SCHEMA_V3: Final[tuple[str, ...]] = (
    """CREATE TABLE {s}.audit_queue (
        ticket bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL
            CHECK (at BETWEEN '0001-01-02 00:00:00+00' AND '9999-12-30 23:59:59.999999+00'),
        actor_id text COLLATE "C" NOT NULL,
        action text NOT NULL,
        customer_id text COLLATE "C",
        fields text[] NOT NULL,
        reason text,
        outcome text NOT NULL,
        chain bytea NOT NULL,
        on_behalf_of text
    )""",
    "CREATE TRIGGER audit_queue_unchanged BEFORE UPDATE ON {s}.audit_queue "
    "FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change()",
)

# Schema 4: the work table (service cases and tasks) and the change feed. The due-time indexes
# hold only open rows with a due time; queries repeat their condition so that the planner
# sees they may use them. Change events carry the id of the transaction that wrote them: the
# feed is read in (xid, seq) order up to the oldest transaction still running (see
# custrec.backends._postgres.workflow).
_OPEN_DUE: Final = "WHERE open AND due_at IS NOT NULL"
_SCHEMA_V4: Final[tuple[str, ...]] = (
    """CREATE TABLE {s}.work (
        id text COLLATE "C" PRIMARY KEY,
        kind text COLLATE "C" NOT NULL CHECK (kind IN ('case', 'task')),
        customer_id text COLLATE "C" NOT NULL,
        version integer NOT NULL CHECK (version >= 1),
        status text COLLATE "C" NOT NULL CHECK (status <> ''),
        open boolean NOT NULL,
        assignee text COLLATE "C",
        team text COLLATE "C",
        due_at timestamptz,
        breached boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        payload bytea NOT NULL
    )""",
    "CREATE INDEX work_customer ON {s}.work (customer_id, id)",
    f"CREATE INDEX work_due ON {{s}}.work (kind, due_at, id) {_OPEN_DUE}",
    f"CREATE INDEX work_due_assignee ON {{s}}.work (assignee, kind, due_at, id) {_OPEN_DUE}",
    f"CREATE INDEX work_due_team ON {{s}}.work (team, kind, due_at, id) {_OPEN_DUE}",
    """CREATE TABLE {s}.changes (
        xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        seq bigint GENERATED ALWAYS AS IDENTITY,
        at timestamptz NOT NULL,
        kind text NOT NULL CHECK (kind <> ''),
        customer_id text COLLATE "C",
        record_id text COLLATE "C",
        fields text[] NOT NULL,
        actor_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (xid, seq)
    )""",
    *_append_only("changes"),
)

_OPEN_BREACHED: Final = "WHERE open AND breached"
_SCHEMA_V5: Final[tuple[str, ...]] = (
    f"CREATE INDEX work_breached ON {{s}}.work (kind, id) {_OPEN_BREACHED}",
    f"CREATE INDEX work_breached_assignee ON {{s}}.work (assignee, kind, id) {_OPEN_BREACHED}",
    f"CREATE INDEX work_breached_team ON {{s}}.work (team, kind, id) {_OPEN_BREACHED}",
)

# Schema 6: row facets ("<name>=<value>"), kept like tags: a child table keyed by (customer_id,
# facet), with a second index (facet, customer_id), so that an any-of or a range condition is
# one index range ("C" collation: code-point order). The periods counted by creation instant
# and the buyers of a period (transactions above zero, by instant) each read one index range.
_SCHEMA_V6: Final[tuple[str, ...]] = (
    """CREATE TABLE {s}.customer_facets (
        customer_id text COLLATE "C" NOT NULL,
        facet text COLLATE "C" NOT NULL,
        PRIMARY KEY (customer_id, facet)
    )""",
    "CREATE INDEX customer_facets_facet ON {s}.customer_facets (facet, customer_id)",
    "CREATE INDEX customers_created_at ON {s}.customers (created_at)",
    "CREATE INDEX activities_bought ON {s}.activities (occurred_at, customer_id) "
    "WHERE kind = 'transaction' AND amount > 0",
)

# Schema 7: compliance documents and their per-customer links (see
# custrec.backends._sql.documents), every text column in the "C" collation: each list is one
# range of one index, in the order it returns. And customers by (stage, state): a count grouped
# by stage that keeps some states (the reports' counts leave out erased and merged rows), or a
# count of those states, is an index-only scan instead of a scan of the table (a third of the
# time at 300,000 rows; deduplicated, the index takes about 7 bytes a row).
_SCHEMA_V7: Final[tuple[str, ...]] = (
    """CREATE TABLE {s}.documents (
        kind text COLLATE "C" NOT NULL CHECK (kind <> ''),
        id text COLLATE "C" NOT NULL CHECK (id <> ''),
        version integer NOT NULL CHECK (version >= 1),
        tag text COLLATE "C",
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (kind, id)
    )""",
    "CREATE INDEX documents_tag ON {s}.documents (kind, tag, id)",
    """CREATE TABLE {s}.document_links (
        kind text COLLATE "C" NOT NULL CHECK (kind <> ''),
        document_id text COLLATE "C" NOT NULL CHECK (document_id <> ''),
        customer_id text COLLATE "C" NOT NULL CHECK (customer_id <> ''),
        version integer NOT NULL CHECK (version >= 1),
        state text COLLATE "C",
        updated_at timestamptz NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (kind, document_id, customer_id)
    )""",
    "CREATE INDEX document_links_state ON {s}.document_links"
    " (kind, document_id, state, customer_id)",
    "CREATE INDEX document_links_customer ON {s}.document_links (customer_id, kind, document_id)",
    "CREATE INDEX customers_stage_state ON {s}.customers (stage, state)",
)

# Schema 8: each facet row says whether it is its customer's first facet of its name (the
# least in code-point order; see custrec.backends._sql.aggregates), and the facet index carries
# the flag, so that grouped counts read the customers holding a name off one index range (the
# sum of the flag) instead of joining every customer. Rows already stored are flagged here: 1
# unless the customer has a lesser facet of the same name (a facet without "=", which
# CustomerRow refuses, would be its own name, as custrec.backends._sql.aggregates.facet_rows
# writes it).
_SCHEMA_V8: Final[tuple[str, ...]] = (
    "ALTER TABLE {s}.customer_facets ADD COLUMN first_of_name smallint NOT NULL DEFAULT 1"
    " CHECK (first_of_name IN (0, 1))",
    "UPDATE {s}.customer_facets AS f SET first_of_name = 0 WHERE strpos(f.facet, '=') > 0"
    " AND EXISTS (SELECT 1 FROM {s}.customer_facets AS e WHERE e.customer_id = f.customer_id"
    " AND e.facet >= substr(f.facet, 1, strpos(f.facet, '=')) AND e.facet < f.facet)",
    "DROP INDEX {s}.customer_facets_facet",
    "CREATE INDEX customer_facets_facet ON {s}.customer_facets (facet, customer_id)"
    " INCLUDE (first_of_name)",
)

MIGRATIONS: tuple[PostgresMigration, ...] = (
    PostgresMigration(1, "initial schema", _SCHEMA_V1),
    PostgresMigration(2, "row state, audit on_behalf_of, meta table", _SCHEMA_V2),
    PostgresMigration(3, "audit queue", _SCHEMA_V3),
    PostgresMigration(4, "work table and change feed", _SCHEMA_V4),
    PostgresMigration(5, "indexes of open breached cases", _SCHEMA_V5),
    PostgresMigration(
        6, "row facets; indexes of creation instants and of purchases by instant", _SCHEMA_V6
    ),
    PostgresMigration(7, "documents and document links; customers by (stage, state)", _SCHEMA_V7),
    PostgresMigration(
        8,
        "facet rows flag their customer's first facet of each name; the facet index holds it",
        _SCHEMA_V8,
    ),
)
"""Every schema step, in order; append new ones, never edit or reorder published ones."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version
"""The schema version this code creates and understands."""


def lock_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``parts`` (same in every process)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
