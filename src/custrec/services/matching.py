"""Duplicates: find them, cluster them, merge them (``registry.matching``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import check, int_range, positive_int
from custrec._log import get_logger
from custrec._progress import Progress, Reporter, counted
from custrec.consent import ConsentEvent
from custrec.errors import Erased, InvalidState, StorageError, ValidationFailed
from custrec.matching import (
    BLOCKING_KINDS,
    ClusterRun,
    DuplicateCandidate,
    DuplicateSearch,
    MatchDecision,
    StopKey,
    SurvivorshipRules,
    blocking_keys,
    compare,
    merge_records,
    profile,
    strong_keys,
)
from custrec.matching.keys import MatchKey
from custrec.model.history import FieldChange, diff
from custrec.model.records import Customer
from custrec.model.serialization import SCHEMA_VERSION, structure_with_issues
from custrec.security import Action, Actor, Resource
from custrec.services._clustering import cluster_profiles
from custrec.services._documents import Documents
from custrec.services._match_profiles import open_page, stored_profiles
from custrec.services._records import Records
from custrec.services._work import WorkRecords
from custrec.services.context import Context, Unit, check_actor, check_reason
from custrec.services.results import MergeResult
from custrec.storage import ConsentRecord, CustomerRow
from custrec.validation import normalize_customer, validate

__all__ = ["MatchingService"]

_log: Final = get_logger(__name__)


class MatchingService:
    """Find the stored customers a record may be, cluster the store, merge duplicates."""

    def __init__(self, context: Context, records: Records) -> None:
        self._context = context
        self._records = records
        self._work = WorkRecords(context, records)

    def _match_tokens(self, keys: Iterable[MatchKey]) -> dict[str, MatchKey]:
        return {token: key for key in keys for token in self._context.codec.lookup_keys(key)}

    def find_duplicates(
        self,
        candidate: Mapping[str, Any] | Customer,
        *,
        actor: Actor,
        decision: MatchDecision = MatchDecision.POSSIBLE,
        max_results: int = 20,
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
        :func:`custrec.matching.compare`, an agreement on a value weighed by how many stored
        records hold it (counted from the same look-up, up to the cap), and those at or above
        ``decision`` are returned, best first, at most ``max_results``, with the reasons for each.
        A stored candidate never matches itself. Results hold ids, scores and field names only;
        the search is audited. Needs the right to create the candidate. Nothing is merged or
        changed.
        """
        actor = check_actor(actor)
        wanted = MatchDecision(decision)
        check("max_results", max_results, positive_int())
        now = self._context.now()
        customer = self._candidate(candidate, actor)
        cap = self._context.matching.cap
        tokens = self._match_tokens(strong_keys(customer) | blocking_keys(customer))
        # a read unit: the search changes nothing, so it takes no write lock and, on
        # PostgreSQL, no index-key lock (a search that locked its keys could wait in a cycle
        # with an intake that looked one of them up and then adds another)
        with self._context.read_unit() as unit:
            unit.authorize(actor, Action.CREATE, Resource.of(customer), at=now)
            holders: dict[MatchKey, set[str]] = {}
            for token, posted in unit.session.customers.lookup_many(tokens, limit=cap + 1).items():
                holders.setdefault(tokens[token], set()).update(posted)
            stop_keys: list[StopKey] = []
            # how many records hold each value, the candidate included (a stop key's count is
            # a lower bound): the frequency adjustment of an agreement on that value
            counts = {
                key: len(holding) + (customer.id not in holding) for key, holding in holders.items()
            }
            shared: dict[str, list[int]] = {}  # id -> [strong keys shared, blocking keys shared]
            for key, holding in sorted(holders.items()):
                if len(holding) > cap:
                    # keyed, so even a plaintext store's name key cannot be guessed from it
                    stored = self._context.codec.index_key(key).encode("utf-8", "surrogatepass")
                    digest = hmac.new(self._context.digest_key, stored, hashlib.sha256).hexdigest()[
                        :14
                    ]
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
            others = [i for i in ranked if not shared[i][0]][
                : self._context.matching.max_candidates
            ]
            near = strong_holders + others
            unscored = len(ranked) - len(near)
            me = profile(customer)
            candidates: list[DuplicateCandidate] = []
            rows = [
                row
                for row in unit.session.customers.get_many(sorted(near))
                if row.state != "erased" and row.state != "merged"
            ]
            # their data keys read in one go, their profiles made from the opened documents
            page = [(row.id, row.payload, self._records.row_facts(row)) for row in rows]
            opened, gone = open_page(unit, self._context.converter, page)
            if gone:
                raise Erased(gone[0])
            for row, (theirs, _) in zip(rows, opened, strict=True):
                match = compare(
                    me,
                    theirs,
                    thresholds=self._context.matching.thresholds,
                    weights=self._context.matching.weights,
                    holders=counts,
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
            unit.audit(
                actor,
                "customer.find_duplicates",
                at=now,
                fields=sorted({k for k, _ in tokens.values()}),
                reason=f"{len(near)} compared, {len(candidates)} candidates",
            )
            unit.commit()
        if stop_keys:
            _log.info(
                "duplicate search met %d stop key(s) over the cap of %d (%s); not read",
                len(stop_keys),
                cap,
                ", ".join(f"{k.kind}: {k.records}" for k in stop_keys),
            )
        return DuplicateSearch(
            candidates=tuple(candidates[:max_results]),
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
        record = normalize_customer(record, region=self._context.region)
        return attrs.evolve(record, owner=record.owner or actor.id, team=record.team or actor.team)

    def clusters(
        self,
        *,
        actor: Actor,
        decision: MatchDecision = MatchDecision.PROBABLE,
        batch_size: int = 1000,
        progress: Progress | None = None,
        workers: int = 1,
        reopen: Callable[[], Any] | None = None,
    ) -> ClusterRun:
        """Cluster every stored customer with its duplicates (a batch run over the whole store).

        Customers are read in batches and their match profiles spilled, sealed under a
        throw-away key, to a scratch database in a private temporary directory; block sizes are
        counted before anything is compared (keys over the cap are reported as stop keys and
        never expanded), pairs are streamed block by block, each scored once, and pairs at or
        above ``decision`` are joined with union-find. Memory stays bounded by the largest block
        and the links found, not by the number of pairs. Needs the right to read every customer
        (the result holds ids, scores and field names only). Audited. Nothing is merged.

        ``progress(customers_read)`` is called every ``batch_size`` customers read and once at
        the end with every customer read, after the comparisons; a callback that raises stops
        the run (nothing is written: the scratch database is removed).

        ``workers=2`` uses a second process, started with ``spawn`` (a script that asks for it
        must guard its top level with ``if __name__ == "__main__":``): the blocks are scored in
        both, by turns. With ``reopen`` as well, a picklable module-level callable (or
        ``functools.partial`` of one) that opens this same registry (the same store, keys from
        the same key source), the second process also opens and profiles every other page of
        customers while this one reads the rows. It receives sealed payloads and reads its keys
        itself: no key crosses between the processes, and it writes nothing. The result is the
        same as with one process.
        """
        actor = check_actor(actor)
        check("workers", workers, int_range(1, 2))
        if reopen is not None and (workers < 2 or not callable(reopen)):
            raise ValueError("reopen: a callable that opens the same registry, with workers=2")
        wanted = MatchDecision(decision)
        if wanted is MatchDecision.DISTINCT:
            raise ValueError("clustering at 'distinct' would join everything; use 'possible' or up")
        check("batch_size", batch_size, positive_int())
        now = self._context.now()
        with self._context.unit() as unit:
            unit.authorize(actor, Action.READ, Resource(), at=now)
            unit.audit(actor, "customer.find_duplicate_clusters", at=now, reason=str(wanted))
            unit.commit()

        reporter = Reporter(progress, every=batch_size)
        run = cluster_profiles(
            counted(stored_profiles(self._context, self._records, batch_size, reopen), reporter),
            cap=self._context.matching.cap,
            decision=wanted,
            thresholds=self._context.matching.thresholds,
            weights=self._context.matching.weights,
            workers=workers,
        )
        reporter.finish()
        return run

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
        survivor; their consent events are copied into the survivor's ledger (their own ledgers stay
        as they were); each other record becomes an alias that ``customers.get``,
        ``customers.update``, ``activities.list``, ``privacy.export_subject`` and the activity
        recorders follow to the survivor (so do the consent calls: ``consent.record``,
        ``consent.grant`` and friends, ``consent.ledger``, ``consent.may_use``). The survivor's
        history gets one ``merge`` entry per changed field and one naming the merged ids; each
        alias's history gets a ``merged`` entry; all is audited. Needs update rights on every
        customer involved. Raises ``NotFound``, ``Erased``, :class:`~custrec.errors.InvalidState` (a
        record already merged, or kinds that differ), ``ValueError`` for an empty, repeated or
        self-including ``other_ids``.
        """
        actor = check_actor(actor)
        check_reason(reason, "matching.merge()")
        others = list(other_ids) if not isinstance(other_ids, str) else [other_ids]
        if not others:
            raise ValueError("merge() needs at least one other customer id")
        if len(set(others)) != len(others) or survivor_id in others:
            raise ValueError("merge() ids must be distinct and must not include the survivor")
        now = self._context.now()
        with self._context.unit() as unit:
            rows = [unit.session.customers.get(i) for i in (survivor_id, *others)]
            for row in rows:
                unit.authorize(actor, Action.UPDATE, Resource.of(row), at=now)
            records = [self._records.customer(unit, row) for row in rows]
            survivor, merged = records[0], records[1:]
            if any(m.kind != survivor.kind for m in merged):
                raise InvalidState("an organisation and an individual cannot be merged")
            outcome = merge_records(survivor, merged, rules=rules)
            new = attrs.evolve(outcome.record, version=rows[0].version, updated_at=now)
            report = validate(new, self._context.rules, as_of=now, region=self._context.region)
            if not report.ok:
                raise ValidationFailed(report)
            version = unit.session.customers.update(
                self._records.row(unit, new), expected_version=rows[0].version
            )
            entries = [
                self._records.history_entry(
                    unit, survivor_id, c, actor, reason, now, action="merge"
                )
                for c in diff(survivor, attrs.evolve(new, updated_at=survivor.updated_at))
            ]
            entries.append(
                self._records.history_entry(
                    unit,
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
            alias_token = self._context.codec.index_key(("merged_into", survivor_id))
            for row, record in zip(rows[1:], merged, strict=True):
                moved_activities += unit.session.activities.reassign(record.id, survivor_id)
                moved_consents += self._copy_consents(unit, record.id, survivor_id)
                self._work.move(unit, record.id, survivor_id, now)
                Documents.move(unit, record.id, survivor_id, now)
                unit.session.customers.update(
                    attrs.evolve(
                        row,
                        payload=_alias_payload(row, survivor_id, now, actor),
                        index_keys=frozenset({alias_token}),
                        facets=frozenset(),
                        state="merged",
                        updated_at=now,
                    ),
                    expected_version=row.version,
                )
                entries.append(
                    self._records.merged_entry(unit, record, survivor_id, actor, reason, now)
                )
                unit.audit(
                    actor,
                    "customer.merged",
                    at=now,
                    customer_id=record.id,
                    reason=reason,
                    change=True,
                )
            unit.session.history.append(entries)
            unit.audit(
                actor,
                "customer.merge",
                at=now,
                customer_id=survivor_id,
                fields=list(outcome.changed_fields),
                reason=reason,
                change=True,
            )
            unit.commit()
        stored = attrs.evolve(new, version=version)
        read = self._context.policy.decide(actor, Action.READ, Resource.of(stored))
        return MergeResult(
            customer=self._records.shown(read, stored),
            merged_ids=tuple(others),
            choices=outcome.choices,
            activities_moved=moved_activities,
            consent_events_copied=moved_consents,
        )

    def _copy_consents(self, unit: Unit, from_id: str, to_id: str) -> int:
        """Re-seal ``from_id``'s consent events into ``to_id``'s ledger; return how many."""
        records = unit.session.consents.list_for(from_id)
        seq = len(unit.session.consents.list_for(to_id))
        for record in records:
            data = unit.sealer.open_value(
                record.payload, customer_id=from_id, field=f"consent:{record.seq}"
            )
            event = attrs.evolve(
                self._context.converter.structure(data, ConsentEvent), customer_id=to_id
            )
            seq += 1
            stored = unit.session.consents.append(
                ConsentRecord(
                    customer_id=to_id,
                    recorded_at=record.recorded_at,
                    purpose=record.purpose,
                    action=record.action,
                    payload=unit.sealer.seal_value(
                        self._context.converter.unstructure(event),
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
        actor = check_actor(actor)
        now = self._context.now()
        with self._context.unit() as unit:
            row = unit.session.customers.get(customer_id)
            unit.authorize(actor, Action.READ, Resource.of(row), at=now)
            found = self._records.alias_ids(unit, customer_id)
            unit.commit()
        return found


def _alias_payload(row: CustomerRow, survivor_id: str, at: datetime, actor: Actor) -> bytes:
    document = {
        "schema_version": SCHEMA_VERSION,
        "merged_into": survivor_id,
        "merged": {"at": at.isoformat(), "by": actor.id},
        "data": {"id": row.id, "kind": row.kind, "stage": row.stage},
    }
    return json.dumps(document, separators=(",", ":")).encode()
