"""Importing transactions and interactions from CSV or JSON Lines.

An :class:`ActivityMapping` names, for each source column, a field of
:class:`~custrec.model.records.Transaction` or :class:`~custrec.model.records.Interaction`,
and one column that finds the customer:

====================================  ========================================================
target                                meaning
====================================  ========================================================
``customer.id``                       the stored customer id
``customer.phone``                    the customer's phone (normalised with ``region``)
``customer.email``                    the customer's e-mail address
``customer.identifiers[CN-USCC]``     an identifier of that scheme (``CN-RIC``, ``PASSPORT``)
``customer.identifiers[EXTERNAL:x]``  the customer's id in system ``x`` (a legacy CRM)
``occurred_at``, ``next_action_at``   a date or date-time (naive ones are in ``timezone``)
``amount``                            a sum of money (``¥1,250.00``, ``1.5万``, ``USD 12``)
``currency``                          the currency code, when a column of its own holds it
``satisfaction``                      a whole number 1-5 (interactions)
``kind``                              the interaction kind (``call``, ``visit``, ...)
anything else of the record           text (``product``, ``reference``, ``summary``, ...)
====================================  ========================================================

Without a mapping (:meth:`ActivityMapping.native`) the headers are the field names, with
``customer_id``, ``customer_phone`` and ``customer_email`` for the customer. A phone, e-mail or
identifier that several customers hold is ambiguous and the row is rejected, as is a row whose
customer is not found (or was erased).

:func:`import_activities` reads the source, finds the customers in batches through the blind
index (:meth:`~custrec.services.customers.CustomerService.identify`, ids only), validates each
record and records it through ``registry.activities`` (audited). Every record gets an id
derived from the row's *identity*: its kind, its customer look-up and its ``reference`` when it
has one, else its content and the how-many-th such row of the file it is. The import id is not
part of it, so running the same file again, under any import id, or another file that repeats
rows already recorded, records nothing twice (``already_imported``); give a ``reference``
column to tell apart two purchases of one customer at one instant of one amount in different
files. A reference seen twice in one file is a ``duplicate_in_file``. Rows that need a person
go to the error file, which is created only when there is such a row. Issues name columns and
codes, never a cell's value.

>>> import io, warnings
>>> from custrec import Actor, MemoryStore, PlaintextStorageWarning, Registry
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore", PlaintextStorageWarning)
...     registry = Registry(MemoryStore())
>>> ops = Actor(id="ops", roles={"admin"})
>>> zhang = registry.customers.intake(
...     {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
...     actor=ops)
>>> data = "手机,日期,金额\\n138-0013-8000,2024/05/06,¥1200\\n13900000000,2024/05/07,300\\n"
>>> mapping = ActivityMapping.from_dict({"kind": "transaction", "timezone": "Asia/Shanghai",
...     "columns": {"手机": "customer.phone", "日期": "occurred_at", "金额": "amount"}})
>>> from custrec.interchange.readers import open_source
>>> with open_source(io.BytesIO(data.encode()), name="sales.csv") as rows:
...     report = import_activities(rows, mapping, registry, actor=ops, import_id="sales")
>>> report.counts["recorded"], report.counts["rejected"], [i.code for i in report.issues]
(1, 1, ['customer.not_found'])
>>> [t.amount.amount for t in registry.activities.list(zhang.id, actor=ops)]
[Decimal('1200')]
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from custrec._progress import Progress
from custrec._text import clean
from custrec.errors import (
    ConversionError,
    DuplicateKey,
    Erased,
    MappingError,
    NotFound,
    ValidationFailed,
)
from custrec.interchange._columns import currency_code, header_key
from custrec.interchange._identity import check_import_id, derive_id
from custrec.interchange.convert import (
    DEFAULT_NULLS,
    is_null,
    parse_currency,
    parse_datetime,
    parse_int,
    parse_money,
)
from custrec.interchange.errorfile import ErrorFile
from custrec.interchange.readers import CsvSource, Source, SourceRow
from custrec.interchange.report import RowIssue, SourceInfo
from custrec.interchange.zones import parse_zone, zone_name
from custrec.matching import StrongKey, identifier_key
from custrec.model.issues import Severity, ValidationReport
from custrec.model.records import Identifier, IdentifierScheme, Interaction, Transaction
from custrec.model.serialization import structure_with_issues
from custrec.security import Actor
from custrec.storage.checks import amount_issues
from custrec.validation import email as email_format
from custrec.validation import normalize_identifier, validate
from custrec.validation import phone as phone_format

if TYPE_CHECKING:
    from custrec.registry import Registry

__all__ = [
    "ACTIVITY_KINDS",
    "ActivityImportReport",
    "ActivityMapping",
    "ActivityOutcome",
    "import_activities",
    "load_activity_mapping",
]

_ID_SPACE: Final = "custrec-activities"
"""What activity ids are derived under (in place of an import id; see the module docs)."""

ACTIVITY_KINDS: Final = ("transaction", "interaction")
"""The kinds of activity :func:`import_activities` records."""

_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "transaction": (
        "occurred_at",
        "amount",
        "currency",
        "product",
        "category",
        "channel",
        "reference",
    ),
    "interaction": (
        "kind",
        "occurred_at",
        "staff_id",
        "summary",
        "outcome",
        "next_action_at",
        "satisfaction",
        "reference",
    ),
}
_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    "transaction": ("occurred_at", "amount"),
    "interaction": ("kind", "occurred_at"),
}
_INSTANTS: Final = frozenset({"occurred_at", "next_action_at"})
_CUSTOMER: Final = re.compile(
    r"customer\.(?:(id|phone|email)|identifiers\[([^\]:]+)(?::([^\]]+))?\])"
)
_NATIVE_CUSTOMER: Final = {
    "customer_id": "customer.id",
    "customer_phone": "customer.phone",
    "customer_email": "customer.email",
}
_TOP_KEYS: Final = frozenset(
    {"version", "name", "kind", "timezone", "date_formats", "currency", "region", "nulls"}
    | {"columns", "values", "defaults", "encoding", "delimiter"}
)


class ActivityOutcome(enum.StrEnum):
    """What happened to a row."""

    RECORDED = "recorded"
    READY = "ready"  # a dry run: the row would be recorded (unless already imported)
    ALREADY_IMPORTED = "already_imported"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    REJECTED = "rejected"


def _target_of(text: object, kind: str, key: str) -> str:
    """Check one column's target; return it."""
    if not isinstance(text, str) or not text:
        raise MappingError(key, "expected a field name")
    if _CUSTOMER.fullmatch(text) or text in _FIELDS[kind]:
        return text
    if text.startswith("customer"):
        raise MappingError(
            key,
            f"unknown customer look-up {text!r}; use customer.id, customer.phone, "
            "customer.email or customer.identifiers[SCHEME] / [EXTERNAL:system]",
        )
    raise MappingError(
        key, f"unknown {kind} field {text!r}; expected one of {', '.join(_FIELDS[kind])}"
    )


