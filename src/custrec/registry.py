"""The Registry: the service facade a CRM calls.

It takes customers in (normalise, validate, refuse duplicates), reads and finds them, updates
them with a field-level history of every change, records transactions and interactions,
computes activity summaries, and erases customers by destroying their keys, over any
:class:`~custrec.storage.Store`. Every method takes ``actor=``: an access policy decides what the
actor may do and see, and the tamper-evident audit log records every read, write and refusal.

>>> from custrec import Actor, KeyRing, MemoryStore, Registry
>>> registry = Registry(MemoryStore(), keyring=KeyRing.generate())
>>> clerk = Actor(id="u-1", roles={"staff", "unmask"}, team="north")
>>> c = registry.intake({"kind": "individual", "name": "张三",
...                      "contacts": [{"phones": ["138 0013 8000"]}]}, actor=clerk)
>>> c.owner, [found.id for found in registry.find(phone="13800138000", actor=clerk)] == [c.id]
('u-1', True)
>>> c = registry.update(c.id, {"stage": "prospect"}, actor=clerk, reason="first call")
>>> [(ch.path, ch.old, ch.new) for ch in registry.history(c.id, actor=clerk)][-1]
('stage', 'lead', 'prospect')
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import re
import typing
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol, TypedDict, TypeVar, Unpack

try:  # POSIX: serialise processes advancing one file head
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

import attrs

from custrec._clustering import cluster_profiles
from custrec.consent import (
    PURPOSES,
    CaptureChannel,
    ConsentError,
    ConsentEvent,
    ConsentLedger,
    Decision,
    EventKind,
    Evidence,
    GuardianEvidence,
    Jurisdiction,
    LawfulBasis,
    NoticeHistory,
    NoticeVersion,
    PurposeCatalogue,
    SubjectFacts,
)
from custrec.errors import (
    AccessDenied,
    CustrecError,
    DuplicateCustomer,
    Erased,
    InvalidState,
    NotFound,
    StorageError,
    ValidationFailed,
    VersionConflict,
)
from custrec.grading import ActivitySummary, FittablePolicy, GradingPolicy
from custrec.history import FieldChange, diff
from custrec.issues import Issue, ValidationReport
from custrec.matching import (
    BLOCKING_KINDS,
    ClusterRun,
    DuplicateCandidate,
    DuplicateSearch,
    FieldChoice,
    MatchConfig,
    StopKey,
    StrongKey,
    SurvivorshipRules,
    blocking_keys,
    compare,
    identifier_key,
    merge_records,
    profile,
    strong_keys,
)
from custrec.matching import Decision as MatchDecision
from custrec.matching.keys import MatchKey
from custrec.quality import QualityReport, assess
from custrec.records import (
    Customer,
    CustomerKind,
    DataCategory,
    Identifier,
    IdentifierScheme,
    Interaction,
    KindName,
    LifecycleStage,
    RecordState,
    StageName,
    StateName,
    Transaction,
    VerificationStatus,
    personal_fields,
)
from custrec.retention import (
    CLOSED_STAGES,
    PlannedAction,
    RetentionAction,
    RetentionFacts,
    RetentionSchedule,
)
from custrec.security import (
    AccessDecision,
    AccessPolicy,
    Action,
    Actor,
    AuditChain,
    ChainVerification,
    Checkpoint,
    DecryptionFailed,
    KeyRing,
    KeyringFingerprint,
    KeyringMismatch,
    KeyUnavailable,
    Resource,
    RoleBasedPolicy,
    mask_record,
)
from custrec.security.keyring import PLAINTEXT_RECORD, is_plaintext_record
from custrec.serialization import SCHEMA_VERSION, make_converter, structure_with_issues
from custrec.storage import (
    HIDDEN_STATES,
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerFilter,
    CustomerRow,
    HistoryRecord,
    KeyStoreOwner,
    Session,
    Store,
)
from custrec.storage.codec import (
    EncryptingCodec,
    PlaintextCodec,
    RecordCodec,
    Sealer,
)
from custrec.validation import (
    RuleSet,
    normalize_customer,
    normalize_identifier,
    parse_customer,
    validate,
)
from custrec.validation import email as email_format
from custrec.validation import phone as phone_format
from custrec.verification import VerificationOutcome, VerificationResult, Verifier

__all__ = [
    "RETENTION_PRINCIPAL",
    "AuditHead",
    "AuditIntegrityWarning",
    "BulkResult",
    "Change",
    "CustomerFacets",
    "ErasureAction",
    "ErasureReceipt",
    "ErasureUnavailable",
    "FileAuditHead",
    "KeyLayoutWarning",
    "MergeResult",
    "PlaintextStorageWarning",
    "Registry",
    "RegradeReport",
    "RetentionReport",
    "RotationReport",
]

Clock = Callable[[], datetime]

_READONLY_FIELDS: Final = frozenset({"id", "version", "created_at", "updated_at"})
_JOURNAL_ACTION: Final = "erasure.journal"
RETENTION_PRINCIPAL: Final = "custrec:retention"
"""The actor id under which the retention job's effects (archive, review, restrict, erase) are
audited, with ``on_behalf_of`` naming the operator who applied the plan."""
_META_KEYRING: Final = "custrec.keyring"  # the keyring fingerprint record (data store)
_META_LAYOUT: Final = "custrec.keys"  # b"apart" or b"inside" (data store)
_META_KEY_STORE_ID: Final = "custrec.key_store_id"  # the paired key store's id (data store)
_META_STORE_ID: Final = "custrec.store_id"  # a key store's own id
_META_HEAD: Final = "custrec.audit_head"  # the signed head of the data store's chain
_META_PROBE: Final = "custrec.master_probe."  # + master key id: a value wrapped under it
_APART: Final = b"apart"
_INSIDE: Final = b"inside"
_SCAN_BATCH: Final = 500  # raw rows read per step of a filtered scan
_RESTRICTION_ISSUE: Final = Issue(
    path="state",
    code="state.restricted",
    message="a restriction is recorded and lifted through the consent ledger "
    "(restrict and lift_restriction events), not set by an update",
)
_PERSONAL_PATHS: Final = frozenset(f.path for f in personal_fields(Customer))
_INDEX: Final = re.compile(r"\[\d+\]")
MASKED: Final = "***"


class PlaintextStorageWarning(UserWarning):
    """Personal data is being stored without encryption (no keyring was given)."""


class ErasureUnavailable(CustrecError):
    """Erasure needs a keyring: plaintext payloads and history cannot be crypto-shredded."""


class AuditIntegrityWarning(UserWarning):
    """The audit log no longer holds the entry its head names: entries were deleted or altered
    (or the store was restored from a backup). :meth:`Registry.verify_audit` reports it."""


class KeyLayoutWarning(UserWarning):
    """The store keeps its data keys inside the database (written before keys were kept apart):
    a backup of it holds the keys, so erasures are not final in backups. Move them with
    :meth:`Registry.separate_keys`."""


class CustomerFacets(TypedDict, total=False):
    """The facets :meth:`Registry.query`, :meth:`Registry.count` and
    :meth:`Registry.iter_customers` filter on; every one given must hold.

    ``kind``, ``stage`` and ``state`` take the enum or its value (a misspelt value fails type
    checking, and raises ``ValueError`` naming the allowed values at run time); ``owner``,
    ``team``, ``grade`` and ``tag`` exact text; ``updated_after`` and ``updated_before`` are
    exclusive, timezone-aware bounds.
    """

    kind: CustomerKind | KindName
    stage: LifecycleStage | StageName
    state: RecordState | StateName
    owner: str
    team: str
    grade: str
    tag: str
    updated_after: datetime
    updated_before: datetime


_FACETS: Final = tuple(CustomerFacets.__annotations__)
_E = TypeVar("_E", bound=enum.StrEnum)
_K = TypeVar("_K")


def _enum_facet(name: str, value: object, kind: type[_E]) -> str | None:
    if value is None:
        return None
    if isinstance(value, kind):
        return value.value
    allowed = ", ".join(member.value for member in kind)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {kind.__name__} or one of: {allowed}")
    try:
        return kind(value).value
    except ValueError:
        raise ValueError(f"unknown {name} {value!r}; expected one of: {allowed}") from None


def _text_facet(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value


def _facet_filter(facets: Mapping[str, object]) -> CustomerFilter:
    """Check the facets of a query (names, types, enum values) and build the storage filter."""
    unknown = sorted(set(facets) - set(_FACETS))
    if unknown:
        raise TypeError(f"unknown facet {unknown[0]!r}; the facets are: {', '.join(_FACETS)}")
    bounds: dict[str, datetime | None] = {}
    for name in ("updated_after", "updated_before"):
        value = facets.get(name)
        bounds[name] = None if value is None else _aware(value, name)  # type: ignore[arg-type]
    return CustomerFilter(
        kind=_enum_facet("kind", facets.get("kind"), CustomerKind),
        stage=_enum_facet("stage", facets.get("stage"), LifecycleStage),
        state=_enum_facet("state", facets.get("state"), RecordState),
        owner=_text_facet("owner", facets.get("owner")),
        team=_text_facet("team", facets.get("team")),
        grade=_text_facet("grade", facets.get("grade")),
        tag=_text_facet("tag", facets.get("tag")),
        updated_after=bounds["updated_after"],
        updated_before=bounds["updated_before"],
    )


class AuditHead(Protocol):
    """Where the registry keeps the signed head of its audit chain, outside the audited store.

    After every commit that appended audit entries the registry calls :meth:`advance` with a
    checkpoint of the newest entry; :meth:`Registry.verify_audit` checks the log against
    :meth:`read`, so deleting the newest entries is detected. ``advance`` never moves the head
    backwards (concurrent writers may call it out of order) nor onto a log that lost the
    head's entry (so a truncated log that grows again is still caught).
    """

    def read(self) -> Checkpoint | None:
        """The newest head recorded, or ``None``."""
        ...

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        """Record ``checkpoint`` as the head, atomically against other writers: do nothing when
        the recorded head is at the same or a later entry; refuse (return ``False``, record
        nothing) when ``extends(recorded head)`` says the log no longer holds the recorded
        head's entry unchanged; otherwise record it and return ``True``."""
        ...

    def replace(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` whatever the recorded head (after a restore, on purpose)."""
        ...


class FileAuditHead:
    """An :class:`AuditHead` in a JSON file (``Checkpoint.to_dict``), replaced atomically and
    created with mode 0600; concurrent processes serialise on an advisory lock (POSIX)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"FileAuditHead({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The head file."""
        return self._path

    def read(self) -> Checkpoint | None:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read the audit head {self._path}: {exc.strerror}") from None
        return _checkpoint_from_json(text.encode(), str(self._path))

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._locked():
            current = self.read()
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            self._write(checkpoint)
            return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._locked():
            self._write(checkpoint)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._path.with_name(self._path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, checkpoint: Checkpoint) -> None:
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(out, json.dumps(checkpoint.to_dict()).encode())
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temporary, self._path)


class _StoreAuditHead:
    """The head in a key store's ``meta`` table (the default with a separate key store)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def read(self) -> Checkpoint | None:
        with self._store.transaction(readonly=True) as session:
            value = session.meta.get(_META_HEAD)
        return None if value is None else _checkpoint_from_json(value, "the key store")

    def advance(self, checkpoint: Checkpoint, *, extends: Callable[[Checkpoint], bool]) -> bool:
        with self._store.transaction() as session:
            value = session.meta.get(_META_HEAD)
            current = None if value is None else _checkpoint_from_json(value, "the key store")
            if current is not None and current.seq >= checkpoint.seq:
                return True
            if current is not None and not extends(current):
                return False
            session.meta.put(_META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            session.commit()
        return True

    def replace(self, checkpoint: Checkpoint) -> None:
        with self._store.transaction() as session:
            session.meta.put(_META_HEAD, json.dumps(checkpoint.to_dict()).encode())
            session.commit()


def _checkpoint_from_json(value: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_dict(json.loads(value))
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise StorageError(f"the audit head in {where} is malformed: {exc}") from None


@attrs.frozen(kw_only=True)
class Change:
    """One entry of a customer's change history.

    ``action`` is ``create`` (``path`` empty, ``new`` the whole record), ``update`` (one entry
    per changed field path), ``grade`` or ``erase``. ``old`` and ``new`` are JSON-safe values
    and may be personal data: they are hidden from ``repr()`` and masked (``"***"``) for actors
    who may not unmask.
    """

    customer_id: str
    seq: int
    at: datetime
    actor_id: str
    action: str
    path: str
    reason: str | None
    old: Any = attrs.field(repr=False)
    new: Any = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class BulkResult:
    """What :meth:`Registry.intake_many` did.

    ``added`` lists the new ids; ``skipped`` the ids that already existed (an earlier, interrupted
    run); ``rejected`` maps the input position of each invalid item to its report;
    ``duplicates`` maps the input position of each refused duplicate to the ids it collides
    with; ``denied`` maps the position of each item the actor may not create to the reason.
    """

    added: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    rejected: Mapping[int, ValidationReport] = attrs.field(factory=dict)
    duplicates: Mapping[int, tuple[str, ...]] = attrs.field(factory=dict)
    denied: Mapping[int, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ErasureAction:
    """One thing an erasure did: ``target`` (a field path or a table) and ``action``."""

    target: str
    action: str


@attrs.frozen(kw_only=True)
class ErasureReceipt:
    """Proof of an erasure, free of personal data: who, when, why, and what was destroyed."""

    customer_id: str
    erased_at: datetime
    actor_id: str
    reason: str
    actions: tuple[ErasureAction, ...]


@attrs.frozen(kw_only=True)
class MergeResult:
    """What :meth:`Registry.merge` did: the merged survivor (masked unless the actor may unmask),
    the ids now aliases of it, where each field's value came from, and what was moved."""

    customer: Customer
    merged_ids: tuple[str, ...]
    choices: tuple[FieldChoice, ...]
    activities_moved: int
    consent_events_copied: int


@attrs.frozen(kw_only=True)
class RegradeReport:
    """What :meth:`Registry.regrade` did: customers graded, and how many changed grade."""

    policy_id: str
    as_of: datetime
    graded: int
    changed: int
    unchanged: int
    skipped_mixed_currencies: tuple[str, ...] = ()
    skipped_by_consent: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RetentionReport:
    """What :meth:`Registry.apply_retention` did with each action of a plan, by action key.

    ``applied``: carried out now. ``already_applied``: carried out before (nothing done).
    ``not_due``: due after the registry's clock now (a preview plan); left untouched.
    ``superseded``: no longer in the plan the schedule gives now for the customer (its facts
    changed, a legal hold or floor applies, another action took precedence, or the customer was
    erased, merged or removed); left untouched. Re-plan to see what is due instead.
    """

    applied: tuple[str, ...] = ()
    already_applied: tuple[str, ...] = ()
    not_due: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RotationReport:
    """What :meth:`Registry.rotate_master_key` did: keys re-wrapped and keys already current."""

    rewrapped: int
    unchanged: int
    master_key_id: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_actor(actor: object) -> Actor:
    if not isinstance(actor, Actor):
        raise TypeError("actor must be a custrec.Actor")
    return actor


def _check_limit(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _check_reason(reason: object, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"{what} needs a reason")
    return reason


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value


def _is_personal(path: str) -> bool:
    """Tell whether a change path is, or contains, a personal field."""
    if not path:
        return True
    generic = _INDEX.sub("[]", path)
    return any(
        generic == p or p.startswith((generic + ".", generic + "[]")) for p in _PERSONAL_PATHS
    )


class _Op:
    """One unit of work: a session, its sealer, and audit appends chained on commit order.

    Once committed and closed, the registry advances the audit head (when it keeps one) to the
    newest entry this unit of work appended.
    """

    def __init__(self, registry: Registry, session: Session, sealer: Sealer) -> None:
        self.registry = registry
        self.session = session
        self.sealer = sealer
        self.pending: list[AuditRecord] = []
        self.newest: AuditRecord | None = None  # the newest entry appended (for the head)
        self.previous: AuditRecord | None = None  # the log's last entry before this unit of work
        self.committed = False

    def audit(
        self,
        actor: Actor | str,
        action: str,
        *,
        at: datetime,
        customer_id: str | None = None,
        fields: Iterable[str] = (),
        reason: str | None = None,
        outcome: str = "ok",
        on_behalf_of: str | None = None,
    ) -> None:
        self.pending.append(
            AuditRecord(
                at=at,
                actor_id=actor if isinstance(actor, str) else actor.id,
                action=action,
                customer_id=customer_id,
                fields=tuple(fields),
                reason=reason,
                outcome=outcome,
                on_behalf_of=on_behalf_of,
            )
        )

    def flush_audit(self) -> None:
        if self.pending:
            previous, self.newest = self.registry._append_audit(self.session, self.pending)
            if self.newest is not None and self.previous is None:
                self.previous = previous
            self.pending = []

    def commit(self) -> None:
        self.sealer.flush()  # the data keys made in this unit of work, in one write
        self.flush_audit()
        self.session.commit()
        self.committed = True


class Registry:
    """The facade over a store: intake, get, find, query, update with history, erase.

    ``store`` is any :class:`~custrec.storage.Store`. With a ``keyring`` every personal field is
    encrypted under a per-customer data key, identifiers are blind-indexed and the audit log is
    HMAC-chained. The wrapped data keys live apart from the data when the store offers a key
    store (:class:`~custrec.backends.SQLiteStore` keeps one in a file beside the database) or
    ``key_store`` names one; otherwise in ``store`` itself (then a backup of the store holds
    the keys). Without a keyring documents are stored as plain JSON (a
    :class:`PlaintextStorageWarning` says so) and erasure is unavailable.

    Opening checks that the keyring is the one that wrote the store: the store records the
    fingerprint of its audit and index keys on first use (never the keys), and a keyring
    whose keys differ, whose master keys cannot unwrap the stored data keys, or a key store
    that belongs to another database raise :class:`~custrec.security.KeyringMismatch` before
    anything is written (so does a keyring for a plain store, or none for an encrypted one).

    ``audit_head`` keeps the signed head of the audit chain outside the store, advanced after
    every commit, so that :meth:`verify_audit` detects deleted newest entries: by default the
    key store when there is one; pass a file path (or any :class:`AuditHead`) otherwise.
    ``policy`` decides who may do what (default: :class:`RoleBasedPolicy`); ``rules`` replaces
    the default validation rules; ``clock`` (returning aware datetimes) is injected for
    deterministic tests; ``region`` is the default phone region. ``jurisdiction`` (PIPL by
    default), ``purposes`` (the consent purpose catalogue) and ``notices`` (the privacy notice
    history, for re-consent after a material change) drive consent decisions; ``retention``
    is the schedule used by :meth:`plan_retention` and :meth:`apply_retention`.
    """

    def __init__(
        self,
        store: Store,
        *,
        keyring: KeyRing | None = None,
        key_store: Store | None = None,
        audit_head: AuditHead | str | os.PathLike[str] | None = None,
        policy: AccessPolicy | None = None,
        rules: RuleSet | None = None,
        clock: Clock | None = None,
        region: str = "CN",
        jurisdiction: Jurisdiction = Jurisdiction.PIPL,
        purposes: PurposeCatalogue = PURPOSES,
        notices: NoticeHistory | None = None,
        retention: RetentionSchedule | None = None,
        matching: MatchConfig | None = None,
        review_intake: bool = False,
    ) -> None:
        if matching is not None and not isinstance(matching, MatchConfig):
            raise TypeError("matching must be a custrec.matching.MatchConfig")
        self._matching = matching or MatchConfig()
        self._review_intake = bool(review_intake)
        self._digest_key = os.urandom(32)  # for StopKey digests: stable per registry only
        self._store = store
        self._jurisdiction = Jurisdiction(jurisdiction)
        self._purposes = purposes
        self._notices = notices
        self._retention = retention
        self._rules = rules
        self._clock = clock or _utc_now
        self._region = region
        self._policy: AccessPolicy = policy if policy is not None else RoleBasedPolicy()
        self._keyring = keyring
        self._chain: AuditChain | None = None
        self._codec: RecordCodec
        self._head: AuditHead | None = None
        self._key_store: Store | None = None
        if keyring is None:
            if key_store is not None:
                raise ValueError("a key store needs a keyring")
            if audit_head is not None:
                raise ValueError("an audit head needs a keyring (the log is chained only then)")
            warnings.warn(
                "custrec Registry without a keyring stores personal data as plain JSON; "
                "use it for tests and demos only",
                PlaintextStorageWarning,
                stacklevel=2,
            )
            self._codec = PlaintextCodec()
            self._open_plaintext()
        else:
            if not isinstance(keyring, KeyRing):
                raise TypeError("keyring must be a custrec.security.KeyRing")
            self._chain = keyring.audit_chain()
            self._key_store = self._open_keyed(keyring, key_store)
            self._codec = EncryptingCodec(keyring, key_store=self._key_store)
            self._head = self._make_head(audit_head)
        self._converter = make_converter()

    # ------------------------------------------------------------------------------ opening

    def _open_plaintext(self) -> None:
        """Refuse an encrypted store; record that this one is plain on first use."""
        with self._store.transaction(readonly=True) as session:
            record = session.meta.get(_META_KEYRING)
            keyed = record is None and _written_with_keys(session)
        if record is not None:
            if not is_plaintext_record(record):
                raise KeyringMismatch(
                    "this store was written with a keyring; open it with the keyring it was "
                    "created with"
                )
            return
        if keyed:
            raise KeyringMismatch(
                "this store holds encrypted data (its audit log is chained); open it with the "
                "keyring it was created with"
            )
        self._record_meta(self._store, {_META_KEYRING: PLAINTEXT_RECORD})

    def _open_keyed(self, keyring: KeyRing, given: Store | None) -> Store | None:
        """Check the keyring against the store (its fingerprint, its master keys), choose where
        data keys live and pair the key store with the store; only when every check has passed,
        record what is new. Returns the key store (``None`` when keys live in the store)."""
        store = self._store
        fingerprint = keyring.fingerprint()
        with store.transaction(readonly=True) as session:
            record = session.meta.get(_META_KEYRING)
            layout = session.meta.get(_META_LAYOUT)
            paired = session.meta.get(_META_KEY_STORE_ID)
            keys_inside = bool(session.keys.list(limit=1))
            first = session.audit.read(limit=1)
        if record is None:
            if first and not (first[0].chain and keyring.audit_chain().verify(first).ok):
                raise KeyringMismatch(
                    "these keys did not write this store (its audit log does not verify with "
                    "them); use the keys the store was created with"
                )
            new_record: bytes | None = fingerprint.to_record()
        else:
            new_record = fingerprint.check(record)
        other = given if given is not None and given is not store else None
        chosen = layout
        key_store: Store | None = None
        if chosen is None:
            if keys_inside or given is store:
                chosen = _INSIDE
            elif other is not None:
                chosen = _APART
            else:
                key_store = _own_key_store(store, create=True)
                chosen = _INSIDE if key_store is None else _APART
        if chosen == _INSIDE:
            if other is not None:
                raise KeyringMismatch(
                    "this store keeps its data keys inside it; move them to a key store with "
                    "Registry.separate_keys() before passing key_store="
                )
            if given is None and _has_own_key_store(store):
                warnings.warn(
                    "this store keeps its data keys inside the database, so a backup of it "
                    "holds them and erasures are not final in backups; move them apart with "
                    "Registry.separate_keys()",
                    KeyLayoutWarning,
                    stacklevel=3,
                )
        else:
            if given is store:
                raise KeyringMismatch(
                    "this store keeps its data keys in a separate key store; pass that store "
                    "as key_store= (not the store itself)"
                )
            if key_store is None:
                key_store = other if other is not None else _own_key_store(store, create=False)
            if key_store is None:
                raise KeyringMismatch(
                    "this store keeps its data keys in a separate key store; pass it as key_store="
                )
        key_store_id: bytes | None = None
        new_id = False
        if key_store is not None:
            with key_store.transaction(readonly=True) as session:
                key_store_id = session.meta.get(_META_STORE_ID)
            if key_store_id is None:
                if paired is not None:
                    raise KeyringMismatch(
                        "this key store belongs to another database (it is new, but this store "
                        "was paired with one before); use the key store created with it"
                    )
                key_store_id, new_id = os.urandom(16).hex().encode(), True
            elif paired is not None and paired != key_store_id:
                raise KeyringMismatch(
                    "this key store belongs to another database (its id differs from the one "
                    "this store was paired with); use the key store created with it"
                )
        source = key_store if key_store is not None else store
        probe = _check_master_keys(keyring, source)
        # every check has passed: record what is new, the key store's part first
        key_values: dict[str, bytes] = {}
        if new_id and key_store_id is not None:
            key_values[_META_STORE_ID] = key_store_id
        if probe is not None:
            key_values[probe[0]] = probe[1]
        if key_store is not None and key_values:
            self._record_meta(key_store, key_values)
        writes: dict[str, bytes] = {} if key_store is not None else key_values
        if new_record is not None:
            writes[_META_KEYRING] = new_record
        if layout is None:
            writes[_META_LAYOUT] = chosen
        if key_store is not None and paired is None and key_store_id is not None:
            writes[_META_KEY_STORE_ID] = key_store_id
        if writes:
            self._record_meta(store, writes, fingerprint=fingerprint)
        return key_store

    @staticmethod
    def _record_meta(
        store: Store,
        values: Mapping[str, bytes],
        *,
        fingerprint: KeyringFingerprint | None = None,
    ) -> None:
        """Write meta values first seen by this registry, checking them again under the write
        lock (another process may have recorded them meanwhile)."""
        with store.transaction() as session:
            for name, value in values.items():
                current = session.meta.get(name)
                if current is not None and name == _META_KEYRING and fingerprint is not None:
                    update = fingerprint.check(current)
                    if update is not None:
                        session.meta.put(name, update)
                elif current is None:
                    session.meta.put(name, value)
                elif current != value and not name.startswith(_META_PROBE):
                    raise KeyringMismatch(
                        f"the store's {name} changed while it was being opened; open it again"
                    )
            session.commit()

    def _make_head(self, given: AuditHead | str | os.PathLike[str] | None) -> AuditHead | None:
        if given is None:
            return _StoreAuditHead(self._key_store) if self._key_store is not None else None
        if isinstance(given, str | os.PathLike):
            return FileAuditHead(given)
        if not (
            callable(getattr(given, "read", None)) and callable(getattr(given, "advance", None))
        ):
            raise TypeError("audit_head must be a path or an AuditHead (read() and advance())")
        return given

    def _advance_head(self, newest: AuditRecord, previous: AuditRecord | None) -> None:
        """Move the audit head to ``newest`` (just committed) if the log still holds the entry
        the head names; a head left behind only warns: the data is committed, and the head
        then keeps pointing at what ``verify_audit`` will report."""
        if self._head is None or self._chain is None:
            return

        def extends(head: Checkpoint) -> bool:
            if previous is not None and previous.seq == head.seq:
                return hmac.compare_digest(bytes(previous.chain), bytes(head.chain))
            with self._store.transaction(readonly=True) as session:
                found = session.audit.read(after_seq=head.seq - 1, limit=1)
            return (
                bool(found)
                and found[0].seq == head.seq
                and hmac.compare_digest(bytes(found[0].chain), bytes(head.chain))
            )

        try:
            moved = self._head.advance(self._chain.checkpoint(newest), extends=extends)
        except (StorageError, OSError) as exc:
            warnings.warn(
                f"custrec: the audit head could not be advanced ({exc})", RuntimeWarning, 2
            )
            return
        if not moved:
            warnings.warn(
                "custrec: the audit log no longer holds the entry its head names (entries were "
                "deleted or altered, or the store was restored from a backup); the head stays "
                "there and verify_audit() reports it: after investigating, acknowledge with "
                "reset_audit_head()",
                AuditIntegrityWarning,
                2,
            )

    # ----------------------------------------------------------------------------- helpers

    @property
    def store(self) -> Store:
        """The underlying store."""
        return self._store

    @property
    def encrypted(self) -> bool:
        """Whether personal data is encrypted at rest (a keyring was given)."""
        return self._codec.encrypted

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the registry clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    @contextmanager
    def _op(self, *, readonly: bool = False) -> Iterator[_Op]:
        """A unit of work; once its session is closed, the audit head moves to what it
        committed (also when the block then raises, as a refusal does after its audit)."""
        op: _Op | None = None
        try:
            with self._store.transaction(readonly=readonly) as session:
                op = _Op(self, session, self._codec.begin(session))
                yield op
        finally:
            if op is not None and op.committed and op.newest is not None:
                self._advance_head(op.newest, op.previous)

    def _append_audit(
        self, session: Session, entries: Sequence[AuditRecord]
    ) -> tuple[AuditRecord | None, AuditRecord]:
        """Append entries, numbered after the last one and HMAC-chained when keyed; return the
        entry they follow (``None`` for the first) and the newest as stored."""
        last = session.audit.last()
        first = 1 if last is None else last.seq + 1
        numbered = [attrs.evolve(e, seq=first + i) for i, e in enumerate(entries)]
        if self._chain is not None:
            values = self._chain.link_all(numbered, previous=last)
            numbered = [attrs.evolve(e, chain=v) for e, v in zip(numbered, values, strict=True)]
        seqs = session.audit.append(numbered)
        if list(seqs) != [e.seq for e in numbered]:
            raise StorageError("the audit table assigned unexpected sequence numbers")
        return last, numbered[-1]

    def _authorize(
        self,
        op: _Op,
        actor: Actor,
        action: Action,
        resource: Resource,
        *,
        at: datetime,
    ) -> AccessDecision:
        """Return the policy's decision; on denial audit it, commit that, and raise."""
        decision = self._policy.decide(actor, action, resource)
        if decision.allowed:
            return decision
        op.audit(
            actor,
            f"denied.{action.value}",
            at=at,
            customer_id=resource.customer_id,
            reason=decision.reason,
            outcome="denied",
        )
        op.commit()
        target = f" customer {resource.customer_id}" if resource.customer_id else ""
        raise AccessDenied(f"actor {actor.id} may not {action.value}{target} ({decision.reason})")

    def _document(self, record: Any) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "data": self._converter.unstructure(record)}

    def _open(
        self, op: _Op, record_type: type, row_id: str, customer_id: str, payload: bytes
    ) -> Any:
        record_id = None if record_type is Customer else row_id
        document = op.sealer.open_record(
            record_type, payload, customer_id=customer_id, record_id=record_id
        )
        if "erased" in document:
            raise Erased(customer_id)
        if document.get("schema_version") != SCHEMA_VERSION:
            raise StorageError(f"customer {customer_id}: unsupported schema version")
        return self._converter.structure(document.get("data"), record_type)

    def _customer(self, op: _Op, row: CustomerRow) -> Customer:
        if _is_tombstone(row.payload):
            raise Erased(row.id)
        target = _alias_target(row.payload)
        if target is not None:
            raise InvalidState(f"customer {row.id} was merged into customer {target}")
        customer = typing.cast(Customer, self._open(op, Customer, row.id, row.id, row.payload))
        return attrs.evolve(customer, version=row.version)

    def _row(
        self,
        op: _Op,
        customer: Customer,
        *,
        new: bool = False,
        tokens: dict[MatchKey, tuple[str, ...]] | None = None,
        payload: bytes | None = None,
        index_keys: frozenset[str] | None = None,
    ) -> CustomerRow:
        """The stored row of ``customer``; ``payload`` and ``index_keys`` when already made
        (by a bulk intake, which seals and indexes a whole chunk in one pass)."""
        if customer.created_at is None or customer.updated_at is None:
            raise ValueError("stored customers need created_at and updated_at")
        if payload is None:
            payload = op.sealer.seal_record(
                Customer, self._document(customer), customer_id=customer.id, new_customer=new
            )
        return CustomerRow(
            id=customer.id,
            version=customer.version,
            payload=payload,
            index_keys=(
                self._index_keys(customer, tokens=tokens) if index_keys is None else index_keys
            ),
            kind=customer.kind.value,
            stage=customer.stage.value,
            state=customer.state.value,
            owner=customer.owner,
            team=customer.team,
            grade=customer.grade,
            tags=customer.tags,
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )

    def _index_keys(
        self, customer: Customer, *, tokens: dict[MatchKey, tuple[str, ...]] | None = None
    ) -> frozenset[str]:
        """The index tokens of a customer: strong identifiers, and blocking keys if enabled.

        ``tokens`` holds look-up tokens already computed for some keys (by :meth:`_collisions`):
        the first of them is the current index key, so it is reused instead of computed again.
        """
        keys: frozenset[MatchKey] = strong_keys(customer)
        if self._matching.blocking:
            keys = keys | blocking_keys(customer)
        known = tokens or {}
        return frozenset(known[k][0] if k in known else self._codec.index_key(k) for k in keys)

    def _live_row(self, op: _Op, customer_id: str) -> CustomerRow:
        """The row of ``customer_id``, following merge aliases to the surviving customer."""
        row = op.session.customers.get(customer_id)
        for _ in range(_MAX_ALIAS_HOPS):
            target = _alias_target(row.payload)
            if target is None:
                return row
            row = op.session.customers.get(target)
        raise StorageError(f"customer {customer_id}: merge aliases form a loop")

    def _shown(self, decision: AccessDecision, customer: Customer) -> Customer:
        return mask_record(customer) if decision.masked else customer

    def _read_audit(
        self,
        op: _Op,
        actor: Actor,
        decision: AccessDecision,
        customer: Customer,
        at: datetime,
        *,
        purpose: str | None = None,
    ) -> None:
        if decision.masked:
            op.audit(actor, "customer.read", at=at, customer_id=customer.id, reason=purpose)
        else:
            fields = self._codec_paths(customer)
            op.audit(
                actor,
                "customer.unmask",
                at=at,
                customer_id=customer.id,
                fields=fields,
                reason=purpose,
            )

    def _codec_paths(self, customer: Customer) -> list[str]:
        """The concrete personal field paths holding a value (what an unmasked read reveals)."""
        data = self._converter.unstructure(customer)
        paths: list[str] = []
        for field in personal_fields(Customer):
            paths.extend(_concrete_paths(data, field.path))
        return paths

    def _collisions(
        self,
        op: _Op,
        keys: Iterable[StrongKey],
        *,
        exclude: str | None = None,
        tokens: dict[MatchKey, tuple[str, ...]] | None = None,
    ) -> tuple[list[str], list[str]]:
        """Return (existing ids, kinds of key that matched) for the given strong keys.

        The look-up tokens of each key are added to ``tokens`` when given, so that the row
        written next (:meth:`_row`) does not compute them again.
        """
        table = tokens if tokens is not None else {}
        keys = list(keys)
        for key in keys:
            table[key] = self._codec.lookup_keys(key)
        found = op.session.customers.lookup_many(t for key in keys for t in table[key])
        return self._matched(keys, table, found, exclude=exclude)

    @staticmethod
    def _matched(
        keys: Iterable[StrongKey],
        tokens: Mapping[MatchKey, tuple[str, ...]],
        found: Mapping[str, Sequence[str]],
        *,
        exclude: str | None = None,
    ) -> tuple[list[str], list[str]]:
        """(ids, kinds) of the stored customers ``found`` under the tokens of ``keys``."""
        ids: set[str] = set()
        kinds: set[str] = set()
        for key in keys:
            for token in tokens[key]:
                others = [i for i in found.get(token, ()) if i != exclude]
                if others:
                    ids.update(others)
                    kinds.add(key[0])
        return sorted(ids), sorted(kinds)

    def _reviewed(self, customer: Customer, review: bool | None) -> Customer:
        if self._review_intake if review is None else review:
            return attrs.evolve(customer, verification=VerificationStatus.PENDING_REVIEW)
        return customer

    def _prepare(self, data: Mapping[str, Any] | Customer, now: datetime, actor: Actor) -> Customer:
        if isinstance(data, Customer):
            record: Customer | None = normalize_customer(data, region=self._region)
            report = validate(record, self._rules, as_of=now, region=self._region)
        elif isinstance(data, Mapping):
            result = parse_customer(data, region=self._region, rules=self._rules, as_of=now)
            record, report = result.record, result.report
        else:
            raise TypeError("intake() takes a mapping or a Customer")
        if not report.ok or record is None:
            raise ValidationFailed(report)
        if record.state is RecordState.RESTRICTED:
            raise ValidationFailed(ValidationReport((_RESTRICTION_ISSUE,)))
        return attrs.evolve(
            record,
            version=0,
            owner=record.owner or actor.id,
            team=record.team or actor.team,
            created_at=record.created_at or now,
            updated_at=now,
        )

    def _history(
        self,
        op: _Op,
        customer_id: str,
        change: FieldChange,
        actor: Actor,
        reason: str | None,
        now: datetime,
        *,
        action: str,
    ) -> HistoryRecord:
        payload = op.sealer.seal_value(
            {"old": change.old, "new": change.new},
            customer_id=customer_id,
            field=f"history:{change.path}",
        )
        return HistoryRecord(
            customer_id=customer_id,
            at=now,
            actor_id=actor.id,
            action=action,
            path=change.path,
            reason=reason,
            payload=payload,
        )

    def _creation(
        self, row: CustomerRow, actor: Actor, reason: str | None, now: datetime
    ) -> HistoryRecord:
        """The first history entry: it holds the record as first stored, sealed exactly like
        the row (the same bytes, so intake seals each customer once)."""
        return HistoryRecord(
            customer_id=row.id,
            at=now,
            actor_id=actor.id,
            action="create",
            path="",
            reason=reason,
            payload=row.payload,
        )

    # ------------------------------------------------------------------------------ intake

    def intake(
        self,
        data: Mapping[str, Any] | Customer,
        *,
        actor: Actor,
        reason: str | None = "intake",
        allow_duplicates: bool = False,
        review: bool | None = None,
    ) -> Customer:
        """Take a new customer in and return it as stored (``version == 1``).

        ``data`` is a raw mapping (normalised and validated as by
        :func:`~custrec.validation.parse_customer`) or a :class:`~custrec.records.Customer`.
        A customer without an owner is owned by the actor (and the actor's team). Raises
        :class:`~custrec.errors.ValidationFailed` (carrying the report) for invalid data,
        :class:`~custrec.errors.AccessDenied` if the actor may not create it,
        :class:`~custrec.errors.DuplicateCustomer` when a stored customer shares a phone,
        e-mail, credit code, resident id, passport or external id (unless ``allow_duplicates``),
        and ``DuplicateKey`` if the id is taken. The record, its first history entry and its
        audit entry are written in one transaction. The result is masked unless the actor may
        unmask. With ``review`` (default: the registry's ``review_intake``) the record enters as
        ``pending_review`` until :meth:`approve` or :meth:`reject`.
        """
        actor = _check_actor(actor)
        now = self._now()
        customer = self._reviewed(self._prepare(data, now, actor), review)
        with self._op() as op:
            self._authorize(op, actor, Action.CREATE, Resource.of(customer), at=now)
            tokens: dict[MatchKey, tuple[str, ...]] = {}
            if not allow_duplicates:
                ids, kinds = self._collisions(op, strong_keys(customer), tokens=tokens)
                if ids:
                    raise DuplicateCustomer(ids, kinds)
            row = self._row(op, attrs.evolve(customer, version=1), new=True, tokens=tokens)
            version = op.session.customers.add(row)
            stored = attrs.evolve(customer, version=version)
            op.session.history.append([self._creation(row, actor, reason, now)])
            op.audit(actor, "customer.create", at=now, customer_id=stored.id, reason=reason)
            op.commit()
        read = self._policy.decide(actor, Action.READ, Resource.of(stored))
        return self._shown(read, stored)

    def intake_many(
        self,
        items: Iterable[Mapping[str, Any] | Customer],
        *,
        actor: Actor,
        reason: str | None = "import",
        chunk_size: int = 1000,
        allow_duplicates: bool = False,
        review: bool | None = None,
    ) -> BulkResult:
        """Take many customers in, one transaction per chunk of ``chunk_size`` items.

        Invalid items, items the actor may not create and duplicates (against the store, or an
        earlier item of the same run) are reported, not raised; items whose id is already stored
        are skipped, so re-running an interrupted import with the same ids completes it without
        duplicating anything. A crash leaves every chunk either wholly stored or not at all.
        """
        actor = _check_actor(actor)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError("chunk_size must be a positive integer")
        added: list[str] = []
        skipped: list[str] = []
        rejected: dict[int, ValidationReport] = {}
        duplicates: dict[int, tuple[str, ...]] = {}
        denied: dict[int, str] = {}
        seen: dict[StrongKey, str] = {}
        chunk: list[tuple[int, Mapping[str, Any] | Customer]] = []

        def flush() -> None:
            now = self._now()
            prepared: list[tuple[int, Customer]] = []
            for position, item in chunk:
                try:
                    prepared.append(
                        (position, self._reviewed(self._prepare(item, now, actor), review))
                    )
                except ValidationFailed as exc:
                    rejected[position] = exc.report
                except TypeError:
                    rejected[position] = ValidationReport(
                        (Issue(path="", code="type", message="expected a mapping or a Customer"),)
                    )
            with self._op() as op:
                existing = {r.id for r in op.session.customers.get_many(c.id for _, c in prepared)}
                # phase by phase over the chunk: decisions, then every look-up token and one
                # batched look-up, then the rows (tight loops of one kind of work each)
                allowed: list[tuple[int, Customer, frozenset[StrongKey]]] = []
                for position, customer in prepared:
                    if customer.id in existing:
                        skipped.append(customer.id)
                        continue
                    decision = self._policy.decide(actor, Action.CREATE, Resource.of(customer))
                    if not decision.allowed:
                        denied[position] = decision.reason
                        op.audit(
                            actor,
                            "denied.create",
                            at=now,
                            reason=decision.reason,
                            outcome="denied",
                        )
                        continue
                    allowed.append((position, customer, strong_keys(customer)))
                tokens: dict[MatchKey, tuple[str, ...]] = {}
                found: Mapping[str, Sequence[str]] = {}
                if not allow_duplicates:
                    lookup_keys = self._codec.lookup_keys
                    for _, _, keys in allowed:
                        for key in keys:
                            if key not in tokens:
                                tokens[key] = lookup_keys(key)
                    found = op.session.customers.lookup_many(
                        t for looked_up in tokens.values() for t in looked_up
                    )
                accepted: list[Customer] = []
                for position, customer, keys in allowed:
                    if not allow_duplicates:
                        ids, _ = self._matched(keys, tokens, found)
                        ids = sorted(set(ids) | {seen[k] for k in keys if k in seen})
                        if ids:
                            duplicates[position] = tuple(ids)
                            continue
                    for key in keys:
                        seen.setdefault(key, customer.id)
                    accepted.append(attrs.evolve(customer, version=1))
                index_keys = [self._index_keys(c, tokens=tokens) for c in accepted]
                payloads = op.sealer.seal_new_customers(
                    Customer, [c.id for c in accepted], (self._document(c) for c in accepted)
                )
                rows: list[CustomerRow] = []
                histories: list[HistoryRecord] = []
                for customer, keyset, payload in zip(accepted, index_keys, payloads, strict=True):
                    row = self._row(op, customer, payload=payload, index_keys=keyset)
                    rows.append(row)
                    histories.append(self._creation(row, actor, reason, now))
                    op.audit(
                        actor, "customer.create", at=now, customer_id=customer.id, reason=reason
                    )
                    added.append(customer.id)
                op.session.customers.add_many(rows, skip_existing=False)
                if histories:
                    op.session.history.append(histories)
                op.commit()
            chunk.clear()

        for position, item in enumerate(items):
            chunk.append((position, item))
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
        return BulkResult(
            added=tuple(added),
            skipped=tuple(skipped),
            rejected=rejected,
            duplicates=duplicates,
            denied=denied,
        )

    # -------------------------------------------------------------------------------- reads

    def get(self, customer_id: str, *, actor: Actor, purpose: str | None = None) -> Customer:
        """Return the customer, masked unless the actor may unmask; the read is audited.

        Raises :class:`~custrec.errors.NotFound`, :class:`~custrec.errors.AccessDenied` or
        :class:`~custrec.errors.Erased`.
        """
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            decision = self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            customer = self._customer(op, row)
            self._read_audit(op, actor, decision, customer, now, purpose=purpose)
            op.commit()
        return self._shown(decision, customer)

    def _readable(
        self, actor: Actor, rows: Iterable[CustomerRow]
    ) -> list[tuple[CustomerRow, AccessDecision]]:
        """The rows holding a customer (not erased, not merged) that the actor may read, with
        the policy's decision for each; nothing is opened."""
        found: list[tuple[CustomerRow, AccessDecision]] = []
        for row in rows:
            if row.state in HIDDEN_STATES:
                continue
            decision = self._policy.decide(actor, Action.READ, Resource.of(row))
            if decision.allowed:
                found.append((row, decision))
        return found

    def _visible(
        self, op: _Op, actor: Actor, rows: Iterable[CustomerRow], now: datetime
    ) -> list[Customer]:
        """Open the rows the actor may read (others and erased ones are skipped), audited."""
        return self._open_audited(op, actor, self._readable(actor, rows), now)

    def _open_audited(
        self,
        op: _Op,
        actor: Actor,
        readable: Iterable[tuple[CustomerRow, AccessDecision]],
        now: datetime,
    ) -> list[Customer]:
        shown: list[Customer] = []
        for row, decision in readable:
            for _, customer in self._opened(op, [row]):
                self._read_audit(op, actor, decision, customer, now)
                shown.append(self._shown(decision, customer))
        return shown

    def _opened(self, op: _Op, rows: Iterable[CustomerRow]) -> list[tuple[CustomerRow, Customer]]:
        """The rows with their customers opened; a row whose key is gone (a restored backup,
        an interrupted erasure) holds nobody's data any more and is left out."""
        opened: list[tuple[CustomerRow, Customer]] = []
        for row in rows:
            try:
                opened.append((row, self._customer(op, row)))
            except Erased:
                continue
        return opened

    def _seek(
        self,
        session: Session,
        where: CustomerFilter,
        after: str | None,
        limit: int,
        keep: Callable[[Iterable[CustomerRow]], list[_K]],
    ) -> tuple[list[_K], str | None]:
        """The one keyset scan every filtered page uses: the first ``limit`` items ``keep``
        makes of the rows matching ``where`` with ids after ``after``, in id order.

        ``keep`` filters (and may decorate) a batch of raw rows; the scan reads batches until
        ``limit`` items are kept or the rows run out, so a page is only short at the end and
        never loses a row. Returns the items and the id of the last raw row looked at (or
        ``None`` at the end of the rows).
        """
        kept: list[_K] = []
        cursor = after
        step = min(max(limit, _SCAN_BATCH), 10 * _SCAN_BATCH)
        while len(kept) < limit:
            rows = session.customers.query(where=where, after=cursor, limit=step)
            if not rows:
                return kept, None
            for row in rows:
                kept.extend(keep([row]))
                cursor = row.id
                if len(kept) >= limit:
                    return kept, cursor
            if len(rows) < step:
                return kept, None
        return kept, cursor

    def _scan_rows(
        self, where: CustomerFilter, keep: Callable[[CustomerRow], bool], *, batch_size: int = 1000
    ) -> Iterator[CustomerRow]:
        """Every raw row matching ``where`` that ``keep`` accepts, in id order, each batch read
        in its own short read-only transaction (for whole-store jobs)."""
        after: str | None = None
        while True:
            with self._store.transaction(readonly=True) as session:
                rows, after = self._seek(
                    session, where, after, batch_size, lambda batch: [r for r in batch if keep(r)]
                )
            yield from rows
            if after is None:
                return

    def _strong_key_of(
        self,
        *,
        phone: str | None,
        email: str | None,
        identifier: Identifier | None,
        external_id: tuple[str, str] | None,
    ) -> list[StrongKey] | None:
        keys: list[StrongKey] = []
        if phone is not None:
            if not phone_format.is_valid(phone, self._region):
                return None
            keys.append(("phone", phone_format.normalize(phone, self._region)))
        if email is not None:
            if not email_format.is_valid(email):
                return None
            keys.append(("email", email_format.normalize(email).casefold()))
        if identifier is not None:
            if not isinstance(identifier, Identifier):
                raise TypeError("identifier must be a custrec.records.Identifier")
            keys.append(identifier_key(normalize_identifier(identifier)))
        if external_id is not None:
            system, value = external_id
            ident = Identifier(scheme=IdentifierScheme.EXTERNAL, value=value, system=system)
            keys.append(identifier_key(normalize_identifier(ident)))
        if not keys:
            raise ValueError("find() needs at least one of phone, email, identifier, external_id")
        return keys

    def find(
        self,
        *,
        actor: Actor,
        phone: str | None = None,
        email: str | None = None,
        identifier: Identifier | None = None,
        external_id: tuple[str, str] | None = None,
    ) -> list[Customer]:
        """Return the customers matching every given strong identifier exactly, by id.

        ``phone`` is normalised with the registry's region, ``email`` as at intake,
        ``identifier`` is an :class:`~custrec.records.Identifier`, ``external_id`` is
        ``(system, value)``. Lookups use blind indexes when a keyring is set. A value that
        cannot be normalised matches nobody. Only customers the actor may read are returned
        (masked unless the actor may unmask); each is audited. At least one criterion is
        required (``ValueError``).
        """
        actor = _check_actor(actor)
        keys = self._strong_key_of(
            phone=phone, email=email, identifier=identifier, external_id=external_id
        )
        if keys is None:
            return []
        now = self._now()
        with self._op() as op:
            matched: set[str] | None = None
            for key in keys:
                ids: set[str] = set()
                for index_key in self._codec.lookup_keys(key):
                    ids.update(op.session.customers.lookup(index_key))
                matched = ids if matched is None else matched & ids
            rows = op.session.customers.get_many(sorted(matched or ()))
            found = self._visible(op, actor, rows, now)
            op.commit()
        return found

    def identify(
        self,
        keys: Iterable[StrongKey],
        *,
        actor: Actor,
        ids: Iterable[str] = (),
    ) -> tuple[dict[StrongKey, tuple[str, ...]], set[str]]:
        """Batched identity lookups for imports and matching: ids only, never records.

        ``keys`` are normalised strong keys (``("phone", "+8613800138000")``, see
        :func:`custrec.storage.codec.strong_keys`); returns the ids of the stored customers
        holding each key (keys nobody visible holds are left out) and which of ``ids`` exist,
        read in one transaction through the blind index when a keyring is set. Like every read
        it goes through the access policy: only customers the actor may read are named (so an
        actor without a read right learns nothing), and it is audited: one
        ``customer.identify`` entry with the kinds of key looked up, and one per customer it
        names, with the kinds of key that matched (and ``id`` when named among ``ids``).
        """
        actor = _check_actor(actor)
        tokens: dict[str, StrongKey] = {}
        for key in keys:
            for token in self._codec.lookup_keys(key):
                tokens[token] = key
        wanted = list(dict.fromkeys(ids))
        now = self._now()
        holders: dict[StrongKey, set[str]] = {}
        matched: dict[str, set[str]] = {}
        existing: set[str] = set()
        with self._op() as op:
            if tokens:
                for token, posted in op.session.customers.lookup_many(tokens).items():
                    holders.setdefault(tokens[token], set()).update(posted)
            named = {i for held in holders.values() for i in held}
            rows = op.session.customers.get_many(sorted(named | set(wanted)))
            visible = {row.id for row, _ in self._readable(actor, rows)}
            existing = {
                row.id
                for row in rows
                if row.id in wanted
                and self._policy.decide(actor, Action.READ, Resource.of(row)).allowed
            }
            for key, held in holders.items():
                for customer_id in held & visible:
                    matched.setdefault(customer_id, set()).add(key[0])
            op.audit(
                actor,
                "customer.identify",
                at=now,
                fields=sorted({key[0] for key in tokens.values()}),
                reason=f"{len(set(tokens.values()))} keys, {len(wanted)} ids",
            )
            for customer_id in sorted(set(matched) | existing):
                named_by = set(matched.get(customer_id, ()))
                if customer_id in existing:
                    named_by.add("id")
                op.audit(
                    actor,
                    "customer.identify",
                    at=now,
                    customer_id=customer_id,
                    fields=sorted(named_by),
                )
            op.commit()
        result = {
            key: tuple(sorted(found & visible)) for key, found in holders.items() if found & visible
        }
        return result, existing

    def _page(
        self, actor: Actor, where: CustomerFilter, after: str | None, limit: int
    ) -> list[Customer]:
        """Up to ``limit`` customers the actor may read, after ``after`` by id, opened and
        audited in one unit of work."""
        now = self._now()
        with self._op() as op:
            shown, _ = self._seek(
                op.session,
                where,
                after,
                limit,
                lambda rows: self._open_audited(op, actor, self._readable(actor, rows), now),
            )
            op.commit()
        return shown

    def query(
        self,
        *,
        actor: Actor,
        after: str | None = None,
        limit: int = 100,
        **facets: Unpack[CustomerFacets],
    ) -> list[Customer]:
        """Return the first ``limit`` customers after ``after`` (by id) that match the facets
        (:class:`CustomerFacets`) and that the actor may read, masked unless the actor may
        unmask; each is audited.

        Erased and merged records and customers the actor may not read are skipped before the
        limit applies, so a page holds ``limit`` customers unless it is the last one, and
        ``after=page[-1].id`` walks every readable customer exactly once. Unknown facets raise
        ``TypeError`` and unknown values ``ValueError``, naming the allowed ones.
        """
        actor = _check_actor(actor)
        _check_limit(limit, "limit")
        if after is not None and not isinstance(after, str):
            raise TypeError("after must be a customer id (a string) or None")
        return self._page(actor, _facet_filter(facets), after, limit)

    def iter_customers(
        self, *, actor: Actor, batch_size: int = 500, **facets: Unpack[CustomerFacets]
    ) -> Iterator[list[Customer]]:
        """Yield every customer the actor may read matching the facets, in batches of
        ``batch_size`` (only the last one shorter), by id, each read and audited in its own
        short unit of work (as :meth:`query`)."""
        actor = _check_actor(actor)
        _check_limit(batch_size, "batch_size")
        where = _facet_filter(facets)
        after: str | None = None
        while True:
            batch = self._page(actor, where, after, batch_size)
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1].id

    def customer_ids(
        self, *, actor: Actor, batch_size: int = 1000, **facets: Unpack[CustomerFacets]
    ) -> Iterator[str]:
        """Yield, by id, the ids of the customers matching the facets that the actor may read
        (erased and merged records left out), from the facets alone: nothing is decrypted and
        nothing is audited, as for :meth:`count`. Exports start here."""
        actor = _check_actor(actor)
        _check_limit(batch_size, "batch_size")
        where = _facet_filter(facets)
        decide = self._policy.decide

        def readable(row: CustomerRow) -> bool:
            return (
                row.state not in HIDDEN_STATES
                and decide(actor, Action.READ, Resource.of(row)).allowed
            )

        return (row.id for row in self._scan_rows(where, readable, batch_size=batch_size))

    def count(
        self, *, actor: Actor, batch_size: int = 5000, **facets: Unpack[CustomerFacets]
    ) -> int:
        """Count the customers matching the facets that the actor may read.

        Erased and merged records are not counted. Rows are read page by page and checked
        against the access policy by their owner and team; nothing is decrypted and nothing is
        audited (no personal data is read), so a record whose data key is gone but which is not
        yet a tombstone (a database restored from a backup, before :meth:`replay_erasures`)
        still counts, while the reads that open records skip it.
        """
        return sum(1 for _ in self.customer_ids(actor=actor, batch_size=batch_size, **facets))

    # ------------------------------------------------------------------------------ update

    def update(
        self,
        customer_id: str,
        changes: Mapping[str, Any],
        *,
        actor: Actor,
        reason: str,
        expected_version: int | None = None,
        allow_duplicates: bool = False,
    ) -> Customer:
        """Change fields of a customer and record one history entry per changed field.

        ``changes`` maps top-level field names to new raw values (as :func:`parse_customer`
        accepts them; nested records are replaced whole). The merged record is normalised and
        re-validated (``ValidationFailed``). ``expected_version`` is the version the caller read;
        a stale one raises :class:`~custrec.errors.VersionConflict`. A new phone, e-mail or
        identifier held by another customer raises ``DuplicateCustomer`` unless
        ``allow_duplicates``. ``state`` may be moved between ``live`` and ``archived`` (archive a
        record by hand, or take it back into use); a restriction comes and goes only through the
        consent ledger (``state.restricted`` issue otherwise). An update that changes nothing
        returns the stored customer as it is. ``reason`` is required and is stored in the
        history and the audit log: do not put
        personal data in it.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "update()")
        if not isinstance(changes, Mapping):
            raise TypeError("changes must be a mapping of field names to values")
        now = self._now()
        issues = [
            Issue(path=str(name), code="readonly_field", message="this field cannot be changed")
            for name in changes
            if name in _READONLY_FIELDS
        ]
        if issues:
            raise ValidationFailed(ValidationReport(issues))
        with self._op() as op:
            row = self._live_row(op, customer_id)
            customer_id = row.id
            self._authorize(op, actor, Action.UPDATE, Resource.of(row), at=now)
            if expected_version is not None and expected_version != row.version:
                raise VersionConflict(
                    f"customer {customer_id}", expected=expected_version, actual=row.version
                )
            current = self._customer(op, row)
            merged = self._converter.unstructure(current)
            merged.update(changes)
            merged.pop("version", None)
            result = parse_customer(merged, region=self._region, rules=self._rules, as_of=now)
            if result.record is None:
                raise ValidationFailed(result.report)
            new = attrs.evolve(
                result.record,
                version=row.version,
                created_at=current.created_at,
                updated_at=current.updated_at,
            )
            if new.state is not current.state and RecordState.RESTRICTED in (
                new.state,
                current.state,
            ):
                raise ValidationFailed(ValidationReport((_RESTRICTION_ISSUE,)))
            field_changes = diff(current, new)
            if not field_changes:
                shown = current
            else:
                new = attrs.evolve(new, updated_at=now)
                if not allow_duplicates:
                    added_keys = strong_keys(new) - strong_keys(current)
                    ids, kinds = self._collisions(op, added_keys, exclude=customer_id)
                    if ids:
                        raise DuplicateCustomer(ids, kinds)
                version = op.session.customers.update(
                    self._row(op, new), expected_version=row.version
                )
                op.session.history.append(
                    [
                        self._history(op, customer_id, c, actor, reason, now, action="update")
                        for c in field_changes
                    ]
                )
                op.audit(
                    actor,
                    "customer.update",
                    at=now,
                    customer_id=customer_id,
                    fields=[c.path for c in field_changes],
                    reason=reason,
                )
                op.commit()
                shown = attrs.evolve(new, version=version)
        read = self._policy.decide(actor, Action.READ, Resource.of(shown))
        return self._shown(read, shown)

    def history(self, customer_id: str, *, actor: Actor) -> list[Change]:
        """Return the customer's change history, oldest first; the read is audited.

        Personal values are ``"***"`` unless the actor may unmask. Raises ``NotFound``,
        ``AccessDenied`` or ``Erased``.
        """
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            row = op.session.customers.get(customer_id)
            decision = self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            if _is_tombstone(row.payload):
                raise Erased(customer_id)
            changes: list[Change] = []
            for record in op.session.history.list_for(customer_id):
                if record.action == "create":
                    document = op.sealer.open_record(
                        Customer, record.payload, customer_id=customer_id
                    )
                    old, new = None, document.get("data")
                else:
                    values = op.sealer.open_value(
                        record.payload, customer_id=customer_id, field=f"history:{record.path}"
                    )
                    old, new = values.get("old"), values.get("new")
                whole = record.action == "create"
                if decision.masked and (whole or record.path) and _is_personal(record.path):
                    old, new = (
                        self._mask_value(record.path, old),
                        self._mask_value(record.path, new),
                    )
                changes.append(
                    Change(
                        customer_id=customer_id,
                        seq=record.seq,
                        at=record.at,
                        actor_id=record.actor_id,
                        action=record.action,
                        path=record.path,
                        reason=record.reason,
                        old=old,
                        new=new,
                    )
                )
            op.audit(
                actor,
                "history.read" if decision.masked else "history.unmask",
                at=now,
                customer_id=customer_id,
            )
            op.commit()
        return changes

    def _mask_value(self, path: str, value: Any) -> Any:
        if value is None:
            return None
        if not path and isinstance(value, dict):
            customer = self._converter.structure(value, Customer)
            return self._converter.unstructure(mask_record(customer))
        return MASKED

    # -------------------------------------------------------------------------- activities

    def _structure_activity(self, data: Any, cls: type[Any], now: datetime) -> Any:
        if isinstance(data, cls):
            record = data
            report = validate(record, self._rules, as_of=now, region=self._region)
        elif isinstance(data, Mapping):
            built, report = structure_with_issues(dict(data), cls)
            record = built
            if built is not None:
                report = report.merged(validate(built, self._rules, as_of=now, region=self._region))
        else:
            raise TypeError(f"expected a mapping or a {cls.__name__}")
        amount = getattr(getattr(record, "amount", None), "amount", None)
        if amount is not None:
            exponent = amount.normalize().as_tuple().exponent
            if isinstance(exponent, int) and exponent < -4:
                report = report.merged(
                    ValidationReport(
                        (
                            Issue(
                                path="amount.amount",
                                code="amount.precision",
                                message="amounts may have at most four decimal places",
                            ),
                        )
                    )
                )
        if record is None or not report.ok:
            raise ValidationFailed(report)
        return record

    def _record_activity(
        self, record: Transaction | Interaction, kind: str, actor: Actor
    ) -> Transaction | Interaction:
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, record.customer_id)
            self._authorize(op, actor, Action.UPDATE, Resource.of(row), at=now)
            if _is_tombstone(row.payload):
                raise Erased(record.customer_id)
            if row.id != record.customer_id:  # recorded against a merged id: the survivor's
                record = attrs.evolve(record, customer_id=row.id)
            amount = record.amount if isinstance(record, Transaction) else None
            op.session.activities.add(
                ActivityRow(
                    id=record.id,
                    customer_id=record.customer_id,
                    kind=kind,
                    occurred_at=record.occurred_at,
                    amount=amount.amount if amount is not None else None,
                    currency=amount.currency if amount is not None else None,
                    payload=op.sealer.seal_record(
                        type(record),
                        self._document(record),
                        customer_id=record.customer_id,
                        record_id=record.id,
                    ),
                )
            )
            op.audit(actor, f"{kind}.create", at=now, customer_id=record.customer_id)
            op.commit()
        return record

    def _open_activity(self, op: _Op, row: ActivityRow) -> Transaction | Interaction:
        """Open an activity; one moved by a merge is still sealed for the merged customer."""
        cls: type[Transaction | Interaction] = (
            Transaction if row.kind == "transaction" else Interaction
        )
        sealed_for = row.customer_id
        if self._codec.encrypted:
            try:
                document = json.loads(row.payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise StorageError(f"activity {row.id} is not valid JSON") from exc
            data = document.get("data") if isinstance(document, dict) else None
            if isinstance(data, dict) and isinstance(data.get("customer_id"), str):
                sealed_for = data["customer_id"]
        record = self._open(op, cls, row.id, sealed_for, row.payload)
        if record.customer_id != row.customer_id:
            record = attrs.evolve(record, customer_id=row.customer_id)
        return typing.cast(Transaction | Interaction, record)

    def record_transaction(
        self, data: Mapping[str, Any] | Transaction, *, actor: Actor
    ) -> Transaction:
        """Validate and store a transaction of an existing customer; return it.

        Needs update rights on the customer. Raises ``ValidationFailed`` (for example
        ``date.future``, ``amount.precision``), ``NotFound`` if the customer does not exist,
        ``AccessDenied`` and ``DuplicateKey`` if the id is taken.
        """
        actor = _check_actor(actor)
        record = typing.cast(Transaction, self._structure_activity(data, Transaction, self._now()))
        return typing.cast(Transaction, self._record_activity(record, "transaction", actor))

    def record_interaction(
        self, data: Mapping[str, Any] | Interaction, *, actor: Actor
    ) -> Interaction:
        """Validate and store a follow-up or service interaction (as for transactions)."""
        actor = _check_actor(actor)
        record = typing.cast(Interaction, self._structure_activity(data, Interaction, self._now()))
        return typing.cast(Interaction, self._record_activity(record, "interaction", actor))

    def activities(
        self, customer_id: str, *, actor: Actor, kind: str | None = None
    ) -> list[Transaction | Interaction]:
        """Return the customer's transactions and interactions (or one ``kind``), oldest first.

        Interaction summaries are masked unless the actor may unmask; the read is audited.
        """
        actor = _check_actor(actor)
        now = self._now()
        found: list[Transaction | Interaction] = []
        with self._op() as op:
            row = self._live_row(op, customer_id)
            customer_id = row.id
            decision = self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            if _is_tombstone(row.payload):
                raise Erased(customer_id)
            after: str | None = None
            while True:
                rows = op.session.activities.list_for(
                    customer_id, kind=kind, after=after, limit=500
                )
                if not rows:
                    break
                for activity in rows:
                    record = self._open_activity(op, activity)
                    found.append(mask_record(record) if decision.masked else record)
                after = rows[-1].id
            op.audit(actor, "activity.read", at=now, customer_id=customer_id)
            op.commit()
        return found

    def activity_summaries(
        self, *, as_of: datetime, actor: Actor, batch_size: int = 1000
    ) -> Iterator[ActivitySummary]:
        """Yield the purchase summary of every customer as of ``as_of``, the population a
        grading policy needs.

        Every stored customer (erased and merged records aside) is included: one summary per
        currency it bought in, or one empty summary (:meth:`ActivitySummary.empty`, no
        purchases) when it has no transaction up to ``as_of``. Computed by the store (SQL
        backends use ``GROUP BY``), streamed in batches of ``batch_size``, ordered by customer
        id then currency. Summaries hold no personal data but cover every customer, so the
        actor needs the ``grade`` right over all customers; the call is audited.
        """
        actor = _check_actor(actor)
        _aware(as_of, "as_of")
        _check_limit(batch_size, "batch_size")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.GRADE, Resource(), at=now)
            op.audit(actor, "activity.summaries", at=now)
            op.commit()
        return self._summaries(as_of, batch_size)

    def _summaries(self, as_of: datetime, batch_size: int) -> Iterator[ActivitySummary]:
        """Merge the customers (by id) with the store's purchase summaries (by id)."""

        def purchases() -> Iterator[ActivitySummary]:
            after: str | None = None
            while True:
                with self._store.transaction(readonly=True) as session:
                    batch = session.activities.summaries(as_of=as_of, after=after, limit=batch_size)
                if not batch:
                    return
                yield from batch
                after = batch[-1].customer_id

        pending = purchases()
        ahead = next(pending, None)
        for row in self._scan_rows(CustomerFilter(), _holds_customer, batch_size=batch_size):
            while ahead is not None and ahead.customer_id < row.id:
                ahead = next(pending, None)  # activities of a record that holds no customer
            if ahead is None or ahead.customer_id != row.id:
                yield ActivitySummary.empty(row.id)
                continue
            while ahead is not None and ahead.customer_id == row.id:
                yield ahead
                ahead = next(pending, None)

    # ------------------------------------------------------------------------------ grading

    def regrade(
        self,
        policy: GradingPolicy | FittablePolicy[GradingPolicy],
        *,
        as_of: datetime,
        actor: Actor,
        batch_size: int = 500,
    ) -> RegradeReport:
        """Grade every customer with ``policy`` and store the grade facet.

        Summaries come from :meth:`activity_summaries` (customers without transactions get an
        empty summary). A population-relative policy (one with ``fit``) is fitted on all
        customers at ``as_of`` first. Each change of grade is written to the customer's history
        (action ``grade``, path ``grade``, old and new label) with the policy id and the grade's
        reasons as the reason, and audited; customers whose grade does not change are not
        written, so re-running with the same inputs changes nothing. Customers with purchases in
        several currencies are skipped (they keep their grade); customers who objected to
        profiling, withdrew their consent to it or restricted processing are not graded and lose
        any grade they had (both reported). Erased customers are left alone. Needs the
        ``grade`` right over all customers.
        """
        actor = _check_actor(actor)
        _aware(as_of, "as_of")
        _check_limit(batch_size, "batch_size")
        by_customer: dict[str, list[ActivitySummary]] = {}
        for summary in self.activity_summaries(as_of=as_of, actor=actor):
            by_customer.setdefault(summary.customer_id, []).append(summary)
        mixed = [cid for cid, found in by_customer.items() if len(found) > 1]
        population = {cid: found[0] for cid, found in by_customer.items() if len(found) == 1}
        fit = getattr(policy, "fit", None)
        fitted: GradingPolicy = (
            fit(population.values(), as_of=as_of) if callable(fit) else policy  # type: ignore[assignment]
        )
        changed = unchanged = 0
        refused: list[str] = []
        ids = sorted(population)
        for start in range(0, len(ids), batch_size):
            now = self._now()
            with self._op() as op:
                for row in op.session.customers.get_many(ids[start : start + batch_size]):
                    if row.state in HIDDEN_STATES:  # erased or merged since the summaries
                        continue
                    label: str | None
                    if self._profiling_refused(op, row, as_of):
                        refused.append(row.id)
                        label, why = None, "the customer refused profiling (consent)"
                    else:
                        grade = fitted.grade(population[row.id], as_of=as_of)
                        label = grade.label
                        why = f"{fitted.policy_id}: {'; '.join(grade.reasons)}"
                    if label == row.grade:
                        unchanged += 1
                        continue
                    customer = self._customer(op, row)
                    new = attrs.evolve(customer, grade=label, updated_at=now)
                    op.session.customers.update(self._row(op, new), expected_version=row.version)
                    change = FieldChange(path="grade", old=row.grade, new=label)
                    op.session.history.append(
                        [self._history(op, row.id, change, actor, why, now, action="grade")]
                    )
                    op.audit(
                        actor,
                        "customer.grade",
                        at=now,
                        customer_id=row.id,
                        fields=["grade"],
                        reason=fitted.policy_id,
                    )
                    changed += 1
                op.commit()
        return RegradeReport(
            policy_id=fitted.policy_id,
            as_of=as_of,
            graded=changed + unchanged,
            changed=changed,
            unchanged=unchanged,
            skipped_mixed_currencies=tuple(sorted(mixed)),
            skipped_by_consent=tuple(refused),
        )

    def _profiling_refused(self, op: _Op, row: CustomerRow, at: datetime) -> bool:
        """Whether the customer objected to, withdrew consent for, or restricted profiling."""
        if "profiling" not in self._purposes or not op.session.consents.list_for(row.id):
            return False
        customer = self._customer(op, row)
        decision = self._ledger(op, row.id).decide(
            "profiling", at=at, subject=self._subject(customer), notices=self._notices
        )
        return decision.reason in ("objected", "withdrawn", "restricted")

    # ------------------------------------------------------------------------------ consent

    def _ledger(self, op: _Op, customer_id: str) -> ConsentLedger:
        events: list[ConsentEvent] = []
        for record in op.session.consents.list_for(customer_id):
            data = op.sealer.open_value(
                record.payload, customer_id=customer_id, field=f"consent:{record.seq}"
            )
            events.append(self._converter.structure(data, ConsentEvent))
        return ConsentLedger(customer_id, events, catalogue=self._purposes)

    def _subject(self, customer: Customer) -> SubjectFacts:
        return SubjectFacts.from_customer(customer, jurisdiction=self._jurisdiction)

    def record_consent(self, event: ConsentEvent, *, actor: Actor) -> ConsentEvent:
        """Append a consent event (grant, withdrawal, objection, restriction) to the ledger.

        The event is checked against the ledger first (a bundled separate-consent grant, a
        child's own grant, an unknown purpose raise :class:`~custrec.consent.ConsentError`
        subclasses and nothing is stored), then sealed and appended; it is audited. A
        restriction makes the record's state ``restricted``; lifting it gives back the state it
        had before (``live`` or ``archived``). Needs the ``consent`` right on the customer.
        """
        actor = _check_actor(actor)
        if not isinstance(event, ConsentEvent):
            raise TypeError("record_consent() takes a custrec.consent.ConsentEvent")
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, event.customer_id)
            if row.id != event.customer_id:  # given to a merged id: it belongs to the survivor
                event = attrs.evolve(event, customer_id=row.id)
            self._authorize(op, actor, Action.CONSENT, Resource.of(row), at=now)
            self._append_consent(op, row, event, actor.id, now)
            op.commit()
        return event

    def _append_consent(
        self,
        op: _Op,
        row: CustomerRow,
        event: ConsentEvent,
        actor_id: str,
        now: datetime,
        *,
        on_behalf_of: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Check, seal and append a consent event of ``row``'s customer, set the record state a
        restriction (or its lift) implies, and audit it; in this unit of work."""
        if event.kind in (EventKind.RESTRICT, EventKind.LIFT_RESTRICTION) and (
            event.effective_to is not None or event.effective_from > now
        ):
            raise ConsentError(
                f"consent event {event.id}: a restriction recorded through the registry takes "
                "effect when it is recorded and lasts until a lift_restriction is recorded (no "
                "future effective_from, no effective_to), so that the record's state and the "
                "ledger agree"
            )
        customer = self._customer(op, row)
        self._ledger(op, row.id).append(event, subject=self._subject(customer))
        seq = len(op.session.consents.list_for(row.id)) + 1
        stored = op.session.consents.append(
            ConsentRecord(
                customer_id=row.id,
                recorded_at=now,
                purpose=",".join(event.purposes),
                action=event.kind.value,
                payload=op.sealer.seal_value(
                    self._converter.unstructure(event),
                    customer_id=row.id,
                    field=f"consent:{seq}",
                ),
            )
        )
        if stored != seq:
            raise StorageError("the consent table assigned an unexpected sequence number")
        op.audit(
            actor_id,
            f"consent.{event.kind.value}",
            at=now,
            customer_id=row.id,
            fields=event.purposes,
            reason=reason,
            on_behalf_of=on_behalf_of,
        )
        if event.kind is EventKind.RESTRICT:
            state = RecordState.RESTRICTED
        elif event.kind is EventKind.LIFT_RESTRICTION:
            state = self._state_story(op, customer)[0]
        else:
            return
        self._set_state(
            op, row, customer, state, actor_id, now, reason=reason, on_behalf_of=on_behalf_of
        )

    def _set_state(
        self,
        op: _Op,
        row: CustomerRow,
        customer: Customer,
        state: RecordState,
        actor_id: str,
        now: datetime,
        *,
        action: str = "state",
        audit_action: str = "customer.state",
        reason: str | None = None,
        on_behalf_of: str | None = None,
        also: Callable[[Customer], Customer] | None = None,
    ) -> None:
        """Give the record ``state`` (and the changes ``also`` makes), with a history entry
        per changed field and an audit entry; nothing is written when nothing changes."""
        new = attrs.evolve(customer, state=state)
        if also is not None:
            new = also(new)
        changes = diff(customer, new)
        if not changes:
            return
        new = attrs.evolve(new, updated_at=now)
        op.session.customers.update(self._row(op, new), expected_version=row.version)
        op.session.history.append(
            [
                HistoryRecord(
                    customer_id=row.id,
                    at=now,
                    actor_id=actor_id,
                    action=action,
                    path=change.path,
                    reason=reason,
                    payload=op.sealer.seal_value(
                        {"old": change.old, "new": change.new},
                        customer_id=row.id,
                        field=f"history:{change.path}",
                    ),
                )
                for change in changes
            ]
        )
        op.audit(
            actor_id,
            audit_action,
            at=now,
            customer_id=row.id,
            fields=[c.path for c in changes],
            reason=reason,
            on_behalf_of=on_behalf_of,
        )

    def _state_story(self, op: _Op, customer: Customer) -> tuple[RecordState, datetime | None]:
        """The state a record has beside any restriction (``live`` or ``archived``), and since
        when it is archived, read from its history: an archive carried out while the record was
        restricted counts, and a restriction and its lift change neither."""
        underlying: RecordState | None = None
        since: datetime | None = None
        restricted = False
        for record in op.session.history.list_for(customer.id):
            if record.path == "state":
                values = op.sealer.open_value(
                    record.payload, customer_id=customer.id, field="history:state"
                )
                old, new = _state_of(values, "old"), _state_of(values, "new")
                if underlying is None:  # the state before the first recorded change
                    underlying = RecordState.LIVE if old is RecordState.RESTRICTED else old
                    since = customer.created_at if underlying is RecordState.ARCHIVED else None
                if new is RecordState.RESTRICTED:
                    restricted = True
                    continue
                restricted = False
                if new is not underlying:
                    underlying = new
                    since = record.at if new is RecordState.ARCHIVED else None
            elif (
                record.action == "retention"
                and record.path == RetentionAction.ARCHIVE.value
                and restricted
                and underlying is not RecordState.ARCHIVED
            ):  # archived while restricted: it stays archived once the restriction is lifted
                underlying, since = RecordState.ARCHIVED, record.at
        if underlying is None:
            current = customer.state
            underlying = RecordState.LIVE if current is RecordState.RESTRICTED else current
            since = customer.created_at if underlying is RecordState.ARCHIVED else None
        return underlying, since

    def grant_consent(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel,
        evidence: Evidence | None = None,
        guardian: GuardianEvidence | None = None,
        effective_from: datetime | None = None,
        effective_to: datetime | None = None,
        data_categories: Iterable[DataCategory] = (),
        notice: NoticeVersion | None = None,
    ) -> ConsentEvent:
        """Record the customer's consent to ``purposes``, captured now (see :meth:`record_consent`).

        A separate-consent purpose (third-party provision, cross-border transfer, public
        disclosure, sensitive data, ...) must be granted alone. ``guardian`` records that a
        guardian consented (required for minors).
        """
        event = ConsentEvent.grant(
            customer_id,
            purposes,
            at=self._now(),
            channel=channel,
            effective_from=effective_from,
            effective_to=effective_to,
            data_categories=data_categories,
            notice=notice,
            evidence=evidence,
            guardian=guardian,
            jurisdiction=self._jurisdiction,
        )
        return self.record_consent(event, actor=actor)

    def withdraw_consent(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel,
        evidence: Evidence | None = None,
        guardian: GuardianEvidence | None = None,
        effective_from: datetime | None = None,
        data_categories: Iterable[DataCategory] = (),
        notice: NoticeVersion | None = None,
    ) -> ConsentEvent:
        """Record a withdrawal: the same arguments as :meth:`grant_consent`, minus the expiry.

        It takes effect from its instant, never rewrites the past, and wins over a grant at the
        same instant.
        """
        event = ConsentEvent.withdraw(
            customer_id,
            purposes,
            at=self._now(),
            channel=channel,
            effective_from=effective_from,
            data_categories=data_categories,
            notice=notice,
            evidence=evidence,
            guardian=guardian,
            jurisdiction=self._jurisdiction,
        )
        return self.record_consent(event, actor=actor)

    def object_to(
        self,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        actor: Actor,
        channel: CaptureChannel,
        evidence: Evidence | None = None,
    ) -> ConsentEvent:
        """Record the customer's objection (to profiling, direct marketing, ...), effective now."""
        event = ConsentEvent.object_to(
            customer_id,
            purposes,
            at=self._now(),
            channel=channel,
            evidence=evidence,
            jurisdiction=self._jurisdiction,
        )
        return self.record_consent(event, actor=actor)

    def consent_ledger(self, customer_id: str, *, actor: Actor) -> ConsentLedger:
        """Return the customer's consent ledger (every event, in order); the read is audited."""
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            customer_id = row.id
            self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            ledger = self._ledger(op, customer_id)
            op.audit(actor, "consent.read", at=now, customer_id=customer_id)
            op.commit()
        return ledger

    def may_use(
        self,
        customer_id: str,
        purpose: str,
        *,
        actor: Actor,
        at: datetime | None = None,
        basis: LawfulBasis | None = None,
    ) -> Decision:
        """Decide whether the customer's data may be used for ``purpose`` at ``at`` (default now).

        ``basis`` is the lawful basis relied on (default: consent). The decision carries a
        stable reason code (``granted``, ``no_consent``, ``withdrawn``, ``expired``,
        ``separate_consent_required``, ``guardian_required``, ``reconsent_required``,
        ``objected``, ``restricted``, ``basis_not_available``, ``contract_necessity``, ...).
        """
        actor = _check_actor(actor)
        when = _aware(at, "at") if at is not None else self._now()
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            customer_id = row.id
            self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            customer = self._customer(op, row)
            decision = self._ledger(op, customer_id).decide(
                purpose,
                at=when,
                subject=self._subject(customer),
                basis=basis,
                notices=self._notices,
            )
            op.audit(
                actor,
                "consent.decide",
                at=now,
                customer_id=customer_id,
                fields=[purpose],
                reason=decision.reason,
            )
            op.commit()
        return decision

    def audience(
        self, purpose: str, *, actor: Actor, at: datetime | None = None, batch_size: int = 500
    ) -> Iterator[str]:
        """Yield, by id, the ids of the customers the actor may read whose data may be used for
        ``purpose`` at ``at`` (by consent): the starting point of a marketing export.

        Customers are read ``batch_size`` readable ones at a time, each batch in its own unit of
        work; every id yielded is audited (``consent.audience``).
        """
        actor = _check_actor(actor)
        when = _aware(at, "at") if at is not None else self._now()
        _check_limit(batch_size, "batch_size")
        after: str | None = None
        while True:
            now = self._now()
            with self._op() as op:
                readable, after = self._seek(
                    op.session,
                    CustomerFilter(),
                    after,
                    batch_size,
                    lambda rows: self._opened(op, (row for row, _ in self._readable(actor, rows))),
                )
                allowed: list[str] = []
                for row, customer in readable:
                    verdict = self._ledger(op, row.id).decide(
                        purpose, at=when, subject=self._subject(customer), notices=self._notices
                    )
                    if verdict.allowed:
                        allowed.append(row.id)
                        op.audit(
                            actor, "consent.audience", at=now, customer_id=row.id, fields=[purpose]
                        )
                op.commit()
            yield from allowed
            if after is None:
                return

    # ---------------------------------------------------------------------------- retention

    def _retention_facts(self, op: _Op, row: CustomerRow, at: datetime) -> RetentionFacts:
        customer = self._customer(op, row)
        activities = op.session.activities.list_for(row.id, limit=1_000_000)
        instants = [a.occurred_at for a in activities if a.occurred_at <= at]
        purchases = [
            a.occurred_at for a in activities if a.kind == "transaction" and a.occurred_at <= at
        ]
        history = op.session.history.list_for(row.id)
        closed_at = None
        if customer.stage in CLOSED_STAGES:
            stage_changes = [h.at for h in history if h.path == "stage"]
            closed_at = stage_changes[-1] if stage_changes else customer.created_at
        elif customer.state is RecordState.ARCHIVED:
            closed_at = self._state_story(op, customer)[1] or customer.created_at
        applied = [h.reason for h in history if h.action == "retention" and h.reason]
        ledger = self._ledger(op, row.id)
        return RetentionFacts.from_customer(
            customer,
            last_activity_at=max(instants, default=None),
            last_transaction_at=max(purchases, default=None),
            consent_withdrawn_at=ledger.consent_withdrawn_at(at=at),
            closed_at=closed_at,
            applied_keys=applied,
        )

    def _schedule(self, schedule: RetentionSchedule | None) -> RetentionSchedule:
        rules = schedule if schedule is not None else self._retention
        if rules is None:
            raise ValueError("no retention schedule: pass one or give the registry one")
        if not isinstance(rules, RetentionSchedule):
            raise TypeError("schedule must be a custrec.retention.RetentionSchedule")
        return rules

    def plan_retention(
        self, *, as_of: datetime, actor: Actor, schedule: RetentionSchedule | None = None
    ) -> list[PlannedAction]:
        """Plan the retention actions due at ``as_of`` for every stored customer.

        Uses ``schedule`` or the registry's own; actions already applied are left out. A plan at
        a later ``as_of`` is a preview: :meth:`apply_retention` carries out only the actions due
        at its clock. Needs the ``retention`` right; audited.
        """
        actor = _check_actor(actor)
        _aware(as_of, "as_of")
        rules = self._schedule(schedule)
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.RETENTION, Resource(), at=now)
            op.audit(actor, "retention.plan", at=now, reason=f"as of {as_of.isoformat()}")
            op.commit()
        facts: list[RetentionFacts] = []
        after: str | None = None
        while True:
            with self._op(readonly=True) as op:
                rows, after = self._seek(
                    op.session,
                    CustomerFilter(),
                    after,
                    _SCAN_BATCH,
                    lambda batch: [r for r in batch if _holds_customer(r)],
                )
                for row in rows:
                    try:
                        facts.append(self._retention_facts(op, row, as_of))
                    except Erased:  # its key is gone: an interrupted erasure, finished elsewhere
                        continue
            if after is None:
                break
        return rules.plan(facts, as_of=as_of)

    def apply_retention(
        self,
        plan: Iterable[PlannedAction],
        *,
        actor: Actor,
        schedule: RetentionSchedule | None = None,
    ) -> RetentionReport:
        """Carry out the actions of a retention plan that are due now; report on each.

        Only actions due at the registry's clock now are carried out; an action due later (a
        plan made at a future ``as_of``, as a preview) is reported as ``not_due`` and left
        alone. Each due action is checked against the plan ``schedule`` (or the registry's
        schedule: pass the one the plan was made with) gives for its customer now, so an action
        whose customer changed since the plan (new activity, a legal hold, an erasure) is
        reported as ``superseded`` and left alone.

        ``archive`` makes the record's state ``archived`` (its lifecycle stage is kept);
        ``restrict`` records a restriction (storage only) in the consent ledger and makes the
        state ``restricted``; ``review`` marks the record for re-verification; ``anonymise``
        and ``destroy`` crypto-shred the customer (see :meth:`erase`), keeping only
        non-personal facts. Each action and its effect are written in one unit of work, with
        the action's key in the customer's history, so applying the same plan again is a no-op
        and an action that failed or was interrupted stays pending until a re-run completes it.
        The effects are audited as done by :data:`RETENTION_PRINCIPAL` on behalf of ``actor``,
        who needs the ``retention`` right (not ``erase``: the schedule is the authority);
        anonymise and destroy need a keyring (:class:`ErasureUnavailable`, before anything is
        done).
        """
        actor = _check_actor(actor)
        rules = self._schedule(schedule)
        actions = list(plan)
        for action in actions:
            if not isinstance(action, PlannedAction):
                raise TypeError("apply_retention() takes PlannedAction objects")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.RETENTION, Resource(), at=now)
            op.audit(actor, "retention.apply", at=now, reason=f"{len(actions)} actions")
            op.commit()
        if any(action.action.irreversible for action in actions):
            self._require_erasure()
        outcomes: dict[str, list[str]] = {
            "applied": [],
            "already_applied": [],
            "not_due": [],
            "superseded": [],
        }
        for action in actions:
            if action.due_at > now:
                outcomes["not_due"].append(action.key)
            else:
                outcomes[self._apply_one(action, actor, rules, now)].append(action.key)
        return RetentionReport(**{name: tuple(keys) for name, keys in outcomes.items()})

    def _apply_one(
        self, action: PlannedAction, actor: Actor, rules: RetentionSchedule, now: datetime
    ) -> str:
        """Carry out one due action with its history marker in one unit of work; return the
        outcome (``applied``, ``already_applied`` or ``superseded``)."""
        irreversible = action.action.irreversible
        with self._op() as op:
            try:
                row = op.session.customers.get(action.customer_id)
            except NotFound:
                return "superseded"
            history = op.session.history.list_for(row.id)
            marked = any(h.action == "retention" and h.reason == action.key for h in history)
            if row.state in HIDDEN_STATES:
                done = marked and irreversible and row.state == "erased"
                return "already_applied" if done else "superseded"
            if marked and not irreversible:
                return "already_applied"
            # An irreversible action marked as applied on a record still holding data (written
            # by an earlier version, which marked before erasing) is completed, not skipped.
            if not marked:
                try:
                    facts = self._retention_facts(op, row, now)
                except Erased:  # the key is gone: an erasure interrupted before its commit
                    if not irreversible:
                        return "superseded"
                else:
                    if action.key not in {a.key for a in rules.plan([facts], as_of=now)}:
                        return "superseded"
            self._retention_effect(op, row, action, actor, now)
            op.session.history.append(
                [
                    HistoryRecord(
                        customer_id=row.id,
                        at=now,
                        actor_id=actor.id,
                        action="retention",
                        path=action.action.value,
                        reason=action.key,
                        payload=b"null"
                        if irreversible
                        else op.sealer.seal_value(
                            {"old": None, "new": action.action.value},
                            customer_id=row.id,
                            field=f"history:{action.action.value}",
                        ),
                    )
                ]
            )
            op.audit(
                actor,
                f"retention.{action.action.value}",
                at=now,
                customer_id=row.id,
                reason=action.key,
            )
            op.commit()
        return "applied"

    def _retention_effect(
        self, op: _Op, row: CustomerRow, action: PlannedAction, actor: Actor, now: datetime
    ) -> None:
        """What a retention action does to the record, by :data:`RETENTION_PRINCIPAL` on behalf
        of ``actor``."""
        reason = f"retention {action.key}"
        if action.action.irreversible:
            self._erase_in(
                op,
                row,
                actor_id=RETENTION_PRINCIPAL,
                reason=reason,
                now=now,
                on_behalf_of=actor.id,
            )
            return
        customer = self._customer(op, row)
        if action.action is RetentionAction.RESTRICT:
            event = ConsentEvent.restrict(
                row.id, at=now, channel=CaptureChannel.API, jurisdiction=self._jurisdiction
            )
            self._append_consent(
                op, row, event, RETENTION_PRINCIPAL, now, on_behalf_of=actor.id, reason=reason
            )
            return
        state = customer.state
        also: Callable[[Customer], Customer] | None = None
        if action.action is RetentionAction.ARCHIVE and state is RecordState.LIVE:
            state = RecordState.ARCHIVED  # a restricted record stays restricted
        elif action.action is RetentionAction.REVIEW:

            def also(c: Customer) -> Customer:
                return attrs.evolve(c, verification=VerificationStatus.PENDING_REVIEW)

        self._set_state(
            op,
            row,
            customer,
            state,
            RETENTION_PRINCIPAL,
            now,
            action="retention",
            audit_action=f"customer.{action.action.value}",
            reason=reason,
            on_behalf_of=actor.id,
            also=also,
        )

    # ----------------------------------------------------------------------- duplicates, merge

    def _match_tokens(self, keys: Iterable[MatchKey]) -> dict[str, MatchKey]:
        return {token: key for key in keys for token in self._codec.lookup_keys(key)}

    def find_duplicates(
        self,
        candidate: Mapping[str, Any] | Customer,
        *,
        actor: Actor,
        decision: MatchDecision = MatchDecision.POSSIBLE,
        limit: int = 20,
    ) -> DuplicateSearch:
        """Find stored customers that may be the same as ``candidate`` (before intake, say).

        ``candidate`` is a raw mapping or a record, normalised as at intake; it may be partial
        (a name and a phone from a web form): only a structure problem (a missing kind or name,
        a wrong type) raises ``ValidationFailed``, values that cannot be normalised are simply
        not used. Its strong identifiers and blocking keys are looked up in the
        (blind) index; a key held by more than the configured cap of customers is a stop key:
        reported in the result, never read. Of the customers found, every holder of a strong
        identifier is compared, and of the rest the ``MatchConfig.max_candidates`` sharing the
        most blocking keys (the result says how many were left ``unscored``). They are compared with
        :func:`custrec.matching.compare` and those at or above ``decision`` are returned, best
        first, at most ``limit``, with the reasons for each. A stored candidate never matches
        itself. Results hold ids, scores and field names only; the search is audited. Needs the
        right to create the candidate. Nothing is merged or changed.
        """
        actor = _check_actor(actor)
        wanted = MatchDecision(decision)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError("limit must be a positive integer")
        now = self._now()
        customer = self._candidate(candidate, actor)
        cap = self._matching.cap
        tokens = self._match_tokens(strong_keys(customer) | blocking_keys(customer))
        with self._op() as op:
            self._authorize(op, actor, Action.CREATE, Resource.of(customer), at=now)
            holders: dict[MatchKey, set[str]] = {}
            for token, posted in op.session.customers.lookup_many(tokens, limit=cap + 1).items():
                holders.setdefault(tokens[token], set()).update(posted)
            stop_keys: list[StopKey] = []
            shared: dict[str, list[int]] = {}  # id -> [strong keys shared, blocking keys shared]
            for key, holding in sorted(holders.items()):
                if len(holding) > cap:
                    # keyed, so even a plaintext store's name key cannot be guessed from it
                    stored = self._codec.index_key(key).encode("utf-8", "surrogatepass")
                    digest = hmac.new(self._digest_key, stored, hashlib.sha256).hexdigest()[:14]
                    stop_keys.append(StopKey(key[0], len(holding), digest))
                    continue
                weak = int(key[0] in BLOCKING_KINDS)
                for held_by in holding:
                    shared.setdefault(held_by, [0, 0])[weak] += 1
            shared.pop(customer.id, None)
            # every holder of a strong identifier, then the records sharing the most blocking
            # keys, up to the budget: a record sharing one common key only is the least likely
            ranked = sorted(shared, key=lambda i: (-shared[i][0], -shared[i][1], i))
            strong_holders = [i for i in ranked if shared[i][0]]
            others = [i for i in ranked if not shared[i][0]][: self._matching.max_candidates]
            near = strong_holders + others
            unscored = len(ranked) - len(near)
            me = profile(customer)
            candidates: list[DuplicateCandidate] = []
            for row in op.session.customers.get_many(sorted(near)):
                if _is_tombstone(row.payload) or _is_alias(row.payload):
                    continue
                match = compare(
                    me,
                    profile(self._customer(op, row)),
                    thresholds=self._matching.thresholds,
                    weights=self._matching.weights,
                )
                if match.decision.rank >= wanted.rank:
                    candidates.append(
                        DuplicateCandidate(
                            customer_id=row.id,
                            decision=match.decision,
                            score=match.score,
                            reasons=match.reasons,
                        )
                    )
            candidates.sort(key=lambda c: (-c.decision.rank, -c.score, c.customer_id))
            op.audit(
                actor,
                "customer.find_duplicates",
                at=now,
                fields=sorted({k for k, _ in tokens.values()}),
                reason=f"{len(near)} compared, {len(candidates)} candidates",
            )
            op.commit()
        return DuplicateSearch(
            candidates=tuple(candidates[:limit]),
            stop_keys=tuple(stop_keys),
            compared=len(near),
            unscored=unscored,
        )

    def _candidate(self, data: Mapping[str, Any] | Customer, actor: Actor) -> Customer:
        if isinstance(data, Customer):
            record = data
        elif isinstance(data, Mapping):
            built, report = structure_with_issues(dict(data), Customer)
            if built is None:
                raise ValidationFailed(report)
            record = built
        else:
            raise TypeError("find_duplicates() takes a mapping or a Customer")
        record = normalize_customer(record, region=self._region)
        return attrs.evolve(record, owner=record.owner or actor.id, team=record.team or actor.team)

    def _every_customer(
        self, batch_size: int, *, also: Callable[[_Op, list[Customer]], None] | None = None
    ) -> Iterator[Customer]:
        """Every live customer, unmasked and unaudited (for internal whole-store jobs), in pages
        of one short read-only transaction each; ``also`` runs on each page in its transaction."""
        after: str | None = None
        while True:
            with self._op(readonly=True) as op:
                opened, after = self._seek(
                    op.session,
                    CustomerFilter(),
                    after,
                    batch_size,
                    lambda batch: self._opened(op, (r for r in batch if _holds_customer(r))),
                )
                page = [customer for _, customer in opened]
                if also is not None:
                    also(op, page)
            yield from page
            if after is None:
                return

    def find_duplicate_clusters(
        self,
        *,
        actor: Actor,
        decision: MatchDecision = MatchDecision.PROBABLE,
        batch_size: int = 1000,
    ) -> ClusterRun:
        """Cluster every stored customer with its duplicates (a batch run over the whole store).

        Customers are read in batches and their match profiles spilled, sealed under a
        throw-away key, to a scratch database in a private temporary directory; block sizes are
        counted before anything is compared (keys over the cap are reported as stop keys and
        never expanded), pairs are streamed block by block, each scored once, and pairs at or
        above ``decision`` are joined with union-find. Memory stays bounded by the largest block
        and the links found, not by the number of pairs. Needs the right to read every customer
        (the result holds ids, scores and field names only). Audited. Nothing is merged.
        """
        actor = _check_actor(actor)
        wanted = MatchDecision(decision)
        if wanted is MatchDecision.DISTINCT:
            raise ValueError("clustering at 'distinct' would join everything; use 'possible' or up")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError("batch_size must be a positive integer")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.READ, Resource(), at=now)
            op.audit(actor, "customer.find_duplicate_clusters", at=now, reason=str(wanted))
            op.commit()

        profiles = (
            (profile(customer), strong_keys(customer) | blocking_keys(customer))
            for customer in self._every_customer(batch_size)
        )
        return cluster_profiles(
            profiles,
            cap=self._matching.cap,
            decision=wanted,
            thresholds=self._matching.thresholds,
            weights=self._matching.weights,
        )

    def merge(
        self,
        survivor_id: str,
        other_ids: Iterable[str],
        *,
        actor: Actor,
        reason: str,
        rules: SurvivorshipRules | None = None,
    ) -> MergeResult:
        """Merge duplicate customers into ``survivor_id``; the others become aliases of it.

        In one transaction: the survivor takes the values :func:`custrec.matching.merge_records`
        chooses under ``rules`` (default: verified names first, every contact channel, address,
        identifier and tag kept, most recent values otherwise) and is re-validated
        (``ValidationFailed``); every transaction and interaction of the others is moved to the
        survivor; their consent events are copied into the survivor's ledger (their own ledgers
        stay as they were); each other record becomes an alias that :meth:`get`, :meth:`update`,
        :meth:`activities`, :meth:`export_subject` and the activity recorders follow to the
        survivor (so do the consent calls: :meth:`record_consent`, :meth:`grant_consent` and
        friends, :meth:`consent_ledger`, :meth:`may_use`). The survivor's history gets one
        ``merge`` entry per changed field and one naming the merged ids; each alias's history
        gets a ``merged`` entry; all is audited.
        Needs update rights on every customer involved. Raises ``NotFound``, ``Erased``,
        :class:`~custrec.errors.InvalidState` (a record already merged, or kinds that differ),
        ``ValueError`` for an empty, repeated or self-including ``other_ids``.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "merge()")
        others = list(other_ids) if not isinstance(other_ids, str) else [other_ids]
        if not others:
            raise ValueError("merge() needs at least one other customer id")
        if len(set(others)) != len(others) or survivor_id in others:
            raise ValueError("merge() ids must be distinct and must not include the survivor")
        now = self._now()
        with self._op() as op:
            rows = [op.session.customers.get(i) for i in (survivor_id, *others)]
            for row in rows:
                self._authorize(op, actor, Action.UPDATE, Resource.of(row), at=now)
            records = [self._customer(op, row) for row in rows]
            survivor, merged = records[0], records[1:]
            if any(m.kind != survivor.kind for m in merged):
                raise InvalidState("an organisation and an individual cannot be merged")
            outcome = merge_records(survivor, merged, rules=rules)
            new = attrs.evolve(outcome.record, version=rows[0].version, updated_at=now)
            report = validate(new, self._rules, as_of=now, region=self._region)
            if not report.ok:
                raise ValidationFailed(report)
            version = op.session.customers.update(
                self._row(op, new), expected_version=rows[0].version
            )
            entries = [
                self._history(op, survivor_id, c, actor, reason, now, action="merge")
                for c in diff(survivor, attrs.evolve(new, updated_at=survivor.updated_at))
            ]
            entries.append(
                self._history(
                    op,
                    survivor_id,
                    FieldChange(path="", old=None, new={"merged": others}),
                    actor,
                    reason,
                    now,
                    action="merge",
                )
            )
            moved_activities = 0
            moved_consents = 0
            alias_token = self._codec.index_key(("merged_into", survivor_id))
            for row, record in zip(rows[1:], merged, strict=True):
                moved_activities += op.session.activities.reassign(record.id, survivor_id)
                moved_consents += self._copy_consents(op, record.id, survivor_id)
                op.session.customers.update(
                    attrs.evolve(
                        row,
                        payload=_alias_payload(row, survivor_id, now, actor),
                        index_keys=frozenset({alias_token}),
                        state="merged",
                        updated_at=now,
                    ),
                    expected_version=row.version,
                )
                entries.append(
                    self._history(
                        op,
                        record.id,
                        FieldChange(path="", old=None, new={"merged_into": survivor_id}),
                        actor,
                        reason,
                        now,
                        action="merged",
                    )
                )
                op.audit(actor, "customer.merged", at=now, customer_id=record.id, reason=reason)
            op.session.history.append(entries)
            op.audit(
                actor,
                "customer.merge",
                at=now,
                customer_id=survivor_id,
                fields=list(outcome.changed_fields),
                reason=reason,
            )
            op.commit()
        stored = attrs.evolve(new, version=version)
        read = self._policy.decide(actor, Action.READ, Resource.of(stored))
        return MergeResult(
            customer=self._shown(read, stored),
            merged_ids=tuple(others),
            choices=outcome.choices,
            activities_moved=moved_activities,
            consent_events_copied=moved_consents,
        )

    def _copy_consents(self, op: _Op, from_id: str, to_id: str) -> int:
        """Re-seal ``from_id``'s consent events into ``to_id``'s ledger; return how many."""
        records = op.session.consents.list_for(from_id)
        seq = len(op.session.consents.list_for(to_id))
        for record in records:
            data = op.sealer.open_value(
                record.payload, customer_id=from_id, field=f"consent:{record.seq}"
            )
            event = attrs.evolve(self._converter.structure(data, ConsentEvent), customer_id=to_id)
            seq += 1
            stored = op.session.consents.append(
                ConsentRecord(
                    customer_id=to_id,
                    recorded_at=record.recorded_at,
                    purpose=record.purpose,
                    action=record.action,
                    payload=op.sealer.seal_value(
                        self._converter.unstructure(event),
                        customer_id=to_id,
                        field=f"consent:{seq}",
                    ),
                )
            )
            if stored != seq:
                raise StorageError("the consent table assigned an unexpected sequence number")
        return len(records)

    def aliases(self, customer_id: str, *, actor: Actor) -> list[str]:
        """Return the ids merged into ``customer_id`` (directly), sorted."""
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            row = op.session.customers.get(customer_id)
            self._authorize(op, actor, Action.READ, Resource.of(row), at=now)
            found = self._alias_ids(op, customer_id)
            op.commit()
        return found

    def _alias_ids(self, op: _Op, customer_id: str, *, chains: bool = False) -> list[str]:
        """The ids merged into ``customer_id``; with ``chains`` also those merged into them."""
        found: set[str] = set()
        todo = [customer_id]
        while todo:
            target = todo.pop()
            for token in self._codec.lookup_keys(("merged_into", target)):
                for alias in op.session.customers.lookup(token):
                    if alias not in found and alias != customer_id:
                        found.add(alias)
                        if chains:
                            todo.append(alias)
        return sorted(found)

    # ------------------------------------------------------------------------------- review

    def _set_verification(
        self,
        customer_id: str,
        *,
        actor: Actor,
        reason: str,
        audit_action: str,
        change: Callable[[Customer], Customer],
        now: datetime,
        extra: Callable[[_Op, Customer], HistoryRecord | None] | None = None,
    ) -> Customer:
        with self._op() as op:
            row = self._live_row(op, customer_id)
            self._authorize(op, actor, Action.UPDATE, Resource.of(row), at=now)
            current = self._customer(op, row)
            new = attrs.evolve(change(current), updated_at=now)
            entries = [
                self._history(op, row.id, c, actor, reason, now, action=audit_action)
                for c in diff(current, new)
                if c.path != "updated_at"
            ]
            record = extra(op, new) if extra is not None else None
            if record is not None:
                entries.append(record)
            version = op.session.customers.update(self._row(op, new), expected_version=row.version)
            if entries:
                op.session.history.append(entries)
            op.audit(
                actor,
                f"customer.{audit_action}",
                at=now,
                customer_id=row.id,
                fields=[e.path for e in entries],
                reason=reason,
            )
            op.commit()
        stored = attrs.evolve(new, version=version)
        read = self._policy.decide(actor, Action.READ, Resource.of(stored))
        return self._shown(read, stored)

    def approve(self, customer_id: str, *, actor: Actor, reason: str) -> Customer:
        """Approve a record pending review: it becomes ``verified`` as of now.

        Raises :class:`~custrec.errors.InvalidState` unless the record is pending review.
        History and audit record who approved it and why.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "approve()")
        now = self._now()

        def change(c: Customer) -> Customer:
            if c.verification is not VerificationStatus.PENDING_REVIEW:
                raise InvalidState(f"customer {c.id} is not pending review")
            return attrs.evolve(c, verification=VerificationStatus.VERIFIED, last_verified_at=now)

        return self._set_verification(
            customer_id, actor=actor, reason=reason, audit_action="approve", change=change, now=now
        )

    def reject(self, customer_id: str, *, actor: Actor, reason: str) -> Customer:
        """Reject a record pending review: it becomes ``rejected`` (kept, for the retention plan).

        Raises :class:`~custrec.errors.InvalidState` unless the record is pending review.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "reject()")
        now = self._now()

        def change(c: Customer) -> Customer:
            if c.verification is not VerificationStatus.PENDING_REVIEW:
                raise InvalidState(f"customer {c.id} is not pending review")
            return attrs.evolve(c, verification=VerificationStatus.REJECTED)

        return self._set_verification(
            customer_id, actor=actor, reason=reason, audit_action="reject", change=change, now=now
        )

    def verify(
        self,
        customer_id: str,
        verifier: Verifier,
        *,
        actor: Actor,
        reason: str = "verification",
    ) -> VerificationResult:
        """Check a customer with a :class:`~custrec.verification.Verifier` and record the result.

        The verifier sees the unmasked record. The result (source, outcome, time, fields
        checked) goes into the customer's history (action ``verify``, path
        ``verification_result``); a
        ``confirmed`` outcome makes the record ``verified`` with ``last_verified_at`` set to the
        check's time, a ``refuted`` one puts it back to ``pending_review`` for a person to
        look at, an ``inconclusive`` one changes nothing else. Needs update rights; audited.
        A verifier that raises records nothing. Raises ``TypeError`` if the verifier returns
        something other than a :class:`~custrec.verification.VerificationResult`.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "verify()")
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            self._authorize(op, actor, Action.UPDATE, Resource.of(row), at=now)
            current = self._customer(op, row)
        result = verifier.verify(current, at=now)
        if not isinstance(result, VerificationResult):
            raise TypeError("a Verifier must return a custrec.verification.VerificationResult")

        def change(c: Customer) -> Customer:
            if result.outcome is VerificationOutcome.CONFIRMED:
                checked = result.checked_at.astimezone(UTC)
                return attrs.evolve(
                    c, verification=VerificationStatus.VERIFIED, last_verified_at=checked
                )
            if result.outcome is VerificationOutcome.REFUTED:
                return attrs.evolve(c, verification=VerificationStatus.PENDING_REVIEW)
            return c

        def record(op: _Op, c: Customer) -> HistoryRecord:
            value = {
                "source": result.source,
                "outcome": result.outcome.value,
                "checked_at": result.checked_at.isoformat(),
                "fields": list(result.fields),
                "detail": result.detail,
            }
            return self._history(
                op,
                c.id,
                FieldChange(path=_VERIFICATION_RESULT, old=None, new=value),
                actor,
                reason,
                now,
                action="verify",
            )

        self._set_verification(
            row.id,
            actor=actor,
            reason=reason,
            audit_action="verify",
            change=change,
            now=now,
            extra=record,
        )
        return result

    def verifications(self, customer_id: str, *, actor: Actor) -> list[VerificationResult]:
        """Return every recorded verification result of a customer, oldest first."""
        results = []
        for entry in self.history(customer_id, actor=actor):
            if entry.action == "verify" and entry.path == _VERIFICATION_RESULT:
                value = entry.new
                if not isinstance(value, dict):  # masked for this actor
                    raise AccessDenied(f"actor {actor.id} may not read verification results")
                results.append(
                    VerificationResult(
                        source=value["source"],
                        outcome=value["outcome"],
                        checked_at=datetime.fromisoformat(value["checked_at"]),
                        fields=tuple(value["fields"]),
                        detail=value["detail"],
                    )
                )
        return results

    def pending_review(self, *, actor: Actor, batch_size: int = 500) -> Iterator[Customer]:
        """Yield the customers pending review that the actor may read, by id.

        This walks every customer (the review status is inside the sealed record, not a
        storage facet); run it from a back-office job, not per request.
        """
        for batch in self.iter_customers(actor=actor, batch_size=batch_size):
            for customer in batch:
                if customer.verification is VerificationStatus.PENDING_REVIEW:
                    yield customer

    # ------------------------------------------------------------------------------ quality

    def quality_report(
        self,
        *,
        actor: Actor,
        as_of: datetime | None = None,
        stale_after: timedelta = timedelta(days=365),
        duplicates: bool = True,
        purposes: Sequence[str] | None = None,
        batch_size: int = 500,
    ) -> QualityReport:
        """Measure the data quality of the whole store (see :mod:`custrec.quality`).

        Completeness per field, validity per rule code (the registry's rule set), staleness
        against ``stale_after``, consent coverage per purpose (the registry's catalogue, or
        ``purposes``), and with ``duplicates`` the duplicate rate from
        :meth:`find_duplicate_clusters` at ``probable``. The report holds counts only, so the
        right to read every customer is enough (masked reads, such as the auditor's, do).
        Audited.
        """
        actor = _check_actor(actor)
        at = _aware(as_of, "as_of") if as_of is not None else self._now()
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.READ, Resource(), at=now)
            op.audit(actor, "customer.quality_report", at=now)
            op.commit()
        duplicate_ids = (
            self.find_duplicate_clusters(actor=actor, batch_size=batch_size).duplicate_ids
            if duplicates
            else None
        )
        ledgers: dict[str, ConsentLedger] = {}

        def read_ledgers(op: _Op, page: list[Customer]) -> None:
            ledgers.clear()
            for customer in page:
                ledger = self._ledger(op, customer.id)
                if ledger.events:  # "customers with a ledger": those with any consent event
                    ledgers[customer.id] = ledger

        return assess(
            self._every_customer(batch_size, also=read_ledgers),
            as_of=at,
            stale_after=stale_after,
            rules=self._rules,
            ledgers=ledgers.get,
            purposes=purposes,
            duplicate_ids=duplicate_ids,
        )

    # ------------------------------------------------------------------------------- export

    def export_subject(self, customer_id: str, *, actor: Actor) -> dict[str, Any]:
        """Everything held about a customer, as schema-versioned JSON-safe data (PIPL Art. 45).

        Holds every personal field declared in the record metadata (``record``), the consent
        events and the current decision for every purpose with its basis, the change history,
        transactions and interactions, the retention schedule, and the sources. Needs the
        ``export`` permission; values are masked unless the actor may also unmask. Audited.
        """
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            customer_id = row.id
            decision = self._authorize(op, actor, Action.EXPORT, Resource.of(row), at=now)
            customer = self._customer(op, row)
            shown = self._shown(decision, customer)
            ledger = self._ledger(op, customer_id)
            decisions = ledger.decide_all(
                at=now, subject=self._subject(customer), notices=self._notices
            )
            activities = []
            for activity in op.session.activities.list_for(customer_id, limit=1_000_000):
                record = self._open_activity(op, activity)
                activities.append(
                    {
                        "kind": activity.kind,
                        "record": self._converter.unstructure(
                            mask_record(record) if decision.masked else record
                        ),
                    }
                )
            history = [
                {
                    "seq": h.seq,
                    "at": h.at.isoformat(),
                    "actor_id": h.actor_id,
                    "action": h.action,
                    "path": h.path,
                    "reason": h.reason,
                }
                for h in op.session.history.list_for(customer_id)
            ]
            op.audit(
                actor,
                "customer.export",
                at=now,
                customer_id=customer_id,
                fields=[] if decision.masked else self._codec_paths(customer),
            )
            op.commit()
        return {
            "schema_version": SCHEMA_VERSION,
            "exported_at": now.isoformat(),
            "masked": decision.masked,
            "customer_id": customer_id,
            "record": self._converter.unstructure(shown),
            "personal_fields": [
                {"path": f.path, "category": f.category.value, "sensitivity": f.sensitivity.value}
                for f in personal_fields(Customer)
            ],
            "sources": {"source": customer.source, "created_at": _iso(customer.created_at)},
            "consent": {
                "jurisdiction": self._jurisdiction.value,
                "events": [self._converter.unstructure(e) for e in ledger.events],
                "purposes": {
                    code: {
                        "allowed": d.allowed,
                        "reason": d.reason,
                        "basis": d.basis.value if d.basis is not None else None,
                    }
                    for code, d in decisions.items()
                },
            },
            "activities": activities,
            "history": history,
            "retention": self._retention.to_table() if self._retention is not None else None,
        }

    # ------------------------------------------------------------------------------ erasure

    def erase(self, customer_id: str, *, actor: Actor, reason: str) -> ErasureReceipt:
        """Erase a customer's personal data by destroying its data key (crypto-shredding).

        The customer's index entries are deleted and its record is replaced by a tombstone
        holding only non-personal facts (kind, stage, dates); every sealed value of the customer
        (record, history, interaction summaries) becomes unreadable in the live store and in
        every backup of the data that lacks the key (see docs/security.md for what each file's
        backup means). The data key is deleted together with an entry in the erasure journal,
        in the key store when there is one (so the journal survives a restore of the data), and
        the storage backend destroys its bytes (SQLite truncates its write-ahead log after the
        commit). Afterwards :meth:`get` and friends raise :class:`~custrec.errors.Erased`; other
        customers are untouched. Needs the ``erase`` permission and a keyring
        (:class:`ErasureUnavailable` otherwise). Erasing again only re-checks that nothing is
        left; an interrupted erasure is completed by erasing again or :meth:`replay_erasures`.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "erase()")
        self._require_erasure()
        now = self._now()
        with self._op() as op:
            row = self._live_row(op, customer_id)
            self._authorize(op, actor, Action.ERASE, Resource.of(row), at=now)
            actions = self._erase_in(op, row, actor_id=actor.id, reason=reason, now=now)
            op.commit()
        return ErasureReceipt(
            customer_id=row.id,
            erased_at=now,
            actor_id=actor.id,
            reason=reason,
            actions=tuple(actions),
        )

    def _require_erasure(self) -> None:
        if not self._codec.encrypted:
            raise ErasureUnavailable(
                "erasure needs a keyring: plaintext payloads and history cannot be shredded"
            )

    def _erase_in(
        self,
        op: _Op,
        row: CustomerRow,
        *,
        actor_id: str,
        reason: str,
        now: datetime,
        on_behalf_of: str | None = None,
    ) -> list[ErasureAction]:
        """Erase ``row`` (and the aliases merged into it) in this unit of work; audited."""
        customer_id = row.id
        actions: list[ErasureAction] = []
        if row.state != "erased":
            try:
                actions.extend(
                    ErasureAction(target=path, action="shredded")
                    for path in self._codec_paths(self._customer(op, row))
                )
            except Erased:  # the key is already gone (an interrupted erasure)
                pass
        actions.extend(self._tombstone(op, row, actor_id, reason, now))
        destroyed = self._destroy_key(op, customer_id, actor_id, reason, now)
        actions.append(
            ErasureAction(target="data_key", action="destroyed" if destroyed else "absent")
        )
        history_count = len(op.session.history.list_for(customer_id))
        activity_count = len(op.session.activities.list_for(customer_id, limit=1_000_000))
        actions.append(ErasureAction(target="history", action=f"{history_count} entries shredded"))
        actions.append(
            ErasureAction(target="activities", action=f"{activity_count} payloads shredded")
        )
        for alias_id in self._alias_ids(op, customer_id, chains=True):
            alias_row = op.session.customers.get(alias_id)
            self._tombstone(op, alias_row, actor_id, reason, now)
            destroyed = self._destroy_key(op, alias_id, actor_id, reason, now)
            actions.append(
                ErasureAction(
                    target=f"alias {alias_id}",
                    action="data key destroyed" if destroyed else "data key absent",
                )
            )
        op.audit(
            actor_id,
            "customer.erase",
            at=now,
            customer_id=customer_id,
            fields=[a.target for a in actions],
            reason=reason,
            on_behalf_of=on_behalf_of,
        )
        return actions

    def _destroy_key(
        self, op: _Op, customer_id: str, actor_id: str, reason: str, now: datetime
    ) -> bool:
        """Destroy a data key together with its erasure-journal entry (one commit of the key
        store, or this unit of work when keys live beside the data)."""

        def journal(session: Session) -> None:
            self._append_audit(
                session,
                [
                    AuditRecord(
                        at=now,
                        actor_id=actor_id,
                        action=_JOURNAL_ACTION,
                        customer_id=customer_id,
                        reason=reason,
                    )
                ],
            )

        return op.sealer.destroy_key(customer_id, record=journal)

    def _tombstone(
        self, op: _Op, row: CustomerRow, actor_id: str, reason: str | None, now: datetime
    ) -> list[ErasureAction]:
        """Replace the row's payload with a tombstone and drop its index keys (idempotent)."""
        if row.state == "erased" and not row.index_keys:
            return [ErasureAction(target="record", action="already erased")]
        tombstone = {
            "schema_version": SCHEMA_VERSION,
            "erased": {"at": now.isoformat(), "by": actor_id},
            "data": {"id": row.id, "kind": row.kind, "stage": row.stage},
        }
        op.session.customers.update(
            attrs.evolve(
                row,
                payload=json.dumps(tombstone, separators=(",", ":")).encode(),
                index_keys=frozenset(),
                state="erased",
                updated_at=now,
            ),
            expected_version=row.version,
        )
        op.session.history.append(
            [
                HistoryRecord(
                    customer_id=row.id,
                    at=now,
                    actor_id=actor_id,
                    action="erase",
                    path="",
                    reason=reason,
                    payload=b"null",
                )
            ]
        )
        return [
            ErasureAction(target="record", action="replaced by a tombstone"),
            ErasureAction(target="index_keys", action=f"{len(row.index_keys)} deleted"),
        ]

    def _journal_stores(self) -> list[Store]:
        """Where erasure-journal entries are: the key store, and the data store (where keys
        kept inside it, or before they were moved apart, had their journal)."""
        if self._key_store is None:
            return [self._store]
        return [self._key_store, self._store]

    def erasure_journal(self, *, actor: Actor) -> list[tuple[str, datetime]]:
        """Return ``(customer id, erased at)`` for every journalled erasure, oldest first."""
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.AUDIT_READ, Resource(), at=now)
            op.audit(actor, "erasure.journal.read", at=now)
            op.commit()
        entries = sorted(self._journal_entries(), key=lambda e: (e.at, e.customer_id or ""))
        return [(e.customer_id or "", e.at) for e in entries]

    def _journal_entries(self) -> Iterator[AuditRecord]:
        seen: set[str] = set()
        for store in self._journal_stores():
            after = 0
            while True:
                with store.transaction(readonly=True) as session:
                    page = session.audit.read(after_seq=after, limit=1000)
                if not page:
                    break
                for entry in page:
                    if entry.action == _JOURNAL_ACTION and entry.customer_id not in seen:
                        seen.add(entry.customer_id or "")
                        yield entry
                after = page[-1].seq

    def replay_erasures(self, *, actor: Actor, ids: Iterable[str] = ()) -> list[str]:
        """Make every erasure final again after a restore from backups; return the ids redone.

        The erasures come from the erasure journal (in the key store: it survives a restore of
        the data), from the erased rows of the data store (they survive a restore of the key
        store) and from ``ids`` (a copy of the journal kept elsewhere, for when both were
        restored). Each such customer whose row still holds data or index keys is tombstoned
        again, and its data key, if present, destroyed (and journalled). Needs the
        ``manage_keys`` right.
        """
        actor = _check_actor(actor)
        self._require_erasure()
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.MANAGE_KEYS, Resource(), at=now)
            op.commit()
        reasons: dict[str, str | None] = {}
        for entry in self._journal_entries():
            if entry.customer_id:
                reasons.setdefault(entry.customer_id, entry.reason)
        for erased in self._scan_rows(CustomerFilter(state="erased"), lambda r: True):
            reasons.setdefault(erased.id, "erased row")
        for customer_id in ids:
            reasons.setdefault(_text_facet("ids", customer_id) or "", "external journal")
        replayed: list[str] = []
        for customer_id, why in sorted(reasons.items()):
            if not customer_id:
                continue
            with self._op() as op:
                row: CustomerRow | None
                try:
                    row = op.session.customers.get(customer_id)
                except NotFound:
                    row = None
                redone = row is not None and not (row.state == "erased" and not row.index_keys)
                if row is not None and redone:
                    self._tombstone(op, row, actor.id, "replayed erasure", now)
                destroyed = self._destroy_key(
                    op, customer_id, actor.id, why or "replayed erasure", now
                )
                if redone or destroyed:
                    replayed.append(customer_id)
                    op.audit(
                        actor, "customer.erase.replay", at=now, customer_id=customer_id, reason=why
                    )
                op.commit()
        return replayed

    # ------------------------------------------------------------------------- key management

    def rotate_master_key(
        self,
        *,
        actor: Actor,
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> RotationReport:
        """Re-wrap every data key under the keyring's current master key.

        Payloads are untouched (data keys do not change). Runs in batches, one transaction each,
        calling ``progress(keys_done)`` after every batch; it can be interrupted and resumed.
        Needs the ``manage_keys`` right.
        """
        actor = _check_actor(actor)
        ring = self._require_keyring()
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.MANAGE_KEYS, Resource(), at=now)
            op.commit()
        rewrapped = unchanged = 0
        after: str | None = None
        store = self._key_store if self._key_store is not None else self._store
        while True:
            with store.transaction() as session:
                keys = session.keys.list(after=after, limit=batch_size)
                for key in keys:
                    if ring.needs_rewrap(key.master_key_id):
                        master_id, wrapped = ring.rewrap(
                            key.customer_id, key.master_key_id, key.wrapped
                        )
                        session.keys.replace(
                            attrs.evolve(key, master_key_id=master_id, wrapped=wrapped)
                        )
                        rewrapped += 1
                    else:
                        unchanged += 1
                session.commit()
            if not keys:
                break
            after = keys[-1].customer_id
            if progress is not None:
                progress(rewrapped + unchanged)
        with self._op() as op:
            op.audit(
                actor,
                "keys.rotate_master",
                at=self._now(),
                fields=[f"rewrapped={rewrapped}", f"unchanged={unchanged}"],
            )
            op.commit()
        return RotationReport(
            rewrapped=rewrapped,
            unchanged=unchanged,
            master_key_id=ring.provider.current_key_id,
        )

    def reindex(self, *, actor: Actor, batch_size: int = 500) -> int:
        """Rewrite every customer's index keys as the current settings make them.

        Run it after adding a new index key (lookups keep working meanwhile because they try
        every configured index key) or after changing :class:`~custrec.matching.MatchConfig`'s
        ``blocking`` (or upgrading from a version without blocking keys). Every record is opened
        to recompute its keys; only rows whose keys differ are written. Returns how many
        customers were re-indexed. Needs the ``manage_keys`` right.
        """
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.MANAGE_KEYS, Resource(), at=now)
            op.commit()
        count = 0
        after: str | None = None
        while True:
            with self._op() as op:
                rows = op.session.customers.query(after=after, limit=batch_size)
                for row in rows:
                    if _is_tombstone(row.payload):
                        continue
                    target = _alias_target(row.payload)
                    if target is not None:
                        keys = frozenset({self._codec.index_key(("merged_into", target))})
                    else:
                        keys = self._index_keys(self._customer(op, row))
                    if keys == row.index_keys:
                        continue
                    op.session.customers.update(
                        attrs.evolve(row, index_keys=keys), expected_version=row.version
                    )
                    count += 1
                op.commit()
            if not rows:
                break
            after = rows[-1].id
        with self._op() as op:
            if self._keyring is not None:  # every row now uses the current index key only
                op.session.meta.put(_META_KEYRING, self._keyring.fingerprint().to_record())
            op.audit(actor, "keys.reindex", at=self._now(), fields=[f"customers={count}"])
            op.commit()
        return count

    def separate_keys(
        self, *, actor: Actor, key_store: Store | None = None, batch_size: int = 500
    ) -> int:
        """Move the data keys of a store that keeps them inside it to a key store of their own.

        For stores written before keys were kept apart (a :class:`KeyLayoutWarning` says so):
        ``key_store`` defaults to the store's own (the file beside an SQLite database). Keys
        are copied first (a re-run skips those already there), the store is then switched to
        the key store, and the copies left in the database are deleted (SQLite overwrites them
        and truncates its log). Interrupted, it can be run again. From then on the registry
        and every later one use the key store. Returns how many keys were moved. Needs the
        ``manage_keys`` right.
        """
        actor = _check_actor(actor)
        ring = self._require_keyring()
        _check_limit(batch_size, "batch_size")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.MANAGE_KEYS, Resource(), at=now)
            op.commit()
        target = key_store if key_store is not None else _own_key_store(self._store, create=True)
        if target is None or target is self._store:
            raise ValueError("separate_keys() needs a key store: pass key_store=")
        if self._key_store is not None and self._key_store is not target:
            raise ValueError("this registry already keeps its data keys in another key store")
        key_store_id = _store_id(target)
        with self._store.transaction(readonly=True) as session:
            paired = session.meta.get(_META_KEY_STORE_ID)
        if paired is not None and paired != key_store_id:
            raise KeyringMismatch("this key store belongs to another database")
        moved = 0
        after: str | None = None
        while True:  # 1. copy
            with self._store.transaction(readonly=True) as session:
                batch = session.keys.list(after=after, limit=batch_size)
            if not batch:
                break
            with target.transaction() as session:
                present = {k.customer_id for k in batch if _has_key(session, k.customer_id)}
                fresh = [k for k in batch if k.customer_id not in present]
                session.keys.put_many(fresh)
                session.commit()
            moved += len(batch)
            after = batch[-1].customer_id
        # 2. switch: from now on the store's keys are in the key store
        self._record_meta(self._store, {_META_KEY_STORE_ID: key_store_id})
        with self._store.transaction() as session:
            session.meta.put(_META_LAYOUT, _APART)
            session.commit()
        self._key_store = target
        self._codec = EncryptingCodec(ring, key_store=target)
        if self._head is None:
            self._head = _StoreAuditHead(target)
        while True:  # 3. delete the copies left inside
            with self._store.transaction() as session:
                batch = session.keys.list(limit=batch_size)
                for key in batch:
                    session.keys.delete(key.customer_id)
                session.commit()
            if not batch:
                break
        with self._op() as op:
            op.audit(actor, "keys.separate", at=self._now(), fields=[f"keys={moved}"])
            op.commit()
        return moved

    def _require_keyring(self) -> KeyRing:
        if self._keyring is None:
            raise ErasureUnavailable("this operation needs a keyring")
        return self._keyring

    # ---------------------------------------------------------------------------------- audit

    def audit_trail(
        self,
        *,
        actor: Actor,
        customer_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
        newest_first: bool = False,
    ) -> list[AuditRecord]:
        """Audit entries for incident response: who touched a customer, or whom an actor touched.

        Filters combine; ``since`` is inclusive and ``until`` exclusive; at most ``limit``
        entries, the oldest first, or the newest first with ``newest_first`` (``limit=5,
        newest_first=True`` is "the last five"). ``actor_id`` matches the acting id: the
        retention job's effects carry :data:`RETENTION_PRINCIPAL` with the operator in
        ``on_behalf_of`` (:meth:`customers_touched_by` counts both). Needs ``audit_read``; the
        query itself is audited.
        """
        actor = _check_actor(actor)
        _check_limit(limit, "limit")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.AUDIT_READ, Resource(), at=now)
            entries = op.session.audit.read(
                customer_id=customer_id,
                actor_id=actor_id,
                since=since,
                until=until,
                limit=limit,
                newest_first=bool(newest_first),
            )
            op.audit(actor, "audit.read", at=now, customer_id=customer_id)
            op.commit()
        return entries

    def customers_touched_by(
        self, actor_id: str, *, actor: Actor, since: datetime, until: datetime
    ) -> list[str]:
        """The distinct customer ids an actor's audited actions named in ``[since, until)``,
        including what the retention job did on the actor's behalf. Needs ``audit_read``;
        audited."""
        actor = _check_actor(actor)
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.AUDIT_READ, Resource(), at=now)
            op.audit(actor, "audit.read", at=now, reason=f"customers touched by {actor_id}")
            op.commit()
        touched: set[str] = set()
        for acting in (actor_id, RETENTION_PRINCIPAL):
            for entry in self._audit_entries(actor_id=acting, since=since, until=until):
                mine = acting == actor_id or entry.on_behalf_of == actor_id
                if mine and entry.customer_id:
                    touched.add(entry.customer_id)
        return sorted(touched)

    def _audit_entries(self, **filters: Any) -> Iterator[AuditRecord]:
        """Every audit entry (matching ``filters``), oldest first, a page per transaction."""
        after = 0
        while True:
            with self._store.transaction(readonly=True) as session:
                page = session.audit.read(after_seq=after, limit=1000, **filters)
            if not page:
                return
            yield from page
            after = page[-1].seq

    def verify_audit(
        self, *, actor: Actor, checkpoint: Checkpoint | None = None
    ) -> ChainVerification:
        """Verify the whole audit chain, and that its newest entries are all there.

        Altered, inserted, deleted and reordered entries break the chain. Deleting the newest
        entries leaves a shorter valid chain: that is caught against ``checkpoint`` when given,
        otherwise against the registry's audit head (kept in the key store, or the file given
        as ``audit_head``), which every commit advances. Needs ``audit_read``; the verification
        is audited after it has run.
        """
        actor = _check_actor(actor)
        if self._chain is None:
            raise ErasureUnavailable("the audit log is chained only when a keyring is set")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.AUDIT_READ, Resource(), at=now)
            op.commit()
        against = checkpoint
        if against is None and self._head is not None:
            against = self._head.read()
        result = self._chain.verify(self._audit_entries(), checkpoint=against)
        with self._op() as op:
            op.audit(
                actor,
                "audit.verify",
                at=now,
                reason="ok" if result.ok else f"{result.problem} at {result.seq}",
            )
            op.commit()
        return result

    def reset_audit_head(self, *, actor: Actor, reason: str) -> Checkpoint | None:
        """Move the audit head to the log's current end, whatever it named before.

        For after a restore from a backup, or once a reported truncation has been
        investigated: the head then no longer names entries the log lost, and later checks
        start from here. Writes an ``audit.head.reset`` entry naming the old and new heads (by
        sequence number) with ``reason``, and returns the new head (``None`` when the registry
        keeps no head). Needs the ``manage_keys`` right.
        """
        actor = _check_actor(actor)
        _check_reason(reason, "reset_audit_head()")
        if self._chain is None:
            raise ErasureUnavailable("the audit log is chained only when a keyring is set")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.MANAGE_KEYS, Resource(), at=now)
            op.commit()
        if self._head is None:
            return None
        old = self._head.read()
        with self._op() as op:
            op.audit(
                actor,
                "audit.head.reset",
                at=now,
                fields=[f"from={old.seq if old is not None else 0}"],
                reason=reason,
            )
            op.flush_audit()
            newest = op.newest
            op.session.commit()  # closed without the head's own advance: it is replaced below
        assert newest is not None
        head = self._chain.checkpoint(newest)
        self._head.replace(head)
        return head

    def audit_checkpoint(self, *, actor: Actor) -> Checkpoint:
        """Sign a checkpoint of the current end of the audit log; keep it outside the store."""
        actor = _check_actor(actor)
        if self._chain is None:
            raise ErasureUnavailable("the audit log is chained only when a keyring is set")
        now = self._now()
        with self._op() as op:
            self._authorize(op, actor, Action.AUDIT_READ, Resource(), at=now)
            op.audit(actor, "audit.checkpoint", at=now)
            op.commit()
        with self._store.transaction(readonly=True) as session:
            last = session.audit.last()
        if last is None:  # pragma: no cover - the checkpoint entry was just written
            raise StorageError("the audit log is empty")
        return self._chain.checkpoint(last)


_TOMBSTONE_PREFIX: Final = b'{"schema_version":%d,"erased":' % SCHEMA_VERSION
_ALIAS_PREFIX: Final = b'{"schema_version":%d,"merged_into":' % SCHEMA_VERSION
_MAX_ALIAS_HOPS: Final = 64
_VERIFICATION_RESULT: Final = "verification_result"


def _has_key(session: Session, customer_id: str) -> bool:
    try:
        session.keys.get(customer_id)
    except NotFound:
        return False
    return True


def _state_of(values: Any, name: str) -> RecordState:
    value = values.get(name) if isinstance(values, dict) else None
    try:
        return RecordState(str(value))
    except ValueError:
        raise StorageError(f"a state change in the history holds no state {name!r}") from None


def _holds_customer(row: CustomerRow) -> bool:
    """Whether a stored row holds a customer (it is not an erasure tombstone or merge alias)."""
    return row.state not in HIDDEN_STATES


def _own_key_store(store: Store, *, create: bool) -> Store | None:
    """The key store a store keeps of its own (``None``: none configured); without ``create`` a
    missing one is a refusal, not a new empty file."""
    if not isinstance(store, KeyStoreOwner):
        return None
    try:
        return store.open_key_store(create=create)
    except NotFound as exc:
        raise KeyringMismatch(
            f"this store keeps its data keys in a key store of its own, which is missing ({exc});"
            " restore it from its backup: without it nothing can be read"
        ) from None


def _has_own_key_store(store: Store) -> bool:
    """Whether a store is configured to keep its data keys in a key store of its own."""
    if not isinstance(store, KeyStoreOwner):
        return False
    try:
        return store.open_key_store(create=False) is not None
    except NotFound:
        return True


_PROBE_AAD: Final = b"custrec/master-probe/v1"
_PROBE_VALUE: Final = bytes(32)


def _check_master_keys(keyring: KeyRing, source: Store) -> tuple[str, bytes] | None:
    """Refuse a keyring whose master keys cannot unwrap what they wrapped before.

    Every master key that was current for a registry has a probe in the meta of ``source`` (the
    store holding the data keys): a fixed value wrapped under it, which a keyring's key of the
    same id must unwrap. A store without probes (new, or written by an earlier version) has
    one stored data key of each master key id in use unwrapped instead (reading its key table
    once); otherwise the first stored key is. Returns the probe to record for the keyring's
    current master key when it has none yet.
    """
    provider = keyring.provider
    ids = sorted(provider.key_ids())
    with source.transaction(readonly=True) as session:
        probes = {i: session.meta.get(_META_PROBE + i) for i in ids}
    for key_id, probe in probes.items():
        if probe is None:
            continue
        try:
            ok = provider.unwrap(key_id, probe, aad=_PROBE_AAD) == _PROBE_VALUE
        except (KeyUnavailable, DecryptionFailed):
            ok = False
        if not ok:
            raise KeyringMismatch(
                f"the keyring's master key {key_id!r} is not the one that wrapped this store's "
                "data keys under that id; use the keys the store was created with"
            )
    has_probes = any(p is not None for p in probes.values())
    _check_stored_keys(keyring, source, every_id=not has_probes)
    if probes.get(provider.current_key_id) is not None:
        return None
    key_id, wrapped = provider.wrap(_PROBE_VALUE, aad=_PROBE_AAD)
    return _META_PROBE + key_id, wrapped


def _check_stored_keys(keyring: KeyRing, source: Store, *, every_id: bool) -> None:
    """Unwrap stored data keys with the keyring: the first one, or (``every_id``) one of each
    master key id in use."""
    seen: set[str] = set()
    after: str | None = None
    while True:
        with source.transaction(readonly=True) as session:
            page = session.keys.list(after=after, limit=1000 if every_id else 1)
        for key in page:
            if key.master_key_id in seen:
                continue
            seen.add(key.master_key_id)
            try:
                keyring.unwrap_data_key(key.customer_id, key.master_key_id, key.wrapped)
            except (KeyUnavailable, DecryptionFailed):
                raise KeyringMismatch(
                    f"the keyring's master keys cannot unwrap this store's data keys (master "
                    f"key {key.master_key_id!r} is missing or differs); use the keys the store "
                    "was created with"
                ) from None
        if not every_id or not page:
            return
        after = page[-1].customer_id


def _written_with_keys(session: Session) -> bool:
    """Whether a store without a keyring record was written with a keyring (a chained audit
    log or stored data keys)."""
    first = session.audit.read(limit=1)
    return bool(first and first[0].chain) or bool(session.keys.list(limit=1))


def _store_id(store: Store) -> bytes:
    """A key store's own random id, made on first use."""
    with store.transaction(readonly=True) as session:
        found = session.meta.get(_META_STORE_ID)
    if found is not None:
        return found
    with store.transaction() as session:
        found = session.meta.get(_META_STORE_ID)
        if found is None:
            found = os.urandom(16).hex().encode()
            session.meta.put(_META_STORE_ID, found)
            session.commit()
    return found


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _is_tombstone(payload: bytes) -> bool:
    """Tell whether a stored customer payload is an erasure tombstone.

    Tombstones are written by :meth:`Registry._tombstone` with a fixed key order, so a prefix
    test is exact: a sealed document starts with ``{"schema_version":1,"data":``.
    """
    return payload.startswith(_TOMBSTONE_PREFIX)


def _is_live(payload: bytes) -> bool:
    """Tell whether a stored payload is a customer's record (not a tombstone, not an alias)."""
    return not payload.startswith(_TOMBSTONE_PREFIX) and not payload.startswith(_ALIAS_PREFIX)


def _is_alias(payload: bytes) -> bool:
    """Tell whether a stored customer payload is a merge alias (see :meth:`Registry.merge`)."""
    return payload.startswith(_ALIAS_PREFIX)


def _alias_target(payload: bytes) -> str | None:
    """The id an alias row points to, or ``None`` for any other payload."""
    if not payload.startswith(_ALIAS_PREFIX):
        return None
    try:
        target = json.loads(payload).get("merged_into")
    except (ValueError, UnicodeDecodeError) as exc:
        raise StorageError("a merge alias is not valid JSON") from exc
    if not isinstance(target, str) or not target:
        raise StorageError("a merge alias names no customer")
    return target


def _alias_payload(row: CustomerRow, survivor_id: str, at: datetime, actor: Actor) -> bytes:
    document = {
        "schema_version": SCHEMA_VERSION,
        "merged_into": survivor_id,
        "merged": {"at": at.isoformat(), "by": actor.id},
        "data": {"id": row.id, "kind": row.kind, "stage": row.stage},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _concrete_paths(data: Any, path: str) -> list[str]:
    """Expand a personal-field path with ``[]`` into the concrete paths holding a value."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head[:-2] if many else head
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or value == [] or value == "":
        return []
    if many:
        found: list[str] = []
        for index, item in enumerate(value if isinstance(value, list) else []):
            here = f"{name}[{index}]"
            if rest:
                found.extend(f"{here}.{p}" for p in _concrete_paths(item, rest))
            else:
                found.append(here)
        return found
    if rest:
        return [f"{name}.{p}" for p in _concrete_paths(value, rest)]
    return [name]
