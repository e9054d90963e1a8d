"""Personal-information incidents (PIPL art. 57): the incident record, the customers it
affected and what it exposed of each, and the notices sent to them and to the authority.

An :class:`Incident` is what a company records when personal information may have leaked,
been altered or been lost: when it was discovered, the window of time it covers, the data
categories and the actors or systems involved, and where handling stands
(:class:`IncidentStatus`, moving only along :data:`TRANSITIONS`). Its title and description
are free text that must not hold personal data: they are stored in the clear.

Who was affected is read from the audit log (``registry.incidents.assess``): every entry in
the window whose action reads in the clear, exports or changes a customer
(:data:`ACCESS_ACTIONS`) and whose field paths name personal data makes that customer
affected, with the categories those paths belong to (:func:`categories_of`). A masked read
records no field (nothing personal was shown) and so affects no one. Each affected customer
(:class:`AffectedCustomer`) carries the accesses that exposed them (:class:`Exposure`, counted
per actor and action) and the notices sent to them (:class:`Notice`); the incident carries
its reports to the authority (:class:`AuthorityReport`).

>>> sorted(c.value for c in categories_of(["name", "contacts[0].phones", "stage"]))
['contact', 'identity']
>>> sorted(s.value for s in TRANSITIONS[IncidentStatus.OPEN])
['closed', 'contained']
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import (
    aware,
    check,
    max_length,
    non_empty_text,
    require_aware,
    storable_text,
)
from custrec.model.custom import CustomFieldSet
from custrec.model.records import Customer, DataCategory, personal_fields

__all__ = [
    "ACCESS_ACTIONS",
    "AFFECTED_STATES",
    "CHANNEL_KINDS",
    "LIMITS",
    "NOTICE_CHANNELS",
    "TRANSITIONS",
    "AffectedCustomer",
    "Assessment",
    "AuthorityReport",
    "Exposure",
    "Incident",
    "IncidentStatus",
    "Notice",
    "NotificationChannel",
    "NotificationEntry",
    "StatusChange",
    "categories_of",
    "channels_of",
    "check_actor_ids",
    "check_categories",
    "check_notice_channel",
    "check_sent_at",
    "check_text",
    "check_window",
    "revealed_paths",
]


class IncidentStatus(enum.StrEnum):
    """Where the handling of an incident stands.

    ``open``: recorded, being investigated. ``contained``: the cause is stopped. ``notified``:
    the authority was told (and the customers, as far as they must be). ``closed``: handling is
    over (or the incident turned out to involve no personal information).
    """

    OPEN = "open"
    CONTAINED = "contained"
    NOTIFIED = "notified"
    CLOSED = "closed"


TRANSITIONS: Final[Mapping[IncidentStatus, frozenset[IncidentStatus]]] = {
    IncidentStatus.OPEN: frozenset({IncidentStatus.CONTAINED, IncidentStatus.CLOSED}),
    IncidentStatus.CONTAINED: frozenset({IncidentStatus.NOTIFIED, IncidentStatus.CLOSED}),
    IncidentStatus.NOTIFIED: frozenset({IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset(),
}
"""The moves allowed from each status; any other is an
:class:`~custrec.errors.InvalidTransition`. Moving to ``notified`` also needs a report to the
authority on record."""

ACCESS_ACTIONS: Final[Mapping[str, str]] = {
    "customer.read": "read",
    "customer.unmask": "read",
    "customer.export": "export",
    "customer.disclose": "export",
    "customer.update": "change",
    "customer.merge": "change",
    "customer.approve": "change",
    "customer.reject": "change",
    "customer.verify": "change",
}
"""The audited actions an assessment reads, each with what it does to a customer's data
(``read``, ``export``, ``change``). Only entries whose field paths name personal data count:
a masked read (``customer.read``) and a masked export record no field, and a change of a
non-personal field (the stage) exposes nothing."""

AFFECTED_STATES: Final = ("pending", "notified", "unreachable", "dropped")
"""The states of an affected customer: ``pending`` (to be notified), ``notified`` (a notice is
on record), ``unreachable`` (erased before a notice was recorded: nobody to tell), ``dropped``
(found by an earlier assessment, not by the latest). Erasing a ``pending`` customer makes them
``unreachable``; a ``notified`` one stays ``notified`` (the notices themselves go with their
data key)."""

NOTICE_CHANNELS: Final = ("phone", "sms", "email", "wechat", "post", "in_person", "other")
"""How a notice can reach a customer."""

CHANNEL_KINDS: Final = ("phone", "email", "wechat", "address")
"""The kinds of channel on file a notification list gives."""

LIMITS: Final[Mapping[str, int]] = {
    "title": 200,
    "description": 10_000,
    "authority": 200,
    "reference": 200,
    "channel": 50,
}
"""The longest free text each field of an incident may hold, in characters (longer:
``ValueError`` naming the field and the limit, never the value)."""

_INDEX: Final = re.compile(r"\[\d+\]")
_PERSONAL: Final = tuple((f.path, f.category) for f in personal_fields(Customer))
_ORDER: Final = {category: n for n, category in enumerate(DataCategory)}
_CUSTOM: Final = "custom."


# ------------------------------------------------------------------------------ checks


def categories_of(
    paths: Iterable[str], fields: CustomFieldSet | None = None
) -> frozenset[DataCategory]:
    """The personal-data categories the audited field ``paths`` belong to.

    A path is concrete (``contacts[0].phones``) or names a whole part (``contacts[2]``,
    ``addresses``): a part counts with every personal field inside it, per
    :func:`~custrec.model.records.personal_fields`. ``custom`` (the custom values as a whole,
    what an unmasked read records) is ``custom``; ``custom.<name>`` takes the category of its
    definition in ``fields`` (none for a non-personal field; ``custom`` without a definition).
    Non-personal paths (``stage``, ``grades.rfm``) give nothing.

    >>> sorted(c.value for c in categories_of(["contacts[2]", "addresses[0].street", "notes"]))
    ['communication', 'contact', 'identity', 'location']
    """
    found: set[DataCategory] = set()
    for path in paths:
        if path.startswith(_CUSTOM):
            field = None if fields is None else fields.get(path[len(_CUSTOM) :], removed=True)
            if field is None:
                found.add(DataCategory.CUSTOM)
            elif field.personal and field.category is not None:
                found.add(field.category)
            continue
        generic = _INDEX.sub("[]", path)
        for personal, category in _PERSONAL:
            if (
                not generic
                or generic == personal
                or personal.startswith((generic + ".", generic + "[]"))
                or generic.startswith((personal + ".", personal + "["))
            ):
                found.add(category)
    return frozenset(found)


def _sorted(categories: Iterable[DataCategory]) -> tuple[DataCategory, ...]:
    return tuple(sorted(set(categories), key=_ORDER.__getitem__))


def check_categories(categories: Iterable[DataCategory | str]) -> tuple[DataCategory, ...]:
    """Data categories given by member or value, de-duplicated in declaration order
    (``ValueError`` for an unknown one, listing the known ones and never repeating it;
    ``TypeError`` for one string or a non-text)."""
    if isinstance(categories, str):
        raise TypeError("categories must be a list of data categories, not one string")
    found: list[DataCategory] = []
    for item in categories:
        if not isinstance(item, str):
            raise TypeError(f"a data category must be text, not {type(item).__name__}")
        try:
            found.append(DataCategory(item))
        except ValueError:
            known = ", ".join(c.value for c in DataCategory)
            raise ValueError(
                f"categories must name data categories ({known}); one is unknown"
            ) from None
    return _sorted(found)


def check_actor_ids(actors: Iterable[str], *, required: bool = False) -> tuple[str, ...]:
    """Actor or system ids, de-duplicated in order (``TypeError`` for one string or a
    non-text, ``ValueError`` for a blank id, or for none at all when ``required``)."""
    if isinstance(actors, str):
        raise TypeError("actors must be a list of actor or system ids, not one string")
    found: list[str] = []
    for item in actors:
        check("an actor id", item, non_empty_text())
        check("an actor id", item, storable_text())
        if item not in found:
            found.append(item)
    if required and not found:
        raise ValueError("actors must name at least one actor or system")
    return tuple(found)


def check_text(name: str, value: object, *, required: bool = False) -> None:
    """A free-text field of an incident, a report or a notice: a string storage can keep, at
    most :data:`LIMITS` ``[name]`` characters, not blank when ``required``; ``None`` passes
    when not ``required`` (``TypeError``, ``ValueError``; the value is never repeated)."""
    if not required and value is None:
        return
    if required:
        check(name, value, non_empty_text())
    check(name, value, storable_text())
    check(name, value, max_length(LIMITS[name]))


def check_notice_channel(channel: object) -> str:
    """A channel a notice went through: one of :data:`NOTICE_CHANNELS` (``TypeError``,
    ``ValueError`` listing the known ones; the value is never repeated: a phone number given by
    mistake stays out of the message)."""
    check_text("channel", channel, required=True)
    assert isinstance(channel, str)
    if channel not in NOTICE_CHANNELS:
        raise ValueError(f"unknown notice channel; known: {', '.join(NOTICE_CHANNELS)}")
    return channel


def check_window(
    *, discovered_at: datetime, window_start: datetime, window_end: datetime, now: datetime
) -> None:
    """The instants of a new incident: aware, the window not ending before it starts nor
    after ``now``, the discovery not after ``now`` (``TypeError``, ``ValueError``).

    The discovery may come before the window starts: a stolen password reported before anyone
    used it, or a window set (or widened) from what the investigation found later. Nothing
    about the order of the two is clearly wrong, so nothing is refused for it."""
    for name, value in (
        ("discovered_at", discovered_at),
        ("window_start", window_start),
        ("window_end", window_end),
    ):
        require_aware(value, name)
    if window_end < window_start:
        raise ValueError("the incident window ends before it starts (window_end < window_start)")
    if window_end > now:
        raise ValueError("the incident window must not end in the future (window_end > now)")
    if discovered_at > now:
        raise ValueError("discovered_at must not be in the future")


def check_sent_at(sent_at: datetime, *, discovered_at: datetime, now: datetime) -> datetime:
    """When a notice or report was sent: aware, not before the incident was discovered and
    not in the future (``TypeError``, ``ValueError``)."""
    require_aware(sent_at, "sent_at")
    if sent_at > now:
        raise ValueError("sent_at must not be in the future")
    if sent_at < discovered_at:
        raise ValueError("sent_at must not be before the incident was discovered")
    return sent_at


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _opt_at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# ------------------------------------------------------------------------------ records


@attrs.frozen(kw_only=True)
class StatusChange:
    """One move of an incident: to ``status``, ``at`` an instant, ``by`` an actor, why."""

    status: IncidentStatus
    at: datetime
    by: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "status": self.status.value,
            "at": self.at.isoformat(),
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusChange:
        """The inverse of :meth:`to_json`."""
        return cls(
            status=IncidentStatus(data["status"]),
            at=_at(data["at"]),
            by=data["by"],
            reason=data["reason"],
        )


@attrs.frozen(kw_only=True)
class AuthorityReport:
    """A report of the incident to an authority (PIPL art. 57: the departments performing
    personal-information protection duties): who, when, by whom, the authority's or the
    company's reference (no personal data)."""

    authority: str
    sent_at: datetime
    by: str
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "authority": self.authority,
            "sent_at": self.sent_at.isoformat(),
            "by": self.by,
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorityReport:
        """The inverse of :meth:`to_json`."""
        return cls(
            authority=data["authority"],
            sent_at=_at(data["sent_at"]),
            by=data["by"],
            reference=data.get("reference"),
        )


