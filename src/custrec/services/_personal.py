"""The concrete personal paths of a record, read from the record itself.

What an unmasked read reveals is audited as the personal field paths holding a value
(``contacts[0].phones``, ...). The general walk (:func:`general_paths`) unstructures the
whole record and walks the document; every audited unmasked read pays for that. The walk
here (:func:`record_paths`) reads the same paths from the record's attributes, treating a
value as empty exactly when its unstructured form would be ``None``, ``[]`` or ``""``; a value
of any type it does not know gives ``None``, and the caller takes the general walk.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date
from typing import Any, Final

import attrs

from custrec.model.records import CustomValues, personal_fields

__all__ = ["general_paths", "record_paths"]

_Step = tuple[str, bool]  # an attribute name, and whether it holds a tuple of records


class _Unknown(Exception):
    """A value of a type the record walk does not know: take the general walk."""


_EMPTY_KNOWN: Final[dict[type, Callable[[Any], bool]]] = {
    type(None): lambda value: True,
    str: lambda value: value == "",
    tuple: lambda value: not value,  # unstructured as a list
    date: lambda value: False,  # an ISO 8601 text
    CustomValues: lambda value: not value,  # None when empty, else a dict with entries
}


def _empty(value: Any) -> bool:
    """Whether ``value``'s unstructured form is ``None``, ``[]`` or ``""``."""
    known = _EMPTY_KNOWN.get(type(value))
    if known is not None:
        return known(value)
    if isinstance(value, enum.Enum) and type(value._value_) is str:
        return value._value_ == ""  # enums are unstructured by value
    raise _Unknown


_STEPS: Final[dict[type, tuple[tuple[_Step, ...], ...]]] = {}


def _steps(record_type: type) -> tuple[tuple[_Step, ...], ...]:
    """Each personal path of ``record_type`` as its steps (``contacts[].phones``: the
    tuple ``contacts``, then the attribute ``phones``)."""
    known = _STEPS.get(record_type)
    if known is not None:
        return known
    paths: list[tuple[_Step, ...]] = []
    for field in personal_fields(record_type):
        steps = []
        for part in field.path.split("."):
            many = part.endswith("[]")
            steps.append((part[:-2] if many else part, many))
        paths.append(tuple(steps))
    _STEPS[record_type] = tuple(paths)  # a class's fields never change
    return _STEPS[record_type]


def _expand(value: Any, steps: tuple[_Step, ...], at: int, prefix: str, out: list[str]) -> None:
    """Append the concrete paths under ``value`` for ``steps[at:]`` (``value`` holds them)."""
    name, many = steps[at]
    try:
        here = getattr(value, name)
    except AttributeError:
        raise _Unknown from None
    last = at + 1 == len(steps)
    if many or not last:  # a tuple of records, or a record, holding the rest of the path
        if here is None:
            return
        if not (type(here) is tuple if many else attrs.has(type(here))):
            raise _Unknown
    elif _empty(here):
        return
    if many:
        for index, item in enumerate(here):
            path = f"{prefix}{name}[{index}]"
            if last:
                out.append(path)
            elif attrs.has(type(item)):
                _expand(item, steps, at + 1, f"{path}.", out)
            else:
                raise _Unknown
        return
    if last:
        out.append(f"{prefix}{name}")
    else:
        _expand(here, steps, at + 1, f"{prefix}{name}.", out)


def record_paths(record: object) -> list[str] | None:
    """The concrete personal paths of an attrs ``record`` holding a value, in the order of
    :func:`general_paths`; ``None`` when a value is of a type this walk does not know."""
    found: list[str] = []
    try:
        for steps in _steps(type(record)):
            _expand(record, steps, 0, "", found)
    except _Unknown:
        return None
    return found


def general_paths(data: Any, record_type: type) -> list[str]:
    """The concrete personal paths of ``record_type`` in its unstructured ``data``."""
    paths: list[str] = []
    for field in personal_fields(record_type):
        paths.extend(_concrete_paths(data, field.path))
    return paths


def _concrete_paths(data: Any, path: str) -> list[str]:
    """Expand a personal-field path with ``[]`` into the concrete paths holding a value."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head[:-2] if many else head
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or value == [] or value == "":
        return []
    if many:
        found: list[str] = []
        for index, item in enumerate(value if isinstance(value, list) else []):
            here = f"{name}[{index}]"
            if rest:
                found.extend(f"{here}.{p}" for p in _concrete_paths(item, rest))
            else:
                found.append(here)
        return found
    if rest:
        return [f"{name}.{p}" for p in _concrete_paths(value, rest)]
    return [name]
