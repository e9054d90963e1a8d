"""Plain value objects that cross the storage boundary.

They hold no personal data in the clear: payloads are sealed bytes, index keys opaque strings,
and the facets (stage, owner, team, grade, tags, ...) are non-personal by declaration.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

__all__ = [
    "ACTIVITY_KINDS",
    "GROUP_COLUMNS",
    "HIDDEN_STATES",
    "PERIOD_FIELDS",
    "ROW_STATES",
    "WORK_KINDS",
    "ActivityRow",
    "AuditRecord",
    "Capabilities",
    "ChangeEvent",
    "ChangePage",
    "ConsentRecord",
    "CustomerFilter",
    "CustomerRow",
    "DocumentLink",
    "DocumentRow",
    "FacetCondition",
    "HistoryRecord",
    "Reach",
    "WorkFilter",
    "WorkRow",
    "WrappedKey",
    "check_meta_name",
    "group_values",
]

ACTIVITY_KINDS: Final = ("transaction", "interaction")

ROW_STATES: Final = ("live", "archived", "restricted", "erased", "merged")
"""What a customer row can be: a customer in use (``live``), out of active use (``archived``),
restricted to storage (``restricted``), an erasure tombstone (``erased``) or a merge alias
(``merged``). The first three are customers; the last two are not."""

HIDDEN_STATES: Final = frozenset({"erased", "merged"})
"""Row states that hold no customer any more: reads skip them."""


def check_meta_name(name: object) -> str:
    """Return a ``meta`` table name, checked: non-empty text without NUL (``ValueError``)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError("meta names must be non-empty text without NUL characters")
    return name


