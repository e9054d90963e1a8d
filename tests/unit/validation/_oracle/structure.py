"""Turning records into JSON-safe data and back.

:func:`make_converter` returns a private :class:`cattrs.Converter` (the global one is never
touched) that round-trips every record type: ``Decimal`` as a string, ``datetime`` as ISO 8601 with
its UTC offset (naive datetimes are refused), ``date`` as ISO 8601, enums by value, tuples as lists.

>>> from custrec.model.records import Customer, CustomerKind
>>> conv = make_converter()
>>> c = Customer(id="c-1", kind=CustomerKind.INDIVIDUAL, name="Li Lei")
>>> data = conv.unstructure(c)
>>> data["kind"], conv.structure(data, Customer) == c
('individual', True)

Stored documents carry a schema version (:func:`to_document` / :func:`from_document`).
:func:`structure_with_issues` structures untrusted data and reports every problem as an
:class:`~custrec.model.issues.Issue` with its field path instead of raising;
:func:`structure_partially` also returns what could be structured, so that the rest of a record
can still be validated.

>>> record, report, unreadable = structure_partially(
...     {"kind": "individual", "name": "Li Lei", "birth_date": "1990-02-30"}, Customer
... )
>>> [(i.path, i.code) for i in report], sorted(unreadable), record.name, record.birth_date
([('birth_date', 'type')], ['birth_date'], 'Li Lei', None)
"""

from __future__ import annotations

import enum
import json
import math
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from types import NoneType, UnionType
from typing import Any, Final, TypeVar

import attrs
import cattrs

from custrec._text import INVALID_CHARACTER_MESSAGE, clean, has_invalid_character, nfkc
from custrec.errors import SchemaError
from custrec.model import serialization as _public_serialization
from custrec.model.issues import Issue, ValidationReport, join_path
from custrec.model.records import Customer, Interaction, Transaction

__all__ = [
    "DOCUMENT_TYPES",
    "SCHEMA_VERSION",
    "UNREADABLE",
    "SchemaError",
    "dumps",
    "from_document",
    "loads",
    "make_converter",
    "structure_partially",
    "structure_with_issues",
    "to_document",
]

SCHEMA_VERSION: Final = 1
"""Version of the stored document shape; bumped (with a migration) whenever the shape changes."""

DOCUMENT_TYPES: Final[Mapping[str, type]] = {
    "customer": Customer,
    "transaction": Transaction,
    "interaction": Interaction,
}
_TYPE_NAMES: Final = {cls: name for name, cls in DOCUMENT_TYPES.items()}

T = TypeVar("T")


# ------------------------------------------------------------------------------------ hooks


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise TypeError("expected an ISO 8601 date-time string")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("date-time has no time zone")
    return parsed.astimezone(UTC)


def _unstructure_datetime(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "cannot serialise a datetime without a time zone; use an aware UTC datetime"
        )
    return value.astimezone(UTC).isoformat()


def _structure_date(value: Any, _: type) -> date:
    if isinstance(value, datetime):
        raise TypeError("expected a date, got a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise TypeError("expected an ISO 8601 date string")


def _structure_decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a decimal number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a decimal number") from None
    else:
        raise TypeError("expected a decimal number")
    if not result.is_finite():
        raise ValueError("not a finite number")
    return result


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _structure_enum(value: Any, tp: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, tp):
        return value
    return tp(value)  # ValueError for a value that is not a member


def make_converter() -> cattrs.Converter:
    """Return a new private converter for custrec records.

    Structuring is strict: unknown keys, wrong types, naive datetimes and non-finite decimals
    raise cattrs' errors. Use :func:`structure_with_issues` for untrusted input.
    """
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, _unstructure_datetime)
    conv.register_structure_hook(date, _structure_date)
    conv.register_unstructure_hook(date, lambda d: d.isoformat())
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    # StrEnum must be registered itself: through its MRO it would otherwise match ``str`` first.
    conv.register_structure_hook(enum.StrEnum, _structure_enum)
    conv.register_structure_hook(enum.Enum, _structure_enum)
    conv.register_unstructure_hook(enum.StrEnum, lambda e: e.value)
    conv.register_unstructure_hook(enum.Enum, lambda e: e.value)
    return conv


_default_converter = make_converter()


# -------------------------------------------------------------------------------- documents


def to_document(record: Any, *, converter: cattrs.Converter | None = None) -> dict[str, Any]:
    """Wrap a record as ``{"schema_version": 1, "type": "customer", "data": {...}}``."""
    name = _TYPE_NAMES.get(type(record))
    if name is None:
        raise TypeError(f"not a custrec document type: {type(record).__name__}")
    conv = converter or _default_converter
    return {"schema_version": SCHEMA_VERSION, "type": name, "data": conv.unstructure(record)}


