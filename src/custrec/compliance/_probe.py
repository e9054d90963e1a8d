"""How custrec treats each declared personal field, found by trying it (no list to keep up).

A record type's personal fields come from their declarations
(:func:`custrec.model.records.personal_fields`). Whether a field is masked for display and
whether it feeds a look-up index is not declared: it is what :func:`~custrec.security.mask_record`
and the registry's look-up keys do with it. So this module builds a sample record (every
required field filled, one element in every nested list that holds personal fields), changes
one personal field at a time, and looks: a field is *masked* when ``mask_record`` changes its
value, and *indexed* when the look-up keys of the record change with it.

Sample values are fixed words and dates, never customer data.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Final

import attrs

from custrec.model.records import (
    PERSONAL_KEY,
    CustomerKind,
    CustomValues,
    PersonalField,
    PersonalInfo,
    personal_fields,
)
from custrec.security import mask_record

__all__ = ["LookupKeys", "indexed_paths", "masked_paths"]

LookupKeys = Callable[[Any], Iterable[Hashable]]
"""The look-up keys a registry derives from a customer (strong identifiers, name-search keys,
blocking keys, or the index tokens made of them)."""

_TEXTS: Final = ("Alpha One 1", "Beta Two 2")
_DATES: Final = (date(2000, 1, 1), date(2001, 2, 2))
_INSTANTS: Final = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 2, 2, tzinfo=UTC))
_UNPROBED: Final = object()  # a personal field of a type no sample value stands in for
_NUMBERS: Final[dict[Any, tuple[Any, Any]]] = {
    bool: (False, True),
    int: (1, 2),
    Decimal: (Decimal(1), Decimal(2)),
}
_SEQUENCES: Final = (tuple, list, frozenset, set)


def _without_none(tp: Any) -> Any:
    """``X`` for ``X | None``; the type itself otherwise."""
    if typing.get_origin(tp) in (typing.Union, UnionType):
        rest = [arg for arg in typing.get_args(tp) if arg is not NoneType]
        if len(rest) == 1:
            return rest[0]
    return tp


def _nested(tp: Any) -> tuple[type | None, bool]:
    """(attrs class, is a sequence) of a field type such as ``tuple[Contact, ...]``."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in _SEQUENCES and args and attrs.has(args[0]):
        return args[0], True
    inner = _without_none(tp)
    if isinstance(inner, type) and attrs.has(inner):
        return inner, False
    return None, False


def _probe_value(tp: Any, which: int) -> Any:
    """Sample value ``which`` (0 or 1, always different) of a personal field's type."""
    inner = _without_none(tp)
    if inner is str:
        return _TEXTS[which]
    if typing.get_origin(inner) in _SEQUENCES and typing.get_args(inner)[:1] == (str,):
        return (_TEXTS[which],)
    if inner is datetime:
        return _INSTANTS[which]
    if inner is date:
        return _DATES[which]
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        members = list(inner)
        return members[which % len(members)]
    if inner is CustomValues:
        return CustomValues({"probe": _TEXTS[which]})
    return _NUMBERS.get(inner, (_UNPROBED, _UNPROBED))[which]


def _plain(tp: Any) -> Any:
    """A value for a required field that is not personal."""
    inner = _without_none(tp)
    if typing.get_origin(inner) in _SEQUENCES:
        return ()
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        return next(iter(inner))
    simple: dict[Any, Any] = {
        str: "x",
        datetime: _INSTANTS[0],
        date: _DATES[0],
        int: 0,
        Decimal: Decimal(0),
        bool: False,
    }
    if inner in simple:
        return simple[inner]
    if isinstance(inner, type) and attrs.has(inner):
        return _sample(inner)
    raise TypeError(f"no sample value for a field of type {tp!r}")


def _sample(cls: type) -> Any:
    """A record of ``cls``: personal fields at sample value 0, required fields filled, one
    element in each nested list of records that holds personal fields."""
    arguments: dict[str, Any] = {}
    for field in attrs.fields(attrs.resolve_types(cls)):
        if not field.init:
            continue
        key = field.alias or field.name
        if isinstance(field.metadata.get(PERSONAL_KEY), PersonalInfo):
            value = _probe_value(field.type, 0)
            if value is not _UNPROBED:
                arguments[key] = value
            elif field.default is attrs.NOTHING:
                arguments[key] = _plain(field.type)
            continue
        nested, many = _nested(field.type)
        if nested is not None and personal_fields(nested):
            element = _sample(nested)
            arguments[key] = (element,) if many else element
        elif field.default is attrs.NOTHING:
            arguments[key] = _plain(field.type)
    return cls(**arguments)


def _parts(path: str) -> list[tuple[str, bool]]:
    return [(part.removesuffix("[]"), part.endswith("[]")) for part in path.split(".")]


def _get(record: Any, path: str) -> Any:
    value = record
    for name, many in _parts(path):
        value = getattr(value, name)
        if many:
            value = value[0]
    return value


def _with(record: Any, parts: list[tuple[str, bool]], value: Any) -> Any:
    (name, many), rest = parts[0], parts[1:]
    new = value
    if rest:
        current = getattr(record, name)
        inner = _with(current[0] if many else current, rest, value)
        new = (inner, *current[1:]) if many else inner
    alias = attrs.fields_dict(type(record))[name].alias or name
    return attrs.evolve(record, **{alias: new})


def _field_type(record_type: type, path: str) -> Any:
    cls = record_type
    *outer, (leaf, _) = _parts(path)
    for name, _many in outer:
        nested, _ = _nested(attrs.fields_dict(attrs.resolve_types(cls))[name].type)
        assert nested is not None
        cls = nested
    return attrs.fields_dict(attrs.resolve_types(cls))[leaf].type


def _variants(record_type: type, fields: Sequence[PersonalField]) -> Iterable[tuple[str, Any]]:
    """(path, sample value 1) for each field; ``TypeError`` for a field of a type without
    sample values (teach :func:`_probe_value` the new type)."""
    for field in fields:
        tp = _field_type(record_type, field.path)
        value = _probe_value(tp, 1)
        if value is _UNPROBED:  # say so rather than report a flag that was never tried
            raise TypeError(f"no sample value for the personal field {field.path} ({tp!r})")
        yield field.path, value


def masked_paths(record_type: type, fields: Sequence[PersonalField]) -> frozenset[str]:
    """The paths of ``fields`` whose value :func:`~custrec.security.mask_record` changes."""
    base = _sample(record_type)
    found: set[str] = set()
    for path, value in _variants(record_type, fields):
        probed = _with(base, _parts(path), value)
        if _get(mask_record(probed), path) != value:
            found.add(path)
    return frozenset(found)


def indexed_paths(
    record_type: type, fields: Sequence[PersonalField], lookup: LookupKeys
) -> frozenset[str]:
    """The paths of ``fields`` whose value changes ``lookup``'s keys of a customer (of either
    kind: an organisation's name gives other keys than a person's)."""
    base = _sample(record_type)
    kinds: list[Any] = [base]
    if isinstance(getattr(base, "kind", None), CustomerKind):
        kinds = [attrs.evolve(base, kind=kind) for kind in CustomerKind]
    found: set[str] = set()
    for path, value in _variants(record_type, fields):
        for sample in kinds:
            probed = _with(sample, _parts(path), value)
            if frozenset(lookup(probed)) != frozenset(lookup(sample)):
                found.add(path)
                break
    return frozenset(found)
