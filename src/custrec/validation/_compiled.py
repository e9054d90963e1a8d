"""Checks compiled once per record class, for the rule engine in :mod:`custrec.validation.rules`.

Run-time type checks of a record (``types.*`` rules) and the search for strings no record may
store (the ``text`` rule) walk every field of every record. Deriving field types with
``typing.get_origin``/``get_args`` for each record is what made validation slow, so both are
compiled here into one Python predicate per record class, the first time that class is seen:
the predicate answers "is everything fine?" quickly, and only when it says no does the generic
walk (:func:`_type_issues`, :func:`_text_issues`) run to report each issue with its path.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Final

import attrs

from custrec._text import INVALID_CHARACTER_MESSAGE, has_invalid_character
from custrec.model.issues import Issue, join_path
from custrec.model.serialization import field_types


def _type_issues(value: Any, tp: Any, path: str) -> Iterator[Issue]:
    """Check a value against a field annotation; used for records built in code."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        if value is None and NoneType in args:
            return
        non_none = [a for a in args if a is not NoneType]
        yield from _type_issues(value, non_none[0], path)
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            yield Issue(path=path, code="type", message="expected a tuple")
            return
        for index, item in enumerate(value):
            yield from _type_issues(item, args[0], f"{path}[{index}]")
        return
    if value is None:
        yield Issue(path=path, code="required", message="a value is required")
        return
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, tp):
            yield Issue(path=path, code="type", message=f"expected a {tp.__name__}")
            return
        hints = field_types(tp)
        for field in attrs.fields(tp):
            yield from _type_issues(
                getattr(value, field.name), hints[field.name], join_path(path, field.name)
            )
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if not isinstance(value, tp):
            names = ", ".join(repr(m.value) for m in tp)
            yield Issue(path=path, code="enum", message=f"expected one of {names}")
        return
    if tp is datetime:
        if not isinstance(value, datetime):
            yield Issue(path=path, code="type", message="expected a date-time")
        elif value.tzinfo is None or value.utcoffset() is None:
            yield Issue(path=path, code="datetime.naive", message="date-time has no time zone")
        return
    if tp is date:
        if not isinstance(value, date) or isinstance(value, datetime):
            yield Issue(path=path, code="type", message="expected a date")
        return
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            yield Issue(path=path, code="type", message="expected a whole number")
        return
    if tp is Decimal:
        if not isinstance(value, Decimal) or not value.is_finite():
            yield Issue(path=path, code="type", message="expected a finite decimal number")
        return
    if isinstance(tp, type) and not isinstance(value, tp):
        yield Issue(path=path, code="type", message=f"expected {tp.__name__}")


# The common case, a record whose every value has its declared type, is answered by a predicate
# compiled once per record class (the annotations resolved and turned into ``isinstance`` tests
# in Python source, as attrs compiles ``__init__``); only a record that fails it is walked by
# ``_type_issues`` to report each problem at its path.

_PREDICATES: dict[Any, Callable[[Any], bool]] = {}


