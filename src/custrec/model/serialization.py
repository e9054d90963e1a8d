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
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from types import NoneType, UnionType
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.fns import identity

from custrec._text import (
    _ANY_DASH,
    _DASHES,
    _UNSTORABLE,
    INVALID_CHARACTER_MESSAGE,
    has_invalid_character,
    nfkc,
)
from custrec.errors import SchemaError
from custrec.model import _structure_source as _source
from custrec.model.issues import Issue, ValidationReport, join_path
from custrec.model.records import Customer, CustomValues, Interaction, Transaction

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
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # the year 1 east of Greenwich, 9999 west of it
        raise ValueError("date-time outside the range of UTC instants") from None


_last_instant: tuple[datetime, str] = (
    datetime(1970, 1, 1, tzinfo=UTC),
    "1970-01-01T00:00:00+00:00",
)


def _unstructure_datetime(value: datetime) -> str:
    global _last_instant
    if value.tzinfo is UTC and type(value) is datetime:  # in UTC already: astimezone is itself
        # a bulk intake gives the same instant (its clock's) many times over: the text of the
        # last one is kept (with the instant itself, which therefore stays alive as compared)
        last = _last_instant
        if last[0] is value:
            return last[1]
        text = value.isoformat()
        _last_instant = (value, text)
        return text
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


def _unstructure_custom(values: CustomValues) -> dict[str, Any] | None:
    """Custom values as JSON: text, integers and truth values as themselves, a decimal as
    ``{"decimal": "12.50"}``, a date as ``{"date": "2026-03-01"}``, choices as a list; no
    values as ``None`` (nothing to seal)."""
    if not values:
        return None
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Decimal):
            out[name] = {"decimal": str(value)}
        elif isinstance(value, date):
            out[name] = {"date": value.isoformat()}
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def _structure_custom(value: Any, _: type) -> CustomValues:
    if isinstance(value, CustomValues):
        return value
    if value is None:
        return CustomValues()
    if not isinstance(value, Mapping):
        raise TypeError("custom values are an object of field names to values")
    found: dict[str, object] = {}
    for name, item in value.items():
        if isinstance(item, Mapping) and len(item) == 1:
            ((tag, text),) = item.items()
            if tag == "decimal":
                found[name] = _structure_decimal(text, Decimal)
                continue
            if tag == "date":
                found[name] = _structure_date(text, date)
                continue
        if isinstance(item, float):
            raise TypeError("a custom number is an integer or a decimal, not a float")
        if isinstance(item, list):
            item = tuple(item)
        found[name] = item
    return CustomValues(found)


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
    conv.register_structure_hook(CustomValues, _structure_custom)
    conv.register_unstructure_hook(CustomValues, _unstructure_custom)
    # StrEnum must be registered itself: through its MRO it would otherwise match ``str`` first.
    conv.register_structure_hook(enum.StrEnum, _structure_enum)
    conv.register_structure_hook(enum.Enum, _structure_enum)
    # ``_value_`` is the member's value (``value`` is a descriptor: several times slower)
    conv.register_unstructure_hook(enum.StrEnum, lambda e: e._value_)
    conv.register_unstructure_hook(enum.Enum, lambda e: e._value_)
    # An optional text, number or flag unstructures to itself: the generated unstructure
    # functions then copy the attribute instead of calling a hook per field.
    conv.register_unstructure_hook_factory(_plain_optional, lambda _type: identity)
    return conv


_PLAIN: Final = frozenset({str, int, bool, NoneType})


def _plain_optional(type_: Any) -> bool:
    """Whether ``type_`` is ``X | None`` for plain JSON types ``X`` (str, int, bool)."""
    if typing.get_origin(type_) not in (typing.Union, UnionType):
        return False
    args = set(typing.get_args(type_))
    return NoneType in args and args <= _PLAIN


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


UNREADABLE: Final = _Unreadable()
"""Stands in a partial record (:func:`structure_partially`) for a value that could not be
structured and has no default: a required field, or an element of a list."""