def _native_columns(kind: str) -> dict[str, str]:
    """The columns of a file whose headers are the field names."""
    return {**_NATIVE_CUSTOMER, **{name: name for name in _FIELDS[kind]}}


@attrs.frozen(kw_only=True)
class ActivityMapping:
    """Which column feeds which field of a transaction or interaction (see the module docs).

    ``columns`` maps source headers to targets, ``values`` maps a target to a table of cell
    texts to replace (``{"kind": {"电话": "call"}}``), ``defaults`` gives values for targets no
    column feeds (``{"product": "contract"}``). ``timezone`` (UTC, an offset or an IANA name)
    places naive date-times; ``date_formats`` are ``strptime`` formats tried first;
    ``currency`` is the currency of amounts that name none; ``region`` reads phone numbers.
    ``native`` mappings skip columns the file does not have; others refuse them.
    """

    kind: str
    columns: Mapping[str, str]
    values: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    defaults: Mapping[str, str] = attrs.field(factory=dict)
    timezone: tzinfo = UTC
    date_formats: tuple[str, ...] = ()
    currency: str = "CNY"
    region: str = "CN"
    nulls: tuple[str, ...] = DEFAULT_NULLS
    encoding: str = "auto"
    delimiter: str = "auto"
    native: bool = False

    def __attrs_post_init__(self) -> None:
        if self.kind not in ACTIVITY_KINDS:
            raise MappingError("kind", f"expected one of {', '.join(ACTIVITY_KINDS)}")
        for header, target in self.columns.items():
            _target_of(target, self.kind, f"columns.{header}")
        for target in (*self.values, *self.defaults):
            _target_of(target, self.kind, f"defaults.{target}")
        lookups = [t for t in self.columns.values() if t.startswith("customer.")]
        if not self.native and len(lookups) != 1:
            raise MappingError("columns", "name exactly one column that finds the customer")
        if len(set(self.columns.values())) != len(self.columns):
            raise MappingError("columns", "two columns feed the same field")
        currency_code(self.currency, "currency")

    @classmethod
    def native_mapping(cls, kind: str) -> ActivityMapping:
        """The mapping of a file whose headers are the field names (see the module docs)."""
        if kind not in ACTIVITY_KINDS:
            raise MappingError("kind", f"expected one of {', '.join(ACTIVITY_KINDS)}")
        return cls(kind=kind, columns=_native_columns(kind), native=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, kind: str | None = None) -> ActivityMapping:
        """A mapping from its TOML or JSON form; ``kind`` fills in (or must agree with) the
        mapping's ``kind``. Raises :class:`~custrec.errors.MappingError` naming the key."""
        if not isinstance(data, Mapping):
            raise MappingError("", "a mapping must be a table (a JSON object)")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise MappingError(unknown[0], "unknown setting")
        given = data.get("kind", kind)
        if kind is not None and given != kind:
            raise MappingError("kind", f"the mapping is for {given}s, not {kind}s")
        if given not in ACTIVITY_KINDS:
            raise MappingError("kind", f"expected one of {', '.join(ACTIVITY_KINDS)}")
        native = "columns" not in data  # the headers are the field names, settings apply
        columns = _native_columns(given) if native else _text_table(data.get("columns"), "columns")
        values_raw = data.get("values", {})
        if not isinstance(values_raw, Mapping):
            raise MappingError("values", "expected a table of tables")
        values = {
            target: {
                clean(k).casefold(): v for k, v in _text_table(table, f"values.{target}").items()
            }
            for target, table in values_raw.items()
        }
        try:
            zone = parse_zone(str(data.get("timezone", "UTC")))
        except ConversionError as exc:
            raise MappingError("timezone", exc.message) from None
        formats = data.get("date_formats", ())
        if isinstance(formats, str) or not all(isinstance(f, str) for f in formats):
            raise MappingError("date_formats", "expected a list of strptime formats")
        nulls = data.get("nulls", DEFAULT_NULLS)
        if isinstance(nulls, str) or not all(isinstance(n, str) for n in nulls):
            raise MappingError("nulls", "expected a list of texts")
        settings = {}
        for name in ("currency", "region", "encoding", "delimiter"):
            if name in data:
                if not isinstance(data[name], str) or not data[name]:
                    raise MappingError(name, "expected text")
                settings[name] = data[name]
        return cls(
            kind=given,
            columns=columns,
            values=values,
            defaults=_text_table(data.get("defaults", {}), "defaults"),
            timezone=zone,
            date_formats=tuple(formats),
            nulls=tuple(nulls),
            native=native,
            **settings,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form :meth:`from_dict` reads."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "timezone": zone_name(self.timezone),
            "date_formats": list(self.date_formats),
            "currency": self.currency,
            "region": self.region,
            "columns": dict(self.columns),
            "values": {k: dict(v) for k, v in self.values.items()},
            "defaults": dict(self.defaults),
        }
        if self.native:  # the headers are the field names: no columns to list
            del data["columns"]
        return data

    def bind(self, headers: Sequence[str] | None) -> dict[str, str]:
        """The mapping's columns as found in ``headers`` (header -> target), matched exactly
        or after :func:`~custrec.interchange.mapping.header_key` folding. ``None`` (JSON
        Lines) binds every column as named. Raises :class:`MappingError` for a column the
        header lacks (a native mapping skips it) or a required field no column feeds."""
        bound: dict[str, str] = {}
        if headers is None:
            bound = dict(self.columns)
        else:
            folded = {header_key(h): h for h in reversed(headers)}
            for column, target in self.columns.items():
                found = column if column in headers else folded.get(header_key(column))
                if found is not None:
                    bound[found] = target
                elif not self.native:
                    raise MappingError(f"columns.{column}", "the file has no such column")
        targets = set(bound.values()) | set(self.defaults)
        lookups = [t for t in bound.values() if t.startswith("customer.")]
        if headers is None and self.native:  # each JSON line names its customer one way
            lookups = lookups[:1]
        if len(lookups) != 1:
            what = "no column" if not lookups else "more than one column"
            raise MappingError(
                "columns",
                f"{what} finds the customer; the file needs exactly one of customer_id, "
                "customer_phone or customer_email (or a mapping naming one)",
            )
        for name in _REQUIRED[self.kind]:
            if name not in targets:
                raise MappingError("columns", f"no column feeds the required field {name!r}")
        return bound


