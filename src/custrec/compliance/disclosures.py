"""Disclosures of customer data to third parties (PIPL arts. 23 and 25), as records.

A :class:`Disclosure` says who gave which fields of which customers to which recipient, for
what purpose and on what lawful basis, and how many customers were left out and why. Each
customer concerned has a per-customer entry (:class:`CustomerDisclosure`), which appears in
their subject export. :func:`project` cuts a record down to the disclosed fields.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from custrec.consent import LawfulBasis
from custrec.model.records import Customer

__all__ = [
    "DISCLOSURE_STATUSES",
    "CustomerDisclosure",
    "Disclose",
    "DisclosedRecord",
    "Disclosure",
    "DisclosureResult",
    "Exclusion",
    "check_fields",
    "project",
]

DISCLOSURE_STATUSES: Final = ("open", "complete", "stopped")
"""A disclosure is ``open`` while customers are being added (an export still running, or a
process that died half-way: every customer it sent is linked all the same), ``complete``
once it is finished, and ``stopped`` when an error ended it half-way (a delivery or a write
that failed): the customers sent before are recorded, the rest were never decided."""

_FIELD: Final = re.compile(r"[a-z_][a-z0-9_]*(\[\])?(\.[a-z_][a-z0-9_]*(\[\])?)*")
_CUSTOM: Final = re.compile(r"custom\.[a-z][a-z0-9_]*")


def _nested(tp: Any) -> type | None:
    for arg in (tp, *typing.get_args(tp)):
        if isinstance(arg, type) and attrs.has(arg):
            return arg
    return None


@functools.cache
def _paths(cls: type, prefix: str = "") -> frozenset[str]:
    found: set[str] = set()
    for field in attrs.fields(attrs.resolve_types(cls)):
        path = f"{prefix}{field.name}"
        found.add(path)
        nested = _nested(field.type)
        if nested is not None:
            many = typing.get_origin(field.type) is tuple
            found |= _paths(nested, f"{path}[]." if many else f"{path}.")
    return frozenset(found)


def check_fields(fields: Iterable[str] | None) -> tuple[str, ...]:
    """Return the field paths of a disclosure, checked and de-duplicated in order.

    A path names a field of :class:`~custrec.records.Customer` the way
    :func:`~custrec.records.personal_fields` does (``name``, ``contacts[].phones``,
    ``addresses[].city``) or one custom field (``custom.member_level``). ``None`` means the
    whole record; an empty list raises ``ValueError``, and so does any other path, naming it.
    """
    if fields is None:
        return ()
    if isinstance(fields, str):
        raise TypeError("fields must be a list of field paths, not one string")
    fields = list(fields)
    if not fields:
        raise ValueError("name at least one field, or leave fields out (None) for the whole record")
    known = _paths(Customer)
    checked: list[str] = []
    for path in fields:
        if not isinstance(path, str):
            raise TypeError(f"a field path must be text, not {type(path).__name__}")
        if not (_FIELD.fullmatch(path) and (path in known or _CUSTOM.fullmatch(path))):
            raise ValueError(f"unknown customer field path {path[:80]!r}")
        if path not in checked:
            checked.append(path)
    return tuple(checked)


def project(record: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The part of a record (its JSON form) that ``fields`` name, always with its ``id``.

    >>> record = {"id": "c-1", "name": "Li", "notes": "x",
    ...           "contacts": [{"phones": ["+86 138"], "emails": ["a@b.cn"]}]}
    >>> project(record, ("name", "contacts[].phones"))
    {'id': 'c-1', 'name': 'Li', 'contacts': [{'phones': ['+86 138']}]}
    >>> project(record, ()) == record
    True
    """
    if not fields:
        return dict(record)
    tree: dict[str, Any] = {}
    for path in fields:
        node = tree
        parts = path.replace("[]", "").split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if child is None:  # the whole of this part is already taken
                break
            node = child
        else:
            node[parts[-1]] = None
    picked = _pick(record, tree)
    assert isinstance(picked, dict)
    return {"id": record.get("id"), **picked}


