"""Planning and running an import: every row normalised, validated, de-duplicated and decided.

:func:`plan_import` reads rows in chunks (memory stays flat), and for each row:

1. maps it to customer data (:class:`~custrec.interchange.mapping.ImportMapping`) and runs
   :func:`~custrec.validation.parse_customer` on it: every problem becomes a
   :class:`~custrec.interchange.report.RowIssue` with row, column, field path and code
   (with ``ImportPolicy(workers=N)`` this step runs in ``N`` worker processes, see
   ``custrec.interchange._prepare``; the steps below stay in the calling process, in file
   order, so the result is the same);
2. looks for duplicates inside the file: a row holding a strong identifier (phone, e-mail,
   credit code, resident id, passport, external id) that an earlier row held is a
   ``duplicate_in_file`` (the first row wins);
3. looks for the row's identifiers in the store (batched, one read per chunk) and decides by
   the :class:`ImportPolicy`: ``created`` when nobody holds them; when one stored customer does,
   ``duplicate_in_store`` (``on_match="skip"``, the default), ``updated``/``unchanged``
   (``"update"``: the row's mapped, non-blank fields are merged into the stored customer; lists
   of contacts, addresses, identifiers and tags are merged, not replaced) or ``conflict``
   (``"conflict"``: a person decides); several stored customers are always a ``conflict``;
4. unless ``dry_run``, writes the chunk: new customers in one transaction per batch, sealed
   where they were prepared when the registry encrypts (``custrec.services._presealed``: the
   writer checks rights and duplicates, wraps the data keys and writes) and otherwise through
   ``registry.customers.intake_many``, updates through ``registry.customers.update``; all
   tagged ``import <import id>`` in the history and the audit log.

Re-running is safe. Each new customer's id is derived from the import id and the row's
identity (its external id, else its strong identifiers, else its content): an id already
stored means an earlier run (or the same run before a crash) applied the row, which is
reported as ``already_applied`` and not written again. A chunk is written in one transaction,
so a crash leaves it wholly stored or not at all.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

import attrs

from custrec._checks import int_range, integer, number_range, positive_int, require_aware
from custrec._collector import fewer_collections
from custrec._log import get_logger, slow_batch
from custrec._progress import Progress, Reporter
from custrec.errors import (
    AccessDenied,
    DuplicateCustomer,
    Erased,
    NotFound,
    StorageError,
    ValidationFailed,
    VersionConflict,
)
from custrec.interchange import report_ids
from custrec.interchange._identity import (
    IMPORT_ID_PATTERN,
    check_import_id,
    derive_id,
    row_identity,
)
from custrec.interchange._merge import (
    dedupe,
    merge_addresses,
    merge_contacts,
    merge_identifiers,
    overlay,
    readable,
)
from custrec.interchange._prepare import (
    NOT_MERGED,
    Binder,
    Prepared,
    Preparer,
    prepared_chunks,
    row_issues,
)
from custrec.interchange._work import StoreIndex, WorkIndex
from custrec.interchange.errorfile import ErrorFile
from custrec.interchange.mapping import ImportMapping, MappedRow
from custrec.interchange.readers import SourceRow
from custrec.interchange.report import ImportReport, Outcome, RowIssue, SourceInfo
from custrec.interchange.report_ids import IdsFile, RowResult
from custrec.model.issues import Severity, ValidationReport
from custrec.model.records import (
    Customer,
    Milestones,
)
from custrec.model.serialization import make_converter
from custrec.registry import Registry
from custrec.security import Actor
from custrec.services import BulkResult, Preparation, PreparedCustomer
from custrec.services._erased import _ErasedMeanwhile
from custrec.services._intake import intake_refusing_erased
from custrec.services._presealed import (
    Presealed,
    intake_presealed,
    presealer,
    registry_clock,
)
from custrec.storage.codec import StrongKey
from custrec.validation import parse_customer

__all__ = [
    "IMPORT_ID_PATTERN",
    "ImportPolicy",
    "derive_id",
    "plan_import",
    "row_identity",
]

MAX_WORKERS: Final = 64
"""The most worker processes an import starts."""

_MATCH_ACTIONS: Final = ("skip", "update", "conflict")
_DUPLICATE_ACTIONS: Final = ("skip", "conflict")
_KEY_NAMES: Final = {
    "phone": "phone",
    "email": "e-mail",
    "uscc": "credit code",
    "ric": "resident id",
    "passport": "passport",
    "external": "external id",
}
_CONVERTER: Final = make_converter()
_TO_FIX: Final = frozenset({Outcome.REJECTED, Outcome.CONFLICT, Outcome.DUPLICATE_IN_FILE})
"""The outcomes whose rows go to the error file."""

_PROGRESS_ROWS: Final = 250  # rows checked between progress calls ...
_PROGRESS_SECONDS: Final = 0.2  # ... or seconds, whichever comes first
_log: Final = get_logger(__name__)


def _choice(options: tuple[str, ...]) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(_: object, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in options:
            raise ValueError(f"{attribute.name} must be one of {', '.join(options)}")

    return check


@attrs.frozen(kw_only=True)
class ImportPolicy:
    """How an import decides and commits.

    ``on_match``: what to do with a row whose strong identifiers one stored customer holds:
    ``"skip"`` (report it as ``duplicate_in_store``), ``"update"`` (merge the row's mapped,
    non-blank fields into that customer; needs the update right and, to merge, the unmask
    right) or ``"conflict"`` (leave it to a person). ``on_file_duplicate``: ``"skip"`` later
    rows repeating an earlier row's identifiers, or report them as ``"conflict"`` (into the
    error file). ``batch_size`` rows are planned, and written, per transaction.
    ``sample_share`` of the customers the import holds are sampled for manual checking, picked
    reproducibly by ``sample_seed``.

    ``workers`` processes map and validate the rows (1, the default: in the calling process).
    More workers use more cores: the rows are prepared by that many processes started with the
    ``spawn`` method, at most ``workers`` chunks ahead of the one being written, while the
    calling process de-duplicates, matches and writes them in file order, so the outcome, the
    report and the error file are the same for any number of workers (``workers`` is not in
    :meth:`to_dict`). The default stays 1 because spawned processes import the caller's main
    module: a script that starts an import with ``workers`` > 1 must guard its top level with
    ``if __name__ == "__main__":``; the ``custrec import`` command uses two workers when it has
    two cores. An import that fits in one chunk is prepared in the calling process whatever
    ``workers`` says (starting processes would cost more than it saves).
    """

    on_match: str = attrs.field(default="skip", validator=_choice(_MATCH_ACTIONS))
    on_file_duplicate: str = attrs.field(default="skip", validator=_choice(_DUPLICATE_ACTIONS))
    batch_size: int = attrs.field(default=5000, validator=positive_int())
    sample_share: float = attrs.field(default=0.15, validator=number_range(0, 1))
    sample_seed: int = attrs.field(default=0, validator=integer())
    workers: int = attrs.field(default=1, validator=int_range(1, MAX_WORKERS))

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-safe data (as it appears in the report): what decides outcomes,
        so ``workers`` is left out."""
        return {
            "on_match": self.on_match,
            "on_file_duplicate": self.on_file_duplicate,
            "batch_size": self.batch_size,
            "sample_share": self.sample_share,
            "sample_seed": self.sample_seed,
        }


