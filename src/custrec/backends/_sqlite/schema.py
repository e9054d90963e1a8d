"""SQLite's schema: the DDL of every version and the forward-only migration steps."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Final, NamedTuple

from custrec.backends._sqlite.dialect import DIALECT
from custrec.errors import StorageError
from custrec.storage import ROW_STATES

__all__ = [
    "INDEX_KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLiteMigration",
    "pack_index_key",
    "unpack_index_key",
]


def _append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ]


_SCHEMA_V1: Final[tuple[str, ...]] = (
    """CREATE TABLE customers (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        version INTEGER NOT NULL CHECK (version >= 1),
        payload BLOB NOT NULL,
        kind TEXT NOT NULL,
        stage TEXT NOT NULL,
        owner TEXT,
        team TEXT,
        grade TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX customers_kind ON customers (kind, id)",
    "CREATE INDEX customers_stage ON customers (stage, id)",
    "CREATE INDEX customers_owner ON customers (owner, id)",
    "CREATE INDEX customers_team ON customers (team, id)",
    "CREATE INDEX customers_grade ON customers (grade, id)",
    "CREATE INDEX customers_updated_at ON customers (updated_at)",
    """CREATE TABLE customer_tags (
        customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (customer_pk, pos)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_tags_tag ON customer_tags (tag, customer_pk)",
    """CREATE TABLE customer_index (
        customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
        key TEXT NOT NULL,
        PRIMARY KEY (customer_pk, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_index_key ON customer_index (key, customer_pk)",
    """CREATE TABLE activities (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('transaction', 'interaction')),
        occurred_at TEXT NOT NULL,
        amount INTEGER,
        currency TEXT,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX activities_customer ON activities (customer_id, id)",
    # Covering index for summaries(): the GROUP BY walks it in order, no temporary b-tree.
    "CREATE INDEX activities_purchases ON activities "
    "(customer_id, currency, occurred_at, amount) WHERE kind = 'transaction'",
    """CREATE TABLE consents (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        recorded_at TEXT NOT NULL,
        purpose TEXT NOT NULL,
        action TEXT NOT NULL,
        payload BLOB NOT NULL,
        UNIQUE (customer_id, seq)
    )""",
    *_append_only("consents"),
    """CREATE TABLE history (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT,
        payload BLOB NOT NULL,
        UNIQUE (customer_id, seq)
    )""",
    *_append_only("history"),
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        customer_id TEXT,
        fields TEXT NOT NULL,
        reason TEXT,
        outcome TEXT NOT NULL,
        chain BLOB NOT NULL
    )""",
    "CREATE INDEX audit_customer ON audit (customer_id, seq)",
    "CREATE INDEX audit_actor ON audit (actor_id, seq)",
    "CREATE INDEX audit_at ON audit (at)",
    *_append_only("audit"),
    """CREATE TABLE data_keys (
        pk INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL UNIQUE,
        master_key_id TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL
    )""",
)


def _statements(statements: Sequence[str]) -> Callable[[sqlite3.Connection], None]:
    """Make a migration step that runs ``statements`` one by one (inside the caller's BEGIN)."""

    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


class SQLiteMigration(NamedTuple):
    """One forward schema step: ``apply`` runs inside the opening transaction."""

    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


_INDEX_KEY_ID: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TEXT_KEY: Final = b"\x00"
_TOKEN_KEY: Final = b"\x01"
_CODED_KEY: Final = b"\x02"

INDEX_KINDS: Final = (
    "phone",
    "email",
    "ric",
    "uscc",
    "passport",
    "external",
    "blk.name",
    "blk.addr",
    "blk.orgcity",
    "name",
    "name_core",
    "name_any_order",
)
"""The token kinds stored as a one-byte code (their position); part of the stored format:
append new kinds, never reorder or remove one."""
_KIND_CODES: Final = {kind: bytes([code]) for code, kind in enumerate(INDEX_KINDS)}


def pack_index_key(key: str) -> bytes:
    """The stored (BLOB) form of an index key.

    A blind-index token, ``kind:key-id:`` then 8-32 bytes of lowercase hex (the kind has no NUL
    character), keeps its digest as raw bytes, half the width of the hex; its head is a one-byte
    code of the kind (:data:`INDEX_KINDS`) and the key id, or the head's text for another kind.
    Any other key is its UTF-8 text. A tag byte tells the three apart, and a kind with a code is
    always stored with it, so the packing is one-to-one.
    """
    head, colon, digest = key.rpartition(":")
    if colon and 16 <= len(digest) <= 64:
        prefix = _HEAD_PREFIXES.get(head)
        if prefix is None:
            prefix = _head_prefix(head)
            if prefix:  # a token head (kind and key id): few of them, never personal data
                if len(_HEAD_PREFIXES) >= 4096:
                    _HEAD_PREFIXES.clear()
                _HEAD_PREFIXES[head] = prefix
        if prefix:
            try:
                raw = bytes.fromhex(digest)
            except ValueError:
                raw = b""
            if raw.hex() == digest:  # lowercase hex only, nothing fromhex() would also accept
                return prefix + raw
    return _TEXT_KEY + key.encode("utf-8", "surrogatepass")


_HEAD_PREFIXES: Final[dict[str, bytes]] = {}


def packed_index_rows(keys: Iterable[tuple[int, Iterable[str]]]) -> list[tuple[int, bytes]]:
    """``(pk, pack_index_key(key))`` for each key of each ``(pk, keys)``, in order: a token
    whose head was seen before is packed inline, anything else by :func:`pack_index_key`
    (about ten keys a customer at bulk intake)."""
    heads = _HEAD_PREFIXES
    fromhex = bytes.fromhex
    rows: list[tuple[int, bytes]] = []
    append = rows.append
    for pk, row_keys in keys:
        for key in row_keys:
            # a cached head came from a key with a colon (pack_index_key's own condition)
            head, _, digest = key.rpartition(":")
            prefix = heads.get(head)
            if prefix is not None and 16 <= len(digest) <= 64:
                try:
                    raw = fromhex(digest)
                except ValueError:
                    raw = b""
                if raw.hex() == digest:
                    append((pk, prefix + raw))
                    continue
            append((pk, pack_index_key(key)))
    return rows


def _head_prefix(head: str) -> bytes:
    """What a token's digest follows in its packed form, for the token head ``kind:key-id``;
    empty when ``head`` is not one."""
    kind, colon, key_id = head.rpartition(":")
    if colon and kind and "\x00" not in kind and _INDEX_KEY_ID.fullmatch(key_id):
        code = _KIND_CODES.get(kind)
        if code is not None:
            return _CODED_KEY + code + key_id.encode("ascii") + b"\x00"
        return _TOKEN_KEY + head.encode("utf-8", "surrogatepass") + b":\x00"
    return b""


def unpack_index_key(stored: bytes) -> str:
    """Invert :func:`pack_index_key`; ``StorageError`` for bytes it cannot have made."""
    tag, body = stored[:1], stored[1:]
    try:
        if tag == _TEXT_KEY:
            return body.decode("utf-8", "surrogatepass")
        if tag == _TOKEN_KEY:
            head, separator, digest = body.partition(b"\x00")
            if separator and digest:
                return head.decode("utf-8", "surrogatepass") + digest.hex()
        if tag == _CODED_KEY and body and body[0] < len(INDEX_KINDS):
            key_id, separator, digest = body[1:].partition(b"\x00")
            text_id = key_id.decode("ascii")
            if separator and 8 <= len(digest) <= 32 and _INDEX_KEY_ID.fullmatch(text_id):
                return f"{INDEX_KINDS[body[0]]}:{text_id}:{digest.hex()}"
    except UnicodeDecodeError:
        pass
    raise StorageError("customer_index holds a malformed key")


def _compact_index_keys(conn: sqlite3.Connection) -> None:
    """Schema 2: index keys become BLOBs (:func:`pack_index_key`), so that the random
    blind-index tokens of an encrypted store take about half the index pages they took as hex
    text: fewer pages to cache, and fewer dirtied by each commit."""
    conn.create_function("custrec_pack_index_key", 1, pack_index_key, deterministic=True)
    try:
        for statement in (
            """CREATE TABLE customer_index_v2 (
                customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
                key BLOB NOT NULL,
                PRIMARY KEY (customer_pk, key)
            ) WITHOUT ROWID""",
            "INSERT INTO customer_index_v2 (customer_pk, key) "
            "SELECT customer_pk, custrec_pack_index_key(key) FROM customer_index "
            "ORDER BY customer_pk",
            "DROP TABLE customer_index",
            "ALTER TABLE customer_index_v2 RENAME TO customer_index",
            "CREATE INDEX customer_index_key ON customer_index (key, customer_pk)",
        ):
            conn.execute(statement)
    finally:
        conn.create_function("custrec_pack_index_key", 1, None)


_TOMBSTONE_V1: Final = b'{"schema_version":1,"erased":'
_ALIAS_V1: Final = b'{"schema_version":1,"merged_into":'


def _row_state_and_meta(conn: sqlite3.Connection) -> None:
    """Schema 3: a stored row state (live, archived, restricted, erased, merged), the
    ``on_behalf_of`` column of the audit log, and the ``meta`` table.

    Rows written before it that hold an erasure tombstone or a merge alias (custrec's own
    payload formats of schema 1, recognised by their first bytes) are marked ``erased`` and
    ``merged``; every other row is ``live``.
    """
    states = ", ".join(f"'{state}'" for state in ROW_STATES)
    conn.execute(
        "ALTER TABLE customers ADD COLUMN state TEXT NOT NULL DEFAULT 'live' "
        f"CHECK (state IN ({states}))"
    )
    for state, prefix in (("erased", _TOMBSTONE_V1), ("merged", _ALIAS_V1)):
        conn.execute(
            "UPDATE customers SET state = ? WHERE substr(payload, 1, ?) = ?",
            (state, len(prefix), prefix),
        )
    conn.execute("CREATE INDEX customers_state ON customers (state, id)")
    conn.execute("ALTER TABLE audit ADD COLUMN on_behalf_of TEXT")
    conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")


_HISTORY_V4: Final = """CREATE TABLE history_v4 (
        customer_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq >= 1),
        at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        action TEXT NOT NULL,
        path TEXT NOT NULL,
        reason TEXT,
        payload BLOB NOT NULL,
        PRIMARY KEY (customer_id, seq)
    ) WITHOUT ROWID"""

_DATA_KEYS_V4: Final = """CREATE TABLE data_keys_v4 (
        customer_id TEXT NOT NULL PRIMARY KEY,
        master_key_id TEXT NOT NULL,
        wrapped BLOB NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID"""

_COMPACT_V4: Final[tuple[str, ...]] = (
    # history: keyed by what every query asks for, (customer_id, seq), with no rowid and no
    # second b-tree for the UNIQUE constraint
    _HISTORY_V4,
    "INSERT INTO history_v4 (customer_id, seq, at, actor_id, action, path, reason, payload) "
    "SELECT customer_id, seq, at, actor_id, action, path, reason, payload FROM history "
    "ORDER BY customer_id, seq",
    "DROP TABLE history",  # its triggers go with it; the implicit DELETE fires none
    "ALTER TABLE history_v4 RENAME TO history",
    *_append_only("history"),
    # data keys: keyed by the customer id, the only way they are looked up
    _DATA_KEYS_V4,
    "INSERT INTO data_keys_v4 (customer_id, master_key_id, wrapped, created_at) "
    "SELECT customer_id, master_key_id, wrapped, created_at FROM data_keys ORDER BY customer_id",
    "DROP TABLE data_keys",
    "ALTER TABLE data_keys_v4 RENAME TO data_keys",
    # owner, team and grade are filtered on by equality only: rows without one need no entry
    *(
        statement
        for column in ("owner", "team", "grade")
        for statement in (
            f"DROP INDEX customers_{column}",
            f"CREATE INDEX customers_{column} ON customers ({column}, id) "
            f"WHERE {column} IS NOT NULL",
        )
    ),
    # the state index keeps the rows that are not live; filters on a state other than 'live'
    # say so, and 'live' (nearly every row) is read in id order
    "DROP INDEX customers_state",
    "CREATE INDEX customers_state ON customers (state, id) WHERE state <> 'live'",
    # no query reads the audit log in time order: time bounds filter a walk by seq
    "DROP INDEX audit_at",
)


def _repack(stored: bytes) -> bytes:
    return pack_index_key(unpack_index_key(stored))


def _kind_coded_index_keys(conn: sqlite3.Connection) -> None:
    """Schema 5: the tokens of the kinds in :data:`INDEX_KINDS` are stored with a one-byte code
    of their kind instead of its text (five to twelve bytes less in each of the two b-trees of
    ``customer_index``, for every key of every customer)."""
    conn.create_function("custrec_repack_index_key", 1, _repack, deterministic=True)
    try:
        conn.execute(
            "UPDATE customer_index SET key = custrec_repack_index_key(key) "
            "WHERE substr(key, 1, 1) = ?",
            (_TOKEN_KEY,),
        )
    finally:
        conn.create_function("custrec_repack_index_key", 1, None)


def _from_iso(stored: str) -> int:
    return DIALECT.instant(datetime.fromisoformat(stored))


_STATES: Final = ", ".join(f"'{state}'" for state in ROW_STATES)

# Schema 6: each table with an instant, as it stands after schema 5 but with INTEGER instants.
# ``(name, DDL of name_v6, its columns, the instant columns, indexes, append-only)``.
_INTEGER_INSTANTS: Final[
    tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], bool], ...]
] = (
    (
        "customers",
        f"""CREATE TABLE customers_v6 (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            version INTEGER NOT NULL CHECK (version >= 1),
            payload BLOB NOT NULL,
            kind TEXT NOT NULL,
            stage TEXT NOT NULL,
            owner TEXT,
            team TEXT,
            grade TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'live' CHECK (state IN ({_STATES}))
        )""",
        "pk, id, version, payload, kind, stage, owner, team, grade, created_at, updated_at, state",
        ("created_at", "updated_at"),
        (
            "CREATE INDEX customers_kind ON customers (kind, id)",
            "CREATE INDEX customers_stage ON customers (stage, id)",
            *(
                f"CREATE INDEX customers_{column} ON customers ({column}, id) "
                f"WHERE {column} IS NOT NULL"
                for column in ("owner", "team", "grade")
            ),
            "CREATE INDEX customers_state ON customers (state, id) WHERE state <> 'live'",
            "CREATE INDEX customers_updated_at ON customers (updated_at)",
        ),
        False,
    ),
    (
        "activities",
        """CREATE TABLE activities_v6 (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            customer_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('transaction', 'interaction')),
            occurred_at INTEGER NOT NULL,
            amount INTEGER,
            currency TEXT,
            payload BLOB NOT NULL
        )""",
        "pk, id, customer_id, kind, occurred_at, amount, currency, payload",
        ("occurred_at",),
        (
            "CREATE INDEX activities_customer ON activities (customer_id, id)",
            "CREATE INDEX activities_purchases ON activities "
            "(customer_id, currency, occurred_at, amount) WHERE kind = 'transaction'",
        ),
        False,
    ),
    (
        "consents",
        """CREATE TABLE consents_v6 (
            pk INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 1),
            recorded_at INTEGER NOT NULL,
            purpose TEXT NOT NULL,
            action TEXT NOT NULL,
            payload BLOB NOT NULL,
            UNIQUE (customer_id, seq)
        )""",
        "pk, customer_id, seq, recorded_at, purpose, action, payload",
        ("recorded_at",),
        (),
        True,
    ),
    (
        "history",
        """CREATE TABLE history_v6 (
            customer_id TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq >= 1),
            at INTEGER NOT NULL,
            actor_id TEXT NOT NULL,
            action TEXT NOT NULL,
            path TEXT NOT NULL,
            reason TEXT,
            payload BLOB NOT NULL,
            PRIMARY KEY (customer_id, seq)
        ) WITHOUT ROWID""",
        "customer_id, seq, at, actor_id, action, path, reason, payload",
        ("at",),
        (),
        True,
    ),
    (
        "audit",
        """CREATE TABLE audit_v6 (
            seq INTEGER PRIMARY KEY CHECK (seq >= 1),
            at INTEGER NOT NULL,
            actor_id TEXT NOT NULL,
            action TEXT NOT NULL,
            customer_id TEXT,
            fields TEXT NOT NULL,
            reason TEXT,
            outcome TEXT NOT NULL,
            chain BLOB NOT NULL,
            on_behalf_of TEXT
        )""",
        "seq, at, actor_id, action, customer_id, fields, reason, outcome, chain, on_behalf_of",
        ("at",),
        (
            "CREATE INDEX audit_customer ON audit (customer_id, seq)",
            "CREATE INDEX audit_actor ON audit (actor_id, seq)",
        ),
        True,
    ),
    (
        "data_keys",
        """CREATE TABLE data_keys_v6 (
            customer_id TEXT NOT NULL PRIMARY KEY,
            master_key_id TEXT NOT NULL,
            wrapped BLOB NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "customer_id, master_key_id, wrapped, created_at",
        ("created_at",),
        (),
        False,
    ),
)


def _integer_instants(conn: sqlite3.Connection) -> None:
    """Schema 6: instants are INTEGER microseconds since 1970-01-01 UTC (six bytes or so)
    instead of 32 characters of ISO text, in every table and index that holds one.

    Each table is rebuilt (SQLite cannot change a column's type): made anew as ``<name>_v6``,
    filled from the old one, which is dropped, then renamed, its indexes and triggers made
    again. The migrator runs the steps with foreign-key enforcement off, so dropping the old
    ``customers`` does not cascade to ``customer_index`` and ``customer_tags`` (whose references
    then name the new table), and checks every foreign key before it commits.
    """
    conn.create_function("custrec_instant", 1, _from_iso, deterministic=True)
    try:
        for table, ddl, columns, instants, indexes, append_only in _INTEGER_INSTANTS:
            selected = ", ".join(
                f"custrec_instant({c})" if c in instants else c for c in columns.split(", ")
            )
            conn.execute(ddl)
            conn.execute(f"INSERT INTO {table}_v6 ({columns}) SELECT {selected} FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_v6 RENAME TO {table}")
            for statement in (*indexes, *(_append_only(table) if append_only else ())):
                conn.execute(statement)
    finally:
        conn.create_function("custrec_instant", 1, None)


# Schema 7: the work table (service cases and tasks) and the change feed. The due-time indexes
# hold only open rows with a due time (most rows are closed), and queries repeat their
# condition word for word so that SQLite sees they may use them.
_OPEN_DUE: Final = "WHERE open = 1 AND due_at IS NOT NULL"
_WORKFLOW_V7: Final[tuple[str, ...]] = (
    """CREATE TABLE work (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('case', 'task')),
        customer_id TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        status TEXT NOT NULL CHECK (status <> ''),
        open INTEGER NOT NULL CHECK (open IN (0, 1)),
        assignee TEXT,
        team TEXT,
        due_at INTEGER,
        breached INTEGER NOT NULL CHECK (breached IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX work_customer ON work (customer_id, id)",
    f"CREATE INDEX work_due ON work (kind, due_at, id) {_OPEN_DUE}",
    f"CREATE INDEX work_due_assignee ON work (assignee, kind, due_at, id) {_OPEN_DUE}",
    f"CREATE INDEX work_due_team ON work (team, kind, due_at, id) {_OPEN_DUE}",
    # seq order is commit order: SQLite has one writer at a time
    """CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind <> ''),
        customer_id TEXT,
        record_id TEXT,
        fields TEXT NOT NULL,
        actor_id TEXT NOT NULL
    )""",
    *_append_only("changes"),
)


_OPEN_BREACHED: Final = "WHERE open = 1 AND breached = 1"
_BREACHED_V8: Final[tuple[str, ...]] = (
    f"CREATE INDEX work_breached ON work (kind, id) {_OPEN_BREACHED}",
    f"CREATE INDEX work_breached_assignee ON work (assignee, kind, id) {_OPEN_BREACHED}",
    f"CREATE INDEX work_breached_team ON work (team, kind, id) {_OPEN_BREACHED}",
)

# Schema 9: row facets ("<name>=<value>"), kept like tags: a child table keyed by (customer_pk,
# facet), so that a row's facets of one name (a grouping) are one seek, with a second index
# (facet, customer_pk), so that an any-of or a range condition is one index range. The periods
# counted by creation instant and the buyers of a period (transactions above zero, by instant)
# each read one index range.
_FACETS_V9: Final[tuple[str, ...]] = (
    """CREATE TABLE customer_facets (
        customer_pk INTEGER NOT NULL REFERENCES customers (pk) ON DELETE CASCADE,
        facet TEXT NOT NULL,
        PRIMARY KEY (customer_pk, facet)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_facets_facet ON customer_facets (facet, customer_pk)",
    "CREATE INDEX customers_created_at ON customers (created_at)",
    "CREATE INDEX activities_bought ON activities (occurred_at, customer_id) "
    "WHERE kind = 'transaction' AND amount > 0",
)

# Schema 10: compliance documents and their per-customer links (see
# custrec.backends._sql.documents): each list is one range of one index, in the order it
# returns. And customers by (stage, state): a count grouped by stage that keeps some states
# (the reports' counts leave out erased and merged rows) reads this index alone, where
# customers_stage (stage, id) would make it read every row for its state. Every row meets its
# condition (a stage is text); only counts that repeat it use it (see _sqlite/tables.py), so
# that no other plan changes: for an equality on the stage SQLite would otherwise take it
# before an index on the owner or the team, which select far fewer rows.
_DOCUMENTS_V10: Final[tuple[str, ...]] = (
    """CREATE TABLE documents (
        kind TEXT NOT NULL CHECK (kind <> ''),
        id TEXT NOT NULL CHECK (id <> ''),
        version INTEGER NOT NULL CHECK (version >= 1),
        tag TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    )""",
    "CREATE INDEX documents_tag ON documents (kind, tag, id)",
    """CREATE TABLE document_links (
        kind TEXT NOT NULL CHECK (kind <> ''),
        document_id TEXT NOT NULL CHECK (document_id <> ''),
        customer_id TEXT NOT NULL CHECK (customer_id <> ''),
        version INTEGER NOT NULL CHECK (version >= 1),
        state TEXT,
        updated_at INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (kind, document_id, customer_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX document_links_state ON document_links (kind, document_id, state, customer_id)",
    "CREATE INDEX document_links_customer ON document_links (customer_id, kind, document_id)",
    "CREATE INDEX customers_stage_state ON customers (stage, state) WHERE stage >= ''",
)

# Schema 11: each facet row says whether it is its customer's first facet of its name (the
# least in code-point order; see custrec.backends._sql.aggregates), and the facet index carries
# the flag, so that grouped counts read the customers holding a name off one covering range of
# the index (the sum of the flag) instead of joining every customer. Rows already stored are
# flagged here: 1 unless the customer has a lesser facet of the same name (a facet without "="
# is its own name, as custrec.backends._sql.aggregates.facet_rows writes it; CustomerRow
# holds none).
_FIRST_OF_NAME_V11: Final[tuple[str, ...]] = (
    "ALTER TABLE customer_facets ADD COLUMN first_of_name INTEGER NOT NULL DEFAULT 1"
    " CHECK (first_of_name IN (0, 1))",
    "UPDATE customer_facets AS f SET first_of_name = 0 WHERE instr(f.facet, '=') > 0"
    " AND EXISTS (SELECT 1 FROM customer_facets AS e WHERE e.customer_pk = f.customer_pk"
    " AND e.facet >= substr(f.facet, 1, instr(f.facet, '=')) AND e.facet < f.facet)",
    "DROP INDEX customer_facets_facet",
    "CREATE INDEX customer_facets_facet ON customer_facets (facet, customer_pk, first_of_name)",
)

MIGRATIONS: tuple[SQLiteMigration, ...] = (
    SQLiteMigration(1, "initial schema", _statements(_SCHEMA_V1)),
    SQLiteMigration(2, "index keys stored as compact BLOBs", _compact_index_keys),
    SQLiteMigration(3, "row state, audit on_behalf_of, meta table", _row_state_and_meta),
    SQLiteMigration(
        4,
        "compact storage: history and data_keys without rowid, partial facet indexes",
        _statements(_COMPACT_V4),
    ),
    SQLiteMigration(5, "index keys of known kinds stored with a kind code", _kind_coded_index_keys),
    SQLiteMigration(6, "instants as integer microseconds since 1970 UTC", _integer_instants),
    SQLiteMigration(7, "work table and change feed", _statements(_WORKFLOW_V7)),
    SQLiteMigration(8, "indexes of open breached cases", _statements(_BREACHED_V8)),
    SQLiteMigration(
        9,
        "row facets; indexes of creation instants and of purchases by instant",
        _statements(_FACETS_V9),
    ),
    SQLiteMigration(
        10,
        "documents and document links; customers by (stage, state)",
        _statements(_DOCUMENTS_V10),
    ),
    SQLiteMigration(
        11,
        "facet rows flag their customer's first facet of each name; the facet index holds it",
        _statements(_FIRST_OF_NAME_V11),
    ),
)
"""Every schema step, in order; append new ones, never edit or reorder published ones."""

SCHEMA_VERSION: Final = MIGRATIONS[-1].version