def _row_state(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in ROW_STATES:
        raise ValueError(f"{attribute.name} must be one of {', '.join(ROW_STATES)}")


_ONLY_STR: Final = frozenset({str})


def _plain(values: Iterable[object]) -> bool:
    """Whether every item is a plain ``str`` (``str()`` of each is the item itself): the set
    of their types holds ``str`` alone, or nothing (no generator per collection)."""
    return {*map(type, values)} <= _ONLY_STR


def _frozenset(values: object) -> frozenset[str]:
    # a collection of plain strings (a row's index keys, tags and facets as the registry builds
    # them) is taken as it is: the same strings str() would give
    if type(values) is frozenset and _plain(values):
        return values
    if (type(values) is set or type(values) is tuple or type(values) is list) and _plain(values):
        return frozenset(typing.cast("Iterable[str]", values))
    if isinstance(values, str):
        return frozenset((values,))
    if not isinstance(values, Iterable):
        raise TypeError("expected an iterable of strings")
    return frozenset(str(v) for v in values)


def _str_tuple(values: object) -> tuple[str, ...]:
    if type(values) is tuple and _plain(values):
        return values
    if type(values) is list and _plain(values):
        return tuple(values)
    if isinstance(values, str):
        return (values,)
    if not isinstance(values, Iterable):
        raise TypeError("expected an iterable of strings")
    return tuple(str(v) for v in values)


def _facet_names(_: object, attribute: attrs.Attribute[frozenset[str]], value: object) -> None:
    assert isinstance(value, frozenset)
    for facet in value:
        if facet.find("=") < 1:
            raise ValueError(f"{attribute.name}: a facet is '<name>=<value>' (got {facet!r})")


@attrs.frozen(kw_only=True)
class Capabilities:
    """Optional behaviour a backend declares; the conformance kit skips what is not offered.

    ``multiprocess``: several processes may use the same database at once (SQLite file,
    PostgreSQL). ``persistent``: data survives closing and reopening the store.
    ``concurrent_reads``: a read-only transaction waits neither for other readers nor for a
    writer, and a writer commits while read-only transactions are open (each reader keeps
    the snapshot it began with). ``concurrent_writes``: write sessions that touch different
    rows run in parallel; the backend's ``session.audit`` is then also a
    :class:`~custrec.storage.protocols.AuditQueue`, and the registry queues audit entries in
    the writing session and seals them into the chain after commit, instead of appending them
    under the log's lock (which would serialise every writer).
    """

    multiprocess: bool = False
    persistent: bool = False
    concurrent_reads: bool = False
    concurrent_writes: bool = False


@attrs.frozen(kw_only=True)
class CustomerRow:
    """A stored customer: sealed payload, index keys and non-personal facets.

    ``version`` is assigned by storage (1 on add, +1 per update). Timestamps are aware UTC
    datetimes supplied by the caller (the registry's clock), never by the backend. ``state`` is
    one of :data:`ROW_STATES` (``ValueError`` otherwise), stored and filterable like a facet.

    ``facets`` are further non-personal values to filter and group by, each one text of the
    form ``"<name>=<value>"`` (``"industry=软件"``, ``"grade.stars=4"``,
    ``"verified_at=2026-03-01T08:00:00.000000Z"``): a name without ``=``, then ``=``, then the
    value. A row may carry several values of one name (product interests) or none. The
    registry chooses value encodings whose code-point order is the order of the values (dates
    and instants as fixed-width ISO text, numbers through
    :func:`custrec.storage.ordered.encode_number`), so a range of a name's values is a range of
    facet text (see :class:`FacetCondition`). A facet without ``=`` raises ``ValueError``.
    """

    id: str
    version: int = 0
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    index_keys: frozenset[str] = attrs.field(factory=frozenset, converter=_frozenset, repr=False)
    kind: str
    stage: str
    state: str = attrs.field(default="live", validator=_row_state)
    owner: str | None = None
    team: str | None = None
    grade: str | None = None
    tags: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    facets: frozenset[str] = attrs.field(
        factory=frozenset, converter=_frozenset, validator=_facet_names
    )
    created_at: datetime
    updated_at: datetime


GROUP_COLUMNS: Final = ("kind", "stage", "state", "owner", "team", "grade")
"""The row columns :meth:`~custrec.storage.protocols.CustomerTable.group_count` groups by
directly; any other name groups by a facet name (see :class:`CustomerRow`)."""

PERIOD_FIELDS: Final = ("created_at", "updated_at")
"""The instants :meth:`~custrec.storage.protocols.CustomerTable.count_by_period` buckets."""


@attrs.frozen(kw_only=True)
class FacetCondition:
    """A condition on a row's :attr:`~CustomerRow.facets`, in one of two forms.

    - ``any_of``: the row carries at least one of these facets (exact text);
    - ``at_least`` and ``below``: the row carries a facet ``f`` with ``at_least <= f < below``
      in code-point order (a range within one facet name: ``at_least="verified_at=2026-01"``,
      ``below="verified_at=2026-02"``).

    Exactly one form is given (``ValueError`` otherwise: an empty ``any_of`` without bounds,
    one bound alone, or both forms at once).
    """

    any_of: frozenset[str] = attrs.field(factory=frozenset, converter=_frozenset)
    at_least: str | None = None
    below: str | None = None

    def __attrs_post_init__(self) -> None:
        ranged = self.at_least is not None or self.below is not None
        if self.any_of and ranged:
            raise ValueError("a facet condition is either any_of or a range, not both")
        if not self.any_of and (self.at_least is None or self.below is None):
            raise ValueError("a facet condition needs any_of, or both at_least and below")

    def matches(self, facets: frozenset[str]) -> bool:
        """Tell whether a row carrying ``facets`` satisfies the condition."""
        if self.any_of:
            return not self.any_of.isdisjoint(facets)
        low, high = self.at_least, self.below
        assert low is not None and high is not None
        return any(low <= f < high for f in facets)


@attrs.frozen(kw_only=True)
class Reach:
    """The rows an actor's access scope reaches: those whose ``owner`` is ``owner`` or whose
    ``team`` is ``team`` (a ``None`` side matches nothing; both ``None``: no row)."""

    owner: str | None = None
    team: str | None = None

    def matches(self, row: CustomerRow) -> bool:
        """Tell whether ``row`` is within reach."""
        return (self.owner is not None and row.owner == self.owner) or (
            self.team is not None and row.team == self.team
        )


def _conditions(values: Iterable[FacetCondition]) -> tuple[FacetCondition, ...]:
    return tuple(values)


def group_values(row: CustomerRow, name: str) -> tuple[str | None, ...]:
    """The distinct values of one grouping of ``row``, as
    :meth:`~custrec.storage.protocols.CustomerTable.group_count` groups it (the reference
    semantics): a column of :data:`GROUP_COLUMNS`, ``"tag"``, or the values of the row's facets
    named ``name``; ``(None,)`` when it has none."""
    if name in GROUP_COLUMNS:
        value: str | None = getattr(row, name)
        return (value,)
    if name == "tag":
        found = set(row.tags)
    else:
        prefix = f"{name}="
        found = {f[len(prefix) :] for f in row.facets if f.startswith(prefix)}
    return tuple(sorted(found)) if found else (None,)


@attrs.frozen(kw_only=True)
class CustomerFilter:
    """Conditions on facets; ``None`` means "any". All given conditions must hold.

    ``tag`` matches customers carrying that tag; ``updated_after`` and ``updated_before``
    (like ``created_after`` and ``created_before``) are exclusive; ``state`` is one of
    :data:`ROW_STATES` and ``states`` a set of them (the row's state is one of the set);
    ``facets`` are :class:`FacetCondition` s that must all hold; ``reach`` limits the rows to
    an access scope (:class:`Reach`).
    """

    kind: str | None = None
    stage: str | None = None
    state: str | None = None
    owner: str | None = None
    team: str | None = None
    grade: str | None = None
    tag: str | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    states: frozenset[str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_frozenset)
    )
    facets: tuple[FacetCondition, ...] = attrs.field(default=(), converter=_conditions)
    reach: Reach | None = None

    def matches(self, row: CustomerRow) -> bool:
        """Tell whether ``row`` satisfies every condition (the reference semantics)."""
        return (
            (self.kind is None or row.kind == self.kind)
            and (self.stage is None or row.stage == self.stage)
            and (self.state is None or row.state == self.state)
            and (self.owner is None or row.owner == self.owner)
            and (self.team is None or row.team == self.team)
            and (self.grade is None or row.grade == self.grade)
            and (self.tag is None or self.tag in row.tags)
            and (self.updated_after is None or row.updated_at > self.updated_after)
            and (self.updated_before is None or row.updated_at < self.updated_before)
            and (self.created_after is None or row.created_at > self.created_after)
            and (self.created_before is None or row.created_at < self.created_before)
            and (self.states is None or row.state in self.states)
            and all(condition.matches(row.facets) for condition in self.facets)
            and (self.reach is None or self.reach.matches(row))
        )


