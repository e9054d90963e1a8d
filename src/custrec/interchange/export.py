"""Exports of customers to JSON Lines and CSV, through the registry's audited export.

Every customer is read with ``registry.privacy.export_subject``, so the actor
needs the ``export`` permission, each export is written to the audit log, and values are
masked unless the actor may also unmask. Masked exports are for display: the importer refuses
them. Unmasked exports round-trip: importing one with no mapping (``plan_import(rows, None,
...)``) into an empty store gives back equal records (every field but ``version`` and
``updated_at``, which storage sets), and into the same store reports every row as already
applied.

- JSON Lines: one document per line, ``{"schema_version": 1, "type": "customer", "masked":
  false, "data": {...}}`` (the registry's record shape).
- CSV (UTF-8 with a byte order mark, for spreadsheets): ``_schema_version`` and ``_masked``,
  then one column per field, named by its field path (``milestones.contract_amount`` as
  ``"1250000.00 CNY"``); lists (contacts, addresses, identifiers, tags, interests, needs) are
  JSON arrays in their cells. After those (:data:`CSV_COLUMNS`), one ``custom.<name>`` column
  per custom field, current and removed (a removed field's values are kept, and exported),
  in name order, its values as text: a decimal in plain notation (``12345.50``), a date ISO
  8601, a yes/no field ``true``/``false``, the options of a multi-choice field joined by
  ``;``. A cell a spreadsheet would run as a formula (starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``, which the CSV
  reader removes again (see :mod:`custrec.interchange.csvsafe`).

Values are masked as ``registry.customers.get`` shows them to the actor: for an actor without
unmask, the personal custom fields too (text starred character for character, numbers and
yes/no as ``***``, a date as January 1st of its year), while the other custom fields are
exported as they are.

A path is created with mode 0600 (an existing file is narrowed to 0600 before it is rewritten):
unmasked exports hold personal data, and masked ones still hold some.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Final, Unpack

import attrs

from custrec._checks import check, positive_int
from custrec._files import open_private
from custrec._log import get_logger
from custrec._progress import Progress, Reporter
from custrec.compliance import Disclose, Disclosure, Exclusion
from custrec.errors import AccessDenied, Erased, NotFound
from custrec.interchange.csvsafe import CsvWriter
from custrec.model.custom import CustomFieldSet
from custrec.model.records import Customer, Milestones
from custrec.model.serialization import SCHEMA_VERSION
from custrec.registry import Registry
from custrec.security import Actor
from custrec.services import CustomerFacets
from custrec.services.disclosures import DisclosureRun

__all__ = [
    "CSV_COLUMNS",
    "CUSTOM_SEPARATOR",
    "EXPORT_FORMATS",
    "ExportResult",
    "csv_columns",
    "custom_cell",
    "export_customers",
    "flatten",
]

_log: Final = get_logger(__name__)

EXPORT_FORMATS: Final = ("jsonl", "csv")
CUSTOM_SEPARATOR: Final = ";"
"""What joins the options of a multi-choice custom value in a CSV cell (an option never holds
``;`` or ``,``, so the field's definition splits the cell back exactly)."""
_PLAIN_DIGITS: Final = 100  # decimals in plain notation up to this exponent, else scientific

_LIST_FIELDS: Final = frozenset(
    {"identifiers", "contacts", "addresses", "tags", "product_interests", "needs"}
)


def _csv_columns() -> tuple[str, ...]:
    columns: list[str] = ["_schema_version", "_masked"]
    for field in attrs.fields(Customer):
        if field.name in ("version", "custom"):  # custom values have a column each
            continue
        if field.name == "milestones":
            columns.extend(f"milestones.{f.name}" for f in attrs.fields(Milestones))
        else:
            columns.append(field.name)
    return tuple(columns)


CSV_COLUMNS: Final = _csv_columns()
"""The first columns of a CSV export, in order; one ``custom.<name>`` column per custom field
follows (:func:`csv_columns`)."""


def csv_columns(fields: CustomFieldSet) -> tuple[str, ...]:
    """The columns of a CSV export under the custom-field definitions ``fields``:
    :data:`CSV_COLUMNS`, then ``custom.<name>`` for every current and removed field, by name.

    >>> from custrec.model.custom import CustomField
    >>> fields = (CustomFieldSet().define(CustomField(name="tier", type="text"))
    ...           .define(CustomField(name="budget", type="decimal")).remove("tier"))
    >>> csv_columns(fields)[len(CSV_COLUMNS):]
    ('custom.budget', 'custom.tier')
    """
    names = sorted(f.name for f in (*fields.fields, *fields.removed))
    return (*CSV_COLUMNS, *(f"custom.{name}" for name in names))


@attrs.frozen(kw_only=True)
class ExportResult:
    """What an export wrote: ``exported`` customers (``masked`` of them masked), and how many
    were left out because they were erased or the actor may not export them (``denied``; each
    refusal is audited by the registry)."""

    exported: int = 0
    masked: int = 0
    erased: int = 0
    denied: int = 0
    left_out_fields: tuple[str, ...] = ()
    """Custom fields defined while a CSV export ran: it has no column for them, so their
    values are not in it (export again). A JSON Lines export holds every value."""
    disclosure: Disclosure | None = None
    """The recorded disclosure, for an export to a third party (``disclose=``)."""
    excluded: Mapping[str, int] = attrs.field(factory=dict)
    """For a disclosure: the customers left out, per reason (``no_consent``, ``withdrawn``,
    ``separate_consent_required``, ``denied``, ``erased``, ...)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def custom_cell(value: Any) -> str:
    """A custom value, in its JSON form (as the registry exports it), as CSV cell text.

    >>> [custom_cell(v) for v in ({"decimal": "1.25E+3"}, {"date": "2026-03-01"}, True,
    ...                           ["silver", "gold"], 7, None)]
    ['1250', '2026-03-01', 'true', 'silver;gold', '7', '']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return CUSTOM_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, Mapping) and len(value) == 1:
        ((tag, text),) = value.items()
        if tag == "decimal" and isinstance(text, str):
            return _plain(text)
        return str(text)
    return str(value)