def _key_names(keys: Iterable[StrongKey]) -> str:
    names = sorted({_KEY_NAMES.get(kind, kind.removeprefix("id.")) for kind, _ in keys})
    return ", ".join(names)


# ------------------------------------------------------------------------------ row state


@attrs.define
class _Row:
    source: SourceRow
    mapped: MappedRow | None
    issues: list[RowIssue]
    customer: Customer | None = None
    keys: frozenset[StrongKey] = frozenset()
    target: str | None = None
    explicit_id: bool = False
    vouched: PreparedCustomer | None = None  # the customer, as intake trusts it
    presealed: Presealed | None = None  # the customer as stored, sealed by the preparer
    outcome: Outcome | None = None
    match: str | None = None  # the stored customer an update goes to
    other: str | None = None  # the stored customer a skipped row duplicates
    first: int | None = None  # the earlier row a duplicate in the file repeats
    digests: tuple[tuple[bytes, StrongKey | None], ...] = ()

    @property
    def valid(self) -> bool:
        """Whether the row prepared a valid customer (``customer`` is left out of a presealed
        row when no update can need it)."""
        return self.customer is not None or self.presealed is not None

    def decide(self, outcome: Outcome, issue: RowIssue | None = None) -> None:
        self.outcome = outcome
        if issue is not None:
            self.issues.append(issue)

    def issue(
        self, code: str, message: str, *, severity: Severity = Severity.ERROR, path: str = ""
    ) -> RowIssue:
        column = self.mapped.column_of(path) if self.mapped is not None and path else None
        return RowIssue(
            row=self.source.number,
            column=column,
            path=path,
            code=code,
            message=message,
            severity=severity,
        )