@attrs.frozen(kw_only=True)
class Notice:
    """A notice of the incident sent to one customer: how (one of :data:`NOTICE_CHANNELS`),
    when, by whom, and a reference (a message id, a letter number; no personal data)."""

    channel: str
    sent_at: datetime
    by: str
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "channel": self.channel,
            "sent_at": self.sent_at.isoformat(),
            "by": self.by,
            "reference": self.reference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notice:
        """The inverse of :meth:`to_json`."""
        return cls(
            channel=data["channel"],
            sent_at=_at(data["sent_at"]),
            by=data["by"],
            reference=data.get("reference"),
        )


@attrs.frozen(kw_only=True)
class Exposure:
    """The audited accesses of one actor with one action that exposed a customer in the
    window: how many, the first and last instants, and the categories they exposed.
    ``on_behalf_of`` names the operator a system principal acted for (the retention job)."""

    actor_id: str
    action: str
    count: int
    first_at: datetime
    last_at: datetime
    categories: tuple[DataCategory, ...]
    on_behalf_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "actor_id": self.actor_id,
            "action": self.action,
            "count": self.count,
            "first_at": self.first_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "categories": [c.value for c in self.categories],
            "on_behalf_of": self.on_behalf_of,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exposure:
        """The inverse of :meth:`to_json`."""
        return cls(
            actor_id=data["actor_id"],
            action=data["action"],
            count=int(data["count"]),
            first_at=_at(data["first_at"]),
            last_at=_at(data["last_at"]),
            categories=tuple(DataCategory(c) for c in data["categories"]),
            on_behalf_of=data.get("on_behalf_of"),
        )