@attrs.frozen(kw_only=True)
class ActivityRow:
    """A stored transaction or interaction.

    ``kind`` is ``"transaction"`` or ``"interaction"``. Transactions must have an ``amount`` (at
    most four decimal places) and a ``currency``, kept plain so that storage can sum them
    (``ValueError`` otherwise); the rest of the activity is in the sealed ``payload``.
    """

    id: str
    customer_id: str
    kind: str
    occurred_at: datetime
    amount: Decimal | None = None
    currency: str | None = None
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class ConsentRecord:
    """A stored consent event; ``seq`` is assigned by storage per customer."""

    customer_id: str
    seq: int = 0
    recorded_at: datetime
    purpose: str
    action: str  # grant, withdraw, object, ...
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class HistoryRecord:
    """One field-level change of one customer; ``seq`` is assigned by storage per customer.

    ``path`` and ``action`` name what changed; the old and new values are in the sealed
    ``payload`` (they are personal data and are shredded with the customer's key).
    """

    customer_id: str
    seq: int = 0
    at: datetime
    actor_id: str
    action: str  # create, update, grade, merge, erase, ...
    path: str
    reason: str | None = None
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class AuditRecord:
    """One audit-log entry; ``seq`` is the global position assigned by storage.

    Entries name customers by id and fields by name, never values. ``chain`` is the HMAC chain
    value computed by the security layer (empty when the log is not chained).
    ``on_behalf_of`` names the actor for whom a system principal acted with rights of its own
    (the retention job carrying out an operator's plan), ``None`` for an actor acting itself.
    """

    seq: int = 0
    at: datetime
    actor_id: str
    action: str
    customer_id: str | None = None
    fields: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    reason: str | None = None
    outcome: str = "ok"
    chain: bytes = b""
    on_behalf_of: str | None = None


@attrs.frozen(kw_only=True)
class QueuedAudit:
    """An audit entry waiting to be sealed into the chain.

    ``ticket`` is assigned by storage on enqueue: unique and increasing in enqueue order, with
    gaps (a rolled-back session's tickets are never reused) and, across concurrent sessions,
    not necessarily in commit order. ``record`` has ``seq`` 0; its ``chain`` holds the tag the
    registry computed when queueing it (:meth:`custrec.security.AuditChain.tag`).
    """

    ticket: int
    record: AuditRecord


@attrs.frozen(kw_only=True)
class AuditClaim:
    """What a sealing session holds once it has the log's lock: the log's last entry
    (``None`` when empty) and queued entries, lowest ticket first."""

    last: AuditRecord | None
    queued: tuple[QueuedAudit, ...]