def from_document(document: Mapping[str, Any], *, converter: cattrs.Converter | None = None) -> Any:
    """Read a document written by :func:`to_document`; raises :class:`SchemaError` if foreign."""
    if not isinstance(document, Mapping):
        raise SchemaError("a document must be a mapping")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError(f"unsupported schema version {version!r} (expected {SCHEMA_VERSION})")
    cls = DOCUMENT_TYPES.get(str(document.get("type")))
    if cls is None:
        raise SchemaError("unknown document type")
    conv = converter or _default_converter
    return conv.structure(document.get("data"), cls)


def dumps(record: Any) -> bytes:
    """Serialise a record to compact UTF-8 JSON bytes (a schema-versioned document)."""
    return json.dumps(to_document(record), ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`; raises :class:`SchemaError` on foreign or corrupt bytes."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError("stored document is not valid JSON") from exc
    return from_document(document)


# ----------------------------------------------------------------------- lenient structuring

_MULTILINE_FIELDS: Final = frozenset({"notes", "summary"})


@typing.final
class _Unreadable:
    """The type of :data:`UNREADABLE`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unreadable>"


# The oracle shares the public sentinel so that partial records compare equal.
UNREADABLE: Final = typing.cast(_Unreadable, _public_serialization.UNREADABLE)
"""Stands in a partial record (:func:`structure_partially`) for a value that could not be
structured and has no default: a required field, or an element of a list."""


@attrs.frozen
class _Context:
    converter: cattrs.Converter
    issues: list[Issue]
    unreadable: list[str]

    def add(self, path: str, code: str, message: str) -> None:
        self.issues.append(Issue(path=path, code=code, message=message))


_MISSING: Final = object()


def _describe(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    if tp is str:
        return "text"
    if tp is int:
        return "a whole number"
    if tp is bool:
        return "true or false"
    if tp is Decimal:
        return "a decimal number"
    if tp is datetime:
        return "an ISO 8601 date-time with a time zone"
    if tp is date:
        return "an ISO 8601 date"
    return getattr(tp, "__name__", "a value of the right type")


def _leaf(value: Any, tp: Any, path: str, ctx: _Context, *, field_name: str) -> Any:
    """Structure one scalar leaf; on failure record an issue and return ``_MISSING``."""
    if tp is str:
        if isinstance(value, bool):
            ctx.add(path, "type", "expected text")
            return _MISSING
        if isinstance(value, int):  # phones and postal codes typed as numbers in spreadsheets
            try:  # deliberate fix 2 (see __init__)
                value = str(value)
            except ValueError:
                value = None
        if not isinstance(value, str):
            ctx.add(path, "type", "expected text")
            return _MISSING
        if has_invalid_character(value):
            ctx.add(path, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
            return _MISSING
        return nfkc(value).strip() if field_name in _MULTILINE_FIELDS else clean(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        if isinstance(value, str):
            key = clean(value).lower()
            for member in tp:
                if key in (str(member.value).lower(), member.name.lower()):
                    return member
        ctx.add(path, "enum", f"expected {_describe(tp)}")
        return _MISSING
    if tp is int and isinstance(value, str) and clean(value).lstrip("-").isdigit():
        try:  # deliberate fix 2 (see __init__)
            value = int(clean(value))
        except ValueError:
            pass
    try:
        return ctx.converter.structure(value, tp)
    except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
        code = "datetime.naive" if "time zone" in str(exc) else "type"
        message = "date-time has no time zone" if code == "datetime.naive" else None
        ctx.add(path, code, message or f"expected {_describe(tp)}")
        return _MISSING


def _value(value: Any, tp: Any, path: str, ctx: _Context, *, field_name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        blank = value is None or (isinstance(value, str) and not value.strip())
        if blank and NoneType in args:
            return None
        non_none = [a for a in args if a is not NoneType]
        if len(non_none) == 1:
            return _value(value, non_none[0], path, ctx, field_name=field_name)
        return _leaf(value, tp, path, ctx, field_name=field_name)  # pragma: no cover
    if origin is tuple:
        inner = args[0]
        if value is None:
            return ()
        if isinstance(value, str | int) and not (isinstance(value, str) and not value.strip()):
            value = [value]  # a single phone or tag where a list was expected
        elif isinstance(value, str):
            return ()
        if not isinstance(value, list | tuple):
            ctx.add(path, "type", "expected a list")
            return _MISSING
        items = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            result = _value(item, inner, item_path, ctx, field_name=field_name)
            if result is _MISSING:
                ctx.unreadable.append(item_path)
                result = UNREADABLE  # in place, so that later elements keep their index
            items.append(result)
        return tuple(items)
    if isinstance(tp, type) and attrs.has(tp):
        return _record(value, tp, path, ctx)
    if value is None:
        ctx.add(path, "required", "a value is required")
        return _MISSING
    return _leaf(value, tp, path, ctx, field_name=field_name)


def _record(data: Any, cls: type, path: str, ctx: _Context) -> Any:
    """Structure a mapping into ``cls``; ``_MISSING`` only if ``data`` is not a mapping.

    A field that cannot be structured is reported, listed as unreadable and left at its default
    (``UNREADABLE`` if it has none), so that the rest of the record can still be checked.
    """
    if not isinstance(data, Mapping):
        ctx.add(path, "type", f"expected an object ({cls.__name__})")
        return _MISSING
    hints = field_types(cls)
    fields = attrs.fields(cls)
    known = {f.name for f in fields}
    for key in data:
        if key not in known:
            # a key is named in the path only if it is text that can be shown and stored
            readable = isinstance(key, str) and not has_invalid_character(key)
            where = join_path(path, key) if readable else path
            ctx.add(where, "unknown_field", "this field is not part of the record")
    kwargs: dict[str, Any] = {}
    for field in fields:
        field_path = join_path(path, field.name)
        if field.name in data:
            result = _value(
                data[field.name], hints[field.name], field_path, ctx, field_name=field.name
            )
        elif field.default is attrs.NOTHING:
            ctx.add(field_path, "required", "a value is required")
            result = _MISSING
        else:
            continue
        if result is _MISSING:
            ctx.unreadable.append(field_path)
            if field.default is not attrs.NOTHING:
                continue  # the default stands in for the value
            result = UNREADABLE
        kwargs[field.name] = result
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):  # pragma: no cover - constructors do not validate
        ctx.add(path, "type", f"cannot build {cls.__name__}")
        return _MISSING


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type annotations of an attrs class (cached: resolving them is slow)."""
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return hints


def structure_partially(
    data: object,
    cls: type[T],
    *,
    converter: cattrs.Converter | None = None,
) -> tuple[T | None, ValidationReport, frozenset[str]]:
    """Structure as much of untrusted data as possible, reporting every problem at its path.

    Reads values as :func:`structure_with_issues` does. Returns ``(record, report, unreadable)``:
    ``unreadable`` holds the paths of the values that could not be structured (each reported in
    ``report``). In ``record`` such a value is replaced by its field's default (``None``, an
    empty tuple, ...), or by :data:`UNREADABLE` for a field without a default and for an element
    of a list (later elements keep their index). ``record`` is ``None`` only when ``data`` is not
    a mapping at all (``unreadable`` is then ``{""}``).

    A record with unreadable values exists to be validated, so that one pass reports every
    problem (as :func:`custrec.validation.parse_customer` does): never store or return it.
    """
    ctx = _Context(converter or _default_converter, [], [])
    try:
        result = _record(data, cls, "", ctx)
    except RecursionError:  # absurdly nested input
        ctx.add("", "type", "input is nested too deeply")
        result = _MISSING
    if result is _MISSING:
        return None, ValidationReport(ctx.issues), frozenset({""})
    return typing.cast(T, result), ValidationReport(ctx.issues), frozenset(ctx.unreadable)


def structure_with_issues(
    data: object,
    cls: type[T],
    *,
    converter: cattrs.Converter | None = None,
) -> tuple[T | None, ValidationReport]:
    """Structure untrusted data into ``cls``, reporting every problem instead of raising.

    Strings are NFKC-normalised and trimmed (internal whitespace collapsed, except in free-text
    notes), blank strings count as missing, numbers are accepted where text is expected (phone
    numbers from spreadsheets), a single value where a list is expected, and enum members by value
    or name in any case. Text holding a lone surrogate (as ``surrogateescape`` decoding leaves
    them) or a NUL character cannot be stored and is refused. Returns ``(record, report)``;
    ``record`` is ``None`` when any problem prevented building it (an unknown field does not).
    Codes: ``type``, ``enum``, ``required``, ``unknown_field``, ``datetime.naive``,
    ``text.invalid_character``.
    """
    record, report, unreadable = structure_partially(data, cls, converter=converter)
    return (None if unreadable else record), report
