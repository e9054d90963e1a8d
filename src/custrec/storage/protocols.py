"""The storage protocols every backend implements.

A backend is a :class:`Store`. ``store.transaction()`` is a context manager yielding a
:class:`Session`, a unit of work: nothing it wrote is visible to others or durable until
``session.commit()``; leaving the block without committing (or with an exception) rolls back.
A session holds these tables:

===============  ===========================================================================
``customers``    sealed payloads, blind-index keys and plain facets; compare-and-set versions
``activities``   transactions and interactions; per-customer purchase summaries
``consents``     consent events, append-only, numbered per customer
``history``      field-level change history, append-only, numbered per customer
``audit``        the audit log, append-only, numbered globally
``keys``         wrapped per-customer data keys; deletable (crypto-shredding)
``meta``         a few named values about the store itself (keyring fingerprint, audit head)
``work``         service cases and tasks: sealed payloads, plain facets and a due-time index
``changes``      the change feed: one personal-data-free event per change, in commit order
``documents``    compliance documents (recipients, disclosures, incidents, sampling audits)
                 and what each says about its customers, versioned
===============  ===========================================================================

Backends never see plaintext personal data: payloads are opaque bytes (sealed by the registry's
codec) and index keys are opaque strings. Backends translate their driver's errors into
:mod:`custrec.errors` (:class:`~custrec.errors.NotFound`, :class:`~custrec.errors.DuplicateKey`,
:class:`~custrec.errors.VersionConflict`, :class:`~custrec.errors.StorageError`); no driver
exception escapes.

General rules:

- A write method that raises leaves the session as it was (as if the call never happened). After
  a read that raises (other than ``NotFound``), a backend may require the session to be rolled
  back.
- What a write session read stays true until it commits: a backend that runs writers
  concurrently must lock what the session looked up (index keys, the audit log's last entry,
  a ledger's last sequence number) so that a check-then-write cannot interleave with another
  writer (the registry's duplicate check and audit chain rely on it). Read-only sessions see one
  consistent snapshot.
- Ids, index keys and other text compare in code-point (binary) order; text never contains NUL
  characters: any text given (a row's ids, index keys, facets, tags and names, or an argument
  such as an id, an index key, ``after`` or a filter value, in reads too) with a NUL raises
  ``ValueError`` and nothing is written.
- Instants are timezone-aware datetimes representable in UTC (``ValueError`` for naive ones, even
  where a value is otherwise ignored) and come back as aware UTC datetimes with microseconds.
- Amounts are ``Decimal`` (whole ``int`` values are accepted and come back as ``Decimal``) with at
  most four decimal places and a magnitude below 2**63 / 10**4 (about 9.2e14; the largest is
  922337203685477.5807): ``ValueError`` otherwise. ``summaries`` raises ``StorageError`` when a
  sum falls outside that range.
- Every ``limit`` argument must be a positive integer (``ValueError`` otherwise); a limit beyond
  2**63 - 1 means "no limit".
- Sequence-number bounds (``after_seq``, ``before_seq``) and ``expected_version`` are integers
  (``ValueError`` otherwise, ``bool`` included) of any size: stored numbers run from 1 to
  2**63 - 1, so an ``after_seq`` beyond that returns nothing, a ``before_seq`` beyond it bounds
  nothing, and an ``expected_version`` beyond 64 bits raises ``VersionConflict`` (or
  ``NotFound``).
- A finished or read-only session refuses a call with ``StorageError`` before its arguments are
  checked. :mod:`custrec.storage.checks` has these checks for backends that want them.
- A session reads its own writes. Activities, ledgers and keys may name customer ids that have no
  customer row (there are no foreign keys between tables).
- Tags keep their order and repeats exactly.
- ``reassign(x, x)`` moves nothing and returns 0.
- A deleted data key must be physically destroyed once its session commits: no file, page or
  log the backend owns may still hold its bytes (crypto-shredding relies on it; SQLite
  overwrites deleted content and truncates its write-ahead log after such a commit).

These are :class:`typing.Protocol` classes: implement them, do not subclass them. The conformance
kit in :mod:`custrec.testing` checks that an implementation keeps every rule stated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from custrec.grading import ActivitySummary
from custrec.storage.types import (
    ActivityRow,
    AuditClaim,
    AuditRecord,
    Capabilities,
    ChangeEvent,
    ChangePage,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    DocumentLink,
    DocumentRow,
    HistoryRecord,
    QueuedAudit,
    WorkFilter,
    WorkRow,
    WrappedKey,
)

__all__ = [
    "ActivityTable",
    "AuditQueue",
    "AuditTable",
    "ChangeTable",
    "ConsentTable",
    "CustomerTable",
    "DocumentTable",
    "HistoryTable",
    "KeyStoreOwner",
    "KeyTable",
    "MetaTable",
    "Session",
    "Store",
    "WorkTable",
]


class CustomerTable(Protocol):
    """Customer rows: one per customer, versioned, with index keys and facets.

    Ordering everywhere is by ``id`` ascending (ids are time-ordered strings), which makes
    keyset pagination with ``after=`` stable.
    """

    def add(self, row: CustomerRow) -> int:
        """Insert a new customer and return its version, which is always 1.

        The ``version`` field of ``row`` is ignored. Raises ``DuplicateKey`` if the id exists.
        """
        ...

    def add_many(self, rows: Sequence[CustomerRow], *, skip_existing: bool = False) -> int:
        """Insert many customers at once (imports); return how many were inserted.

        With ``skip_existing`` rows whose id already exists are skipped (so a re-run of an
        interrupted import is idempotent); otherwise an existing (or repeated) id raises
        ``DuplicateKey`` and nothing is inserted.
        """
        ...

    def get(self, customer_id: str) -> CustomerRow:
        """Return the row; raises ``NotFound``."""
        ...

    def get_many(self, customer_ids: Iterable[str]) -> list[CustomerRow]:
        """Return the existing rows among ``customer_ids``, ordered by id; skip missing ids."""
        ...

    def update(self, row: CustomerRow, *, expected_version: int) -> int:
        """Replace payload, index keys and facets if the stored version is ``expected_version``.

        Returns the new version (``expected_version + 1``). ``row.created_at`` and
        ``row.version`` are ignored (creation time never changes). Raises ``NotFound`` if the
        customer does not exist and ``VersionConflict`` if its version differs.
        """
        ...

    def delete(self, customer_id: str, *, expected_version: int) -> None:
        """Delete the row and its index keys; raises ``NotFound`` or ``VersionConflict``."""
        ...

    def lookup(self, index_key: str) -> list[str]:
        """Return the ids of customers carrying ``index_key``, ordered by id."""
        ...

    def lookup_many(
        self, index_keys: Iterable[str], *, limit: int | None = None
    ) -> dict[str, list[str]]:
        """Return ``{index_key: [ids]}`` for the keys that match at least one customer.

        Each list is ordered by id; repeated keys are looked up once. With ``limit``, a key held
        by at most ``limit`` customers maps to all of them, and a key held by more maps to
        exactly ``limit`` of them, which ones being the backend's choice (the same on every call
        while the data is unchanged): so a caller asking for ``cap + 1`` learns that a key is
        over its cap, and a backend can answer without reading the key's whole posting list.
        ``limit`` must be a positive integer (``ValueError`` otherwise, like every limit).
        """
        ...

    def query(
        self,
        *,
        where: CustomerFilter | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[CustomerRow]:
        """Return up to ``limit`` rows matching ``where`` with id greater than ``after``, by id.

        ``limit`` must be positive (``ValueError`` otherwise).
        """
        ...

    def count(self, *, where: CustomerFilter | None = None) -> int:
        """Count the rows matching ``where``."""
        ...

    def group_count(
        self, by: Sequence[str], *, where: CustomerFilter | None = None
    ) -> dict[tuple[str | None, ...], int]:
        """Count the rows matching ``where`` per group: ``{(value, ...): count}``.

        ``by`` names one or two groupings (``ValueError`` for none, more than two, a repeat, an
        empty name or one holding ``=``). A name in :data:`~custrec.storage.types.GROUP_COLUMNS`
        groups by that column (``None`` for a row whose column is ``None``); ``"tag"`` groups
        by tag; any other name groups by the values of the row's facets of that name (the
        text after ``<name>=``). A row with several values of a grouping counts once in each
        of its groups (once per distinct value: repeated tags count once), and a row with no
        value in the group ``None``; with two names a row counts once in each pair of its
        values. Groups with a count of zero are left out. SQL backends compute this with
        ``GROUP BY``, never by reading the rows into the application.
        """
        ...

    def count_by_period(
        self,
        edges: Sequence[datetime],
        *,
        field: str = "created_at",
        where: CustomerFilter | None = None,
    ) -> list[int]:
        """Count the rows matching ``where`` per period: ``counts[i]`` is the number whose
        ``field`` (one of :data:`~custrec.storage.types.PERIOD_FIELDS`) is at or after
        ``edges[i]`` and before ``edges[i + 1]``.

        ``edges`` are at least two strictly increasing, timezone-aware instants
        (``ValueError`` otherwise; at most 10,000 of them); the result has ``len(edges) - 1``
        counts. SQL backends count in SQL, reading no row into the application.
        """
        ...


class ActivityTable(Protocol):
    """Transactions and interactions, and per-customer purchase summaries."""

    def add(self, row: ActivityRow) -> None:
        """Insert an activity; raises ``DuplicateKey`` if its id exists."""
        ...

    def add_many(self, rows: Sequence[ActivityRow], *, skip_existing: bool = False) -> int:
        """Insert many activities; return how many were inserted (as ``CustomerTable.add_many``)."""
        ...

    def list_for(
        self,
        customer_id: str,
        *,
        kind: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[ActivityRow]:
        """Return a customer's activities ordered by id (time-ordered), optionally of one kind."""
        ...

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Point every activity of one customer at another (merges); return how many moved."""
        ...

    def summaries(
        self,
        *,
        as_of: datetime,
        after: str | None = None,
        limit: int = 1000,
    ) -> list[ActivitySummary]:
        """Purchase summaries of customers with at least one transaction at or before ``as_of``.

        One summary per (customer, currency), ordered by customer id then currency, for customers
        with id greater than ``after``; at most ``limit`` customers' summaries per call.
        ``first_purchase_at`` / ``last_purchase_at`` are the earliest and latest
        ``occurred_at``, ``purchase_count`` counts every transaction (refunds included) and
        ``total_spent`` sums the amounts exactly. Interactions do not count. SQL backends compute
        this with one ``GROUP BY``.
        """
        ...

    def buyers_by_period(
        self, edges: Sequence[datetime], *, where: CustomerFilter | None = None
    ) -> list[tuple[int, int]]:
        """Buyers and repeat buyers per period: ``result[i]`` is ``(buyers, repeat)`` for the
        transactions with ``edges[i] <= occurred_at < edges[i + 1]`` and an amount above
        zero (refunds and interactions do not count): ``buyers`` is how many distinct
        customers made at least one, ``repeat`` how many made at least two.

        ``edges`` as for :meth:`CustomerTable.count_by_period`. With ``where``, only the
        activities whose customer has a row matching it count (an activity naming no stored
        customer counts only without ``where``). SQL backends compute this in SQL.
        """
        ...


class ConsentTable(Protocol):
    """Consent events per customer; append-only (no update, no delete)."""

    def append(self, record: ConsentRecord) -> int:
        """Append an event and return its sequence number (1, 2, ... per customer).

        ``record.seq`` is ignored; storage assigns it.
        """
        ...

    def list_for(self, customer_id: str, *, after_seq: int = 0) -> list[ConsentRecord]:
        """Return a customer's events with ``seq > after_seq``, in sequence order."""
        ...

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Copy one customer's events to the end of another's ledger (merges); return the count.

        The source ledger is left as it is: append-only tables never lose rows.
        """
        ...


class HistoryTable(Protocol):
    """Field-level change history per customer; append-only."""

    def append(self, records: Sequence[HistoryRecord]) -> list[int]:
        """Append entries (all or none) and return their per-customer sequence numbers."""
        ...

    def list_for(self, customer_id: str, *, after_seq: int = 0) -> list[HistoryRecord]:
        """Return a customer's entries with ``seq > after_seq``, in sequence order."""
        ...


