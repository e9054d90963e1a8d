"""The audit log: read it, verify it, checkpoint it (``registry.audit``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from custrec._checks import check, positive_int
from custrec.errors import StorageError
from custrec.security import Action, Actor, ChainVerification, Checkpoint, Resource
from custrec.services.context import Context, check_actor, check_reason
from custrec.services.retention import RETENTION_PRINCIPAL
from custrec.storage import AuditRecord

__all__ = ["AuditService"]


class AuditService:
    """Incident-response reads of the audit log, its verification, checkpoints and head."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def trail(
        self,
        *,
        actor: Actor,
        customer_id: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[AuditRecord]:
        """A page of audit entries for incident response: who touched a customer, or whom an
        actor touched.

        Filters combine; ``since`` is inclusive and ``until`` exclusive. The page holds at most
        ``limit`` entries, the oldest first, or the newest first with ``newest_first``
        (``limit=5, newest_first=True`` is "the last five"); pass the last entry's ``seq`` as
        ``after`` for the next page in the same order. ``actor_id`` matches the acting id: the
        retention job's effects carry :data:`RETENTION_PRINCIPAL` with the operator in
        ``on_behalf_of`` (:meth:`touched_by` counts both). Needs ``audit_read``; the
        query itself is audited.
        """
        actor = check_actor(actor)
        check("limit", limit, positive_int())
        if after is not None:
            check("after", after, positive_int())
        newest_first = bool(newest_first)
        now = self._context.now()
        self._context.seal_audit()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            entries = unit.session.audit.read(
                customer_id=customer_id,
                actor_id=actor_id,
                since=since,
                until=until,
                after_seq=after if after is not None and not newest_first else 0,
                before_seq=after if newest_first else None,
                limit=limit,
                newest_first=newest_first,
            )
            unit.audit(actor, "audit.read", at=now, customer_id=customer_id)
            unit.commit()
        return entries

    def touched_by(
        self, actor_id: str, *, actor: Actor, since: datetime, until: datetime
    ) -> list[str]:
        """The distinct customer ids an actor's audited actions named in ``[since, until)``,
        including what the retention job did on the actor's behalf. Needs ``audit_read``;
        audited."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            unit.audit(actor, "audit.read", at=now, reason=f"customers touched by {actor_id}")
            unit.commit()
        touched: set[str] = set()
        for acting in (actor_id, RETENTION_PRINCIPAL):
            for entry in self._audit_entries(actor_id=acting, since=since, until=until):
                mine = acting == actor_id or entry.on_behalf_of == actor_id
                if mine and entry.customer_id:
                    touched.add(entry.customer_id)
        return sorted(touched)

    def _audit_entries(self, **filters: Any) -> Iterator[AuditRecord]:
        """Every audit entry (matching ``filters``), oldest first, a page per transaction
        (the queued ones sealed first)."""
        self._context.seal_audit()
        after = 0
        while True:
            with self._context.store.transaction(readonly=True) as session:
                page = session.audit.read(after_seq=after, limit=1000, **filters)
            if not page:
                return
            yield from page
            after = page[-1].seq

    def verify(self, *, actor: Actor, checkpoint: Checkpoint | None = None) -> ChainVerification:
        """Verify the whole audit chain, and that its newest entries are all there.

        Altered, inserted, deleted and reordered entries break the chain. Deleting the newest
        entries leaves a shorter valid chain: that is caught against ``checkpoint`` when given,
        otherwise against the registry's audit head (kept in the key store, or the file given
        as ``audit_head``), which commits advance. ``entry_lost``: the head keeps evidence that
        the log lost an entry a registry had committed (found when it wrote a deferred head),
        until ``reset_head``. Needs ``audit_read``; the verification is audited after it has
        run.
        """
        actor = check_actor(actor)
        chain = self._context.require_chain("the audit chain")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            unit.commit()
        self._context.seal_audit()  # the queued entries too, and the head after them
        against = checkpoint
        if against is None and self._context.head is not None:
            against = self._context.head.read()
        result = chain.verify(self._audit_entries(), checkpoint=against)
        lost = getattr(self._context.head, "lost", None)
        evidence = lost() if result.ok and callable(lost) else None
        if isinstance(evidence, Checkpoint):  # kept beside the head until reset_head
            result = ChainVerification(
                ok=False, checked=result.checked, problem="entry_lost", seq=evidence.seq
            )
        with self._context.unit() as unit:
            unit.audit(
                actor,
                "audit.verify",
                at=now,
                reason="ok" if result.ok else f"{result.problem} at {result.seq}",
            )
            unit.commit()
        return result

    def reset_head(self, *, actor: Actor, reason: str) -> Checkpoint | None:
        """Move the audit head to the log's current end, whatever it named before.

        For after a restore from a backup, or once a reported truncation has been
        investigated: the head then no longer names entries the log lost, and later checks
        start from here. Writes an ``audit.head.reset`` entry naming the old and new heads (by
        sequence number) with ``reason``, and returns the new head (``None`` when the registry
        keeps no head). Needs the ``manage_keys`` right.
        """
        actor = check_actor(actor)
        check_reason(reason, "audit.reset_head()")
        chain = self._context.require_chain("the audit chain")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        if self._context.head is None:
            return None
        old = self._context.head.read()
        with self._context.unit() as unit:
            unit.audit(
                actor,
                "audit.head.reset",
                at=now,
                fields=[f"from={old.seq if old is not None else 0}"],
                reason=reason,
            )
            unit.flush_audit()
            newest = unit.newest
            unit.session.commit()  # closed without the head's own advance: it is replaced below
        if unit.sealed is not None:  # it sealed others' queued entries too: warn of forgeries
            self._context.after_sealing([unit.sealed], advance=False)
        if newest is None:  # queued: seal it (and anything before it) without moving the head
            self._context.seal_audit(advance=False)
            with self._context.store.transaction(readonly=True) as session:
                newest = session.audit.last()
        if newest is None:  # pragma: no cover - the reset's entry was just written
            raise StorageError("the audit log is empty")
        head = chain.checkpoint(newest)
        self._context.head.replace(head)
        return head

    def checkpoint(self, *, actor: Actor) -> Checkpoint:
        """Sign a checkpoint of the current end of the audit log; keep it outside the store."""
        actor = check_actor(actor)
        chain = self._context.require_chain("the audit chain")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            unit.audit(actor, "audit.checkpoint", at=now)
            unit.commit()
        self._context.seal_audit()
        with self._context.store.transaction(readonly=True) as session:
            last = session.audit.last()
        if last is None:  # pragma: no cover - the checkpoint entry was just written
            raise StorageError("the audit log is empty")
        return chain.checkpoint(last)
