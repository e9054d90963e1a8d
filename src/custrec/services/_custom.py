"""Custom-field definitions kept in the store, and the facets and look-up keys of a row.

The current :class:`~custrec.model.custom.CustomFieldSet` is stored in the ``meta`` table
under :data:`DEFINITIONS` (each earlier version under ``custom_fields.v<n>``), so every process
using the store sees the same definitions. :class:`FieldCache` keeps the last set read: every
unit of work that writes a customer row reads the stored bytes again (one small read) and
parses them only when they changed, so a definition changed by another process applies from
that process's next write on.

:func:`row_facets` lists the non-personal facets a customer row carries (``industry=软件``,
``grade.stars=4``, ``custom.contract_type=annual``, ...): what queries filter on and
aggregations group by.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, Final

from custrec._checks import check, integer
from custrec.matching.names import _name_keys_of, name_keys
from custrec.matching.normalize import OrgName, PersonName
from custrec.model.custom import NAME_PATTERN, CustomField, CustomFieldSet, FieldType, from_json
from custrec.model.issues import Issue
from custrec.model.records import Customer, CustomValue
from custrec.storage import Session
from custrec.storage.ordered import encode_date, encode_instant, encode_number

__all__ = [
    "DEFINITIONS",
    "FieldCache",
    "custom_facet_values",
    "custom_key",
    "indexed_custom_key",
    "merged_custom",
    "removed_issues",
    "row_facets",
    "search_keys",
    "version_name",
]

DEFINITIONS: Final = "custom_fields"
"""The ``meta`` name of the current custom-field set."""


def version_name(version: int) -> str:
    """The ``meta`` name of one version of the set (kept for its history)."""
    return f"{DEFINITIONS}.v{version}"


class FieldCache:
    """The custom-field set last read from the store (thread-safe)."""

    __slots__ = ("_current", "_lock", "_raw")

    def __init__(self) -> None:
        self._raw: bytes | None = None
        self._current = CustomFieldSet()
        self._lock = threading.Lock()

    def read(self, session: Session) -> CustomFieldSet:
        """The set stored now, read in ``session`` (parsed again only when it changed)."""
        raw = session.meta.get(DEFINITIONS)
        with self._lock:
            if raw != self._raw:
                self._current = CustomFieldSet() if raw is None else from_json(raw)
                self._raw = raw
            return self._current

    def cached(self) -> CustomFieldSet:
        """The set as last read or written by this process."""
        with self._lock:
            return self._current

    def store(self, fields: CustomFieldSet, raw: bytes) -> None:
        """Remember a set this process has just committed."""
        with self._lock:
            self._current, self._raw = fields, raw


_NUMBER_TYPES: Final = frozenset({int, Decimal})  # exactly these: a bool is no number here


def _encoded(kind: FieldType, value: CustomValue) -> Iterator[str]:
    """The facet texts of a value of the field's own type; none for a value of another type
    (a value stored under an earlier definition of the name)."""
    if kind is FieldType.MULTI_ENUM:
        if isinstance(value, tuple):
            yield from value
    elif kind is FieldType.BOOLEAN:
        if isinstance(value, bool):
            yield "true" if value else "false"
    elif kind in (FieldType.NUMBER, FieldType.DECIMAL):
        if type(value) in _NUMBER_TYPES:
            yield encode_number(value)  # type: ignore[arg-type]
    elif kind is FieldType.DATE:
        if isinstance(value, date):
            yield encode_date(value)
    elif isinstance(value, str):  # text, enum
        yield value


def custom_facet_values(field: CustomField, value: CustomValue) -> tuple[str, ...]:
    """The facet values of one custom value, encoded so that text order is value order
    (numbers by :func:`~custrec.storage.ordered.encode_number`, dates as ISO text); a value
    of another type than its field's holds none."""
    if "\x00" in str(value):
        return ()
    return tuple(_encoded(field.type, value))


def custom_key(field: CustomField, value: CustomValue) -> tuple[str, str] | None:
    """The exact look-up key of an indexed custom field's value (``None`` for a value of
    another type)."""
    if not isinstance(value, str):
        try:
            check("value", value, integer())
        except (TypeError, ValueError):
            return None
    text = str(value)
    if not text or "\x00" in text:
        return None
    return (f"custom.{field.name}", text)


