"""The groupings of ``registry.reports.counts``: names checked, stored values decoded and
ordered, and a row's groups for the count made row by row (private; see
:mod:`custrec.services.aggregates`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from custrec.model.custom import NAME_PATTERN, CustomField, CustomFieldSet, FieldType
from custrec.services.results import GroupValue
from custrec.storage import CustomerRow
from custrec.storage.ordered import decode_date, decode_number
from custrec.storage.types import group_values

__all__ = ["GROUPINGS", "Decode", "check_groupings", "ordered", "row_groups"]

Group = tuple[str | None, ...]
Decode = Callable[[str], GroupValue]

GROUPINGS: Final = (
    "kind",
    "stage",
    "state",
    "owner",
    "team",
    "grade",
    "tag",
    "industry",
    "province",
    "city",
    "intent",
    "interest",
    "category",
    "source",
    "verification",
)
"""The fixed grouping names; ``grade.<dimension>`` and ``custom.<field>`` come on top."""


def _text(value: str) -> GroupValue:
    return value


def _decoder(field: CustomField) -> Decode:
    """How a custom field's facet text reads back as a value of the field's type (the text
    itself when it does not: a report never fails on one odd value)."""

    def number(text: str) -> GroupValue:
        value = decode_number(text)
        if field.type is FieldType.NUMBER and value == value.to_integral_value():
            return int(value)
        return value

    def boolean(text: str) -> GroupValue:
        return {"true": True, "false": False}[text]

    def checked(decode: Callable[[str], GroupValue]) -> Decode:
        def read(text: str) -> GroupValue:
            try:
                return decode(text)
            except (ValueError, KeyError, ArithmeticError):
                return text

        return read

    if field.type in (FieldType.NUMBER, FieldType.DECIMAL):
        return checked(number)
    if field.type is FieldType.DATE:
        return checked(decode_date)
    if field.type is FieldType.BOOLEAN:
        return checked(boolean)
    return _text


def _allowed(fields: CustomFieldSet) -> str:
    custom = ", ".join(f"custom.{f.name}" for f in fields.filterable_fields()) or "none defined"
    return (
        f"{', '.join(GROUPINGS)}, grade.<dimension> and custom.<field> for a filterable custom "
        f"field ({custom})"
    )


def _grouping(name: object, fields: CustomFieldSet) -> Decode:
    if not isinstance(name, str):
        raise TypeError("a grouping is a name (a string)")
    if name in GROUPINGS:
        return _text
    kind, dot, rest = name.partition(".")
    if dot and kind == "grade" and NAME_PATTERN.fullmatch(rest):
        return _text
    if dot and kind == "custom":
        field = fields.get(rest)
        if field is not None and field.filterable:
            return _decoder(field)
        raise ValueError(
            f"no filterable custom field {rest!r} to group by; group by one or two of: "
            f"{_allowed(fields)}"
        )
    raise ValueError(f"unknown grouping {name!r}; group by one or two of: {_allowed(fields)}")


def check_groupings(
    by: object, fields: CustomFieldSet
) -> tuple[tuple[str, ...], tuple[Decode, ...]]:
    """``by`` (a name, or a sequence of one or two distinct names) checked against the
    groupings and the current custom fields, and the decoder of each one's stored values.
    ``TypeError`` for another type, ``ValueError`` naming the allowed groupings otherwise."""
    if isinstance(by, str):
        names: tuple[object, ...] = (by,)
    elif isinstance(by, Sequence):
        names = tuple(by)
    else:
        raise TypeError("by must be a grouping name or a sequence of one or two of them")
    if not 1 <= len(names) <= 2:
        raise ValueError(f"group by one or two of: {_allowed(fields)}")
    decoders = tuple(_grouping(name, fields) for name in names)
    if len(set(names)) != len(names):
        raise ValueError("by names a grouping twice")
    return tuple(str(name) for name in names), decoders


def row_groups(row: CustomerRow, by: Sequence[str]) -> Iterable[Group]:
    """Every group ``row`` counts in: one per combination of its values of ``by``."""
    return itertools.product(*(group_values(row, name) for name in by))


def _order(group: Group) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in group)


def ordered(
    groups: Mapping[Group, int], decoders: Sequence[Decode]
) -> tuple[tuple[tuple[GroupValue, ...], int], ...]:
    """The groups with a count, sorted by their stored text (``None`` last: stored text
    orders numbers and dates by value), each value decoded."""
    return tuple(
        (
            tuple(
                None if value is None else decode(value)
                for value, decode in zip(group, decoders, strict=True)
            ),
            count,
        )
        for group, count in sorted(groups.items(), key=lambda item: _order(item[0]))
        if count
    )