class AuditTable(Protocol):
    """The audit log: one global sequence, append-only."""

    def append(self, records: Sequence[AuditRecord]) -> list[int]:
        """Append entries (all or none) and return their global sequence numbers (1, 2, ...)."""
        ...

    def read(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        customer_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditRecord]:
        """Return up to ``limit`` entries with ``after_seq < seq < before_seq`` matching the
        filters, in sequence order (descending with ``newest_first``: the newest first).

        ``since`` is inclusive, ``until`` exclusive. Filters apply before the limit. Page
        forwards with ``after_seq`` and backwards (``newest_first``) with ``before_seq``.
        """
        ...

    def last(self) -> AuditRecord | None:
        """Return the entry with the highest sequence number, or ``None`` if the log is empty."""
        ...


class AuditQueue(AuditTable, Protocol):
    """The audit log of a backend with ``capabilities.concurrent_writes``: entries are queued
    by the writing sessions without any shared lock and sealed into the log later, one sealer
    at a time (see :mod:`custrec.storage.sealing`).

    The queue is durable like any table: an entry queued by a session that committed stays
    until a sealing session removes it with :meth:`seal` and commits.
    """

    def enqueue(self, records: Iterable[AuditRecord]) -> list[int]:
        """Queue entries (all or none; each ``seq`` is ignored) without waiting for other
        sessions, readers, writers or enqueuers, and return their tickets in order; they
        become visible to others when this session commits."""
        ...

    def queued(self, *, limit: int = 1000) -> list[QueuedAudit]:
        """Return up to ``limit`` committed queued entries (and this session's own), lowest
        ticket first."""
        ...

    def claim(self, *, limit: int = 1000, wait: bool = True) -> AuditClaim | None:
        """Take the log's append lock (the one :meth:`last` takes in a write session) until
        this session ends, and return the log's last entry with up to ``limit`` queued entries
        (as :meth:`queued`, read once the lock is held). With ``wait=False`` return ``None`` at
        once when another session holds the lock; waiting gives up after a bounded time with
        ``StorageError(retry_safe=True)``. A queued row that cannot be decoded comes back as an
        entry whose tag fails (never as an exception). A read-only session refuses with
        ``StorageError``."""
        ...

    def seal(self, records: Iterable[AuditRecord], tickets: Iterable[int]) -> None:
        """After :meth:`claim` in the same session (the lock is taken here if it was not):
        append ``records`` with the seqs they carry and remove the queued entries ``tickets``,
        all or none. ``ValueError`` when the seqs are not consecutive; ``StorageError`` when
        they do not follow the log's last entry or a ticket is not queued (another sealer took
        it); nothing is written then."""
        ...