def _test(tp: Any, x: str, names: dict[str, Any]) -> str:
    """A Python expression that is true when ``_type_issues(x, tp, ...)`` yields nothing."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        inner = _test(next(a for a in args if a is not NoneType), x, names)
        return f"({x} is None or {inner})" if NoneType in args else inner
    if origin is tuple:
        item = _bind(names, _predicate(args[0]))
        return f"(type({x}) is tuple or isinstance({x}, tuple)) and all(map({item}, {x}))"
    if isinstance(tp, type) and attrs.has(tp):
        return f"{_bind(names, _predicate(tp))}({x})"
    if tp is datetime:
        aware = f"{x}.tzinfo is not None and {x}.utcoffset() is not None"
        return f"isinstance({x}, _datetime) and {aware}"
    if tp is date:
        return f"isinstance({x}, _date) and not isinstance({x}, _datetime)"
    if tp is int:
        return f"isinstance({x}, int) and not isinstance({x}, bool)"
    if tp is Decimal:
        return f"isinstance({x}, _Decimal) and {x}.is_finite()"
    if tp is str:
        return f"(type({x}) is str or isinstance({x}, str))"
    if isinstance(tp, type):  # enums and any other class (None is never an instance)
        return f"isinstance({x}, {_bind(names, tp)})"
    return f"{x} is not None"


def _bind(names: dict[str, Any], value: object) -> str:
    name = f"_v{len(names)}"
    names[name] = value
    return name


def _compile(name: str, lines: list[str], names: dict[str, Any]) -> Callable[[Any], bool]:
    namespace: dict[str, Any] = {"_datetime": datetime, "_date": date, "_Decimal": Decimal}
    namespace.update(names)
    source = f"def {name}(v):\n" + "".join(f"    {line}\n" for line in lines)
    exec(compile(source, f"<custrec type check {name}>", "exec"), namespace)
    function: Callable[[Any], bool] = namespace[name]
    return function


def _fields_test(cls: type) -> tuple[list[str], dict[str, Any]]:
    names: dict[str, Any] = {}
    hints = field_types(cls)
    lines = []
    for field in attrs.fields(cls):
        lines.append(f"x = v.{field.name}")
        lines.append(f"if not ({_test(hints[field.name], 'x', names)}): return False")
    lines.append("return True")
    return lines, names


def _predicate(tp: Any) -> Callable[[Any], bool]:
    """Whether a value annotated ``tp`` has no type issue (cached per annotation)."""
    predicate = _PREDICATES.get(tp)
    if predicate is None:
        if isinstance(tp, type) and attrs.has(tp):
            lines, names = _fields_test(tp)
            cls = _bind(names, tp)
            lines.insert(0, f"if not isinstance(v, {cls}): return False")
            predicate = _compile("record_ok", lines, names)
        else:
            names = {}
            predicate = _compile("value_ok", [f"return {_test(tp, 'v', names)}"], names)
        _PREDICATES[tp] = predicate
    return predicate


_FIELDS_OK: dict[type, Callable[[Any], bool]] = {}


def _fields_ok(cls: type) -> Callable[[Any], bool]:
    """Whether every field of a ``cls`` record has its declared type (cached per class)."""
    predicate = _FIELDS_OK.get(cls)
    if predicate is None:
        lines, names = _fields_test(cls)
        predicate = _FIELDS_OK[cls] = _compile("fields_ok", lines, names)
    return predicate


_RECORD_FIELDS: dict[type, tuple[str, ...]] = {}


def _record_fields(cls: type) -> tuple[str, ...]:
    """The attrs field names of ``cls`` (none for any other type), cached."""
    names = _RECORD_FIELDS.get(cls)
    if names is None:
        names = _RECORD_FIELDS[cls] = (
            tuple(f.name for f in attrs.fields(cls)) if attrs.has(cls) else ()
        )
    return names


_Collect = Callable[[object, list[str], list[object]], None]
_STRING_FIELDS: dict[type, _Collect] = {}
# Values of these exact types are never text and hold none: nothing to collect.
_NOT_TEXT: Final = (int, bool, date, datetime, Decimal)


def _collect_value(tp: Any, x: str, names: dict[str, Any]) -> list[str]:
    """Source that collects value ``x`` declared ``tp`` as the loop of ``_any_invalid_text``
    would: a ``str`` is taken, a value of the declared type is entered (or skipped if it holds
    no text), anything else that is not ``None`` goes on the stack for the loop."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        non_none = [a for a in args if a is not NoneType]
        if len(non_none) == 1:
            return _collect_value(non_none[0], x, names)
    first: list[str] = []
    if origin is tuple:
        item = f"{x}_"
        first = [
            f"elif type({x}) is tuple:",
            f"    for {item} in {x}:",
            *(f"        {line}" for line in _collect_value(args[0], item, names)),
        ]
    elif isinstance(tp, type) and attrs.has(tp) and tp not in _COMPILING:
        first = [
            f"elif type({x}) is {_bind(names, tp)}:",
            f"    {_bind(names, _string_fields(tp))}({x}, strings, stack)",
        ]
    elif isinstance(tp, type) and tp in _NOT_TEXT:
        first = [f"elif type({x}) is {_bind(names, tp)}:", "    pass"]
    elif (
        isinstance(tp, type) and issubclass(tp, enum.Enum) and not attrs.has(tp)
    ):  # a member of a str enum is text, of another enum not
        action = "strings.append" if issubclass(tp, str) else ""
        first = [
            f"elif type({x}) is {_bind(names, tp)}:",
            f"    {action}({x})" if action else "    pass",
        ]
    return [
        f"if type({x}) is str:",
        f"    strings.append({x})",
        *first,
        f"elif {x} is not None:",
        f"    stack.append({x})",
    ]


_COMPILING: set[type] = set()


def _string_fields(cls: type) -> _Collect:
    """Compiled for an attrs class: collect the text of a record's fields (see
    ``_collect_value``) for ``_any_invalid_text``; the order of the strings does not matter."""
    collect = _STRING_FIELDS.get(cls)
    if collect is None:
        _COMPILING.add(cls)
        try:
            names: dict[str, Any] = {}
            hints = field_types(cls)
            lines = []
            for name in _record_fields(cls):
                lines.append(f"x = v.{name}")
                lines += _collect_value(hints[name], "x", names)
            lines.append("return None")
            source = "def collect(v, strings, stack):\n" + "".join(
                f"    {line}\n" for line in lines
            )
            namespace: dict[str, Any] = dict(names)
            exec(compile(source, f"<custrec strings of {cls.__name__}>", "exec"), namespace)
            collect = _STRING_FIELDS[cls] = namespace["collect"]
        finally:
            _COMPILING.discard(cls)
    return collect


def _any_invalid_text(record: object) -> bool:
    """Whether any string in ``record`` (in nested records and tuples too) cannot be stored.

    The common case, nothing wrong, is checked in one pass without building paths. Values of
    other types (a list where a tuple belongs, ...) are not entered: the type rule reports them.
    """
    strings: list[str] = []
    stack: list[object] = [record]
    while stack:
        value = stack.pop()
        cls = type(value)
        if cls is str:
            strings.append(value)  # type: ignore[arg-type]
        elif cls is tuple:
            stack.extend(value)  # type: ignore[arg-type]
        elif value is not None:
            if _record_fields(cls):
                _string_fields(cls)(value, strings, stack)
            elif isinstance(value, str):  # a str subclass, such as an enum member
                strings.append(value)
    text = "".join(strings)
    return has_invalid_character(text) if not text.isascii() else "\x00" in text


def _text_issues(record: object) -> Iterator[Issue]:
    """Report, in field order, every string in ``record`` that cannot be stored."""
    stack: list[tuple[str, object]] = [("", record)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if has_invalid_character(value):
                yield Issue(
                    path=path, code="text.invalid_character", message=INVALID_CHARACTER_MESSAGE
                )
        elif isinstance(value, tuple):
            stack.extend(reversed([(f"{path}[{i}]", item) for i, item in enumerate(value)]))
        else:
            names = _record_fields(type(value))
            stack.extend((join_path(path, name), getattr(value, name)) for name in reversed(names))
