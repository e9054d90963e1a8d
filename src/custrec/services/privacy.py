"""What a person may ask about their data: export it, erase it (``registry.privacy``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Final

import attrs

from custrec._checks import check, storable_text
from custrec._log import get_logger
from custrec._text import clean
from custrec.errors import Erased, NotFound
from custrec.matching import StrongKey, strong_keys
from custrec.model.records import Customer, personal_fields
from custrec.model.serialization import SCHEMA_VERSION
from custrec.security import Action, Actor, Resource, mask_record
from custrec.services._documents import Documents
from custrec.services._erased import REGISTER, held_tokens, register_empty
from custrec.services._records import Records
from custrec.services._work import WorkRecords
from custrec.services.context import Context, Unit, check_actor, check_reason
from custrec.services.disclosures import DISCLOSURE, DisclosureService
from custrec.services.incidents import mark_erased
from custrec.services.results import ErasureAction, ErasureReceipt, JournalEntry, SubjectExport
from custrec.storage import AuditRecord, CustomerFilter, CustomerRow, HistoryRecord, Session, Store

__all__ = ["ERASED_SUBJECT", "JOURNAL_ACTION", "PrivacyService"]

_log = get_logger(__name__)

JOURNAL_ACTION = "erasure.journal"
"""The audit action of an erasure-journal entry (in the key store's log, with the key's
deletion)."""

ERASED_SUBJECT: Final = REGISTER
"""The document kind of the register of erased subjects: one document per blind-index token
(its id) of an erased customer's phone, e-mail or identifier; the payload holds the day of the
erasure and the kind of key (``phone``, ``email``, ``scheme``), never a value or a customer
id. See docs/security.md."""


def _register_kind(key: StrongKey) -> str:
    return key[0] if key[0] in ("phone", "email") else "scheme"


def subject_in_reason(reason: str, customer: Customer) -> list[str]:
    """The kinds of the customer's own personal values that ``reason`` repeats (``name``,
    ``phone``, ``email``, ``wechat``, ``identifier``), compared after NFKC in any letter case.

    A phone counts when a number of the reason, its spaces, dashes, dots, slashes and brackets
    left out, is the phone with or without its country code; an e-mail when the reason holds
    the whole address; a name, WeChat id or identifier when it stands as whole words (a name
    in Chinese characters, of two or more, anywhere: such text has no spaces between words).
    """
    text = clean(reason).casefold()  # (dash-like characters are folded to "-" there)
    numbers = set(re.findall(r"\d+", re.sub(r"(?<=\d)[\s\-./()]+(?=\d)", "", text)))
    found: set[str] = set()

    def said(value: str | None, least: int) -> bool:
        value = clean(value or "").casefold()
        if len(value) < least:
            return False
        if value.isascii():
            return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None
        return value in text

    def dialled(phone: str) -> bool:
        digits = "".join(c for c in phone if c.isdigit())
        return any(digits[k:] in numbers for k in range(4) if len(digits) - k >= 7)

    if said(customer.name, 2):
        found.add("name")
    if any(said(getattr(ident, "value", None), 4) for ident in customer.identifiers):
        found.add("identifier")
    for contact in customer.contacts:
        if said(contact.name, 2):
            found.add("name")
        if said(contact.wechat, 4):
            found.add("wechat")
        if any(said(email, 4) for email in contact.emails):
            found.add("email")
        if any(dialled(phone) for phone in contact.phones):
            found.add("phone")
    return sorted(found)


class PrivacyService:
    """Subject exports, erasure by key destruction, and the erasure journal."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records
        self._work = WorkRecords(context, records)

    def export_subject(self, customer_id: str, *, actor: Actor) -> SubjectExport:
        """Everything held about a customer (PIPL Art. 45, GDPR Art. 15).

        Holds every personal field declared in the record metadata (``record``), the consent
        events and the current decision for every purpose with its basis, the change history,
        transactions and interactions, the retention schedule, and the sources;
        :meth:`SubjectExport.to_dict` gives the schema-versioned JSON-safe document. Needs the
        ``export`` permission; values are masked unless the actor may also unmask. Audited.
        """
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            customer_id = row.id
            decision = unit.authorize(actor, Action.EXPORT, Resource.of(row), at=now)
            customer = self._records.customer(unit, row)
            shown = self._records.shown(decision, customer)
            ledger = self._records.ledger(unit, customer_id)
            decisions = ledger.decide_all(
                as_of=now, subject=self._records.subject(customer), notices=self._context.notices
            )
            activities = []
            for activity in self._records.activity_rows(unit, customer_id):
                record = self._records.open_activity(unit, activity)
                activities.append(
                    {
                        "kind": activity.kind,
                        "record": self._context.converter.unstructure(
                            mask_record(record) if decision.masked else record
                        ),
                    }
                )
            work = [
                {
                    "kind": item_row.kind,
                    "record": self._context.converter.unstructure(
                        mask_record(item) if decision.masked else item
                    ),
                }
                for item_row in self._work.rows_of(unit, customer_id)
                for item in (self._work.open(unit, item_row),)
            ]
            history = [
                {
                    "seq": h.seq,
                    "at": h.at.isoformat(),
                    "actor_id": h.actor_id,
                    "action": h.action,
                    "path": h.path,
                    "reason": h.reason,
                }
                for h in unit.session.history.list_for(customer_id)
            ]
            disclosures = tuple(
                entry.to_json()
                for entry in DisclosureService.entries(unit, customer_id)
                if entry.disclosed
            )
            compliance = tuple(
                {
                    "kind": opened.link.kind,
                    "document_id": opened.link.document_id,
                    "state": opened.link.state,
                    "data": None if decision.masked else opened.data,
                }
                for link in unit.session.documents.links_for(customer_id)
                if link.kind != DISCLOSURE
                for opened in (Documents.open(unit, link),)
            )
            unit.audit(
                actor,
                "customer.export",
                at=now,
                customer_id=customer_id,
                fields=[] if decision.masked else self._records.personal_paths(customer),
            )
            unit.commit()
        converter = self._context.converter
        schedule = self._context.retention
        return SubjectExport(
            schema_version=SCHEMA_VERSION,
            exported_at=now,
            masked=decision.masked,
            customer_id=customer_id,
            record=converter.unstructure(shown),
            personal_fields=tuple(
                {"path": f.path, "category": f.category.value, "sensitivity": f.sensitivity.value}
                for f in personal_fields(Customer)
            ),
            sources={"source": customer.source, "created_at": _iso(customer.created_at)},
            consent={
                "jurisdiction": self._context.jurisdiction.value,
                "events": [converter.unstructure(e) for e in ledger.events],
                "purposes": {
                    code: {
                        "allowed": d.allowed,
                        "reason": d.reason,
                        "basis": d.basis.value if d.basis is not None else None,
                    }
                    for code, d in decisions.items()
                },
            },
            activities=tuple(activities),
            history=tuple(history),
            retention=schedule.to_table() if schedule is not None else None,
            work=tuple(work),
            disclosures=disclosures,
            compliance=compliance,
        )

    def erase(self, customer_id: str, *, actor: Actor, reason: str) -> ErasureReceipt:
        """Erase a customer's personal data by destroying its data key (crypto-shredding).

        The customer's index entries are deleted and its record is replaced by a tombstone holding
        only non-personal facts (kind, stage, dates); every sealed value of the customer (record,
        history, interaction summaries) becomes unreadable in the live store and in every backup of
        the data that lacks the key (see docs/security.md for what each file's backup means). The
        data key is deleted together with an entry in the erasure journal, in the key store when
        there is one (so the journal survives a restore of the data), and the storage backend
        destroys its bytes (SQLite truncates its write-ahead log after the commit). Afterwards
        ``registry.customers.get`` and friends raise :class:`~custrec.errors.Erased`; other
        customers are untouched. Needs the ``erase`` permission and a keyring
        (:class:`ErasureUnavailable` otherwise). Erasing again only re-checks that nothing is left;
        an interrupted erasure is completed by erasing again or :meth:`replay_erasures`.
        """
        actor = check_actor(actor)
        check_reason(reason, "privacy.erase()")
        self._context.require_keyring("erasure")
        now = self._context.now()
        with self._context.unit() as unit:
            row = self._records.live_row(unit, customer_id)
            unit.authorize(actor, Action.ERASE, Resource.of(row), at=now)
            self._check_reason(unit, row, reason)
            actions = self.erase_in(unit, row, actor_id=actor.id, reason=reason, now=now)
            unit.commit()
        _log.info("customer %s erased (%d erasure actions)", row.id, len(actions))
        return ErasureReceipt(
            customer_id=row.id,
            erased_at=now,
            actor_id=actor.id,
            reason=reason,
            actions=tuple(actions),
        )

    def _check_reason(self, unit: Unit, row: CustomerRow, reason: str) -> None:
        """Refuse a reason that repeats the customer's own personal data (the audit log keeps
        it after the erasure)."""
        if row.state == "erased":
            return
        try:
            customer = self._records.customer(unit, row)
        except Erased:
            return
        named = subject_in_reason(reason, customer)
        if named:
            raise ValueError(
                f"reason must not hold the customer's personal data (it names their "
                f"{', '.join(named)}): the audit log keeps the reason after the erasure"
            )

    def _close_work(self, unit: Unit, customer_id: str, now: datetime) -> tuple[int, int]:
        """Close the erased customer's open cases and tasks (they leave the due lists; their
        sealed payloads go with the key); return how many there are and how many closed."""
        rows = list(self._work.rows_of(unit, customer_id))
        closed = 0
        for row in rows:
            if row.open:
                status = "closed" if row.kind == "case" else "cancelled"
                unit.session.work.update(
                    attrs.evolve(row, open=False, due_at=None, status=status, updated_at=now),
                    expected_version=row.version,
                )
                closed += 1
        return len(rows), closed

    def erase_in(
        self,
        unit: Unit,
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
        kept = 0
        if row.state != "erased":
            try:
                customer = self._records.customer(unit, row)
            except Erased:  # the key is already gone (an interrupted erasure)
                pass
            else:
                actions.extend(
                    ErasureAction(target=path, action="shredded")
                    for path in self._records.personal_paths(customer)
                )
                kept = self._register(unit, customer, now)
        actions.extend(self._tombstone(unit, row, actor_id, reason, now))
        destroyed = self._destroy_key(unit, customer_id, actor_id, reason, now)
        actions.append(
            ErasureAction(target="data_key", action="destroyed" if destroyed else "absent")
        )
        history_count = len(unit.session.history.list_for(customer_id))
        activity_count = sum(1 for _ in self._records.activity_rows(unit, customer_id))
        actions.append(ErasureAction(target="history", action=f"{history_count} entries shredded"))
        actions.append(
            ErasureAction(target="activities", action=f"{activity_count} payloads shredded")
        )
        unreachable = mark_erased(unit, customer_id, now)
        if unreachable:  # only customers an incident has pending have this line
            actions.append(
                ErasureAction(target="incidents", action=f"{unreachable} now unreachable")
            )
        shredded, closed = self._close_work(unit, customer_id, now)
        if shredded:  # only customers with cases or tasks have this line
            actions.append(
                ErasureAction(
                    target="cases and tasks",
                    action=f"{shredded} payloads shredded, {closed} closed",
                )
            )
        for alias_id in self._records.alias_ids(unit, customer_id, chains=True):
            alias_row = unit.session.customers.get(alias_id)
            self._tombstone(unit, alias_row, actor_id, reason, now)
            destroyed = self._destroy_key(unit, alias_id, actor_id, reason, now)
            actions.append(
                ErasureAction(
                    target=f"alias {alias_id}",
                    action="data key destroyed" if destroyed else "data key absent",
                )
            )
        unit.audit(
            actor_id,
            "customer.erase",
            at=now,
            customer_id=customer_id,
            fields=[a.target for a in actions],
            reason=reason,
            on_behalf_of=on_behalf_of,
            change=True,
        )
        if kept:  # in the receipt only: the audit entry keeps its fields as before
            actions.append(
                ErasureAction(target="erased-subject register", action=f"{kept} look-up keys kept")
            )
        return actions

    def _register(self, unit: Unit, customer: Customer, now: datetime) -> int:
        """Keep the customer's strong look-up keys (blind-index tokens under every configured
        index key) in the register of erased subjects; return how many tokens it holds for
        them. Nothing names the customer: the document id is the token, the payload the day
        (not the instant, so the audit log's ``customer.erase`` entry does not pair with it)
        and the kind of key. Without a keyring tokens would be the values: nothing is kept."""
        codec = self._context.codec
        if not codec.encrypted:
            return 0
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        count = 0
        for key in sorted(strong_keys(customer)):
            kind = _register_kind(key)
            for token in codec.lookup_keys(key):
                count += 1
                if Documents.find(unit, ERASED_SUBJECT, token) is None:
                    data = {"erased_on": day.date().isoformat(), "kind": kind}
                    Documents.add(unit, ERASED_SUBJECT, token, data, now=day, tag=kind)
        return count

    def erased_keys(self, keys: Iterable[StrongKey], *, actor: Actor) -> frozenset[StrongKey]:
        """Which of ``keys`` (normalised strong keys, see :func:`custrec.matching.strong_keys`)
        belonged to an erased customer: the register of erased subjects holds their token
        under one of the configured index keys. For imports (``plan_import`` leaves such rows
        out); names no customer. An actor without the ``create`` right learns nothing (an empty
        set); when some are found, one ``erased_subject.check`` audit entry with the kinds of
        key found (no values)."""
        actor = check_actor(actor)
        codec = self._context.codec
        wanted = list(dict.fromkeys(keys))
        now = self._context.now()
        hits: set[StrongKey] = set()
        if not self._context.policy.decide(actor, Action.CREATE, Resource()).allowed:
            return frozenset()
        with self._context.read_unit() as unit:
            if codec.encrypted and wanted and not register_empty(unit):
                tokens = {key: codec.lookup_keys(key) for key in wanted}
                held = held_tokens(unit, (t for looked_up in tokens.values() for t in looked_up))
                hits.update(
                    key for key, looked_up in tokens.items() if held.intersection(looked_up)
                )
            if hits:
                unit.audit(
                    actor,
                    "erased_subject.check",
                    at=now,
                    fields=sorted({_register_kind(k) for k in hits}),
                    reason=f"{len(hits)} of {len(wanted)} keys",
                )
            unit.commit()
        return frozenset(hits)

    def _destroy_key(
        self, unit: Unit, customer_id: str, actor_id: str, reason: str, now: datetime
    ) -> bool:
        """Destroy a data key together with its erasure-journal entry (one commit of the key
        store, or this unit of work when keys live beside the data)."""

        def journal(session: Session) -> None:
            entry = AuditRecord(
                at=now,
                actor_id=actor_id,
                action=JOURNAL_ACTION,
                customer_id=customer_id,
                reason=reason,
            )
            if session is unit.session:  # keys beside the data: with the unit's own entries
                unit.pending.append(entry)  # (queued, not waiting for the log's lock)
                return
            self._context.append_audit(session, [entry])

        return unit.sealer.destroy_key(customer_id, record=journal)

    def _tombstone(
        self, unit: Unit, row: CustomerRow, actor_id: str, reason: str | None, now: datetime
    ) -> list[ErasureAction]:
        """Replace the row's payload with a tombstone and drop its index keys (idempotent)."""
        if row.state == "erased" and not row.index_keys:
            return [ErasureAction(target="record", action="already erased")]
        tombstone = {
            "schema_version": SCHEMA_VERSION,
            "erased": {"at": now.isoformat(), "by": actor_id},
            "data": {"id": row.id, "kind": row.kind, "stage": row.stage},
        }
        unit.session.customers.update(
            attrs.evolve(
                row,
                payload=json.dumps(tombstone, separators=(",", ":")).encode(),
                index_keys=frozenset(),
                facets=frozenset(),
                state="erased",
                updated_at=now,
            ),
            expected_version=row.version,
        )
        unit.session.history.append(
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
        if self._context.key_store is None:
            return [self._context.store]
        return [self._context.key_store, self._context.store]

    def journal(self, *, actor: Actor) -> list[JournalEntry]:
        """Every journalled erasure (customer id, when, the reason given), oldest first. Keep a
        copy apart from both stores: after restoring both from backups,
        :meth:`replay_erasures` takes its ids. Needs ``audit_read``; audited."""
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.AUDIT_READ, Resource(), at=now)
            unit.audit(actor, "erasure.journal.read", at=now)
            unit.commit()
        entries = sorted(self._journal_entries(), key=lambda e: (e.at, e.customer_id or ""))
        return [
            JournalEntry(customer_id=e.customer_id or "", erased_at=e.at, reason=e.reason)
            for e in entries
        ]

    def _journal_entries(self) -> Iterator[AuditRecord]:
        self._context.seal_audit()
        seen: set[str] = set()
        for store in self._journal_stores():
            after = 0
            while True:
                with store.transaction(readonly=True) as session:
                    page = session.audit.read(after_seq=after, limit=1000)
                if not page:
                    break
                for entry in page:
                    if entry.action == JOURNAL_ACTION and entry.customer_id not in seen:
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
        actor = check_actor(actor)
        self._context.require_keyring("erasure")
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.MANAGE_KEYS, Resource(), at=now)
            unit.commit()
        reasons: dict[str, str | None] = {}
        for entry in self._journal_entries():
            if entry.customer_id:
                reasons.setdefault(entry.customer_id, entry.reason)
        for erased in self._context.scan(CustomerFilter(state="erased"), lambda r: True):
            reasons.setdefault(erased.id, "erased row")
        for customer_id in ids:
            reasons.setdefault(check("ids", customer_id, storable_text()), "external journal")
        replayed: list[str] = []
        for customer_id, why in sorted(reasons.items()):
            if not customer_id:
                continue
            with self._context.unit() as unit:
                row: CustomerRow | None
                try:
                    row = unit.session.customers.get(customer_id)
                except NotFound:
                    row = None
                redone = row is not None and not (row.state == "erased" and not row.index_keys)
                if row is not None and redone:
                    self._tombstone(unit, row, actor.id, "replayed erasure", now)
                mark_erased(unit, customer_id, now)
                destroyed = self._destroy_key(
                    unit, customer_id, actor.id, why or "replayed erasure", now
                )
                if redone or destroyed:
                    _log.info(
                        "erasure of customer %s replayed (%s)",
                        customer_id,
                        "tombstoned again" if redone else "data key destroyed",
                    )
                    replayed.append(customer_id)
                    unit.audit(
                        actor,
                        "customer.erase.replay",
                        at=now,
                        customer_id=customer_id,
                        reason=why,
                        change=True,
                    )
                unit.commit()
        _log.info("erasure replay: %d of %d known erasures redone", len(replayed), len(reasons))
        return replayed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
