"""Post-import sampling audits: a reproducible sample of an import's customers, checked field by
field, then accepted or rejected against a threshold.

After a data migration a share of the records (10-20 % is the usual ask) is compared with the
source by a person. :class:`SamplingBatch` is that sample: which import, what share, which
seed, which fields are checked. A checker records a :class:`FieldResult` per field of a sampled
record (a :class:`SampleResult`); :class:`BatchReport` gives the accuracy per field and overall
and decides the batch (``registry.sampling`` stores all of it, see docs/sampling-audit.md).

The population
    An import gives every new customer an id derived from the import id (see
    :func:`custrec.interchange.derive_id`): a version-8 UUID whose first 48 bits come from
    SHA-256 of the import id. :func:`import_prefix` is the text those ids start with, so an
    import's customers are one contiguous range of the customer table, read in id order.

The selection rule
    ``rank(seed, id)`` is the first 8 bytes, big-endian, of HMAC-SHA256 with the key
    ``"custrec-sampling:<seed>"`` (UTF-8, the seed in decimal) over the customer id (UTF-8). A
    customer is in the sample when ``rank < floor(share * 2**64)``. Each customer is decided
    on its own, so the sample is read in one pass with no memory of the others, the same import,
    share and seed always give the same sample, and a customer erased since does not change who
    else is in it. The size follows the binomial law: ``share * n`` on average, within a few
    ``sqrt(n * share * (1 - share))``. When the rule picks nobody (a tiny import) the customer of
    lowest ``(rank, id)`` is the sample, so a batch is never empty.

>>> sampling_rank(7, "c-1") < 2**64
True
>>> Selection(seed=7, share=1.0).pick(["a", "b"]), Selection(seed=7, share=0.5).cut == 2**63
(['a', 'b'], True)
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from custrec._checks import (
    check,
    flag,
    non_empty_text,
    number_range,
    optional,
    storable_text,
)
from custrec.compliance.disclosures import check_fields
from custrec.errors import InvalidState

__all__ = [
    "DEFAULT_FIELDS",
    "LINK_STATES",
    "NOTE_LIMIT",
    "SAMPLING_STATUSES",
    "BatchReport",
    "CheckTally",
    "FieldAccuracy",
    "FieldResult",
    "SampleResult",
    "SamplingBatch",
    "Selection",
    "check_share",
    "field_results",
    "import_prefix",
    "sampling_fields",
    "sampling_rank",
]

SAMPLING_STATUSES: Final = ("open", "accepted", "rejected")
"""A batch is ``open`` while checks are recorded, then ``accepted`` or ``rejected`` once."""

LINK_STATES: Final = ("pending", "checked")
"""A sampled record is ``pending`` until a check of every batch field is recorded."""

DEFAULT_FIELDS: Final = ("kind", "name", "stage", "contacts", "identifiers", "addresses")
"""The fields checked when a batch names none: what a legacy mapping usually fills."""

NOTE_LIMIT: Final = 2000
"""The longest note a field check may carry, in characters."""

_TWO_64: Final = 1 << 64


# ------------------------------------------------------------------------- the selection


def import_prefix(import_id: str) -> str:
    """The text every id an import derives starts with: the first 48 bits of SHA-256 of
    ``"custrec-import:<import id>"`` as ``xxxxxxxx-xxxx``, then ``-8`` (the UUID version).

    >>> import_prefix("legacy-2025")
    'db8bdd37-bd55-8'
    """
    check("import_id", import_id, storable_text())
    digest = hashlib.sha256(f"custrec-import:{import_id}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-8"


def sampling_rank(seed: int, customer_id: str) -> int:
    """The customer's rank for ``seed``: the first 8 bytes, big-endian, of
    HMAC-SHA256(key ``"custrec-sampling:<seed>"``, message the id), from 0 to 2**64 - 1."""
    key = f"custrec-sampling:{seed}".encode()
    return int.from_bytes(hmac.new(key, customer_id.encode(), hashlib.sha256).digest()[:8], "big")


def check_share(share: object) -> float:
    """The share of a sample, a number above 0 and at most 1 (``TypeError``, ``ValueError``)."""
    check("share", share, number_range(0, 1))
    assert isinstance(share, int | float)
    if share == 0:
        raise ValueError("share must be above 0 (0.1 to 0.2 is usual)")
    return float(share)


class Selection:
    """The selection rule over a stream of ids: :meth:`pick` keeps the selected ids of each
    batch it is given and counts the population; :attr:`fallback` is the id to take when the
    rule picked nobody (see the module docs)."""

    def __init__(self, *, seed: int, share: float) -> None:
        self.seed = seed
        self.cut = math.floor(check_share(share) * _TWO_64)
        self.population = 0
        self.selected = 0
        self._lowest: tuple[int, str] | None = None

    def pick(self, customer_ids: Iterable[str]) -> list[str]:
        """The ids among ``customer_ids`` that are in the sample, in the order given."""
        picked: list[str] = []
        for customer_id in customer_ids:
            rank = sampling_rank(self.seed, customer_id)
            self.population += 1
            if self._lowest is None or (rank, customer_id) < self._lowest:
                self._lowest = (rank, customer_id)
            if rank < self.cut:
                picked.append(customer_id)
        self.selected += len(picked)
        return picked

    @property
    def fallback(self) -> str | None:
        """The id of lowest ``(rank, id)`` when nothing was selected yet, else ``None``."""
        if self.selected or self._lowest is None:
            return None
        return self._lowest[1]


# ---------------------------------------------------------------------------- the checks


def sampling_fields(fields: Iterable[str] | None) -> tuple[str, ...]:
    """The fields a batch checks: customer field paths as
    :func:`~custrec.compliance.disclosures.check_fields` reads them (``name``,
    ``contacts[].phones``, ``custom.member_no``), :data:`DEFAULT_FIELDS` for ``None``;
    ``ValueError`` for an empty list or an unknown path."""
    if fields is None:
        return DEFAULT_FIELDS
    checked = check_fields(fields)
    if not checked:
        raise ValueError("fields must name at least one customer field (None: the defaults)")
    return checked


def _named(field: object) -> str:
    """How an error names a field key the caller gave: ``field 'name'`` for a path of the
    customer record, else ``a custom field`` or ``a field``. A custom key or anything else is
    left out: it may be whatever was typed by mistake (personal data too)."""
    if not isinstance(field, str):
        return "a field"
    try:
        check_fields([field])
    except ValueError:
        return "a field"
    return "a custom field" if field.startswith("custom.") else f"field {field!r}"


def _passed(instance: FieldResult, _: attrs.Attribute[bool], value: object) -> None:
    """``True`` or ``False``; the error names the checked field (see :func:`_named`), never
    the value (a string given by mistake may be what the source says: personal data)."""
    check(f"the result of {_named(instance.field)}", value, flag())


@attrs.frozen
class FieldResult:
    """One field of one sampled record, checked against the source: ``passed`` or not
    (``True`` or ``False``: anything else is a ``TypeError`` naming the field, not the value),
    with an optional ``note`` (it may hold personal data: it is stored sealed under the
    customer's key and left out of ``repr``)."""

    field: str = attrs.field(validator=[non_empty_text(), storable_text()])
    passed: bool = attrs.field(validator=_passed)
    note: str | None = attrs.field(default=None, repr=False, validator=optional(storable_text()))

    def __attrs_post_init__(self) -> None:
        if self.note is not None and len(self.note) > NOTE_LIMIT:
            raise ValueError(f"a note must be at most {NOTE_LIMIT} characters")

    def to_json(self) -> dict[str, Any]:
        """The check as JSON-able data."""
        return {"field": self.field, "passed": self.passed, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldResult:
        """The inverse of :meth:`to_json`."""
        return cls(data["field"], bool(data["passed"]), data.get("note"))


def field_results(
    checks: Mapping[str, bool | tuple[bool, str]] | Iterable[FieldResult],
) -> tuple[FieldResult, ...]:
    """The checks of one record as :class:`FieldResult` s: a mapping of field to ``passed`` or
    to ``(passed, note)``, or field checks; ``ValueError`` when a field repeats or nothing is
    given, ``TypeError`` for anything else."""
    if isinstance(checks, str | bytes):
        raise TypeError("checks must map fields to results, not be text")
    found: list[FieldResult] = []
    if isinstance(checks, Mapping):
        for field, result in checks.items():
            if isinstance(result, tuple):
                if len(result) != 2:
                    raise TypeError(
                        f"the result of {_named(field)} must be passed or (passed, note)"
                    )
                found.append(FieldResult(field, result[0], result[1]))
            else:
                found.append(FieldResult(field, result))
    else:
        for item in checks:
            if not isinstance(item, FieldResult):
                raise TypeError(f"checks must be FieldResult objects, not {type(item).__name__}")
            found.append(item)
    if not found:
        raise ValueError("checks must give a result for the batch's fields")
    names = [c.field for c in found]
    if len(set(names)) != len(names):
        raise ValueError("checks must give one result per field")
    return tuple(found)


@attrs.frozen(kw_only=True)
class SampleResult:
    """A sampled record and what its checker recorded.

    ``state`` is ``pending`` or ``checked``; ``checks`` follow the batch's field order (empty
    while pending). ``erased`` tells that the customer was erased: their results (sealed under
    their key) are gone, though the batch's counts keep them. ``notes_withheld`` tells that the
    notes were left out because the reader may not see this customer unmasked.
    """

    customer_id: str
    state: str
    checks: tuple[FieldResult, ...] = ()
    checked_by: str | None = None
    checked_at: datetime | None = None
    erased: bool = False
    notes_withheld: bool = False


# ----------------------------------------------------------------------------- the batch


def _instant(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _ratio_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@attrs.frozen(kw_only=True)
class SamplingBatch:
    """A post-import sampling audit: ``sample_size`` of the ``population`` customers import
    ``import_id`` holds, picked by ``share`` and ``seed`` (see the module docs), each to be
    checked on ``fields``. ``status`` is ``open``, then ``accepted`` or ``rejected`` against
    ``threshold`` (and ``min_field_accuracy``, when the decision gave one) by ``decided_by`` at
    ``decided_at``. ``version`` counts stored changes."""

    id: str
    import_id: str
    share: float
    seed: int
    fields: tuple[str, ...]
    sample_size: int
    population: int
    created_by: str
    created_at: datetime
    status: str = "open"
    threshold: float | None = None
    min_field_accuracy: float | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    version: int = 1

    def order(self, checks: Sequence[FieldResult]) -> tuple[FieldResult, ...]:
        """``checks`` in the batch's field order; ``ValueError`` for a field the batch does
        not check (listing the batch's fields, never repeating the key given), or naming one
        it checks that ``checks`` leave out."""
        given = {c.field: c for c in checks}
        if any(f not in self.fields for f in given):
            raise ValueError(
                f"checks must name only the fields this batch checks ({', '.join(self.fields)});"
                " one is not among them"
            )
        missing = [f for f in self.fields if f not in given]
        if missing:
            raise ValueError(f"checks must cover every field of the batch; missing {missing[0]!r}")
        return tuple(given[f] for f in self.fields)

    def to_json(self) -> dict[str, Any]:
        """The batch as JSON-able data (what the stored document holds)."""
        return {
            "id": self.id,
            "import_id": self.import_id,
            "share": self.share,
            "seed": self.seed,
            "fields": list(self.fields),
            "sample_size": self.sample_size,
            "population": self.population,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "threshold": self.threshold,
            "min_field_accuracy": self.min_field_accuracy,
            "decided_by": self.decided_by,
            "decided_at": None if self.decided_at is None else self.decided_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, version: int = 1) -> SamplingBatch:
        """The inverse of :meth:`to_json` (``version`` is the stored row's)."""
        return cls(
            id=data["id"],
            import_id=data["import_id"],
            share=float(data["share"]),
            seed=int(data["seed"]),
            fields=tuple(data["fields"]),
            sample_size=int(data["sample_size"]),
            population=int(data["population"]),
            created_by=data["created_by"],
            created_at=datetime.fromisoformat(data["created_at"]),
            status=data["status"],
            threshold=None if data["threshold"] is None else float(data["threshold"]),
            min_field_accuracy=_ratio_or_none(data.get("min_field_accuracy")),
            decided_by=data["decided_by"],
            decided_at=_instant(data["decided_at"]),
            version=version,
        )


@attrs.frozen
class CheckTally:
    """The running counts of a batch: records checked, records with every field passed, and
    passes per field (kept with the batch, so erasing a checked customer keeps the counts)."""

    checked: int = 0
    correct: int = 0
    passed: Mapping[str, int] = attrs.field(factory=dict)

    def record(
        self, new: Sequence[FieldResult], old: Sequence[FieldResult] | None = None
    ) -> CheckTally:
        """The tally after a record's checks ``new`` replace its ``old`` ones (``None``: the
        record's first check)."""
        passed = dict(self.passed)
        checked, correct = self.checked + 1, self.correct
        if old is not None:
            checked -= 1
            correct -= all(c.passed for c in old)
            for c in old:
                passed[c.field] = passed.get(c.field, 0) - c.passed
        correct += all(c.passed for c in new)
        for c in new:
            passed[c.field] = passed.get(c.field, 0) + c.passed
        return CheckTally(checked, correct, passed)

    def to_json(self) -> dict[str, Any]:
        """The tally as JSON-able data."""
        return {"checked": self.checked, "correct": self.correct, "passed": dict(self.passed)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckTally:
        """The inverse of :meth:`to_json`."""
        passed = {str(k): int(v) for k, v in data["passed"].items()}
        return cls(int(data["checked"]), int(data["correct"]), passed)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@attrs.frozen
class FieldAccuracy:
    """One field's results: ``checked`` records, ``passed`` of them; ``accuracy`` is
    ``passed / checked`` (``None`` before any check)."""

    field: str
    checked: int
    passed: int

    @property
    def failed(self) -> int:
        """The checks of this field that failed."""
        return self.checked - self.passed

    @property
    def accuracy(self) -> float | None:
        """``passed / checked``, ``None`` when nothing was checked."""
        return _ratio(self.passed, self.checked)


@attrs.frozen(kw_only=True)
class BatchReport:
    """What a batch found.

    Every recorded check covers every field of the batch, so each field was checked on the
    ``records_checked`` records. Definitions (exact):

    - ``fields[i].accuracy`` = passes of that field / ``records_checked``;
    - ``overall_accuracy`` = passed field checks / all field checks (every field weighs the
      same; ``None`` before any check);
    - ``record_accuracy`` = ``records_correct`` (every field passed) / ``records_checked``;
    - ``records_pending``: sampled records still to check; ``records_unavailable``: sampled
      records erased (or merged into another sampled record) before they were checked, which
      can no longer be checked and are left out of the decision.

    A batch is ``complete`` when nothing is pending and something was checked; only a complete
    batch can be decided: accepted when ``overall_accuracy >= threshold`` and, when a
    ``min_field_accuracy`` is given, every field's accuracy is at least it; else rejected.
    """

    sampling: SamplingBatch
    records_checked: int
    records_correct: int
    records_pending: int
    records_unavailable: int
    fields: tuple[FieldAccuracy, ...]

    @property
    def field_checks(self) -> int:
        """All field checks recorded (``records_checked`` times the number of fields)."""
        return sum(f.checked for f in self.fields)

    @property
    def field_passes(self) -> int:
        """The field checks that passed."""
        return sum(f.passed for f in self.fields)

    @property
    def overall_accuracy(self) -> float | None:
        """Passed field checks / all field checks (``None`` before any check)."""
        return _ratio(self.field_passes, self.field_checks)

    @property
    def record_accuracy(self) -> float | None:
        """Records with every field passed / records checked (``None`` before any check)."""
        return _ratio(self.records_correct, self.records_checked)

    @property
    def complete(self) -> bool:
        """Whether every sampled record that can be checked was, and at least one was."""
        return self.records_pending == 0 and self.records_checked > 0

    def verdict(self, threshold: float, *, min_field_accuracy: float | None = None) -> str:
        """``accepted`` when ``overall_accuracy >= threshold`` and, when ``min_field_accuracy``
        is given, every field's accuracy is at least it (numbers from 0 to 1), else
        ``rejected``; ``InvalidState`` while the batch is not complete.

        A batch whose overall accuracy passes can hide a field that is always wrong (four
        fields right, one at 0.0: 0.8 overall); ``min_field_accuracy`` rejects it."""
        check("threshold", threshold, number_range(0, 1))
        check("min_field_accuracy", min_field_accuracy, optional(number_range(0, 1)))
        if self.records_pending:
            raise InvalidState(
                f"sampling batch {self.sampling.id} has {self.records_pending} sampled records "
                "not checked yet"
            )
        accuracy = self.overall_accuracy
        if accuracy is None:
            raise InvalidState(f"sampling batch {self.sampling.id} has no checked record")
        if accuracy < threshold:
            return "rejected"
        if min_field_accuracy is not None and any(
            (f.accuracy or 0.0) < min_field_accuracy for f in self.fields
        ):
            return "rejected"
        return "accepted"

    def to_json(self) -> dict[str, Any]:
        """The counts as JSON-able data (the batch itself is stored beside them)."""
        return {
            "records_checked": self.records_checked,
            "records_correct": self.records_correct,
            "records_pending": self.records_pending,
            "records_unavailable": self.records_unavailable,
            "passed": {f.field: f.passed for f in self.fields},
        }

    @classmethod
    def from_json(cls, sampling: SamplingBatch, data: Mapping[str, Any]) -> BatchReport:
        """The inverse of :meth:`to_json`, for the batch ``sampling``."""
        checked = int(data["records_checked"])
        return cls(
            sampling=sampling,
            records_checked=checked,
            records_correct=int(data["records_correct"]),
            records_pending=int(data["records_pending"]),
            records_unavailable=int(data["records_unavailable"]),
            fields=tuple(
                FieldAccuracy(f, checked, int(data["passed"].get(f, 0))) for f in sampling.fields
            ),
        )

    @classmethod
    def of(
        cls, sampling: SamplingBatch, tally: CheckTally, *, pending: int, unavailable: int
    ) -> BatchReport:
        """The report of the batch ``sampling`` from its tally and the counts of records
        left."""
        return cls(
            sampling=sampling,
            records_checked=tally.checked,
            records_correct=tally.correct,
            records_pending=pending,
            records_unavailable=unavailable,
            fields=tuple(
                FieldAccuracy(f, tally.checked, tally.passed.get(f, 0)) for f in sampling.fields
            ),
        )