def _plain(text: str) -> str:
    """A decimal in plain notation (``1E+3`` as ``1000``), which a decimal column reads back;
    one beyond ``10 ** ±100`` as it is (its plain digits would fill the cell)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite() or abs(number.adjusted()) > _PLAIN_DIGITS:
        return text
    return format(number, "f")


def flatten(record: Mapping[str, Any], *, masked: bool, custom: tuple[str, ...] = ()) -> list[str]:
    """One CSV row (in :data:`CSV_COLUMNS` order, then the ``custom`` fields named) for a
    customer as the registry exports it."""
    row: list[str] = [str(SCHEMA_VERSION), "true" if masked else "false"]
    milestones = record.get("milestones") or {}
    for column in CSV_COLUMNS[2:]:
        if column.startswith("milestones."):
            value = milestones.get(column.partition(".")[2])
            if isinstance(value, dict):  # Money
                value = f"{value.get('amount')} {value.get('currency')}"
        else:
            value = record.get(column)
            if column in _LIST_FIELDS and value is None and column in record:
                value = []  # a field left out of a disclosure stays an empty cell
        row.append(_cell(value))
    values = record.get("custom") or {}
    row.extend(custom_cell(values.get(name)) for name in custom)
    return row


def export_customers(
    registry: Registry,
    out: str | os.PathLike[str] | IO[str],
    *,
    actor: Actor,
    format: str = "jsonl",
    batch_size: int = 500,
    progress: Progress | None = None,
    disclose: Disclose | None = None,
    **facets: Unpack[CustomerFacets],
) -> ExportResult:
    """Export the customers matching the facets to ``out`` (a path or a text stream).

    ``format`` is ``"jsonl"`` or ``"csv"`` (see the module docs). A path is written as UTF-8
    (with a byte order mark for CSV), readable by its owner only (mode 0600). The facets are
    those of ``registry.customers.query`` (checked the same way: an unknown facet or value is
    refused before anything is written); the customers are those the actor may read
    (``registry.customers.ids``), each read through the audited
    ``registry.privacy.export_subject``. ``progress(count)`` is called every ``batch_size``
    customers written and at the end with every customer written; a callback that raises
    stops the export, leaving the customers written so far in ``out`` (whole lines or rows,
    each read audited). Customers the actor may read but not export (``denied``) or whose
    data key is gone (``erased``) are left out and counted.

    With ``disclose`` (a :class:`~custrec.compliance.Disclose`) the file goes to a third
    party: the export is recorded as a disclosure (``registry.disclosures``), each customer
    is written only if their consent decision (or the stated basis) allows the purpose at
    the instant they are read, cut to the disclosed fields, and recorded in the same unit of
    work as that audited read; the others are counted per reason in ``excluded``. Everything
    about the disclosure is checked before the file is created.
    """
    if not isinstance(actor, Actor):
        raise TypeError("actor must be a custrec.Actor")
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    check("batch_size", batch_size, positive_int())
    ids = registry.customers.ids(actor=actor, batch_size=batch_size, **facets)
    if disclose is not None and not isinstance(disclose, Disclose):
        raise TypeError("disclose must be a custrec.compliance.Disclose")
    if disclose is not None and isinstance(out, str | os.PathLike):
        _check_writable(os.fspath(out))  # before a disclosure is recorded
    run = (
        None
        if disclose is None
        else registry.disclosures.start(
            recipient=disclose.recipient,
            purpose=disclose.purpose,
            actor=actor,
            fields=disclose.fields,
            basis=disclose.basis,
            channel="export",
            reference=disclose.reference,
            allow_masked=disclose.allow_masked,
        )
    )
    try:
        if isinstance(out, str | os.PathLike):
            encoding = "utf-8-sig" if format == "csv" else "utf-8"
            with open_private(out, encoding=encoding, newline="") as stream:
                result = _export(registry, stream, actor, format, ids, batch_size, progress, run)
        else:
            result = _export(registry, out, actor, format, ids, batch_size, progress, run)
    except BaseException:
        if run is not None:
            run.stop()  # recorded as stopped half-way, with what was sent
        raise
    if run is None:
        return result
    run.finish()
    return attrs.evolve(result, disclosure=run.disclosure)


def _check_writable(path: str) -> None:
    """Raise the ``OSError`` that opening ``path`` for writing would raise, without creating
    or truncating it (a missing folder, no permission, a folder in its place)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "is a folder", path)
    target = path if os.path.exists(path) else folder
    if not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "not writable", target)