class _Context:
    """The state of one structuring pass: where issues and unreadable paths are collected."""

    __slots__ = ("converter", "fast", "finish", "issues", "unreadable")

    def __init__(
        self,
        converter: cattrs.Converter,
        issues: list[Issue],
        unreadable: list[str],
        finish: Mapping[type, _Finish] | None = None,
    ) -> None:
        self.converter = converter
        # The default converter's leaf hooks are known: they are called directly.
        self.fast = converter is _default_converter
        self.issues = issues
        self.unreadable = unreadable
        self.finish = finish

    def add(self, path: str, code: str, message: str) -> None:
        self.issues.append(Issue(path=path, code=code, message=message))


_MISSING: Final = object()

# A compiled structuring step: ``(value, path, ctx) -> structured value`` or ``_MISSING`` after
# reporting the problem at ``path``.
_Step = Callable[[Any, str, _Context], Any]
# Adjusts the keyword arguments of a record before it is built (see ``_structure_partially``).
_Finish = Callable[[dict[str, Any]], None]


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


def _invalid_text(value: str) -> bool:
    """:func:`custrec._text.has_invalid_character`, without the regular expression for ASCII."""
    if value.isascii():
        return "\x00" in value
    return has_invalid_character(value)


def _clean(value: str) -> str:
    """:func:`custrec._text.clean`: NFKC leaves ASCII alone, and ``str.split()`` splits on the
    same whitespace as the ``\\s+`` it collapses (both use Python's notion of a space)."""
    return " ".join((value if value.isascii() else nfkc(value)).split())


# Each builder below compiles, once per field type, the steps the generic per-value dispatch
# (``typing.get_origin``/``get_args`` on every value) used to take: same checks, same order, same
# issues.