def indexed_custom_key(fields: CustomFieldSet, wanted: object) -> tuple[str, str] | None:
    """The look-up key of ``(name, value)`` for an indexed custom field, the value read as at
    intake; ``None`` for a value that field cannot hold (it matches nobody). ``ValueError``
    for a field that is not defined or not indexed."""
    if not (isinstance(wanted, tuple) and len(wanted) == 2 and isinstance(wanted[0], str)):
        raise TypeError("custom must be a (field name, value) pair")
    name, value = wanted
    field = fields.get(name)
    if field is None or not field.indexed:
        raise ValueError(f"custom field {name!r} is not indexed (define it indexed)")
    values, issues = fields.coerce({name: value})
    typed = values.get(name)
    return None if issues or typed is None else custom_key(field, typed)


def merged_custom(customer: Customer, converter: Any) -> dict[str, Any]:
    """A customer's custom values in their JSON form (the base an update's values go onto)."""
    return dict(converter.unstructure(customer.custom) or {})


def removed_issues(
    values: Mapping[str, object], fields: CustomFieldSet, kept: Mapping[str, object] | None = None
) -> tuple[Issue, ...]:
    """An issue for each value of a removed custom field that is new: a removed field takes no
    new value; only a value ``kept`` from the stored record (the same value) stays."""
    kept = kept or {}
    return tuple(
        Issue(
            path=f"custom.{name}",
            code="removed_field",
            message="this custom field was removed: it takes no new values",
        )
        for name, value in values.items()
        if name not in fields
        and fields.get(name, removed=True) is not None
        and kept.get(name) != value
    )


def search_keys(
    customer: Customer,
    fields: CustomFieldSet,
    normalised: PersonName | OrgName | None = None,
) -> frozenset[tuple[str, str]]:
    """The look-up keys that are not identity: the name-search keys of the customer's name
    and registered name (:func:`~custrec.matching.names.name_keys`), and the indexed custom
    fields' values. ``normalised``: the ``person_name`` or ``org_name`` of ``customer.name``
    (a str), when the caller has it already."""
    kind = customer.kind._value_
    found: set[tuple[str, str]] = set()
    name = customer.name
    if name:
        if normalised is not None and isinstance(name, str) and isinstance(kind, str):
            found.update(_name_keys_of(kind, name, normalised))
        else:
            found.update(name_keys(kind, name))
    if customer.registered_name:
        found.update(name_keys(kind, customer.registered_name))
    if customer.custom:
        for field in fields.indexed_fields():
            value = customer.custom.get(field.name)
            key = None if value is None else custom_key(field, value)
            if key is not None:
                found.add(key)
    return frozenset(found)


def row_facets(customer: Customer, fields: CustomFieldSet) -> frozenset[str]:
    """The facets of a customer's row: industry, province and city of every address,
    intent, product interests, category, source, verification status and instant, the grade
    in every named dimension, and the filterable custom fields."""
    found: set[str] = set()

    def add(name: str, value: str | None) -> None:
        if value and "\x00" not in value:
            found.add(f"{name}={value}")

    add("industry", customer.industry)
    for address in customer.addresses:
        add("province", address.province)
        add("city", address.city)
    add("intent", None if customer.intent is None else customer.intent._value_)
    for interest in customer.product_interests:
        add("interest", interest)
    add("category", None if customer.category is None else customer.category._value_)
    add("source", customer.source)
    add("verification", customer.verification._value_)
    if customer.last_verified_at is not None:
        add("verified_at", encode_instant(customer.last_verified_at))
    for grade in customer.grades:
        if NAME_PATTERN.fullmatch(grade.dimension):  # a dimension is an identifier
            add(f"grade.{grade.dimension}", grade.label)
    if customer.custom:
        for field in fields.filterable_fields():
            value = customer.custom.get(field.name)
            if value is not None:
                for text in custom_facet_values(field, value):
                    add(f"custom.{field.name}", text)
    return frozenset(found)
