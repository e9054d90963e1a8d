"""The change feed (``registry.changes``): every committed change, once and in order, without
personal data, for other systems to follow by polling."""

from __future__ import annotations

from custrec._checks import check, positive_int
from custrec.security import Action, Actor, Resource
from custrec.services.context import Context, check_actor
from custrec.storage import ChangePage

__all__ = ["ChangeService"]

_MAX_LIMIT = 10_000


class ChangeService:
    """Follow the change feed.

    Every unit of work that changes something (intake, update, merge, erasure, consent, grade,
    retention, activities, cases, tasks) appends one event per change in its own transaction:
    the kind (the audit action, ``customer.update``), the customer id, the record id (a case,
    task or activity), the changed field paths, the actor id and the instant; never a value.
    A search index or another department's system keeps the cursor of its last page and asks
    for what follows: it sees every committed event exactly once, in the feed's order (see
    :class:`~custrec.storage.ChangeTable`), across restarts.
    """

    def __init__(self, context: Context) -> None:
        self._context = context

    def since(self, after: str | None = None, *, actor: Actor, limit: int = 100) -> ChangePage:
        """The events committed after the cursor ``after`` (``None``: from the first; else the
        ``cursor`` of an earlier page), up to ``limit``
        (at most 10,000), and the cursor to pass next time (the same one when nothing new).

        Needs the ``sync`` right over all customers (the ``sync`` role, or ``admin``); each
        call is audited (``changes.read``). ``ValueError`` for a cursor the store did not make.
        """
        actor = check_actor(actor)
        check("limit", limit, positive_int(at_most=_MAX_LIMIT))
        if after is not None and not isinstance(after, str):
            raise TypeError("after must be the cursor of an earlier page, or None")
        now = self._context.now()
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.SYNC, Resource(), at=now)
            page = unit.session.changes.since(after, limit=limit)
            unit.audit(actor, "changes.read", at=now, reason=f"{len(page.events)} events")
            unit.commit()
        return page