def _text(value: Any, path: str, ctx: _Context, multiline: bool) -> Any:
    """Structure a text leaf (not ``None``); on failure record an issue and return ``_MISSING``."""
    if type(value) is str:  # the common case first: the checks below in the same order
        if value.isascii():
            if "\x00" not in value:
                return value.strip() if multiline else " ".join(value.split())
        elif not has_invalid_character(value):
            return nfkc(value).strip() if multiline else " ".join(nfkc(value).split())
        ctx.add(path, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
        return _MISSING
    if isinstance(value, bool):
        ctx.add(path, "type", "expected text")
        return _MISSING
    if isinstance(value, int):  # phones and postal codes typed as numbers in spreadsheets
        value = _int_text(value)
    if not isinstance(value, str):
        ctx.add(path, "type", "expected text")
        return _MISSING
    if _invalid_text(value):
        ctx.add(path, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
        return _MISSING
    return nfkc(value).strip() if multiline else _clean(value)


def _text_leaf(field_name: str) -> _Step:
    multiline = field_name in _MULTILINE_FIELDS

    def text(value: Any, path: str, ctx: _Context) -> Any:
        return _text(value, path, ctx, multiline)

    return text


def _required_text(field_name: str) -> _Step:
    """``_required(_text_leaf(field_name))`` in one step."""
    multiline = field_name in _MULTILINE_FIELDS

    def required_text(value: Any, path: str, ctx: _Context) -> Any:
        if value is None:
            ctx.add(path, "required", "a value is required")
            return _MISSING
        return _text(value, path, ctx, multiline)

    return required_text


def _optional_text(field_name: str) -> _Step:
    """``_optional(_text_leaf(field_name))`` in one step."""
    multiline = field_name in _MULTILINE_FIELDS

    def optional_text(value: Any, path: str, ctx: _Context) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _text(value, path, ctx, multiline)

    return optional_text


def _enum_members(tp: type[enum.Enum]) -> dict[str, enum.Enum]:
    """The first member, in definition order, whose value or name matches (as the loop over the
    members found it), by lower-case value or name."""
    members: dict[str, enum.Enum] = {}
    for member in tp:
        members.setdefault(str(member.value).lower(), member)
        members.setdefault(member.name.lower(), member)
    return members


def _enum_leaf(tp: type[enum.Enum]) -> _Step:
    members = _enum_members(tp)
    message = f"expected {_describe(tp)}"

    def enumerated(value: Any, path: str, ctx: _Context) -> Any:
        if isinstance(value, tp):
            return value
        if isinstance(value, str):
            member = members.get(_clean(value).lower())
            if member is not None:
                return member
        ctx.add(path, "enum", message)
        return _MISSING

    return enumerated


_FAST_HOOKS: Final[dict[Any, Callable[[Any, Any], Any]]] = {
    datetime: _structure_datetime,
    date: _structure_date,
    Decimal: _structure_decimal,
    int: _structure_int,
    bool: _structure_bool,
}


def _int_text(value: int) -> str | None:
    """``value`` as decimal text, or ``None`` beyond Python's digit limit for conversions."""
    try:
        return str(value)
    except ValueError:
        return None


def _text_int(value: str) -> int | str:
    """Digits as an ``int``; anything else (or too many digits) unchanged, for the type issue."""
    text = _clean(value)
    if text.lstrip("-").isdigit():
        try:
            return int(text)
        except ValueError:  # digits int() refuses (U+10A40), or over the digit limit
            return value
    return value


def _converted_leaf(tp: Any) -> _Step:
    hook = _FAST_HOOKS.get(tp)
    is_int = tp is int
    message = f"expected {_describe(tp)}"

    def converted(value: Any, path: str, ctx: _Context) -> Any:
        if is_int and isinstance(value, str):
            value = _text_int(value)
        try:
            if hook is not None and ctx.fast:
                return hook(value, tp)
            return ctx.converter.structure(value, tp)
        except (ValueError, TypeError, cattrs.BaseValidationError) as exc:
            if "time zone" in str(exc):
                ctx.add(path, "datetime.naive", "date-time has no time zone")
            else:
                ctx.add(path, "type", message)
            return _MISSING

    return converted


def _leaf(tp: Any, field_name: str) -> _Step:
    if tp is str:
        return _text_leaf(field_name)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_leaf(tp)
    return _converted_leaf(tp)


def _required(leaf: _Step) -> _Step:
    def required(value: Any, path: str, ctx: _Context) -> Any:
        if value is None:
            ctx.add(path, "required", "a value is required")
            return _MISSING
        return leaf(value, path, ctx)

    return required


def _optional(inner: _Step) -> _Step:
    def optional(value: Any, path: str, ctx: _Context) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return inner(value, path, ctx)

    return optional


def _tuple_of(inner: _Step) -> _Step:
    def many(value: Any, path: str, ctx: _Context) -> Any:
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
            result = inner(item, item_path, ctx)
            if result is _MISSING:
                ctx.unreadable.append(item_path)
                result = UNREADABLE  # in place, so that later elements keep their index
            items.append(result)
        return tuple(items)

    return many


def _step(tp: Any, field_name: str, *, none_checked: bool = False) -> _Step:
    """Compile how a value annotated ``tp`` is structured (``none_checked``: never ``None``)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        non_none = [a for a in args if a is not NoneType]
        has_none = NoneType in args
        if non_none == [str] and has_none:
            return _optional_text(field_name)
        if len(non_none) == 1:
            inner = _step(non_none[0], field_name, none_checked=has_none)
        else:  # pragma: no cover - no record field has such a union
            inner = _leaf(tp, field_name)
        return _optional(inner) if has_none else inner
    if origin is tuple:
        return _tuple_of(_step(args[0], field_name))
    if tp is CustomValues:
        return _converted_leaf(tp)  # ``None`` is no values, never a missing one
    if isinstance(tp, type) and attrs.has(tp):
        return _record_step(tp)
    if tp is str and not none_checked:
        return _required_text(field_name)
    leaf = _leaf(tp, field_name)
    return leaf if none_checked else _required(leaf)


@attrs.frozen
class _Plan:
    """How a record class is structured: its field names and, per field, the compiled step."""

    known: frozenset[str]
    # (name, step, required: the field has no default)
    fields: tuple[tuple[str, _Step, bool], ...]
    required: frozenset[str] = attrs.field(init=False)
    position: dict[str, int] = attrs.field(init=False)
    steps: dict[str, tuple[_Step, bool]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "required", frozenset(n for n, _, r in self.fields if r))
        object.__setattr__(self, "position", {n: i for i, (n, _, _) in enumerate(self.fields)})
        object.__setattr__(self, "steps", {n: (step, r) for n, step, r in self.fields})


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        hints = field_types(cls)
        fields = attrs.fields(cls)
        plan = _PLANS[cls] = _Plan(
            frozenset(f.name for f in fields),
            tuple(
                (f.name, _step(hints[f.name], f.name), f.default is attrs.NOTHING) for f in fields
            ),
        )
    return plan


def _record_step(cls: type) -> _Step:
    # The function is compiled on the first call, so that record types may refer to each other.
    def record(value: Any, path: str, ctx: _Context) -> Any:
        return _record_function(cls)(value, path, ctx)

    return record


_RECORD_FUNCTIONS: dict[type, _Step] = {}
_DONE: Final = object()


def _record_function(cls: type) -> _Step:
    """``_record`` for ``cls``, compiled: see :mod:`custrec.model._structure_source`."""
    function = _RECORD_FUNCTIONS.get(cls)
    if function is None:
        function = _RECORD_FUNCTIONS[cls] = _compile_record(cls)
    return function


def _field_kind(tp: Any) -> tuple[str, Any]:
    """How the compiled function treats a field annotated ``tp`` (see ``_step``); for an enum
    its members by the exact text that ``_enum_leaf`` maps to them unchanged, for a tuple of
    records their class."""
    optional = typing.get_origin(tp) in (UnionType, typing.Union)
    args = typing.get_args(tp)
    if optional:
        if NoneType not in args or len(args) != 2:
            return _source.OTHER, None
        tp = next(a for a in args if a is not NoneType)
    if tp is str:
        return (_source.OPTIONAL_TEXT if optional else _source.TEXT), None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        exact = {
            text: member
            for text, member in _enum_members(tp).items()
            if text.strip() and _clean(text).lower() == text
        }
        return (_source.OPTIONAL_ENUM if optional else _source.ENUM), exact
    if not optional and typing.get_origin(tp) is tuple and args[1:] == (Ellipsis,):
        if args[0] is str:
            return _source.TEXTS, None
        if isinstance(args[0], type) and attrs.has(args[0]):
            return _source.RECORDS, args[0]
    return _source.OTHER, None


def _compile_record(cls: type) -> _Step:
    plan = _plan(cls)
    hints = field_types(cls)
    namespace: dict[str, Any] = {
        "cls": cls,
        "known": plan.known,
        "required": plan.required,
        "_record": _record,
        "_not_built": _not_built,
        "_MISSING": _MISSING,
        "_DONE": _DONE,
        "UNREADABLE": UNREADABLE,
        "_unstorable": _UNSTORABLE.search,
        "_nf": unicodedata.normalize,
        "_dash": _ANY_DASH.search,
        "_DASHES": _DASHES,
    }
    specs: list[_source.FieldSpec] = []
    for index, (name, step, required) in enumerate(plan.fields):
        kind, detail = _field_kind(hints[name])
        namespace[f"s{index}"] = step
        if kind in (_source.ENUM, _source.OPTIONAL_ENUM):
            namespace[f"e{index}"] = detail
        elif kind == _source.RECORDS:
            namespace[f"f{index}"] = _first_use(namespace, f"f{index}", detail)
        specs.append((name, kind, required, name in _MULTILINE_FIELDS))
    code = compile(_source.record_source(specs), f"<custrec structure {cls.__name__}>", "exec")
    exec(code, namespace)
    return typing.cast(_Step, namespace["record"])


def _first_use(namespace: dict[str, Any], name: str, cls: type) -> _Step:
    """A step that puts ``_record_function(cls)`` in ``namespace[name]`` on its first call (a
    record class may hold itself) and answers as it."""

    def first(value: Any, path: str, ctx: _Context) -> Any:
        function = namespace[name] = _record_function(cls)
        return function(value, path, ctx)

    return first


def _record(data: Any, cls: type, path: str, ctx: _Context) -> Any:
    """Structure a mapping into ``cls``; ``_MISSING`` only if ``data`` is not a mapping.

    A field that cannot be structured is reported, listed as unreadable and left at its default
    (``UNREADABLE`` if it has none), so that the rest of the record can still be checked.
    """
    if not (type(data) is dict or isinstance(data, Mapping)):
        ctx.add(path, "type", f"expected an object ({cls.__name__})")
        return _MISSING
    plan = _plan(cls)
    known = plan.known
    if type(data) is dict and data.keys() <= known:
        if plan.required <= data.keys():
            return _build(_present(data, plan, path, ctx), cls, path, ctx)
    else:
        for key in data:
            if key not in known:
                # a key is named in the path only if it is text that can be shown and stored
                readable = isinstance(key, str) and not has_invalid_character(key)
                where = join_path(path, key) if readable else path
                ctx.add(where, "unknown_field", "this field is not part of the record")
    kwargs: dict[str, Any] = {}
    for name, step, required in plan.fields:
        if name in data:
            field_path = f"{path}.{name}" if path else name
            result = step(data[name], field_path, ctx)
        elif required:
            field_path = f"{path}.{name}" if path else name
            ctx.add(field_path, "required", "a value is required")
            result = _MISSING
        else:
            continue
        if result is _MISSING:
            ctx.unreadable.append(field_path)
            if not required:
                continue  # the default stands in for the value
            result = UNREADABLE
        kwargs[name] = result
    return _build(kwargs, cls, path, ctx)


def _present(data: dict[str, Any], plan: _Plan, path: str, ctx: _Context) -> dict[str, Any]:
    """The loop of ``_record`` when ``data`` is a dict of known fields that has every required
    one: only the fields given, taken in the order of the fields."""
    kwargs: dict[str, Any] = {}
    steps = plan.steps
    for name in sorted(data, key=plan.position.__getitem__):
        step, required = steps[name]
        field_path = f"{path}.{name}" if path else name
        result = step(data[name], field_path, ctx)
        if result is _MISSING:
            ctx.unreadable.append(field_path)
            if not required:
                continue  # the default stands in for the value
            result = UNREADABLE
        kwargs[name] = result
    return kwargs


def _build(kwargs: dict[str, Any], cls: type, path: str, ctx: _Context) -> Any:
    if ctx.finish is not None:
        finish = ctx.finish.get(cls)
        if finish is not None:
            finish(kwargs)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError):  # pragma: no cover - constructors do not validate
        return _not_built(cls, path, ctx)


def _not_built(cls: type, path: str, ctx: _Context) -> Any:
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
    return _structure_partially(data, cls, converter)


def _structure_partially(
    data: object,
    cls: type[T],
    converter: cattrs.Converter | None = None,
    finish: Mapping[type, _Finish] | None = None,
) -> tuple[T | None, ValidationReport, frozenset[str]]:
    """:func:`structure_partially`; ``finish[cls]``, if given, adjusts the keyword arguments of
    each ``cls`` record (the values structured, defaults left out) before it is built, so that a
    caller that changes some values (:func:`custrec.validation.parse_customer` normalises phones)
    builds each record once."""
    ctx = _Context(converter or _default_converter, [], [], finish)
    try:
        result = _record_function(cls)(data, "", ctx)
    except RecursionError:  # absurdly nested input
        ctx.add("", "type", "input is nested too deeply")
        result = _MISSING
    if result is _MISSING:
        return None, ValidationReport(ctx.issues), frozenset({""})
    if not ctx.issues and not ctx.unreadable:  # reports and sets never change: shared
        return typing.cast(T, result), _NO_ISSUES, _NOTHING_UNREADABLE
    return typing.cast(T, result), ValidationReport(ctx.issues), frozenset(ctx.unreadable)


_NO_ISSUES: Final = ValidationReport(())
_NOTHING_UNREADABLE: Final[frozenset[str]] = frozenset()


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
