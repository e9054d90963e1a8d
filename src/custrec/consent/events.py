"""Consent events: the immutable facts a :class:`~custrec.consent.ConsentLedger` is folded from.

Five kinds: ``grant`` and ``withdraw`` (per purpose), ``object`` (the subject refuses a purpose,
e.g. profiling or direct marketing: PIPL Art. 24/44, GDPR Art. 21), and ``restrict`` /
``lift_restriction`` (the whole subject: storage only, PIPL Arts. 44, 47 para. 2, GDPR Art. 18).

Build events with the class methods. :meth:`ConsentEvent.grant` and :meth:`ConsentEvent.withdraw`
take the same arguments (a withdrawal just has no expiry), so withdrawing is as easy as granting:

>>> from datetime import UTC, datetime
>>> at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
>>> g = ConsentEvent.grant("c-1", "marketing.email", at=at, channel=CaptureChannel.WEB_FORM)
>>> w = ConsentEvent.withdraw("c-1", "marketing.email", at=at, channel=CaptureChannel.WEB_FORM)
>>> g.kind, w.kind, g.purposes, g.effective_from == at
(<EventKind.GRANT: 'grant'>, <EventKind.WITHDRAW: 'withdraw'>, ('marketing.email',), True)

Every event needs timezone-aware instants; nothing takes effect before it was captured
(``effective_from >= captured_at``), which is what keeps the ledger from rewriting the past.
Events hold references (staff ids, document ids, guardian record ids), never personal data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypedDict, TypeVar, Unpack

import attrs

from custrec._checks import aware, non_empty_text, optional, unique_items
from custrec.consent._checks import str_tuple
from custrec.consent.bases import Jurisdiction
from custrec.consent.notices import NoticeVersion
from custrec.errors import ConsentError
from custrec.model.ids import new_id
from custrec.model.records import DataCategory

__all__ = [
    "CaptureChannel",
    "ConsentEvent",
    "EventDetails",
    "EventKind",
    "Evidence",
    "GivenBy",
    "GrantDetails",
    "GuardianEvidence",
    "GuardianRelation",
    "RestrictionDetails",
]


class EventKind(enum.StrEnum):
    """What a consent event records."""

    GRANT = "grant"
    WITHDRAW = "withdraw"
    OBJECT = "object"
    RESTRICT = "restrict"
    LIFT_RESTRICTION = "lift_restriction"


PURPOSE_KINDS: Final = frozenset({EventKind.GRANT, EventKind.WITHDRAW, EventKind.OBJECT})
"""Kinds that name purposes; the other kinds apply to the whole subject and name none."""

_E = TypeVar("_E", bound=enum.Enum)

_EXPIRING_KINDS: Final = frozenset({EventKind.GRANT, EventKind.RESTRICT})


class CaptureChannel(enum.StrEnum):
    """How the consent (or withdrawal, objection, restriction request) was captured."""

    WEB_FORM = "web_form"
    APP = "app"
    PAPER = "paper"
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    IN_PERSON = "in_person"
    API = "api"
    IMPORT = "import"  # migrated from another system; the proof reference points there


class GivenBy(enum.StrEnum):
    """Who expressed the consent decision."""

    SUBJECT = "subject"
    GUARDIAN = "guardian"


class GuardianRelation(enum.StrEnum):
    """The guardian's relation to the subject."""

    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class Evidence:
    """How the event can be demonstrated (PIPL Art. 14, GDPR Art. 7(1)).

    ``collector``: staff id or system that captured it; ``source``: the form, page, script or
    campaign; ``proof_reference``: where the proof is kept (a document id, a recording id);
    ``written``: consent in written form (PIPL Art. 14 para. 1); ``double_opt_in_at``: when the
    subject confirmed (for example by clicking an e-mailed link).
    """

    collector: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    source: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    proof_reference: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    written: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    double_opt_in_at: datetime | None = attrs.field(default=None, validator=optional(aware()))


@attrs.frozen(kw_only=True)
class GuardianEvidence:
    """Who consented for a minor, by reference only (no name or document number is stored here).

    ``guardian_ref`` is an id of the guardian's record in your system; ``proof_reference`` points
    to the proof of guardianship; ``verified_at`` is when that proof was checked.
    """

    guardian_ref: str = attrs.field(validator=non_empty_text())
    relation: GuardianRelation = attrs.field(
        validator=attrs.validators.instance_of(GuardianRelation)
    )
    proof_reference: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    verified_at: datetime | None = attrs.field(default=None, validator=optional(aware()))


