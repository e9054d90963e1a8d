"""Personal-information incidents: remedies and notification (``registry.incidents``).

PIPL art. 57 asks a company that finds personal information leaked, altered or lost to take
remedial measures at once and to notify the authority and the individuals concerned: the
categories of information involved, the cause and possible harm, what was done and what the
individual can do. This service keeps the incident record, works out from the audit log which
customers were affected and what of theirs was exposed, lists how to reach them, and records
each notice and report, every write audited.

The incident is a document (kind ``incident``, tagged with its status, its payload plain JSON
with no personal data); each affected customer is a link sealed under the customer's data key,
so erasing the customer shreds what the incident says about them and a merge moves it to the
survivor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from custrec._checks import check, optional, positive_int, storable_text
from custrec.compliance.incidents import (
    ACCESS_ACTIONS,
    AFFECTED_STATES,
    TRANSITIONS,
    AffectedCustomer,
    Assessment,
    AuthorityReport,
    Exposure,
    Incident,
    IncidentStatus,
    Notice,
    NotificationEntry,
    StatusChange,
    categories_of,
    channels_of,
    check_actor_ids,
    check_notice_channel,
    check_sent_at,
    check_text,
    check_window,
    revealed_paths,
)
from custrec.errors import Erased, InvalidState, InvalidTransition, NotFound
from custrec.model.custom import CustomFieldSet
from custrec.model.ids import new_id
from custrec.model.records import DataCategory
from custrec.security import Action, Actor, Resource
from custrec.services._documents import Documents
from custrec.services._records import Records
from custrec.services.context import Context, Unit, check_actor, check_reason
from custrec.storage import AuditRecord, CustomerRow, DocumentLink, DocumentRow

__all__ = ["INCIDENT", "IncidentService", "mark_erased"]

INCIDENT: Final = "incident"
"""The document kind of an incident (its links: the affected customers)."""

_PENDING, _NOTIFIED, _UNREACHABLE, _DROPPED = AFFECTED_STATES
_SCAN_PAGE: Final = 1000  # audit entries read per read-only transaction
_TICK: Final = timedelta(microseconds=1)  # the window's end is included
_ASSESSABLE: Final = frozenset({IncidentStatus.OPEN, IncidentStatus.CONTAINED})

_Key = tuple[str, str | None, str]  # actor id, on behalf of, action


@attrs.define
class _Tally:
    """The accesses of one actor with one action to one customer, as they are counted."""

    count: int
    first_at: datetime
    last_at: datetime
    categories: set[DataCategory]

    def add(self, other: _Tally) -> None:
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        self.last_at = max(self.last_at, other.last_at)
        self.categories |= other.categories


def _exposures(tallies: Mapping[_Key, _Tally]) -> tuple[Exposure, ...]:
    return tuple(
        Exposure(
            actor_id=actor_id,
            on_behalf_of=on_behalf_of,
            action=action,
            count=tally.count,
            first_at=tally.first_at,
            last_at=tally.last_at,
            categories=_ordered(tally.categories),
        )
        for (actor_id, on_behalf_of, action), tally in sorted(
            tallies.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2])
        )
    )


def _ordered(categories: Iterable[DataCategory]) -> tuple[DataCategory, ...]:
    order = list(DataCategory)
    return tuple(sorted(set(categories), key=order.index))


def _check_actions(actions: Iterable[str] | None) -> tuple[str, ...]:
    if actions is None:
        return tuple(ACCESS_ACTIONS)
    if isinstance(actions, str):
        raise TypeError("actions must be a list of audited action names, not one string")
    found: list[str] = []
    for action in actions:
        if not isinstance(action, str):
            raise TypeError(f"an action must be text, not {type(action).__name__}")
        if action not in ACCESS_ACTIONS:
            known = ", ".join(ACCESS_ACTIONS)
            raise ValueError(f"actions must name audited access actions ({known}); one is unknown")
        if action not in found:
            found.append(action)
    if not found:
        raise ValueError("actions must name at least one action (None: all of them)")
    return tuple(found)


def _check_state(state: str | None) -> str | None:
    if state is not None and state not in AFFECTED_STATES:
        check("state", state, storable_text())
        raise ValueError(f"state must be one of {', '.join(AFFECTED_STATES)} or None")
    return state


def _status(value: IncidentStatus | str, name: str) -> IncidentStatus:
    check(name, value, storable_text())
    try:
        return IncidentStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in IncidentStatus)
        raise ValueError(f"{name} must be an incident status: one of {known}") from None


class IncidentService:
    """Incidents, their affected customers from the audit log, notification and reports."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records

    # ------------------------------------------------------------------------- the record

    def open(
        self,
        *,
        title: str,
        discovered_at: datetime,
        window_start: datetime,
        window_end: datetime,
        actor: Actor,
        description: str = "",
        categories: Iterable[DataCategory | str] = (),
        actors: Iterable[str] = (),
    ) -> Incident:
        """Record a new incident, ``open`` (``compliance`` right; audited).

        ``title`` (at most 200 characters, not blank) and ``description`` (at most 10,000) are
        stored in the clear: no personal data. The window ``[window_start, window_end]`` must
        not end before it starts nor in the future, and ``discovered_at`` must not be in the
        future (``ValueError``; ``TypeError`` for a non-datetime, ``ValueError`` for a naive
        one); it may lie before the window starts (a stolen password reported before it was
        used, a window widened by what the investigation found). ``categories`` are
        :class:`~custrec.model.records.DataCategory` members or values (``ValueError`` for an
        unknown one); ``actors`` the actor or system ids involved.
        """
        actor = check_actor(actor)
        now = self._context.now()
        incident = Incident(
            id=new_id(),
            title=title,
            description=description,
            discovered_at=discovered_at,
            window_start=window_start,
            window_end=window_end,
            categories=categories,
            actors=actors,
            opened_at=now,
            opened_by=actor.id,
        )
        check_window(
            discovered_at=discovered_at, window_start=window_start, window_end=window_end, now=now
        )
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            Documents.add(
                unit, INCIDENT, incident.id, incident.to_json(), now=now, tag=incident.status.value
            )
            unit.audit(
                actor,
                "incident.open",
                at=now,
                reason=incident.id,
                fields=[c.value for c in incident.categories],
            )
            unit.commit()
        return incident

    def incident(self, incident_id: str, *, actor: Actor) -> Incident:
        """One incident with its counts of affected customers (``compliance`` right).
        ``NotFound``."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            found = self._counted(unit, self._row(unit, incident_id))
            unit.commit()
        return found

    def incidents(
        self,
        *,
        actor: Actor,
        status: IncidentStatus | str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        """Incidents by id (the oldest first), in ``status`` when given; ``after`` is the last
        id of the previous page (``compliance`` right)."""
        actor = check_actor(actor)
        wanted = None if status is None else _status(status, "status")
        check("limit", limit, positive_int())
        check("after", after, optional(storable_text()))
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            rows = unit.session.documents.list(
                INCIDENT, tag=None if wanted is None else wanted.value, after=after, limit=limit
            )
            found = [self._counted(unit, row) for row in rows]
            unit.commit()
        return found

    def move(
        self, incident_id: str, to: IncidentStatus | str, *, actor: Actor, reason: str
    ) -> Incident:
        """Move an incident to status ``to`` along :data:`~custrec.compliance.incidents.TRANSITIONS`
        (``compliance`` right; audited with ``reason``, which must not hold personal data).

        ``ValueError`` for an unknown status, :class:`~custrec.errors.InvalidTransition` for a
        move not allowed from the current status, ``InvalidState`` for ``notified`` with no
        report to the authority on record.
        """
        actor = check_actor(actor)
        target = _status(to, "to")
        reason = check_reason(reason, "incidents.move()")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._row(unit, incident_id)
            incident = Incident.from_json(Documents.data(row), version=row.version)
            if target not in TRANSITIONS[incident.status]:
                raise InvalidTransition(
                    f"incident {incident.id}: no move from {incident.status.value} to "
                    f"{target.value}"
                )
            if target is IncidentStatus.NOTIFIED and not incident.reports:
                raise InvalidState(
                    f"incident {incident.id}: report it to the authority "
                    "(report_to_authority) before it is notified"
                )
            change = StatusChange(status=target, at=now, by=actor.id, reason=reason)
            moved = attrs.evolve(incident, status=target, history=(*incident.history, change))
            stored = Documents.replace(unit, row, moved.to_json(), now=now, tag=target.value)
            unit.audit(
                actor, "incident.move", at=now, reason=reason, fields=[incident.id, target.value]
            )
            found = self._counted(unit, stored)
            unit.commit()
        return found

    def report_to_authority(
        self,
        incident_id: str,
        *,
        authority: str,
        actor: Actor,
        sent_at: datetime | None = None,
        reference: str | None = None,
    ) -> Incident:
        """Record a report of the incident to ``authority`` (the name of the department),
        sent at ``sent_at`` (default now; not before the discovery, not in the future), with
        an optional ``reference`` (no personal data; each at most 200 characters,
        ``ValueError``). ``compliance`` right; audited. ``InvalidState`` for a closed
        incident."""
        actor = check_actor(actor)
        check_text("authority", authority, required=True)
        check_text("reference", reference)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._row(unit, incident_id)
            incident = Incident.from_json(Documents.data(row), version=row.version)
            when = check_sent_at(
                now if sent_at is None else sent_at, discovered_at=incident.discovered_at, now=now
            )
            _not_closed(incident)
            report = AuthorityReport(
                authority=authority, sent_at=when, by=actor.id, reference=reference
            )
            changed = attrs.evolve(incident, reports=(*incident.reports, report))
            stored = Documents.replace(unit, row, changed.to_json(), now=now, tag=row.tag)
            unit.audit(actor, "incident.report", at=now, reason=incident.id, fields=[authority])
            found = self._counted(unit, stored)
            unit.commit()
        return found

    # ------------------------------------------------------------------------- assessment

    def assess(
        self,
        incident_id: str,
        *,
        actor: Actor,
        actors: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
    ) -> Incident:
        """Work out from the audit log which customers the incident affected, and store them.

        Every audit entry in the incident's window (both ends included) that names a
        customer, succeeded, has one of ``actions`` (default: every one of
        :data:`~custrec.compliance.incidents.ACCESS_ACTIONS`), was made by one of ``actors``
        (default: the incident's actors; everyone when it names none; a system principal's
        entry counts for the operator it acted for) and whose field paths name personal data
        makes that customer affected, with the categories those paths belong to. A masked read
        records no field: it affects no one. A merged customer's accesses count for the
        survivor. The log is read a page at a time.

        Each affected customer is stored ``pending`` (``unreachable`` when erased); assessing
        again replaces the result: notices stay on record, and a customer not found any more
        is ``dropped``. Needs the ``compliance`` and ``audit_read`` rights; audited.
        ``InvalidState`` once the incident is notified or closed.
        """
        actor = check_actor(actor)
        wanted = _check_actions(actions)
        chosen = None if actors is None else check_actor_ids(actors, required=True)
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            incident = Incident.from_json(Documents.data(self._row(unit, incident_id)))
            _assessable(incident)
            fields = unit.fields()
            unit.commit()
        who = chosen if chosen is not None else incident.actors
        tallies, entries = self._scan(incident, frozenset(who), frozenset(wanted), fields)
        with self._context.unit() as unit:
            row = self._row(unit, incident.id)
            current = Incident.from_json(Documents.data(row), version=row.version)
            _assessable(current)
            affected, exposed = self._store_affected(unit, current.id, tallies, now)
            assessment = Assessment(
                assessed_at=now,
                by=actor.id,
                actors=tuple(who),
                actions=wanted,
                entries=entries,
                affected=affected,
                categories=_ordered(exposed),
            )
            changed = attrs.evolve(current, assessment=assessment)
            stored = Documents.replace(unit, row, changed.to_json(), now=now, tag=row.tag)
            unit.audit(
                actor,
                "incident.assess",
                at=now,
                reason=current.id,
                fields=[f"affected={affected}", f"entries={entries}"],
            )
            found = self._counted(unit, stored)
            unit.commit()
        return found

    def _scan(
        self,
        incident: Incident,
        who: frozenset[str],
        wanted: frozenset[str],
        fields: CustomFieldSet,
    ) -> tuple[dict[str, dict[_Key, _Tally]], int]:
        """The accesses in the window that exposed each customer, and how many entries."""
        tallies: dict[str, dict[_Key, _Tally]] = {}
        entries = 0
        for entry in self._window(incident.window_start, incident.window_end + _TICK):
            if (
                entry.customer_id is None
                or entry.outcome != "ok"
                or entry.action not in wanted
                or (who and entry.actor_id not in who and entry.on_behalf_of not in who)
            ):
                continue
            categories = categories_of(entry.fields, fields)
            if not categories:
                continue  # a masked read, a non-personal change: nothing exposed
            entries += 1
            key = (entry.actor_id, entry.on_behalf_of, entry.action)
            mine = tallies.setdefault(entry.customer_id, {})
            tally = _Tally(1, entry.at, entry.at, set(categories))
            if key in mine:
                mine[key].add(tally)
            else:
                mine[key] = tally
        return tallies, entries

    def _window(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        """The audit entries with ``since <= at < until``, oldest first, a page per read-only
        transaction (the queued ones sealed first)."""
        self._context.seal_audit()
        after = 0
        while True:
            with self._context.store.transaction(readonly=True) as session:
                page = session.audit.read(
                    after_seq=after, limit=_SCAN_PAGE, since=since, until=until
                )
            yield from page
            if len(page) < _SCAN_PAGE:
                return
            after = page[-1].seq

    def _store_affected(
        self,
        unit: Unit,
        incident_id: str,
        tallies: Mapping[str, Mapping[_Key, _Tally]],
        now: datetime,
    ) -> tuple[int, set[DataCategory]]:
        """Write the assessment's links (replacing an earlier one's); return how many
        customers it affected and the categories exposed across them."""
        merged: dict[str, dict[_Key, _Tally]] = {}
        rows: dict[str, CustomerRow] = {}
        for customer_id, mine in tallies.items():
            try:
                row = self._records.live_row(unit, customer_id)
            except NotFound:  # pragma: no cover - an audited customer always has a row
                continue
            rows[row.id] = row
            into = merged.setdefault(row.id, {})
            for key, tally in mine.items():
                if key in into:
                    into[key].add(tally)
                else:
                    into[key] = _Tally(
                        tally.count, tally.first_at, tally.last_at, set(tally.categories)
                    )
        earlier = {link.customer_id: link for link in Documents.links(unit, INCIDENT, incident_id)}
        table = unit.session.documents
        new: list[DocumentLink] = []
        exposed: set[DataCategory] = set()
        for customer_id in sorted(merged):
            exposures = _exposures(merged[customer_id])
            categories = _ordered(c for a in exposures for c in a.categories)
            exposed.update(categories)
            old = earlier.pop(customer_id, None)
            if not self._holds_data(unit, rows[customer_id]):
                gone = _erased_link(incident_id, customer_id, old, now)
                if old is None:
                    new.append(gone)
                elif old.state != gone.state or old.payload:
                    table.update_link(gone, expected_version=old.version)
                continue
            notices = () if old is None else _opened(unit, incident_id, old).notices
            entry = AffectedCustomer(
                incident_id=incident_id,
                customer_id=customer_id,
                state=_NOTIFIED if notices else _PENDING,
                categories=categories,
                exposures=exposures,
                notices=notices,
            )
            if old is None:
                new.append(
                    Documents.sealed_link(
                        unit,
                        INCIDENT,
                        incident_id,
                        customer_id,
                        entry.payload(),
                        now=now,
                        state=entry.state,
                    )
                )
            else:
                Documents.relink(unit, old, entry.payload(), now=now, state=entry.state)
        for old in earlier.values():  # found before, not any more
            if old.state != _DROPPED:
                table.update_link(
                    attrs.evolve(old, state=_DROPPED, updated_at=now), expected_version=old.version
                )
        Documents.link(unit, new)
        return len(merged), exposed

    def _holds_data(self, unit: Unit, row: CustomerRow) -> bool:
        """Whether the customer is there to seal for (not erased, its key not lost)."""
        try:
            self._records.customer(unit, row)
        except Erased:
            return False
        return True

    # ----------------------------------------------------------------- affected customers

    def affected(
        self,
        incident_id: str,
        *,
        actor: Actor,
        state: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[AffectedCustomer]:
        """The customers the latest assessment found affected, by customer id, with the
        categories exposed, the accesses that exposed them and the notices; in ``state`` when
        given (one of :data:`~custrec.compliance.incidents.AFFECTED_STATES`; by default every
        state but ``dropped``). ``after`` is the last customer id of the previous page.
        ``compliance`` right; audited."""
        actor = check_actor(actor)
        wanted = _check_state(state)
        check("limit", limit, positive_int())
        check("after", after, optional(storable_text()))
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._row(unit, incident_id)
            found = [
                _opened(unit, row.id, link) for link in _page(unit, row.id, wanted, after, limit)
            ]
            unit.audit(actor, "incident.affected", at=now, reason=row.id)
            unit.commit()
        return found

    def notification_list(
        self, incident_id: str, *, actor: Actor, after: str | None = None, limit: int = 100
    ) -> list[NotificationEntry]:
        """How to reach each affected customer (``dropped`` ones aside), by customer id: the
        phones, e-mails, WeChat ids and addresses on file, masked unless the actor may unmask
        that customer, with the notices already sent. An erased customer is listed as
        unreachable (``reason`` ``erased``), one with nothing on file as ``no_channel``, one
        the actor may not read as ``denied``. ``compliance`` right; each customer's read is
        audited like any other (``customer.unmask`` with the paths shown, or
        ``customer.read``)."""
        actor = check_actor(actor)
        check("limit", limit, positive_int())
        check("after", after, optional(storable_text()))
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._row(unit, incident_id)
            found = [
                self._entry(unit, actor, row.id, link, now)
                for link in _page(unit, row.id, None, after, limit)
            ]
            unit.audit(actor, "incident.notification_list", at=now, reason=row.id)
            unit.commit()
        return found

    def _entry(
        self, unit: Unit, actor: Actor, incident_id: str, link: DocumentLink, now: datetime
    ) -> NotificationEntry:
        affected = _opened(unit, incident_id, link)
        base = NotificationEntry(
            customer_id=link.customer_id, state=link.state or _PENDING, notices=affected.notices
        )
        row = self._records.live_row(unit, link.customer_id)
        if affected.erased or row.state == "erased":
            return attrs.evolve(base, reason="erased")
        decision = self._context.policy.decide(actor, Action.READ, Resource.of(row))
        if not decision.allowed:
            return attrs.evolve(base, reason="denied")
        try:
            customer = self._records.customer(unit, row)
        except Erased:
            return attrs.evolve(base, reason="erased")
        channels = channels_of(self._records.shown(decision, customer))
        if not channels:
            return attrs.evolve(base, reason="no_channel", masked=decision.masked)
        why = f"incident {incident_id}"
        if decision.masked:
            unit.audit(actor, "customer.read", at=now, customer_id=row.id, reason=why)
        else:
            paths = revealed_paths(channels, customer)
            unit.audit(
                actor, "customer.unmask", at=now, customer_id=row.id, fields=paths, reason=why
            )
        return attrs.evolve(base, channels=channels, masked=decision.masked)

    def record_notice(
        self,
        incident_id: str,
        customer_id: str,
        *,
        channel: str,
        actor: Actor,
        sent_at: datetime | None = None,
        reference: str | None = None,
    ) -> AffectedCustomer:
        """Record that an affected customer was notified through ``channel`` (one of
        :data:`~custrec.compliance.incidents.NOTICE_CHANNELS`) at ``sent_at`` (default now;
        not before the discovery, not in the future), with an optional ``reference`` (no
        personal data, at most 200 characters). The customer becomes ``notified``.
        ``compliance`` right; audited.

        ``NotFound`` when the customer is not affected by the incident, ``InvalidState`` when
        it was dropped or the incident is closed, :class:`~custrec.errors.Erased` for an
        ``unreachable`` (erased) customer: there is nobody to notify, so skip the entries of a
        notification list whose ``state`` is not ``pending``.
        """
        actor = check_actor(actor)
        check_notice_channel(channel)
        check_text("reference", reference)
        check("customer_id", customer_id, storable_text())
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.COMPLIANCE, Resource(), at=now)
            row = self._row(unit, incident_id)
            incident = Incident.from_json(Documents.data(row))
            when = check_sent_at(
                now if sent_at is None else sent_at, discovered_at=incident.discovered_at, now=now
            )
            _not_closed(incident)
            target = self._records.live_row(unit, customer_id).id
            try:
                link = unit.session.documents.get_link(INCIDENT, incident.id, target)
            except NotFound:
                raise NotFound(
                    f"customer {target} is not affected by incident {incident.id}"
                ) from None
            if link.state == _DROPPED:
                raise InvalidState(
                    f"customer {target} is no longer affected by incident {incident.id}"
                )
            current = _opened(unit, incident.id, link)
            if current.erased or link.state == _UNREACHABLE:
                raise Erased(target)
            notice = Notice(channel=channel, sent_at=when, by=actor.id, reference=reference)
            notified = attrs.evolve(current, state=_NOTIFIED, notices=(*current.notices, notice))
            Documents.relink(unit, link, notified.payload(), now=now, state=_NOTIFIED)
            unit.audit(
                actor,
                "incident.notice",
                at=now,
                customer_id=target,
                reason=incident.id,
                fields=[channel],
            )
            unit.commit()
        return notified

    # -------------------------------------------------------------------------- helpers

    @staticmethod
    def _row(unit: Unit, incident_id: object) -> DocumentRow:
        return Documents.get(unit, INCIDENT, incident_id, what="incident")

    @staticmethod
    def _counted(unit: Unit, row: DocumentRow) -> Incident:
        count = unit.session.documents.count_links
        return attrs.evolve(
            Incident.from_json(Documents.data(row), version=row.version),
            pending=count(INCIDENT, row.id, state=_PENDING),
            notified=count(INCIDENT, row.id, state=_NOTIFIED),
            unreachable=count(INCIDENT, row.id, state=_UNREACHABLE),
        )


def mark_erased(unit: Unit, customer_id: str, now: datetime) -> int:
    """Make an erased customer ``unreachable`` in every incident that has them ``pending``
    (their notices, if any, went with the data key; a ``notified`` or ``dropped`` customer
    keeps that state). Run by the erasure in its unit of work; returns how many changed."""
    table = unit.session.documents
    changed = 0
    for link in table.links_for(customer_id, kind=INCIDENT):
        if link.state != _PENDING:
            continue
        gone = _erased_link(link.document_id, customer_id, link, now)
        table.update_link(gone, expected_version=link.version)
        changed += 1
    return changed


def _erased_link(
    incident_id: str, customer_id: str, old: DocumentLink | None, now: datetime
) -> DocumentLink:
    """The link of an erased customer: nothing sealed, ``unreachable`` unless a notice was
    already on record (``notified`` stays)."""
    state = _NOTIFIED if old is not None and old.state == _NOTIFIED else _UNREACHABLE
    return DocumentLink(
        kind=INCIDENT,
        document_id=incident_id,
        customer_id=customer_id,
        state=state,
        updated_at=now,
        payload=b"",
    )


def _assessable(incident: Incident) -> None:
    if incident.status not in _ASSESSABLE:
        raise InvalidState(
            f"incident {incident.id} is {incident.status.value}: only an open or contained "
            "incident is assessed"
        )


def _not_closed(incident: Incident) -> None:
    if incident.status is IncidentStatus.CLOSED:
        raise InvalidState(f"incident {incident.id} is closed")


def _opened(unit: Unit, incident_id: str, link: DocumentLink) -> AffectedCustomer:
    """An affected customer from their link (``erased`` when the link holds nothing or the
    customer's key is gone)."""
    data: Mapping[str, Any] | None = None
    if link.payload:
        data = Documents.open(unit, link).data
    return AffectedCustomer.from_payload(
        incident_id, link.customer_id, link.state or _PENDING, data
    )


def _page(
    unit: Unit, incident_id: str, state: str | None, after: str | None, limit: int
) -> list[DocumentLink]:
    """Up to ``limit`` links after ``after`` in ``state`` (``None``: every state but
    ``dropped``), by customer id."""
    table = unit.session.documents
    if state is not None:
        return table.links(INCIDENT, incident_id, state=state, after=after, limit=limit)
    found: list[DocumentLink] = []
    cursor = after
    while len(found) < limit:
        batch = table.links(INCIDENT, incident_id, after=cursor, limit=limit)
        found.extend(link for link in batch if link.state != _DROPPED)
        if len(batch) < limit:
            break
        cursor = batch[-1].customer_id
    return found[:limit]