def _export(
    registry: Registry,
    stream: IO[str],
    actor: Actor,
    format: str,
    ids: Iterator[str],
    batch_size: int,
    progress: Progress | None,
    run: DisclosureRun | None = None,
) -> ExportResult:
    writer: CsvWriter | None = None
    custom: tuple[str, ...] = ()
    if format == "csv":
        columns = csv_columns(registry.fields.current())
        custom = tuple(c.removeprefix("custom.") for c in columns[len(CSV_COLUMNS) :])
        writer = CsvWriter(stream)
        writer.writerow(columns)
    left_out: set[str] = set()
    exported = masked = erased = denied = 0
    excluded: dict[str, int] = {}
    reporter = Reporter(progress, every=batch_size)

    def write(is_masked: bool, record: Mapping[str, Any]) -> None:
        if writer is not None:
            writer.writerow(flatten(record, masked=is_masked, custom=custom))
            left_out.update(set(record.get("custom") or ()) - set(custom))
        else:
            document = {
                "schema_version": SCHEMA_VERSION,
                "type": "customer",
                "masked": is_masked,
                "data": record,
            }
            stream.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
        stream.flush()  # a disclosure is recorded once its line is handed on, not before

    for customer_id in ids:
        if run is not None:
            # written inside the customer's unit of work: a failed write records nothing
            sent = run.send(customer_id, deliver=lambda r: write(r.masked, r.record))
            if isinstance(sent, Exclusion):
                excluded[sent.reason] = excluded.get(sent.reason, 0) + 1
                continue
            is_masked = sent.masked
        else:
            try:
                subject = registry.privacy.export_subject(customer_id, actor=actor)
            except Erased:
                erased += 1
                continue
            except AccessDenied:
                denied += 1
                continue
            except NotFound:  # deleted since the ids were read
                continue
            is_masked = subject.masked
            write(is_masked, subject.record)
        exported += 1
        masked += is_masked
        reporter.add(1)
    reporter.finish()
    _log.info(
        "export: %d customers written (%d masked), %d erased and %d denied left out",
        exported,
        masked,
        erased,
        denied,
    )
    return ExportResult(
        exported=exported,
        masked=masked,
        erased=erased,
        denied=denied,
        left_out_fields=tuple(sorted(left_out)),
        excluded=excluded,
    )
