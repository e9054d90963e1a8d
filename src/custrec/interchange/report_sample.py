"""The import's sample for manual checking, as masked records.

An :class:`~custrec.interchange.report.ImportReport` names a reproducible sample of the customers
the import holds (``sample_ids``). :func:`sample_records` reads them through the registry, as
any read: each one checked against the access policy and audited (``customer.read``, with the
purpose ``import <import id>: sample check``), and returns them masked, for a person to compare
with the source file. :func:`render_sample` gives them as a plain-text table.

The records are read with the actor's roles less ``unmask``, so that under the default
role-based policy the registry masks them and the audit log records masked reads; a custom
access policy decides for itself, and a record it shows in the clear is masked here before it
is returned (the audit log then says ``customer.unmask``: the clear record was read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from custrec._checks import check, int_range
from custrec.errors import AccessDenied, Erased, NotFound
from custrec.interchange.report import ImportReport, render_table
from custrec.model.records import Customer
from custrec.registry import Registry
from custrec.security import Actor
from custrec.security.masking import mask_custom, mask_record

__all__ = ["SampleRecords", "render_sample", "sample_records"]

_UNMASK: Final = "unmask"


@attrs.frozen(kw_only=True)
class SampleRecords:
    """The sampled customers, masked: ``records`` (in the sample's order), and the ids that
    could not be shown: ``missing`` (not stored: a dry run's sample, or erased since) and
    ``denied`` (the actor may not read them). ``more`` ids of the sample were not read (past
    ``limit``)."""

    records: tuple[Customer, ...] = ()
    missing: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    more: int = 0


def _masked_view(customer: Customer, registry: Registry) -> Customer:
    """``customer`` masked, unless it already is (its name, phones and e-mails all hold ``*``
    or are blank: the registry masked it)."""
    if _looks_masked(customer):
        return customer
    fields = registry.fields.current()
    masked = mask_record(customer)

    def personal(name: str) -> bool:
        field = fields.get(name, removed=True)
        return field is None or field.personal

    if customer.custom:
        masked = attrs.evolve(masked, custom=mask_custom(customer.custom, personal))
    return masked


def _looks_masked(customer: Customer) -> bool:
    values = [customer.name]
    for contact in customer.contacts:
        values.extend(contact.phones)
        values.extend(contact.emails)
    return all("*" in value or not value for value in values)


def sample_records(
    registry: Registry, report: ImportReport, *, actor: Actor, limit: int | None = None
) -> SampleRecords:
    """Read the report's sample (the first ``limit`` ids, default all) as masked customers.

    Each read is checked and audited as :meth:`registry.customers.get
    <custrec.services.customers.Customers.get>` does, with the purpose ``import <import id>:
    sample check``. A dry run's sample names customers the real run would create: they are
    ``missing`` until it runs.
    """
    if not isinstance(report, ImportReport):
        raise TypeError("report must be an ImportReport")
    if not isinstance(actor, Actor):
        raise TypeError("actor must be a custrec.Actor")
    if limit is not None:
        check("limit", limit, int_range(0))
    reader = attrs.evolve(actor, roles=actor.roles - {_UNMASK})
    ids = report.sample_ids if limit is None else report.sample_ids[:limit]
    purpose = f"import {report.import_id}: sample check"
    records: list[Customer] = []
    missing: list[str] = []
    denied: list[str] = []
    for customer_id in ids:
        try:
            customer = registry.customers.get(customer_id, actor=reader, purpose=purpose)
        except (NotFound, Erased):
            missing.append(customer_id)
        except AccessDenied:
            denied.append(customer_id)
        else:
            records.append(_masked_view(customer, registry))
    return SampleRecords(
        records=tuple(records),
        missing=tuple(missing),
        denied=tuple(denied),
        more=len(report.sample_ids) - len(ids),
    )


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def render_sample(sample: SampleRecords) -> str:
    """The records as a table (id, kind, name, stage, phone, e-mail, city), then what could not
    be shown. Every value is as masked as the records are."""
    rows = []
    for customer in sample.records:
        contact = customer.contacts[0] if customer.contacts else None
        address = customer.addresses[0] if customer.addresses else None
        rows.append(
            (
                customer.id,
                customer.kind.value,
                customer.name,
                customer.stage.value if customer.stage is not None else "",
                _first(contact.phones) if contact is not None else "",
                _first(contact.emails) if contact is not None else "",
                (address.city or "") if address is not None else "",
            )
        )
    headers = ("id", "kind", "name", "stage", "phone", "e-mail", "city")
    lines = [render_table(headers, rows)] if rows else []
    if sample.missing:
        lines.append(f"not stored (a dry run, or erased since): {', '.join(sample.missing)}")
    if sample.denied:
        lines.append(f"not readable by this actor: {', '.join(sample.denied)}")
    if sample.more:
        lines.append(f"... and {sample.more} more in the sample (see the report)")
    return "\n".join(lines)