# ------------------------------------------------------------------------------- importer


class _Importer:
    def __init__(
        self,
        registry: Registry,
        mapping: ImportMapping,
        *,
        actor: Actor,
        policy: ImportPolicy,
        dry_run: bool,
        import_id: str,
        headers: Sequence[str] | None,
        error_file: ErrorFile | None,
        ids_file: IdsFile | None,
        as_of: datetime,
        allow_erased: bool = False,
    ) -> None:
        self.registry = registry
        self.allow_erased = allow_erased
        self.mapping = mapping
        self.actor = actor
        self.policy = policy
        self.dry_run = dry_run
        self.import_id = import_id
        self.reason = f"import {import_id}"
        self.error_file = error_file
        self.ids_file = ids_file
        self.as_of = as_of
        self.headers = tuple(headers) if headers is not None else None
        self.binder = Binder(mapping, headers)
        self.store = StoreIndex(registry, actor)
        self.work = WorkIndex(seed=policy.sample_seed)
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self.issues: list[RowIssue] = []
        self.rows = 0

    # ------------------------------------------------------------------ 1. map and validate

    @staticmethod
    def row(source: SourceRow, prepared: Prepared) -> _Row:
        """A prepared row (mapped, validated, keys and id derived: see ``_prepare``)."""
        return _Row(
            source=source,
            mapped=prepared.mapped,
            issues=prepared.issues,
            customer=prepared.customer,
            keys=prepared.keys,
            target=prepared.target,
            explicit_id=prepared.explicit_id,
            vouched=prepared.vouched,
            presealed=prepared.presealed,
        )

    def _row_issues(self, row: _Row, report: ValidationReport) -> Iterator[RowIssue]:
        return row_issues(row.source, row.mapped, report)

    # ------------------------------------------------------------ 2. duplicates in the file

    def dedupe_in_file(self, rows: list[_Row]) -> None:
        valid = [r for r in rows if r.valid]
        for row in valid:
            assert row.target is not None
            digests: list[tuple[bytes, StrongKey | None]] = [
                (self.work.digest(kind, value), (kind, value)) for kind, value in row.keys
            ]
            digests.append((self.work.digest("id", row.target), None))
            row.digests = tuple(digests)
        earlier = self.work.first_rows({d for r in valid for d, _ in r.digests})
        local: dict[bytes, int] = {}
        for row in valid:
            hits = [
                (earlier.get(d) or local.get(d), key)
                for d, key in row.digests
                if d in earlier or d in local
            ]
            for digest, _ in row.digests:
                local.setdefault(digest, row.source.number)
            if hits:
                first = min(n for n, _ in hits if n is not None)
                keys = [k for n, k in hits if k is not None and n == first]
                what = _key_names(keys) if keys else "identity"
                self._file_duplicate(row, first, f"same {what} as row {first}")
        self.work.remember(local.items())

    def _file_duplicate(self, row: _Row, first: int, message: str) -> None:
        conflict = self.policy.on_file_duplicate == "conflict"
        row.first = first
        row.decide(
            Outcome.CONFLICT if conflict else Outcome.DUPLICATE_IN_FILE,
            row.issue(
                "duplicate.in_file",
                message,
                severity=Severity.ERROR if conflict else Severity.WARNING,
            ),
        )

    # ------------------------------------------------------------- 3. match the store

    def check_erased(self, rows: list[_Row]) -> None:
        """Rows about to create a customer with an erased customer's strong keys (the register
        of erased subjects) are ``erased_subject``; the issue names the kinds of key only."""
        # rows to create, and rows repeating an earlier row (they would go to the error file)
        creates = [r for r in rows if r.keys and r.match is None and (not r.outcome or r.first)]
        if self.allow_erased or not creates:
            return
        hits = self.registry.privacy.erased_keys(
            {k for r in creates for k in r.keys}, actor=self.actor
        )
        for row in (r for r in creates if r.keys & hits):
            what = _key_names(row.keys & hits)
            message = f"same {what} as an erased customer; not stored"
            row.issues = [i for i in row.issues if not i.code.startswith("duplicate.")]
            row.decide(
                Outcome.ERASED_SUBJECT,
                row.issue("erased.subject", message, severity=Severity.WARNING),
            )

    def match_store(self, rows: list[_Row]) -> None:
        pending = [r for r in rows if r.valid and r.outcome is None]
        keys = {k for r in pending for k in r.keys}
        ids = {r.target for r in pending if r.target is not None}
        holders, existing = self.store.lookup(keys, ids)
        targets: dict[str, int] = {}
        for row in pending:
            assert row.target is not None
            others = sorted({i for k in row.keys for i in holders.get(k, ())} - {row.target})
            if row.target in existing:
                if self.policy.on_match == "update" and row.mapped and row.mapped.touched:
                    row.match = row.target
                else:
                    row.decide(Outcome.ALREADY_APPLIED)
            elif not others:
                row.match = None
            elif len(others) > 1:
                row.decide(
                    Outcome.CONFLICT,
                    row.issue(
                        "match.ambiguous",
                        f"matches {len(others)} stored customers: {', '.join(others)}",
                    ),
                )
            else:
                matched = [k for k in row.keys if others[0] in holders.get(k, ())]
                what = _key_names(matched)
                if self.policy.on_match == "skip":
                    row.other = others[0]
                    row.decide(
                        Outcome.DUPLICATE_IN_STORE,
                        row.issue(
                            "duplicate.in_store",
                            f"same {what} as stored customer {others[0]}",
                            severity=Severity.WARNING,
                        ),
                    )
                elif self.policy.on_match == "conflict":
                    row.decide(
                        Outcome.CONFLICT,
                        row.issue(
                            "match.review",
                            f"same {what} as stored customer {others[0]}; the policy asks a "
                            "person to decide",
                        ),
                    )
                else:
                    row.match = others[0]
            if row.outcome is None and row.match is not None:
                first = targets.setdefault(row.match, row.source.number)
                if first != row.source.number:
                    self._file_duplicate(row, first, f"updates the same customer as row {first}")

    # ---------------------------------------------------------------- 4. write (or not)

    def apply(self, rows: list[_Row]) -> None:
        ready = [r for r in rows if r.outcome is None and r.valid]
        creates = [r for r in ready if r.match is None]
        updates = [r for r in ready if r.match is not None]
        if creates:
            if self.dry_run:
                for row in creates:
                    row.decide(Outcome.CREATED)
            else:
                self._create(creates)
        for row in updates:
            self._update(row)
        for row in rows:
            if row.outcome is None:
                row.decide(Outcome.REJECTED)

    def _create(self, rows: list[_Row]) -> None:
        while True:  # the register of erased subjects is read again in the write
            try:
                result = self._write_new(rows)
                break
            except _ErasedMeanwhile as exc:  # erased since check_erased: left out
                self.check_erased(rows)
                left = [r for r in rows if r.outcome is None]
                if len(left) == len(rows):  # the register and the rows' keys disagree
                    raise StorageError(
                        "the register of erased subjects changed during the import and its "
                        "rows could not be told apart; run the import again",
                        retry_safe=True,
                    ) from exc
                rows = left
        self._created(rows, result)

    def _write_new(self, rows: list[_Row]) -> BulkResult:
        presealed = [r.presealed for r in rows if r.presealed is not None]
        if rows and len(presealed) == len(rows):  # sealed by the preparer: decided here
            return intake_presealed(
                self.registry.customers,
                presealed,
                actor=self.actor,
                reason=self.reason,
                refuse_erased=not self.allow_erased,
                tokens=self.store.tokens,
            )
        customers: list[Customer | PreparedCustomer] = []
        for row in rows:
            assert row.customer is not None and row.target is not None
            vouched = row.vouched
            if vouched is not None and vouched.record is row.customer:
                customers.append(
                    vouched if row.customer.id == row.target else vouched.with_id(row.target)
                )
                continue
            customer = row.customer
            if customer.id != row.target:
                customer = attrs.evolve(customer, id=row.target)
            customers.append(customer)
        if not self.allow_erased:
            return intake_refusing_erased(
                self.registry.customers, customers, actor=self.actor, reason=self.reason
            )
        return self.registry.customers.intake_many(
            customers, actor=self.actor, reason=self.reason, batch_size=max(1, len(customers))
        )

    def _created(self, rows: list[_Row], result: BulkResult) -> None:
        added, skipped = set(result.added), set(result.skipped)
        for position, row in enumerate(rows):
            if row.target in added:
                row.decide(Outcome.CREATED)
            elif row.target in skipped:
                row.decide(Outcome.ALREADY_APPLIED)
            elif position in result.duplicates:
                if len(result.duplicates[position]) == 1:
                    row.other = result.duplicates[position][0]
                ids = ", ".join(result.duplicates[position])
                row.decide(
                    Outcome.DUPLICATE_IN_STORE,
                    row.issue(
                        "duplicate.in_store",
                        f"a stored customer was given the same identifier meanwhile: {ids}",
                        severity=Severity.WARNING,
                    ),
                )
            elif position in result.denied:
                row.decide(
                    Outcome.REJECTED,
                    row.issue(
                        "access.denied",
                        f"the actor may not create this customer ({result.denied[position]})",
                    ),
                )
            else:
                report = result.rejected.get(position, ValidationReport())
                row.issues.extend(self._row_issues(row, report))
                row.decide(Outcome.REJECTED)

    def _update(self, row: _Row) -> None:
        assert row.customer is not None and row.match is not None and row.mapped is not None
        try:
            current = self.registry.customers.get(row.match, actor=self.actor, purpose=self.reason)
        except AccessDenied:
            row.decide(
                Outcome.CONFLICT,
                row.issue("access.denied", "the actor may not read the matching customer"),
            )
            return
        except (NotFound, Erased):
            if row.match == row.target:  # stored by this import, erased since: leave it erased
                row.decide(
                    Outcome.ALREADY_APPLIED,
                    row.issue(
                        "match.erased",
                        "stored by an earlier run and erased since; not brought back",
                        severity=Severity.INFO,
                    ),
                )
            else:
                row.decide(
                    Outcome.CONFLICT,
                    row.issue("match.gone", "the matching customer was erased meanwhile"),
                )
            return
        if not readable(current, row.keys):
            if row.match == row.target and not row.keys:
                row.decide(Outcome.ALREADY_APPLIED)
                return
            row.decide(
                Outcome.CONFLICT,
                row.issue(
                    "update.masked",
                    "the actor sees the stored customer masked; updates need the unmask role",
                ),
            )
            return
        changes = merge_changes(current, row.customer, row.mapped.touched)
        already = row.match == row.target
        if not changes:
            row.decide(Outcome.ALREADY_APPLIED if already else Outcome.UNCHANGED)
            return
        merged = _CONVERTER.unstructure(current)
        merged.update(changes)
        merged.pop("version", None)
        check = parse_customer(  # custom values checked when they change, as update does
            merged,
            region=self.mapping.region,
            as_of=self.as_of,
            fields=self.mapping.fields if "custom" in changes else None,
        )
        if not check.report.ok:
            row.issues.extend(self._row_issues(row, check.report))
            row.decide(Outcome.REJECTED)
            return
        if self.dry_run:
            row.decide(Outcome.UPDATED)
            return
        try:
            self.registry.customers.update(
                row.match,
                changes,
                actor=self.actor,
                reason=self.reason,
                expected_version=current.version,
            )
        except ValidationFailed as exc:
            row.issues.extend(self._row_issues(row, exc.report))
            row.decide(Outcome.REJECTED)
        except DuplicateCustomer as exc:
            row.decide(
                Outcome.CONFLICT,
                row.issue(
                    "update.duplicate",
                    "the merged record would share an identifier with "
                    + ", ".join(exc.existing_ids),
                ),
            )
        except VersionConflict:
            row.decide(
                Outcome.CONFLICT,
                row.issue("update.version", "the customer changed while the import ran; re-run"),
            )
        except AccessDenied:
            row.decide(
                Outcome.CONFLICT,
                row.issue("access.denied", "the actor may not update the matching customer"),
            )
        else:
            row.decide(Outcome.UPDATED)

    # ------------------------------------------------------------------ 5. account for it

    def account(self, rows: list[_Row]) -> None:
        held: list[str] = []
        for row in rows:
            outcome = row.outcome or Outcome.REJECTED
            self.counts[outcome] += 1
            self.issues.extend(row.issues)
            if outcome.in_store:
                target = row.match if row.match is not None else row.target
                if target is not None:
                    held.append(target)
            if self.error_file is not None and outcome in _TO_FIX:
                self.error_file.write(row.source, row.issues)
        if held:
            self.work.hold(held)
        self.map_ids(rows)

    def map_ids(self, rows: list[_Row]) -> None:
        """Record which customer each row became (a duplicate in the file: its first row's)."""
        ids: dict[int, str | None] = {}
        for row in rows:
            outcome = row.outcome or Outcome.REJECTED
            if outcome.in_store or outcome is Outcome.UNCHANGED:
                ids[row.source.number] = row.match if row.match is not None else row.target
            elif outcome is Outcome.DUPLICATE_IN_STORE:
                ids[row.source.number] = row.other
        firsts = {r.first for r in rows if r.match is None and r.first is not None}
        earlier = self.work.ids_of({n for n in firsts if n not in ids})
        results = []
        for row in rows:
            number, outcome = row.source.number, row.outcome or Outcome.REJECTED
            customer_id = ids.get(number)
            if outcome is Outcome.DUPLICATE_IN_FILE:
                customer_id = row.match
                if customer_id is None and row.first is not None:
                    customer_id = ids.get(row.first) or earlier.get(row.first)
            results.append((number, outcome.value, customer_id))
            if self.ids_file is not None:
                self.ids_file.write(RowResult(row=number, outcome=outcome, customer_id=customer_id))
        self.work.record(results)

    def run_chunk(self, chunk: list[SourceRow], prepared: list[Prepared]) -> None:
        rows = [self.row(source, p) for source, p in zip(chunk, prepared, strict=True)]
        self.dedupe_in_file(rows)
        self.match_store(rows)
        self.check_erased(rows)
        self.apply(rows)
        self.account(rows)
        self.rows += len(rows)

    def report(self, source: SourceInfo | None) -> ImportReport:
        return ImportReport(
            import_id=self.import_id,
            dry_run=self.dry_run,
            rows=self.rows,
            counts=self.counts,
            issues=tuple(self.issues),
            source=source,
            mapping_name=self.mapping.name,
            columns=self.binder.usage(),
            policy=self.policy.to_dict(),
            sample_share=self.policy.sample_share,
            sample_seed=self.policy.sample_seed,
            sample_ids=self.work.sample(self.policy.sample_share),
            error_file=self.error_file.path.name if self.error_file is not None else None,
            error_rows=self.error_file.rows if self.error_file is not None else 0,
            error_encoding=self.error_file.encoding if self.error_file is not None else None,
            error_line_end=self.error_file.line_end if self.error_file is not None else None,
            error_note=self.error_file.note if self.error_file is not None else None,
            row_ids=self.row_ids(),
            ids_file=self.ids_file.path.name if self.ids_file is not None else None,
        )

    def row_ids(self) -> tuple[RowResult, ...] | None:
        """The row-to-id map, when the import is small enough to hold it inline."""
        if self.rows > report_ids.INLINE_ROW_IDS:
            return None
        return tuple(RowResult(row=n, outcome=o, customer_id=i) for n, o, i in self.work.results())