@attrs.frozen(kw_only=True)
class AffectedCustomer:
    """A customer an incident affected: the categories exposed, the accesses that exposed
    them, the notices sent, and the state (one of :data:`AFFECTED_STATES`).

    ``erased`` tells that the customer was erased: what the incident recorded about them went
    with their data key, so ``categories``, ``exposures`` and ``notices`` are empty.
    """

    incident_id: str
    customer_id: str
    state: str
    categories: tuple[DataCategory, ...] = ()
    exposures: tuple[Exposure, ...] = ()
    notices: tuple[Notice, ...] = ()
    erased: bool = False

    def payload(self) -> dict[str, Any]:
        """What the customer's link holds (sealed under their key)."""
        return {
            "categories": [c.value for c in self.categories],
            "exposures": [a.to_json() for a in self.exposures],
            "notices": [n.to_json() for n in self.notices],
        }

    @classmethod
    def from_payload(
        cls, incident_id: str, customer_id: str, state: str, data: Mapping[str, Any] | None
    ) -> AffectedCustomer:
        """The inverse of :meth:`payload` (``data`` ``None``: the customer was erased)."""
        if data is None:
            return cls(incident_id=incident_id, customer_id=customer_id, state=state, erased=True)
        return cls(
            incident_id=incident_id,
            customer_id=customer_id,
            state=state,
            categories=tuple(DataCategory(c) for c in data.get("categories", ())),
            exposures=tuple(Exposure.from_json(a) for a in data.get("exposures", ())),
            notices=tuple(Notice.from_json(n) for n in data.get("notices", ())),
        )