@attrs.frozen(kw_only=True)
class WrappedKey:
    """A customer's data key, encrypted (wrapped) under the master key ``master_key_id``."""

    customer_id: str
    master_key_id: str
    wrapped: bytes = attrs.field(repr=False)
    created_at: datetime


WORK_KINDS: Final = ("case", "task")
"""What a work row is: a service ``case`` (complaint, inquiry, service request, repair) or a
``task`` (follow-up, return visit, re-verification)."""


@attrs.frozen(kw_only=True)
class WorkRow:
    """A stored service case or task: its sealed record and the plain facets its lists need.

    ``kind`` is one of :data:`WORK_KINDS` (``ValueError`` otherwise). ``open`` tells whether it
    still needs work; ``due_at`` is its next deadline (a task's due instant, a case's next
    response-time target), ``None`` when nothing is due (a closed item, a paused case).
    ``breached`` marks a case that missed a target. ``version`` is assigned by storage (1 on
    add, +1 per update). The facets are non-personal by declaration; everything else (a case's
    description, a task's note) is in the sealed ``payload``.
    """

    id: str
    kind: str = attrs.field(validator=attrs.validators.in_(WORK_KINDS))
    customer_id: str
    version: int = 0
    status: str
    open: bool = True
    assignee: str | None = None
    team: str | None = None
    due_at: datetime | None = None
    breached: bool = False
    created_at: datetime
    updated_at: datetime
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class DocumentRow:
    """A stored compliance document: a third-party recipient, a disclosure, an incident, a
    sampling audit batch, or any other ``kind`` a service keeps.

    ``(kind, id)`` identifies it. ``tag`` is one plain, non-personal key it can be listed by
    (a disclosure's recipient, a sampling batch's import id, an incident's status), ``None``
    when there is none. ``version`` is assigned by storage (1 on add, +1 per update). The
    ``payload`` is opaque bytes: the service decides what it holds and whether it is sealed
    (documents are not tied to one customer, so nothing personal belongs in them; what
    concerns one customer goes in that customer's :class:`DocumentLink`).
    """

    kind: str
    id: str
    version: int = 0
    tag: str | None = None
    created_at: datetime
    updated_at: datetime
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class DocumentLink:
    """What a document says about one customer: a customer in a disclosure, an incident's
    affected customer and the notices sent to them, a sampled record and its check results.

    ``(kind, document_id, customer_id)`` identifies it; ``kind`` is the document's kind.
    ``state`` is a plain, non-personal label the document's links can be listed by
    (``pending``, ``notified``, ``checked``, ...), ``None`` when there is none. ``version``
    is assigned by storage. ``payload`` is opaque bytes, sealed by the service under the
    customer's data key (so erasure shreds it with the customer).
    """

    kind: str
    document_id: str
    customer_id: str
    version: int = 0
    state: str | None = None
    updated_at: datetime
    payload: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class WorkFilter:
    """Conditions on work rows; ``None`` means "any". All given conditions must hold."""

    kind: str | None = None
    open: bool | None = None
    status: str | None = None
    customer_id: str | None = None
    assignee: str | None = None
    team: str | None = None
    breached: bool | None = None

    def matches(self, row: WorkRow) -> bool:
        """Tell whether ``row`` satisfies every condition (the reference semantics)."""
        return (
            (self.kind is None or row.kind == self.kind)
            and (self.open is None or row.open is self.open)
            and (self.status is None or row.status == self.status)
            and (self.customer_id is None or row.customer_id == self.customer_id)
            and (self.assignee is None or row.assignee == self.assignee)
            and (self.team is None or row.team == self.team)
            and (self.breached is None or row.breached is self.breached)
        )


@attrs.frozen(kw_only=True)
class ChangeEvent:
    """One committed change, without personal data: its kind (``customer.update``,
    ``case.open``, ...), the customer, the record it concerns (a case, task or activity id, or
    ``None``), the changed field paths, the actor and the instant.

    ``seq`` identifies the event; storage assigns it on append (unique among committed events,
    never reused once committed; a rolled-back session's numbers may be given again). The
    feed's order (see :class:`~custrec.storage.protocols.ChangeTable`) need not be ``seq``
    order.
    """

    seq: int = 0
    at: datetime
    kind: str
    customer_id: str | None = None
    record_id: str | None = None
    fields: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    actor_id: str


@attrs.frozen(kw_only=True)
class ChangePage:
    """A page of the change feed and the cursor to resume after it (the same cursor when
    nothing new was committed)."""

    events: tuple[ChangeEvent, ...]
    cursor: str