def merge_changes(current: Customer, new: Customer, touched: Iterable[str]) -> dict[str, Any]:
    """The changes that merge ``new``'s ``touched`` top-level fields into ``current``.

    Scalars are replaced; contacts are merged by a shared phone, e-mail or name (phones and
    e-mails are added), identifiers by scheme and system, addresses by kind (fields given are
    replaced), tags, interests and needs are added, milestones given are replaced, and custom
    values given are replaced field by field (the others are kept). Returns the changed fields
    only, as data for ``registry.customers.update``.
    """
    changes: dict[str, Any] = {}
    for name in sorted(set(touched) - NOT_MERGED):
        old = getattr(current, name, None)
        value = getattr(new, name, None)
        if name == "contacts":
            value = merge_contacts(current.contacts, new.contacts)
        elif name == "identifiers":
            value = merge_identifiers(current.identifiers, new.identifiers)
        elif name == "addresses":
            value = merge_addresses(current.addresses, new.addresses)
        elif name in ("tags", "product_interests", "needs"):
            value = dedupe((*(old or ()), *(value or ())))
        elif name == "milestones" and isinstance(value, Milestones):
            value = overlay(current.milestones, value)
        elif name == "custom":
            value = current.custom.replace(**new.custom)
        if value != old:
            changes[name] = _CONVERTER.unstructure(value)
    return changes