def _pick(value: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None:
        return value
    if isinstance(value, list):
        return [_pick(item, tree) for item in value]
    if isinstance(value, Mapping):
        return {key: _pick(value[key], sub) for key, sub in tree.items() if key in value}
    return value


def _field_list(value: Iterable[str] | None) -> tuple[str, ...] | None:
    if isinstance(value, str):
        raise TypeError("fields must be a list of field paths, not one string")
    return None if value is None else tuple(value)


@attrs.frozen(kw_only=True)
class Disclose:
    """What an export to a third party discloses: to which registered ``recipient``, for
    which ``purpose``, on which lawful ``basis`` (consent by default: then the purpose must
    be one that asks for separate consent, such as ``third_party``; on another basis
    ``reference`` names its ground), which ``fields`` (field paths; ``None``: the whole
    record), with the caller's ``reference``; ``allow_masked`` sends masked values of customers
    the exporter may not unmask (they are left out otherwise). Checked when
    the export starts (see :meth:`~custrec.services.DisclosureService.start`)."""

    recipient: str
    purpose: str
    basis: LawfulBasis = LawfulBasis.CONSENT
    fields: tuple[str, ...] | None = attrs.field(default=None, converter=_field_list)
    reference: str | None = None
    allow_masked: bool = False


@attrs.frozen(kw_only=True)
class Disclosure:
    """One disclosure to a third party: the register entry PIPL art. 23 asks a company to be
    able to show.

    ``fields`` are the disclosed field paths (empty: the whole record); ``at`` the instant
    consent was decided; ``disclosed`` and ``excluded`` count the customers sent and left out,
    ``reasons`` the left-out ones per reason code (a consent reason such as
    ``separate_consent_required`` or ``withdrawn``; one of a further consent as
    ``cross_border:<reason>`` or ``sensitive:<reason>``; or ``masked``, ``denied``,
    ``erased``, ``not_found``); ``channel`` how the data left (``export`` for a file written
    by :func:`~custrec.interchange.export_customers`, ``records`` for data handed to the
    caller); ``reference`` the caller's own reference or the ground of a non-consent basis
    (a ticket, a contract, a legal provision; no personal data); ``cross_border`` whether the
    recipient is in another country than the registry's region (every customer then needed
    separate consent to ``cross_border`` too).
    """

    id: str
    recipient_id: str
    purpose: str
    basis: LawfulBasis
    fields: tuple[str, ...] = ()
    actor_id: str
    at: datetime
    channel: str
    reference: str | None = None
    status: str = "open"
    disclosed: int = 0
    excluded: int = 0
    reasons: Mapping[str, int] = attrs.field(factory=dict)
    completed_at: datetime | None = None
    cross_border: bool = False
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The disclosure as JSON-able data."""
        return {
            "id": self.id,
            "recipient_id": self.recipient_id,
            "purpose": self.purpose,
            "basis": self.basis.value,
            "fields": list(self.fields),
            "actor_id": self.actor_id,
            "at": self.at.isoformat(),
            "channel": self.channel,
            "reference": self.reference,
            "status": self.status,
            "disclosed": self.disclosed,
            "excluded": self.excluded,
            "reasons": dict(sorted(self.reasons.items())),
            "completed_at": None if self.completed_at is None else self.completed_at.isoformat(),
            "cross_border": self.cross_border,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, version: int = 1) -> Disclosure:
        """The inverse of :meth:`to_json` (``version`` is the stored row's)."""
        completed = data.get("completed_at")
        return cls(
            id=data["id"],
            recipient_id=data["recipient_id"],
            purpose=data["purpose"],
            basis=LawfulBasis(data["basis"]),
            fields=tuple(data["fields"]),
            actor_id=data["actor_id"],
            at=datetime.fromisoformat(data["at"]),
            channel=data["channel"],
            reference=data.get("reference"),
            status=data["status"],
            disclosed=int(data["disclosed"]),
            excluded=int(data["excluded"]),
            reasons={str(k): int(v) for k, v in data["reasons"].items()},
            completed_at=None if completed is None else datetime.fromisoformat(completed),
            cross_border=bool(data.get("cross_border", False)),
            version=version,
        )


@attrs.frozen(kw_only=True)
class CustomerDisclosure:
    """A disclosure as it concerns one customer (their subject export lists these).

    ``disclosed`` is ``False`` for a customer considered and left out (``reason`` says why);
    ``masked`` tells that the values sent were masked (the discloser could not unmask them);
    ``recipient_name`` and ``recipient_country`` are the recipient's when the data was sent,
    ``recipient_contact`` its privacy contact as registered now (what PIPL art. 23 asks the
    customer be told). ``erased``: the customer was erased since, so only the register's
    facts remain (their own entry is shredded).
    """

    disclosure_id: str
    customer_id: str
    recipient_id: str
    purpose: str
    basis: LawfulBasis
    fields: tuple[str, ...]
    at: datetime
    disclosed: bool
    masked: bool = False
    reason: str | None = None
    recipient_name: str | None = None
    recipient_contact: str | None = None
    recipient_country: str | None = None
    erased: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON-able data (as in the subject export)."""
        return {
            "disclosure_id": self.disclosure_id,
            "recipient_id": self.recipient_id,
            "recipient_name": self.recipient_name,
            "recipient_contact": self.recipient_contact,
            "recipient_country": self.recipient_country,
            "purpose": self.purpose,
            "basis": self.basis.value,
            "fields": list(self.fields),
            "at": self.at.isoformat(),
            "disclosed": self.disclosed,
            "masked": self.masked,
            "reason": self.reason,
        }


@attrs.frozen(kw_only=True)
class Exclusion:
    """A customer left out of a disclosure, with the reason code."""

    customer_id: str
    reason: str


@attrs.frozen(kw_only=True)
class DisclosedRecord:
    """One customer's disclosed data (the projected record); kept out of ``repr``."""

    customer_id: str
    masked: bool
    record: Mapping[str, Any] = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class DisclosureResult:
    """What :meth:`~custrec.services.DisclosureService.disclose` did: the recorded
    disclosure, the records to hand over (exactly those recorded), and who was left out."""

    disclosure: Disclosure
    records: tuple[DisclosedRecord, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    excluded: tuple[Exclusion, ...] = ()