def _text_table(value: object, key: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise MappingError(key, "expected a table of texts")
    table: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, Mapping) and key == "columns":
            item = item.get("field")
        if not isinstance(name, str) or not isinstance(item, str):
            raise MappingError(f"{key}.{name}", "expected text")
        table[name] = item
    return table


def load_activity_mapping(
    path: str | os.PathLike[str], *, kind: str | None = None
) -> ActivityMapping:
    """Read an activity mapping from a TOML or JSON file (by its extension, TOML otherwise)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise MappingError("", f"cannot read the mapping {file}: {exc}") from None
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except ValueError as exc:
        raise MappingError("", f"the mapping {file} is not valid: {exc}") from None
    return ActivityMapping.from_dict(data, kind=kind)


@attrs.frozen(kw_only=True)
class ActivityImportReport:
    """What :func:`import_activities` did: rows per :class:`ActivityOutcome`, and every issue
    (columns and codes, never a value). ``ok`` when no row was rejected."""

    import_id: str
    kind: str
    dry_run: bool
    rows: int
    counts: Mapping[str, int]
    issues: tuple[RowIssue, ...]
    errors_written: int = 0

    @property
    def ok(self) -> bool:
        """Whether every row was recorded, or was there already."""
        return self.counts.get(ActivityOutcome.REJECTED.value, 0) == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form."""
        return {
            "import_id": self.import_id,
            "kind": self.kind,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "counts": dict(self.counts),
            "issues": [
                {
                    "row": i.row,
                    "column": i.column,
                    "path": i.path,
                    "code": i.code,
                    "message": i.message,
                }
                for i in self.issues
            ],
            "errors_written": self.errors_written,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def render(self, *, max_issues: int = 20) -> str:
        """A short text summary: the counts and the first ``max_issues`` issues."""
        what = "dry run of" if self.dry_run else "import"
        lines = [f"{what} {self.import_id} ({self.kind}s): {self.rows} rows"]
        for outcome in ActivityOutcome:
            count = self.counts.get(outcome.value, 0)
            if count:
                lines.append(f"  {outcome.value.replace('_', ' ')}: {count}")
        for issue in self.issues[:max_issues]:
            lines.append(f"  {issue}")
        if len(self.issues) > max_issues:
            lines.append(f"  ... and {len(self.issues) - max_issues} more issues")
        return "\n".join(lines)


@attrs.frozen
class _Prepared:
    row: SourceRow
    lookup: StrongKey  # ("id", customer id) or a strong key
    data: dict[str, Any]
    identity: str


class _Rejected(Exception):
    def __init__(self, issues: Sequence[RowIssue]) -> None:
        super().__init__("row rejected")
        self.issues = tuple(issues)


def _issue(row: SourceRow, column: str | None, path: str, code: str, message: str) -> RowIssue:
    return RowIssue(row=row.number, column=column, path=path, code=code, message=message)


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ConversionError("value.type", "expected text or a number, not true/false")
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise ConversionError("value.type", "expected text or a number")


class _Reader:
    """Turns source rows into records to write, with their customer look-ups."""

    def __init__(self, mapping: ActivityMapping, bound: Mapping[str, str]) -> None:
        self._mapping = mapping
        self._bound = bound
        self._seen: Counter[str] = Counter()

    def _lookup(self, target: str, text: str) -> StrongKey:
        match = _CUSTOMER.fullmatch(target)
        assert match is not None  # checked by the mapping
        how, scheme, system = match.groups()
        if how == "id":
            return ("id", clean(text))
        if how == "phone":
            if not phone_format.is_valid(text, self._mapping.region):
                raise ConversionError("customer.phone.invalid", "not a valid phone number")
            return ("phone", phone_format.normalize(text, self._mapping.region))
        if how == "email":
            if not email_format.is_valid(text):
                raise ConversionError("customer.email.invalid", "not a valid e-mail address")
            return ("email", email_format.normalize(text).casefold())
        if scheme.upper() == IdentifierScheme.EXTERNAL:
            ident = Identifier(scheme=IdentifierScheme.EXTERNAL, value=text, system=system)
        else:
            ident = Identifier(scheme=scheme, value=text)
        return identifier_key(normalize_identifier(ident))

    def _convert(self, target: str, text: str, data: dict[str, Any], *, given: bool) -> None:
        """Convert one cell into ``data``; ``given``: from a column of the row, not a default.
        The currency cell comes first: an amount that names another currency than the row's
        currency column is refused (``money.currency``), never silently converted."""
        mapping = self._mapping
        if target in _INSTANTS:
            data[target] = parse_datetime(text, formats=mapping.date_formats, tz=mapping.timezone)
        elif target == "amount":
            amount, named = parse_money(text, currency="")
            column = data.get("_currency")
            if named and column is not None and column[1] and named != column[0]:
                raise ConversionError(
                    "money.currency",
                    f"the amount is in {named} but the currency column says {column[0]}",
                )
            currency = named or (column[0] if column is not None else mapping.currency)
            data["amount"] = {"amount": amount, "currency": currency}
        elif target == "currency":
            data["_currency"] = (parse_currency(text), given)
        elif target == "satisfaction":
            data[target] = parse_int(text)
        else:
            data[target] = clean(text)

    def prepare(self, row: SourceRow) -> _Prepared:
        if row.problems:
            raise _Rejected(row.problems)
        issues: list[RowIssue] = []
        data: dict[str, Any] = {}
        lookup: StrongKey | None = None
        cells: list[tuple[str | None, str, object]] = [
            (column, target, row.cells.get(column)) for column, target in self._bound.items()
        ]
        cells += [(None, t, v) for t, v in self._mapping.defaults.items() if t not in data]
        # the currency column first, so that an amount takes it whatever the column order
        cells.sort(key=lambda cell: cell[1] != "currency")
        filled: set[str] = set()
        for column, target, value in cells:
            if target in filled:
                continue
            try:
                text = _cell_text(value)
                if text is None or is_null(text, self._mapping.nulls):
                    continue
                table = self._mapping.values.get(target)
                if table is not None:
                    text = table.get(clean(text).casefold(), text)
                filled.add(target)
                if target.startswith("customer."):
                    if lookup is None:  # a JSON line may name its customer more than one way
                        lookup = self._lookup(target, text)
                else:
                    self._convert(target, text, data, given=column is not None)
            except ConversionError as exc:
                issues.append(_issue(row, column, target, exc.code, exc.message))
        for name in _REQUIRED[self._mapping.kind]:
            if name not in filled:
                issues.append(_issue(row, None, name, "required", f"{name} is required"))
        if lookup is None and not any(i.path.startswith("customer.") for i in issues):
            issues.append(_issue(row, None, "customer", "required", "no customer named"))
        if issues or lookup is None:
            raise _Rejected(issues)
        data.pop("_currency", None)
        reference = data.get("reference")
        if reference is not None:
            identity = f"ref:{json.dumps([list(lookup), reference], ensure_ascii=False)}"
            self._seen[identity] += 1
            if self._seen[identity] > 1:
                raise _Duplicate
        else:
            content = json.dumps(
                [list(lookup), {k: str(v) for k, v in sorted(data.items())}],
                ensure_ascii=False,
                sort_keys=True,
            )
            digest = hashlib.sha256(content.encode()).hexdigest()
            self._seen[digest] += 1
            identity = f"row:{digest}#{self._seen[digest]}"
        return _Prepared(row=row, lookup=lookup, data=data, identity=identity)


class _Duplicate(Exception):
    """A reference seen before in the same file."""


def _chunks(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    chunk: list[SourceRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _validation_issues(row: SourceRow, exc: ValidationFailed) -> list[RowIssue]:
    return [_issue(row, None, issue.path, issue.code, issue.message) for issue in exc.report.errors]


def import_activities(
    source: Source,
    mapping: ActivityMapping | None,
    registry: Registry,
    *,
    actor: Actor,
    import_id: str,
    kind: str | None = None,
    dry_run: bool = False,
    errors_path: str | os.PathLike[str] | None = None,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> ActivityImportReport:
    """Record the transactions or interactions of ``source`` (see the module docs).

    ``mapping`` ``None`` reads a file whose headers are the field names, of ``kind``.
    ``dry_run`` converts, looks up and validates every row and writes nothing. Rows that need
    a person are written to ``errors_path`` (created, mode 0600, only when there is one).
    ``progress(rows_read)`` is called after every batch of ``batch_size`` rows. The actor needs
    the read right to find customers and the update right to record on them. Raises
    :class:`~custrec.errors.MappingError` when the mapping does not fit the file and
    ``ValueError`` for a bad import id or kind.
    """
    check_import_id(import_id)
    if mapping is None:
        if kind is None:
            raise ValueError("without a mapping, give kind='transaction' or 'interaction'")
        mapping = ActivityMapping.native_mapping(kind)
    elif kind is not None and kind != mapping.kind:
        raise MappingError("kind", f"the mapping is for {mapping.kind}s, not {kind}s")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    headers = source.info.headers if isinstance(source, CsvSource) else None
    bound = mapping.bind(headers)
    reader = _Reader(mapping, bound)
    record_type: type[Transaction | Interaction] = (
        Transaction if mapping.kind == "transaction" else Interaction
    )
    record = (
        registry.activities.record_transaction
        if mapping.kind == "transaction"
        else registry.activities.record_interaction
    )
    counts: Counter[str] = Counter()
    issues: list[RowIssue] = []
    errors: _LazyErrors = _LazyErrors(errors_path, source.info)
    rows = 0
    try:
        for chunk in _chunks(source, batch_size):
            prepared: list[_Prepared] = []
            rejected: list[tuple[SourceRow, Sequence[RowIssue]]] = []  # told in file order below
            for row in chunk:
                rows += 1
                try:
                    prepared.append(reader.prepare(row))
                except _Rejected as exc:
                    counts[ActivityOutcome.REJECTED] += 1
                    rejected.append((row, exc.issues))
                except _Duplicate:
                    counts[ActivityOutcome.DUPLICATE_IN_FILE] += 1
            found = registry.customers.identify(
                [p.lookup for p in prepared if p.lookup[0] != "id"],
                actor=actor,
                ids=[p.lookup[1] for p in prepared if p.lookup[0] == "id"],
            )
            for item in prepared:
                outcome, problems = _write(
                    item, found, mapping.kind, import_id, record_type, record, actor, dry_run
                )
                counts[outcome] += 1
                if problems:
                    rejected.append((item.row, problems))
            rejected.sort(key=lambda told: told[0].number)
            for row, told in rejected:
                issues.extend(told)
                errors.write(row, told)
            if progress is not None:
                progress(rows)
    finally:
        errors.close()
    return ActivityImportReport(
        import_id=import_id,
        kind=mapping.kind,
        dry_run=dry_run,
        rows=rows,
        counts={outcome.value: counts[outcome] for outcome in ActivityOutcome},
        issues=tuple(issues),
        errors_written=errors.written,
    )


def _write(
    item: _Prepared,
    found: Any,
    kind: str,
    import_id: str,
    record_type: type[Transaction | Interaction],
    record: Callable[..., Any],
    actor: Actor,
    dry_run: bool,
) -> tuple[ActivityOutcome, list[RowIssue]]:
    """Find the row's customer, then validate (and unless ``dry_run`` record) the row."""
    row = item.row
    how, value = item.lookup
    if how == "id":
        holders: tuple[str, ...] = (value,) if value in found.existing else ()
    else:
        holders = tuple(found.holders.get(item.lookup, ()))
    target = f"customer.{how}" if how in ("id", "phone", "email") else "customer.identifier"
    if not holders:
        return ActivityOutcome.REJECTED, [
            _issue(row, None, target, "customer.not_found", "no customer found by this value")
        ]
    if len(holders) > 1:
        return ActivityOutcome.REJECTED, [
            _issue(
                row,
                None,
                target,
                "customer.ambiguous",
                f"{len(holders)} customers hold this value; look the customer up by id",
            )
        ]
    data = {
        **item.data,
        "id": derive_id(_ID_SPACE, f"{kind}:{item.identity}"),
        "customer_id": holders[0],
    }
    built, report = structure_with_issues(data, record_type)
    if built is not None:
        report = report.merged(validate(built, as_of=datetime.now(UTC)))
        amount = built.amount.amount if isinstance(built, Transaction) else None
        if amount is not None and (issues := amount_issues(amount)):  # as recording checks
            report = report.merged(ValidationReport(tuple(issues)))
    if built is None or not report.ok:
        return ActivityOutcome.REJECTED, _validation_issues(row, ValidationFailed(report))
    if dry_run:
        return ActivityOutcome.READY, []
    try:
        record(built, actor=actor, reason=f"import {import_id}")
    except DuplicateKey:
        return ActivityOutcome.ALREADY_IMPORTED, []
    except ValidationFailed as exc:
        return ActivityOutcome.REJECTED, _validation_issues(row, exc)
    except Erased:
        return ActivityOutcome.REJECTED, [
            _issue(row, None, target, "customer.erased", "the customer was erased")
        ]
    except NotFound:
        return ActivityOutcome.REJECTED, [
            _issue(row, None, target, "customer.not_found", "no customer found by this value")
        ]
    return ActivityOutcome.RECORDED, []


class _LazyErrors:
    """An error file opened at its first row."""

    def __init__(self, path: str | os.PathLike[str] | None, info: SourceInfo) -> None:
        self._path = path
        self._info = info
        self._file: ErrorFile | None = None
        self.written = 0

    def write(self, row: SourceRow, issues: Sequence[RowIssue]) -> None:
        if self._path is None:
            return
        if self._file is None:
            self._file = ErrorFile.for_source(self._path, self._info)
        self._file.write(row, [i for i in issues if i.severity is Severity.ERROR] or issues)
        self.written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