@attrs.frozen(kw_only=True)
class Assessment:
    """The latest reading of the audit log for an incident: when and by whom, the actors it
    kept to (empty: everyone) and the actions it read, how many entries exposed data, how many
    customers they affected, and the categories exposed across them."""

    assessed_at: datetime
    by: str
    actors: tuple[str, ...]
    actions: tuple[str, ...]
    entries: int
    affected: int
    categories: tuple[DataCategory, ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-able data."""
        return {
            "assessed_at": self.assessed_at.isoformat(),
            "by": self.by,
            "actors": list(self.actors),
            "actions": list(self.actions),
            "entries": self.entries,
            "affected": self.affected,
            "categories": [c.value for c in self.categories],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assessment:
        """The inverse of :meth:`to_json`."""
        return cls(
            assessed_at=_at(data["assessed_at"]),
            by=data["by"],
            actors=tuple(data["actors"]),
            actions=tuple(data["actions"]),
            entries=int(data["entries"]),
            affected=int(data["affected"]),
            categories=tuple(DataCategory(c) for c in data["categories"]),
        )


def _title(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_text(attribute.name, value, required=True)


def _description(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_text(attribute.name, value)
    check(attribute.name, value, storable_text())  # not None


@attrs.frozen(kw_only=True)
class Incident:
    """A personal-information incident (PIPL art. 57).

    ``title`` and ``description`` are free text stored in the clear: they must not hold
    personal data (at most 200 and 10,000 characters, :data:`LIMITS`). The window
    ``[window_start, window_end]`` (both included) is the time the incident covers;
    ``categories`` the data categories and ``actors`` the actor or system ids the
    investigation found involved (an assessment keeps to those actors unless told otherwise).
    ``history`` lists the status moves, ``reports`` the reports to the authority,
    ``assessment`` the latest reading of the audit log. ``pending``, ``notified`` and
    ``unreachable`` count the affected customers in each state when the incident is read.
    """

    id: str
    title: str = attrs.field(validator=_title)
    description: str = attrs.field(default="", validator=_description, repr=False)
    discovered_at: datetime = attrs.field(validator=aware())
    window_start: datetime = attrs.field(validator=aware())
    window_end: datetime = attrs.field(validator=aware())
    categories: tuple[DataCategory, ...] = attrs.field(default=(), converter=check_categories)
    actors: tuple[str, ...] = attrs.field(default=(), converter=check_actor_ids)
    status: IncidentStatus = IncidentStatus.OPEN
    opened_at: datetime = attrs.field(validator=aware())
    opened_by: str
    history: tuple[StatusChange, ...] = ()
    reports: tuple[AuthorityReport, ...] = ()
    assessment: Assessment | None = None
    pending: int = 0
    notified: int = 0
    unreachable: int = 0
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The incident as JSON-able data (the counts and version are not stored)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "discovered_at": self.discovered_at.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "categories": [c.value for c in self.categories],
            "actors": list(self.actors),
            "status": self.status.value,
            "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by,
            "history": [h.to_json() for h in self.history],
            "reports": [r.to_json() for r in self.reports],
            "assessment": None if self.assessment is None else self.assessment.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, version: int = 1) -> Incident:
        """The inverse of :meth:`to_json` (``version`` is the stored row's)."""
        assessment = data.get("assessment")
        return cls(
            id=data["id"],
            title=data["title"],
            description=data.get("description", ""),
            discovered_at=_at(data["discovered_at"]),
            window_start=_at(data["window_start"]),
            window_end=_at(data["window_end"]),
            categories=tuple(data.get("categories", ())),
            actors=tuple(data.get("actors", ())),
            status=IncidentStatus(data["status"]),
            opened_at=_at(data["opened_at"]),
            opened_by=data["opened_by"],
            history=tuple(StatusChange.from_json(h) for h in data.get("history", ())),
            reports=tuple(AuthorityReport.from_json(r) for r in data.get("reports", ())),
            assessment=None if assessment is None else Assessment.from_json(assessment),
            version=version,
        )


# ------------------------------------------------------------------------- notification


@attrs.frozen(kw_only=True)
class NotificationChannel:
    """A way to reach a customer that is on file: its ``kind`` (one of :data:`CHANNEL_KINDS`),
    the field ``path`` it was read from (``contacts[0].phones``) and the ``value``, masked
    unless the reader may unmask the customer (kept out of ``repr``)."""

    kind: str
    path: str
    value: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class NotificationEntry:
    """One affected customer on a notification list: the channels on file (``masked`` tells
    whether their values are masked), the notices already sent, and ``reason`` when there is
    no channel to use: ``erased`` (unreachable), ``no_channel`` (nothing on file) or
    ``denied`` (the reader may not read this customer)."""

    customer_id: str
    state: str
    channels: tuple[NotificationChannel, ...] = ()
    masked: bool = True
    notices: tuple[Notice, ...] = ()
    reason: str | None = None

    @property
    def reachable(self) -> bool:
        """Whether a channel is listed."""
        return self.reason is None


def _address_text(address: Any) -> str:
    parts = (address.province, address.city, address.district, address.street, address.postal_code)
    return " ".join(p for p in parts if p)


def channels_of(customer: Customer) -> tuple[NotificationChannel, ...]:
    """The channels on file of a customer as given (pass it masked to list masked values):
    each contact's phones, e-mails and WeChat id, then each address with a personal part."""
    found: list[NotificationChannel] = []
    for n, contact in enumerate(customer.contacts):
        here = f"contacts[{n}]"
        for kind, name, values in (
            ("phone", "phones", contact.phones),
            ("email", "emails", contact.emails),
            ("wechat", "wechat", (contact.wechat,) if contact.wechat else ()),
        ):
            path = f"{here}.{name}"
            found += [NotificationChannel(kind=kind, path=path, value=v) for v in values]
    for n, address in enumerate(customer.addresses):
        if address.district or address.street or address.postal_code:
            text = _address_text(address)
            found.append(NotificationChannel(kind="address", path=f"addresses[{n}]", value=text))
    return tuple(found)


def revealed_paths(channels: Iterable[NotificationChannel], customer: Customer) -> list[str]:
    """The personal field paths a list of ``channels`` of ``customer`` shows (for the audit
    entry of an unmasked notification list)."""
    paths: list[str] = []
    for channel in channels:
        if channel.kind != "address":
            if channel.path not in paths:
                paths.append(channel.path)
            continue
        address = customer.addresses[int(channel.path[len("addresses[") : -1])]
        for name in ("district", "street", "postal_code"):
            if getattr(address, name):
                paths.append(f"{channel.path}.{name}")
    return paths