def _as_rows(rows: Iterable[SourceRow | Mapping[str, Any]]) -> Iterator[SourceRow]:
    for number, row in enumerate(rows, start=1):
        if isinstance(row, SourceRow):
            yield row
        elif isinstance(row, Mapping):
            yield SourceRow(number=number, cells=row, raw=dict(row))
        else:
            raise TypeError("rows must be SourceRow objects or mappings")


def plan_import(
    rows: Iterable[SourceRow | Mapping[str, Any]],
    mapping: ImportMapping | None,
    registry: Registry,
    *,
    actor: Actor,
    import_id: str,
    policy: ImportPolicy | None = None,
    dry_run: bool = True,
    error_file: ErrorFile | None = None,
    ids_file: IdsFile | None = None,
    source: SourceInfo | None = None,
    progress: Progress | None = None,
    as_of: datetime | None = None,
    allow_erased: bool = False,
) -> ImportReport:
    """Plan an import of ``rows`` into ``registry`` and, unless ``dry_run``, carry it out.

    ``rows`` are :class:`~custrec.interchange.readers.SourceRow` objects (from
    :func:`~custrec.interchange.open_source`) or plain mappings (numbered from 1). ``mapping``
    is an :class:`~custrec.interchange.mapping.ImportMapping`, or ``None`` for files custrec
    exported. ``import_id`` names the import: re-running with the same id (after a crash or a
    fix) applies only what is not stored yet. With ``dry_run=True`` (the default) nothing is
    written, but the report is the one the real run would give. Rows needing a person's
    attention are written to ``error_file`` when one is given, and the customer id each row became
    to ``ids_file`` (see :mod:`~custrec.interchange.report_ids`); ``progress(rows_done)`` is called
    as rows are read and checked (every 250 rows or 0.2 seconds, whichever comes first, when
    they are checked in this process) and after each chunk is written, the last call giving
    every row read; a callback that raises stops the import: chunks written before stay
    written (a re-run with the same ``import_id`` completes it), the chunk in hand is not
    written. ``as_of`` (aware, default now) is the instant "not in the future" is
    checked against. The actor needs the create right (and for ``on_match="update"`` the
    update and unmask rights).

    A row that would create a customer although one of its strong identifiers (phone, e-mail,
    government or external id) belonged to an erased customer is ``erased_subject``: not
    stored, not in the error file, counted and listed (row and kinds of key only).
    ``allow_erased=True`` stores such rows (a person who came back and consented anew: the new
    collection needs its own basis).

    The mapping is checked against the registry's custom-field definitions
    (:meth:`~custrec.interchange.mapping.ImportMapping.with_fields`): a ``custom.<name>`` column
    or header naming no defined field fails the import before a row is read. Raises
    :class:`~custrec.errors.MappingError` when the mapping does not fit the file or the
    definitions (checked before anything is written); bad rows never raise, they are reported.
    """
    if not isinstance(actor, Actor):
        raise TypeError("actor must be a custrec.Actor")
    check_import_id(import_id)
    if not isinstance(registry, Registry):
        raise TypeError("registry must be a custrec.Registry")
    if mapping is not None and not isinstance(mapping, ImportMapping):
        raise TypeError("mapping must be an ImportMapping or None")
    now = require_aware(as_of, "as_of") if as_of is not None else datetime.now(UTC)
    chosen = policy if policy is not None else ImportPolicy()
    headers = getattr(rows, "headers", None)
    chosen_mapping = mapping if mapping is not None else ImportMapping.native_mapping()
    importer = _Importer(
        registry,
        chosen_mapping.with_fields(registry.fields.current()),
        actor=actor,
        policy=chosen,
        dry_run=bool(dry_run),
        import_id=import_id,
        headers=tuple(headers) if isinstance(headers, tuple) else None,
        error_file=error_file,
        ids_file=ids_file,
        as_of=now,
        allow_erased=bool(allow_erased),
    )
    info = source if source is not None else getattr(rows, "info", None)
    preparation: Preparation | None = registry.customers.preparation(
        actor=actor, as_of=now, region=importer.mapping.region
    )
    if chosen.workers > 1 and not _picklable(preparation):
        preparation = None  # the registry's rules cannot go to workers: intake re-validates
    sealer = None if importer.dry_run else presealer(registry.customers, actor=actor)
    preparer = Preparer(
        importer.mapping,
        headers=importer.headers,
        import_id=import_id,
        as_of=now,
        preparation=preparation,
        presealer=sealer,
        records=chosen.on_match == "update",
    )
    reporter = Reporter(progress, every=_PROGRESS_ROWS, seconds=_PROGRESS_SECONDS)
    _log.info("import %s started (dry run: %s)", import_id, importer.dry_run)
    try:
        chunks = _chunks(_as_rows(rows), chosen.batch_size, importer.binder)
        with (
            fewer_collections(),
            contextlib.closing(
                prepared_chunks(
                    preparer,
                    chunks,
                    workers=chosen.workers,
                    prepared_one=None if progress is None else partial(reporter.add, 1),
                    clock=None if sealer is None else registry_clock(registry.customers),
                )
            ) as prepared,
        ):
            for chunk, ready in prepared:
                started = time.monotonic()
                importer.run_chunk(chunk, ready)
                slow_batch(_log, "import", started, len(chunk))
                reporter.add(importer.rows - reporter.done)
                reporter.flush()
        reporter.finish()
        report = importer.report(info if isinstance(info, SourceInfo) else None)
        _log.info(
            "import %s done: %d rows (%s)",
            import_id,
            report.rows,
            ", ".join(f"{o.value}={n}" for o, n in report.counts.items() if n),
        )
        return report
    finally:
        importer.work.close()


def _picklable(value: object) -> bool:
    """Whether ``value`` can be sent to a worker process."""
    try:
        pickle.dumps(value)
    except Exception:  # PicklingError, TypeError, AttributeError: whatever a rule raises
        return False
    return True


def _chunks(rows: Iterator[SourceRow], size: int, binder: Binder) -> Iterator[list[SourceRow]]:
    """Rows in chunks of ``size``, each row's header set bound as it is read (for the column
    usage, and so that a mapping that does not fit the file fails before anything is written)."""
    chunk: list[SourceRow] = []
    for row in rows:
        binder.observe(row)
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