def _member(cls: type[_E], value: object) -> _E:
    """``value`` as a member of ``cls``: a member, or its value as text (``"web_form"``)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"{cls.__name__} must be one of: {allowed}") from None
    raise TypeError(f"expected a {cls.__name__} or its value, not {type(value).__name__}")


def _channel(value: object) -> CaptureChannel:
    return _member(CaptureChannel, value)


def _categories(value: Iterable[DataCategory | str]) -> tuple[DataCategory, ...]:
    if isinstance(value, str):
        raise TypeError("data_categories must be a collection of DataCategory, not a string")
    return tuple(_member(DataCategory, item) for item in value)


def _each(cls: type) -> Any:
    return attrs.validators.deep_iterable(
        member_validator=attrs.validators.instance_of(cls),
        iterable_validator=attrs.validators.instance_of(tuple),
    )


def _same_capture(event: ConsentEvent) -> datetime:
    return event.captured_at


class RestrictionDetails(TypedDict, total=False):
    """The optional details of a restriction or its lift (beyond customer, instant, channel)."""

    evidence: Evidence | None
    """How the request was captured (staff, document, double opt-in); default: none."""
    guardian: GuardianEvidence | None
    """A guardian acted for the subject (the event is then ``given_by`` guardian)."""
    jurisdiction: Jurisdiction
    """The law the event is recorded under (default: PIPL; the registry's when it records)."""
    id: str | None
    """The event id (default: a new one)."""


class EventDetails(RestrictionDetails, total=False):
    """The optional details of a withdrawal or an objection; :class:`GrantDetails` adds the
    expiry of a grant. :class:`ConsentEvent`'s builders and ``registry.consent``'s methods take
    these same keywords, so the two cannot drift apart."""

    effective_from: datetime | None
    """When the event takes effect (default: when it is captured; never before)."""
    data_categories: Iterable[DataCategory | str]
    """The categories of personal data the event concerns (default: none named)."""
    notice: NoticeVersion | None
    """The privacy-notice version the subject was shown."""


class GrantDetails(EventDetails, total=False):
    """The optional details of a grant: those of :class:`EventDetails` and its expiry."""

    effective_to: datetime | None
    """When the grant lapses (default: never)."""


_RESTRICTION: Final = frozenset(RestrictionDetails.__optional_keys__)
_EVENT: Final = frozenset(EventDetails.__optional_keys__)
_GRANT: Final = frozenset(GrantDetails.__optional_keys__)


@attrs.frozen(kw_only=True)
class ConsentEvent:
    """One immutable consent fact about one customer.

    ``purposes`` are purpose codes (non-empty for grant/withdraw/object; empty for the subject-wide
    restrict/lift_restriction). ``data_categories`` is the scope consented to (empty: every
    category the notice names). ``captured_at`` is when the subject expressed it,
    ``effective_from`` (default ``captured_at``, never earlier) when it takes effect, and
    ``effective_to`` (grants and restrictions only) when it lapses: the event covers
    ``effective_from <= t < effective_to``. ``notice_version``/``notice_hash`` identify the notice
    shown. ``given_by`` is ``guardian`` exactly when ``guardian`` evidence is present.

    Raises :class:`~custrec.consent.ConsentError` (a ``ValueError``) for inconsistent fields and
    ``TypeError``/``ValueError`` for wrong types or naive datetimes. Purpose codes are checked
    against a catalogue when the event is appended to a ledger.
    """

    id: str = attrs.field(factory=new_id, validator=non_empty_text())
    customer_id: str = attrs.field(validator=non_empty_text())
    kind: EventKind = attrs.field(validator=attrs.validators.instance_of(EventKind))
    purposes: tuple[str, ...] = attrs.field(
        default=(), converter=str_tuple, validator=[_each(str), unique_items()]
    )
    channel: CaptureChannel = attrs.field(
        converter=_channel, validator=attrs.validators.instance_of(CaptureChannel)
    )
    data_categories: tuple[DataCategory, ...] = attrs.field(
        default=(), converter=_categories, validator=[_each(DataCategory), unique_items()]
    )
    captured_at: datetime = attrs.field(validator=aware())
    effective_from: datetime = attrs.field(
        default=attrs.Factory(_same_capture, takes_self=True), validator=aware()
    )
    effective_to: datetime | None = attrs.field(default=None, validator=optional(aware()))
    notice_version: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    notice_hash: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    evidence: Evidence = attrs.field(
        factory=Evidence, validator=attrs.validators.instance_of(Evidence)
    )
    given_by: GivenBy = attrs.field(
        default=GivenBy.SUBJECT, validator=attrs.validators.instance_of(GivenBy)
    )
    guardian: GuardianEvidence | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(GuardianEvidence)),
    )
    jurisdiction: Jurisdiction = attrs.field(
        default=Jurisdiction.PIPL, validator=attrs.validators.instance_of(Jurisdiction)
    )

    def __attrs_post_init__(self) -> None:
        where = f"consent event {self.id}"
        if self.kind in PURPOSE_KINDS:
            if not self.purposes:
                raise ConsentError(f"{where}: a {self.kind.value} event must name a purpose")
            if any(not code.strip() for code in self.purposes):
                raise ConsentError(f"{where}: purpose codes must not be blank")
        elif self.purposes:
            raise ConsentError(f"{where}: a {self.kind.value} event applies to every purpose")
        if self.effective_from < self.captured_at:
            raise ConsentError(f"{where}: effective_from is before captured_at (no backdating)")
        if self.effective_to is not None:
            if self.kind not in _EXPIRING_KINDS:
                raise ConsentError(f"{where}: only grants and restrictions can have effective_to")
            if self.effective_to <= self.effective_from:
                raise ConsentError(f"{where}: effective_to must be after effective_from")
        if self.notice_hash is not None and self.notice_version is None:
            raise ConsentError(f"{where}: notice_hash needs notice_version")
        if self.evidence.double_opt_in_at is not None and (
            self.evidence.double_opt_in_at < self.captured_at
        ):
            raise ConsentError(f"{where}: double opt-in cannot precede the capture")
        if (self.given_by is GivenBy.GUARDIAN) != (self.guardian is not None):
            raise ConsentError(
                f"{where}: guardian evidence is required exactly when given_by is 'guardian'"
            )

    # ------------------------------------------------------------------------------ builders

    @classmethod
    def grant(
        cls,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        at: datetime,
        channel: CaptureChannel | str,
        **details: Unpack[GrantDetails],
    ) -> ConsentEvent:
        """A grant of ``purposes``, captured at ``at``; ``guardian`` makes it a guardian's grant.

        The optional ``details`` are those of :class:`GrantDetails`.
        """
        return cls._build(EventKind.GRANT, customer_id, purposes, at, channel, details, _GRANT)

    @classmethod
    def withdraw(
        cls,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        at: datetime,
        channel: CaptureChannel | str,
        **details: Unpack[EventDetails],
    ) -> ConsentEvent:
        """A withdrawal of ``purposes``: the same arguments as :meth:`grant`, minus the expiry."""
        return cls._build(EventKind.WITHDRAW, customer_id, purposes, at, channel, details, _EVENT)

    @classmethod
    def object_to(
        cls,
        customer_id: str,
        purposes: str | Iterable[str],
        *,
        at: datetime,
        channel: CaptureChannel | str,
        **details: Unpack[EventDetails],
    ) -> ConsentEvent:
        """An objection to ``purposes``; only a later grant of a purpose lifts it."""
        return cls._build(EventKind.OBJECT, customer_id, purposes, at, channel, details, _EVENT)

    @classmethod
    def restrict(
        cls,
        customer_id: str,
        *,
        at: datetime,
        channel: CaptureChannel | str,
        effective_from: datetime | None = None,
        effective_to: datetime | None = None,
        **details: Unpack[RestrictionDetails],
    ) -> ConsentEvent:
        """A restriction of all processing to storage, until ``effective_to`` or a lift."""
        return cls._build(
            EventKind.RESTRICT,
            customer_id,
            (),
            at,
            channel,
            details,
            _RESTRICTION,
            effective_from=effective_from,
            effective_to=effective_to,
        )

    @classmethod
    def lift_restriction(
        cls,
        customer_id: str,
        *,
        at: datetime,
        channel: CaptureChannel | str,
        effective_from: datetime | None = None,
        **details: Unpack[RestrictionDetails],
    ) -> ConsentEvent:
        """The end of a restriction."""
        return cls._build(
            EventKind.LIFT_RESTRICTION,
            customer_id,
            (),
            at,
            channel,
            details,
            _RESTRICTION,
            effective_from=effective_from,
        )

    @classmethod
    def _build(
        cls,
        kind: EventKind,
        customer_id: str,
        purposes: str | Iterable[str],
        at: datetime,
        channel: CaptureChannel | str,
        details: Mapping[str, Any],
        known: frozenset[str],
        **fixed: datetime | None,
    ) -> ConsentEvent:
        unknown = sorted(set(details) - known)
        if unknown:
            raise TypeError(f"unexpected arguments for a {kind.value} event: {unknown}")
        details = {**details, **fixed}
        notice = details.get("notice")
        if notice is not None and not isinstance(notice, NoticeVersion):
            raise TypeError("notice must be a NoticeVersion")
        event_id = details.get("id")
        effective_from = details.get("effective_from")
        evidence = details.get("evidence")
        guardian = details.get("guardian")
        return cls(
            id=new_id() if event_id is None else event_id,
            customer_id=customer_id,
            kind=kind,
            purposes=str_tuple(purposes),
            channel=channel,
            data_categories=details.get("data_categories", ()),
            captured_at=at,
            effective_from=at if effective_from is None else effective_from,
            effective_to=details.get("effective_to"),
            notice_version=None if notice is None else notice.version,
            notice_hash=None if notice is None else notice.content_hash,
            evidence=Evidence() if evidence is None else evidence,
            given_by=GivenBy.SUBJECT if guardian is None else GivenBy.GUARDIAN,
            guardian=guardian,
            jurisdiction=details.get("jurisdiction", Jurisdiction.PIPL),
        )

    def covers(self, as_of: datetime) -> bool:
        """Whether ``as_of`` lies in ``[effective_from, effective_to)``."""
        return self.effective_from <= as_of and (
            self.effective_to is None or as_of < self.effective_to
        )