class KeyTable(Protocol):
    """Wrapped per-customer data keys. Deleting one makes the customer's payloads unreadable."""

    def put(self, key: WrappedKey) -> None:
        """Store a new wrapped key; raises ``DuplicateKey`` if the customer already has one."""
        ...

    def put_many(self, keys: Sequence[WrappedKey]) -> None:
        """Store new wrapped keys, all or none (in one statement where the backend can).

        Raises ``DuplicateKey`` if a customer already has a key or appears twice in ``keys``;
        nothing is stored then.
        """
        ...

    def get(self, customer_id: str) -> WrappedKey:
        """Return the customer's wrapped key; raises ``NotFound``."""
        ...

    def replace(self, key: WrappedKey) -> None:
        """Overwrite an existing wrapped key (master-key rotation); raises ``NotFound``."""
        ...

    def delete(self, customer_id: str) -> bool:
        """Destroy the customer's key; return whether one existed."""
        ...

    def list(self, *, after: str | None = None, limit: int = 1000) -> list[WrappedKey]:
        """Return keys ordered by customer id, for ids greater than ``after``."""
        ...


class MetaTable(Protocol):
    """Named values about the store itself (not about customers): a few small blobs.

    The registry keeps the fingerprint of the keyring that wrote the store here, and in a key
    store the signed head of the audit chain. Names are non-empty text; values are bytes.
    """

    def get(self, name: str) -> bytes | None:
        """Return the value stored under ``name``, or ``None``."""
        ...

    def put(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name``, replacing any earlier value."""
        ...


class WorkTable(Protocol):
    """Service cases and tasks, versioned, with lists by due time that never read every row.

    A backend keeps an index on ``due_at`` (over open rows) so that :meth:`due` reads only the
    rows it returns (and those its filter skips on the way); ordering is by ``id`` in
    :meth:`query` and by ``(due_at, id)`` in :meth:`due`.
    """

    def add(self, row: WorkRow) -> int:
        """Insert a new case or task and return its version, 1; ``DuplicateKey`` if the id
        exists. ``row.version`` is ignored."""
        ...

    def add_many(self, rows: Sequence[WorkRow], *, skip_existing: bool = False) -> int:
        """Insert many rows at once; return how many were inserted (as
        ``CustomerTable.add_many``: with ``skip_existing`` an existing id is skipped, which makes
        generating recurring tasks with deterministic ids idempotent)."""
        ...

    def get(self, work_id: str) -> WorkRow:
        """Return the row; raises ``NotFound``."""
        ...

    def update(self, row: WorkRow, *, expected_version: int) -> int:
        """Replace everything but ``id``, ``kind`` and ``created_at`` if the stored version is
        ``expected_version``; return the new version (``row.version`` is ignored).
        ``NotFound``, ``VersionConflict``."""
        ...

    def query(
        self, *, where: WorkFilter | None = None, after: str | None = None, limit: int = 100
    ) -> list[WorkRow]:
        """Return up to ``limit`` rows matching ``where`` with id greater than ``after``, by id."""
        ...

    def due(
        self,
        *,
        before: datetime,
        where: WorkFilter | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[WorkRow]:
        """Return up to ``limit`` open rows with a ``due_at`` earlier than ``before`` (exclusive)
        that match ``where``, ordered by ``(due_at, id)`` and strictly after the ``(due_at, id)``
        pair ``after`` (keyset paging). Closed rows and rows without ``due_at`` never appear
        (so ``where.open=False`` lists nothing). Instants compare as instants, whatever their
        time zone; ``after`` is a tuple of an aware datetime and an id (``ValueError``)."""
        ...

    def count(self, *, where: WorkFilter | None = None) -> int:
        """Count the rows matching ``where``."""
        ...

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Point every case and task of one customer at another (merges); return how many moved.
        Versions do not change."""
        ...


class ChangeTable(Protocol):
    """The change feed: append-only, one event per committed change, read in the feed's order.

    :meth:`since` pages the feed with an opaque text cursor: a reader that resumes each call at
    the cursor the previous one returned sees every committed event exactly once, in the feed's
    order, across sessions, processes and restarts, whatever the writers do concurrently. An
    event becomes visible when its session commits; a rolled-back session's events never
    appear.

    The feed's order: the events of one session come together, in append order, and a session
    that began after another had committed comes after it. Where writers take turns (MemoryStore,
    SQLite) that is the commit order. A backend whose writers run in parallel may order
    sessions that overlapped otherwise (PostgreSQL: by transaction id, the order of their first
    writes), and may hold back events committed after a session that is still running until it
    ends, so that nothing is skipped.
    """

    def append(self, events: Sequence[ChangeEvent]) -> list[int]:
        """Append events (all or none) and return the ``seq`` storage gave each (``seq`` of
        the arguments is ignored)."""
        ...

    def since(self, cursor: str | None = None, *, limit: int = 1000) -> ChangePage:
        """Return up to ``limit`` committed events after ``cursor`` (``None``: from the
        start), in the feed's order, and the cursor to resume after them (the same cursor when
        there is nothing new). ``ValueError`` for a cursor this backend did not make (any
        other text, or not text). Read it in a read-only session: whether a write session sees
        its own uncommitted events here is not specified."""
        ...


class DocumentTable(Protocol):
    """Compliance documents and their per-customer links, versioned (compare-and-set).

    A document is identified by ``(kind, id)``, a link by ``(kind, document_id,
    customer_id)``; ``kind`` is free text the caller chooses (the registry uses
    ``recipient``, ``disclosure``, ``incident`` and ``sampling``). Lists are ordered by id
    (documents) and by customer id (a document's links) and page with ``after``; a backend
    keeps indexes so that a list reads only the rows it returns (and those its filter skips),
    and :meth:`links_for` reads only the customer's links.
    """

    def add(self, row: DocumentRow) -> int:
        """Insert a new document and return its version, 1; ``DuplicateKey`` if ``(kind, id)``
        exists. ``row.version`` is ignored."""
        ...

    def get(self, kind: str, document_id: str) -> DocumentRow:
        """Return the document; raises ``NotFound``."""
        ...

    def get_many(self, kind: str, document_ids: Iterable[str]) -> list[DocumentRow]:
        """Return the stored documents of ``kind`` among ``document_ids``, each once, by id
        (the missing ones left out); a few statements however many ids."""
        ...

    def update(self, row: DocumentRow, *, expected_version: int) -> int:
        """Replace ``tag``, ``updated_at`` and ``payload`` if the stored version is
        ``expected_version``; return the new version. ``NotFound``, ``VersionConflict``."""
        ...

    def link(self, links: Sequence[DocumentLink]) -> int:
        """Insert new links (version 1 each) and return how many; ``DuplicateKey`` (and
        nothing written) if any of them exists already or two of them are the same."""
        ...

    def get_link(self, kind: str, document_id: str, customer_id: str) -> DocumentLink:
        """Return one link; raises ``NotFound``."""
        ...

    def update_link(self, link: DocumentLink, *, expected_version: int) -> int:
        """Replace a link's ``state``, ``updated_at`` and ``payload`` if its stored version is
        ``expected_version``; return the new version. ``NotFound``, ``VersionConflict``."""
        ...

    def links(
        self,
        kind: str,
        document_id: str,
        *,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[DocumentLink]:
        """Return up to ``limit`` links of one document (in ``state``, when given) whose
        customer id is greater than ``after``, by customer id."""
        ...

    def count_links(self, kind: str, document_id: str, *, state: str | None = None) -> int:
        """Count one document's links (in ``state``, when given)."""
        ...

    def links_for(self, customer_id: str, *, kind: str | None = None) -> list[DocumentLink]:
        """Return every link of one customer (of ``kind``, when given), by ``(kind,
        document_id)``."""
        ...

    def reassign(self, from_customer_id: str, to_customer_id: str) -> int:
        """Move every link of one customer to another (a merge) and return how many moved; a
        link whose document already links the other customer is dropped instead (and not
        counted)."""
        ...

    def list(
        self,
        kind: str,
        *,
        tag: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[DocumentRow]:
        """Return up to ``limit`` documents of ``kind`` (with ``tag``, when given) whose id is
        greater than ``after``, by id."""
        ...


class Session(Protocol):
    """A unit of work over all tables. Commit explicitly; anything else rolls back.

    After ``commit()`` or ``rollback()`` the session is finished: further reads, writes and
    ``commit()`` raise ``StorageError``; a further ``rollback()`` does nothing.
    """

    @property
    def customers(self) -> CustomerTable: ...

    @property
    def activities(self) -> ActivityTable: ...

    @property
    def consents(self) -> ConsentTable: ...

    @property
    def history(self) -> HistoryTable: ...

    @property
    def audit(self) -> AuditTable: ...

    @property
    def keys(self) -> KeyTable: ...

    @property
    def meta(self) -> MetaTable: ...

    @property
    def work(self) -> WorkTable: ...

    @property
    def changes(self) -> ChangeTable: ...

    @property
    def documents(self) -> DocumentTable: ...

    def commit(self) -> None:
        """Make every write of this session durable and visible, atomically."""
        ...

    def rollback(self) -> None:
        """Discard every write of this session."""
        ...


class Store(Protocol):
    """A storage backend."""

    @property
    def capabilities(self) -> Capabilities:
        """What optional behaviour this backend offers (the kit skips tests that need more)."""
        ...

    def transaction(self, *, readonly: bool = False) -> AbstractContextManager[Session]:
        """Open a unit of work. ``readonly`` sessions raise ``StorageError`` on any write.

        Leaving the block without ``commit()`` rolls back; an exception inside the block rolls
        back and propagates.
        """
        ...

    def close(self) -> None:
        """Release connections and files. Idempotent."""
        ...


@runtime_checkable
class KeyStoreOwner(Protocol):
    """A store that keeps its customers' wrapped data keys in a store of their own.

    Crypto-shredding only works when the keys live apart from the data that gets backed up:
    the registry uses this key store for data keys (and the erasure journal and audit head)
    when no ``key_store`` is given. :class:`~custrec.backends.SQLiteStore` keeps it in a file
    beside the database.
    """

    def open_key_store(self, *, create: bool = True) -> Store | None:
        """The store that holds this store's data keys, or ``None`` when they live in this
        store. With ``create=False`` a key store that does not exist yet is not made:
        ``NotFound`` is raised instead (a lost key store must not be replaced by an empty one).
        """
        ...
