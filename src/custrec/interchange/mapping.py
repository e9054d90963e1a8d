"""Import mappings: which source column feeds which customer field, and how its values read.

A mapping is saved as TOML or JSON and reused for every file of the same shape. It names, for
each source column, a *field path* into :class:`~custrec.records.Customer`:

==============================  ==============================================================
path                            meaning
==============================  ==============================================================
``name``, ``stage``             a top-level field
``milestones.contract_amount``  a field of a nested record (a ``Money`` takes a ``money`` cell)
``contacts[0].phones[0]``       one element of a list (``contacts[1].name`` is a second contact)
``contacts[0].phones``          the whole list, split on separators (``tags`` likewise)
``identifiers[CN-USCC]``        the identifier of that scheme (``CN-RIC``, ``PASSPORT``, ...)
``identifiers[EXTERNAL:crm]``   the customer's id in another system (here ``crm``)
==============================  ==============================================================

Each column may list header ``aliases`` (matched after NFKC, case folding and removal of
spaces, ``_``, ``-``, ``*`` and colons, so ``"Customer Name"`` finds ``customer_name``), a
``values`` map applied before anything else (``潜在客户 = "prospect"``), a ``type``
(``text``, ``date``, ``datetime``, ``decimal``, ``integer``, ``bool``, ``money``, ``list``,
``json``; inferred from the field), date ``formats``, list ``separators`` and, for numbers,
``thousands``/``decimal`` separators and a default ``currency``. Top-level settings give the
defaults, ``nulls`` (cell texts meaning "no value"), the phone ``region``, and ``[defaults]``:
values for fields no column filled (``kind = "organization"``; a default inside a list item,
such as ``addresses[0].country``, applies only when a cell created that item).

>>> mapping = ImportMapping.from_dict({
...     "defaults": {"kind": "organization"},
...     "columns": {
...         "客户名称": {"field": "name", "aliases": ["公司名称"]},
...         "手机": "contacts[0].phones[0]",
...         "客户类型": {"field": "stage", "values": {"潜在客户": "prospect"}},
...     },
... })
>>> bound = mapping.bind(["公司名称", "手机", "客户类型", "备注"])
>>> bound.usage.unmapped
('备注',)
>>> from custrec.interchange.readers import SourceRow
>>> row = SourceRow(number=1, cells={"公司名称": "星河科技", "手机": "１３８００１３８０００",
...                                  "客户类型": "潜在客户", "备注": ""}, raw=())
>>> data = bound.apply(row).data
>>> data["name"], data["contacts"], data["stage"], data["kind"]
('星河科技', [{'phones': ['１３８００１３８０００']}], 'prospect', 'organization')

Every problem in a mapping raises :class:`MappingError` naming the mapping key at fault
(``columns.手机.field: unknown field 'phonez' in 'contacts[0].phonez'``).
"""

from __future__ import annotations

import enum
import json
import os
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Final, Literal

import attrs
import phonenumbers

from custrec._text import clean
from custrec.errors import MappingError
from custrec.interchange import convert
from custrec.interchange.readers import SourceRow
from custrec.interchange.report import ColumnUsage, RowIssue
from custrec.issues import Severity
from custrec.records import Customer, IdentifierScheme, Money, personal_fields
from custrec.security import mask
from custrec.serialization import SCHEMA_VERSION

__all__ = [
    "CONVERTERS",
    "META_COLUMNS",
    "BoundMapping",
    "ColumnRule",
    "FieldPath",
    "ImportMapping",
    "MappedRow",
    "MappingError",
    "Step",
    "header_key",
    "load_mapping",
    "parse_path",
]

MAPPING_VERSION: Final = 1
CONVERTERS: Final = (
    "text",
    "date",
    "datetime",
    "decimal",
    "integer",
    "bool",
    "money",
    "list",
    "json",
)
"""The converter names a column's ``type`` may take."""

META_COLUMNS: Final = frozenset({"_row", "_errors", "_schema_version", "_masked", "version"})
"""Columns the importer reads itself: the error file's ``_row``/``_errors`` (ignored), an
export's ``_schema_version`` and ``_masked`` (checked) and ``version`` (ignored: storage sets
it)."""

_UNMAPPABLE: Final = frozenset({"version"})
_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]*)\])?")
_SCHEME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_SYSTEM: Final = re.compile(r"[^\[\]:]{1,64}")
_HEADER_NOISE: Final = re.compile(r"[\s_\-*:：()（）]")
_TOP_KEYS: Final = frozenset(
    {
        "version",
        "name",
        "region",
        "encoding",
        "delimiter",
        "nulls",
        "date_formats",
        "timezone",
        "currency",
        "thousands",
        "decimal",
        "separators",
        "native",
        "ignore",
        "defaults",
        "columns",
    }
)
_COLUMN_KEYS: Final = frozenset(
    {
        "field",
        "aliases",
        "type",
        "values",
        "formats",
        "separators",
        "currency",
        "thousands",
        "decimal",
        "required",
    }
)
_PERSONAL: Final = frozenset(f.path for f in personal_fields(Customer))
_NAME_PATHS: Final = frozenset(
    {"name", "registered_name", "legal_representative", "contacts[].name"}
)
_MASK_BY_PATH: Final = {
    "contacts[].phones": "phone",
    "contacts[].emails": "email",
    "addresses[].street": "address",
    "addresses[].district": "address",
    "notes": "full",
    "gender": "full",
    "birth_date": "full",
}
_MASK_BY_SCHEME: Final = {
    IdentifierScheme.USCC.value: "uscc",
    IdentifierScheme.RIC.value: "ric",
    IdentifierScheme.PASSPORT.value: "passport",
}


# ------------------------------------------------------------------------------ field paths


@attrs.frozen
class Step:
    """One step of a field path: an attribute (``kind="attr"``), a list position
    (``"index"``) or an identifier scheme (``"ident"``, with an optional system)."""

    kind: Literal["attr", "index", "ident"]
    name: str = ""
    index: int = 0
    scheme: str = ""
    system: str | None = None


@attrs.frozen(kw_only=True)
class FieldPath:
    """A parsed, type-checked field path (see the module docs).

    ``converter`` is the converter inferred from the field's type, ``allowed`` the converters
    it accepts, ``personal`` whether the field holds personal data and ``mask_kind`` how to
    mask its values in reports.
    """

    text: str
    steps: tuple[Step, ...]
    converter: str
    allowed: frozenset[str]
    personal: bool
    mask_kind: str

    @property
    def top(self) -> str:
        """The top-level field the path starts at."""
        return self.steps[0].name

    @property
    def generic(self) -> str:
        """The path with list positions as ``[]`` (``contacts[].phones``), as in
        :func:`~custrec.records.personal_fields`."""
        parts: list[str] = []
        for step in self.steps:
            if step.kind == "attr":
                parts.append(("." if parts else "") + step.name)
            elif step.kind == "ident":
                parts.append("[].value")
            else:
                parts.append("[]")
        text = "".join(parts)
        return text[:-2] if text.endswith("[]") and not text.endswith("[].value") else text

    def covers(self, other: FieldPath) -> bool:
        """Whether ``other`` lies inside this path (or is it)."""
        return other.steps[: len(self.steps)] == self.steps


def _unwrap(tp: Any) -> Any:
    if typing.get_origin(tp) in (UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not NoneType]
        return args[0] if len(args) == 1 else tp
    return tp


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _scalar_converter(tp: Any) -> tuple[str, frozenset[str]]:
    if tp is date:
        return "date", frozenset({"date", "text"})
    if tp is datetime:
        return "datetime", frozenset({"datetime", "text"})
    if tp is Decimal:
        return "decimal", frozenset({"decimal", "text"})
    if tp is bool:
        return "bool", frozenset({"bool", "text"})
    if tp is int:
        return "integer", frozenset({"integer", "text"})
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "text", frozenset({"text"})
    return "text", frozenset({"text"})


def _parse_segments(text: str) -> list[tuple[str, str | None]]:
    segments: list[tuple[str, str | None]] = []
    for part in text.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ValueError(f"{part!r} is not a field name, optionally with [index] or [scheme]")
        segments.append((match.group(1), match.group(2)))
    return segments


def _mask_kind(generic: str, scheme: str | None) -> str:
    if scheme is not None:
        return _MASK_BY_SCHEME.get(scheme, "generic")
    if generic in _NAME_PATHS:
        return "name"
    return _MASK_BY_PATH.get(generic, "generic")


def parse_path(text: str) -> FieldPath:
    """Parse and type-check a field path against :class:`~custrec.records.Customer`.

    Raises ``ValueError`` with a message saying what is wrong (the mapping adds the key).

    >>> parse_path("contacts[0].phones[0]").generic, parse_path("identifiers[CN-USCC]").mask_kind
    ('contacts[].phones', 'uscc')
    >>> parse_path("milestones.contract_amount").converter
    'money'
    >>> parse_path("contacts[0]")
    Traceback (most recent call last):
    ...
    ValueError: 'contacts[0]' is a record: name one of its fields (e.g. 'contacts[0].name')
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a field path must be a non-empty string")
    text = text.strip()
    segments = _parse_segments(text)
    cls: type = Customer
    steps: list[Step] = []
    scheme: str | None = None
    for position, (name, bracket) in enumerate(segments):
        last = position == len(segments) - 1
        hints = _hints(cls)
        if name not in hints or (cls is Customer and name in _UNMAPPABLE):
            where = "" if cls is Customer else f" of {cls.__name__}"
            raise ValueError(f"unknown field {name!r}{where} in {text!r}")
        steps.append(Step("attr", name=name))
        tp = _unwrap(hints[name])
        here = ".".join(s for s, _ in segments[: position + 1])
        if cls is Customer and name == "identifiers":
            if bracket is None:
                if not last:
                    raise ValueError(
                        f"{text!r}: write identifiers[SCHEME] or identifiers[EXTERNAL:system]"
                    )
                return _finish(text, steps, "json", frozenset({"json"}), None)
            scheme_text, _, system = bracket.partition(":")
            scheme_text = scheme_text.strip().upper()
            if _SCHEME.fullmatch(scheme_text) is None:
                raise ValueError(f"{text!r}: {bracket!r} is not an identifier scheme")
            if scheme_text == IdentifierScheme.EXTERNAL.value:
                if not system.strip() or _SYSTEM.fullmatch(system.strip()) is None:
                    raise ValueError(
                        f"{text!r}: an external id needs its system: EXTERNAL:<system>"
                    )
                system_name: str | None = system.strip()
            elif system:
                raise ValueError(f"{text!r}: only EXTERNAL identifiers name a system")
            else:
                system_name = None
            if not last:
                raise ValueError(f"{text!r}: an identifier is a whole value; nothing may follow it")
            steps.append(Step("ident", scheme=scheme_text, system=system_name))
            scheme = scheme_text
            return _finish(text, steps, "text", frozenset({"text"}), scheme)
        if typing.get_origin(tp) is tuple:
            inner = _unwrap(typing.get_args(tp)[0])
            record = attrs.has(inner)
            if bracket is None:
                if not last:
                    raise ValueError(f"{text!r}: {name!r} is a list: give a position, {name}[0]")
                if record:
                    return _finish(text, steps, "json", frozenset({"json"}), None)
                return _finish(text, steps, "list", frozenset({"list", "json"}), None)
            if not bracket.isdigit() or len(bracket) > 3:
                raise ValueError(f"{text!r}: [{bracket}] must be a position 0-999")
            steps.append(Step("index", index=int(bracket)))
            if record:
                if last:
                    raise ValueError(
                        f"{text!r} is a record: name one of its fields (e.g. '{here}[{bracket}]."
                        f"{next(iter(_hints(inner)))}')"
                    )
                cls = inner
                continue
            if not last:
                raise ValueError(f"{text!r}: {name}[{bracket}] is a single value")
            return _finish(text, steps, "text", frozenset({"text"}), None)
        if bracket is not None:
            raise ValueError(f"{text!r}: {name!r} is not a list")
        if attrs.has(tp):
            if last:
                if tp is Money:
                    return _finish(text, steps, "money", frozenset({"money", "json"}), None)
                raise ValueError(f"{text!r} is a record: name one of its fields")
            cls = tp
            continue
        if not last:
            raise ValueError(f"{text!r}: {name!r} has no fields")
        converter, allowed = _scalar_converter(tp)
        return _finish(text, steps, converter, allowed, None)
    raise ValueError(f"{text!r} does not name a value")  # pragma: no cover - loop returns


def _finish(
    text: str, steps: list[Step], converter: str, allowed: frozenset[str], scheme: str | None
) -> FieldPath:
    path = FieldPath(
        text=text,
        steps=tuple(steps),
        converter=converter,
        allowed=allowed,
        personal=False,
        mask_kind="generic",
    )
    generic = path.generic
    personal = generic in _PERSONAL or any(p.startswith(generic + "[]") for p in _PERSONAL)
    if converter == "json" and generic in ("contacts", "addresses", "identifiers"):
        personal = True
    return attrs.evolve(path, personal=personal, mask_kind=_mask_kind(generic, scheme))


# ----------------------------------------------------------------------------- the mapping


def header_key(header: str) -> str:
    """The form headers and aliases are compared in: NFKC, case folded, without spaces,
    ``_``, ``-``, ``*``, colons and brackets.

    >>> header_key(" *Customer_Name："), header_key("客户 名称")
    ('customername', '客户名称')
    """
    return _HEADER_NOISE.sub("", clean(header).casefold())


def _value_key(value: str) -> str:
    return clean(value).casefold()


@attrs.frozen(kw_only=True)
class ColumnRule:
    """How one source column is read (see the module docs for each setting)."""

    name: str
    path: FieldPath
    aliases: tuple[str, ...] = ()
    type: str = "text"
    values: Mapping[str, Any] = attrs.field(factory=dict)
    formats: tuple[str, ...] = ()
    separators: str = convert.DEFAULT_SEPARATORS
    currency: str = "CNY"
    thousands: str = ","
    decimal: str = "."
    required: bool = False

    def to_dict(self, defaults: ImportMapping | None = None) -> dict[str, Any]:
        """The rule as mapping-file data (settings equal to ``defaults``' are left out)."""
        data: dict[str, Any] = {"field": self.path.text}
        if self.aliases:
            data["aliases"] = list(self.aliases)
        if self.type != self.path.converter:
            data["type"] = self.type
        if self.values:
            data["values"] = dict(self.values)
        if self.formats:
            data["formats"] = list(self.formats)
        if self.required:
            data["required"] = True
        for name in ("separators", "currency", "thousands", "decimal"):
            value = getattr(self, name)
            if defaults is None or value != getattr(defaults, name):
                data[name] = value
        return data


def _expect(value: Any, kind: type | tuple[type, ...], key: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise MappingError(key, f"must be {what}")
    if not isinstance(value, kind):
        raise MappingError(key, f"must be {what}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    items = _expect(value, list, key, "a list of strings")
    for index, item in enumerate(items):
        _expect(item, str, f"{key}[{index}]", "a string")
    return tuple(items)


def _check_unknown(data: Mapping[str, Any], allowed: frozenset[str], key: str) -> None:
    for name in data:
        if name not in allowed:
            where = f"{key}.{name}" if key else str(name)
            raise MappingError(
                where, f"unknown setting (expected one of {', '.join(sorted(allowed))})"
            )


def _formats(value: Any, key: str) -> tuple[str, ...]:
    formats = _strings(value, key)
    for index, fmt in enumerate(formats):
        if fmt == "excel":
            continue
        if "%" not in fmt:
            raise MappingError(
                f"{key}[{index}]", "a date format needs % codes (e.g. %Y-%m-%d) or 'excel'"
            )
        try:
            datetime(2001, 2, 3, 4, 5, 6).strftime(fmt)
        except ValueError:
            raise MappingError(f"{key}[{index}]", "not a valid date format") from None
    return formats


def _separator(value: Any, key: str, *, empty_ok: bool) -> str:
    text = _expect(value, str, key, "a string")
    if len(text) > 1 or (not text and not empty_ok) or text.isdigit():
        raise MappingError(
            key, "must be one non-digit character" + (" or empty" if empty_ok else "")
        )
    return str(text)


def _currency(value: Any, key: str) -> str:
    text = _expect(value, str, key, "a currency code")
    if re.fullmatch(r"[A-Z]{3}", text) is None:
        raise MappingError(key, "must be an ISO 4217 code in capitals, such as CNY")
    return str(text)


_Scalar = str | int | float | bool


def _values_map(value: Any, key: str) -> dict[str, Any]:
    table = _expect(value, dict, key, "a table of source value = field value")
    out: dict[str, Any] = {}
    for source, target in table.items():
        where = f"{key}.{source}"
        if not isinstance(target, _Scalar):
            raise MappingError(where, "must map to a string, number or boolean")
        normal = _value_key(str(source))
        if normal in out and out[normal] != target:
            raise MappingError(where, "repeats another source value with a different target")
        out[normal] = None if target == "" else target
    return out


def _column(name: str, spec: Any, top: Mapping[str, Any]) -> ColumnRule:
    key = f"columns.{name}"
    if isinstance(spec, str):
        spec = {"field": spec}
    spec = _expect(spec, dict, key, 'a field path or a table with field = "..."')
    _check_unknown(spec, _COLUMN_KEYS, key)
    if "field" not in spec:
        raise MappingError(f"{key}.field", "is required")
    field = _expect(spec["field"], str, f"{key}.field", "a field path")
    try:
        path = parse_path(field)
    except ValueError as exc:
        raise MappingError(f"{key}.field", str(exc)) from None
    kind = spec.get("type", path.converter)
    _expect(kind, str, f"{key}.type", "a converter name")
    if kind not in CONVERTERS:
        raise MappingError(
            f"{key}.type", f"unknown type {kind!r} (expected one of {', '.join(CONVERTERS)})"
        )
    if kind not in path.allowed:
        raise MappingError(
            f"{key}.type",
            f"{kind!r} does not fit {path.text!r} (use {', '.join(sorted(path.allowed))})",
        )
    thousands = _separator(
        spec.get("thousands", top["thousands"]), f"{key}.thousands", empty_ok=True
    )
    decimal = _separator(spec.get("decimal", top["decimal"]), f"{key}.decimal", empty_ok=False)
    if thousands == decimal:
        raise MappingError(f"{key}.decimal", "must differ from the thousands separator")
    required = spec.get("required", False)
    _expect(required, bool, f"{key}.required", "true or false")
    return ColumnRule(
        name=name,
        path=path,
        aliases=_strings(spec.get("aliases", []), f"{key}.aliases"),
        type=kind,
        values=_values_map(spec.get("values", {}), f"{key}.values"),
        formats=_formats(spec["formats"], f"{key}.formats") if "formats" in spec else (),
        separators=_expect(
            spec.get("separators", top["separators"]), str, f"{key}.separators", "a string"
        ),
        currency=_currency(spec.get("currency", top["currency"]), f"{key}.currency"),
        thousands=thousands,
        decimal=decimal,
        required=required,
    )


@attrs.frozen(kw_only=True)
class ImportMapping:
    """A validated mapping; build it with :meth:`from_dict`, :func:`load_mapping` or
    :meth:`native`, then :meth:`bind` it to a file's headers.

    ``native`` mappings also read any column whose header is itself a field path (the CSV that
    :func:`~custrec.interchange.export_csv` writes), and JSON Lines rows that are custrec
    export documents as they are.
    """

    name: str | None = None
    columns: tuple[ColumnRule, ...] = ()
    defaults: tuple[tuple[FieldPath, Any], ...] = ()
    nulls: frozenset[str] = frozenset(convert.DEFAULT_NULLS)
    date_formats: tuple[str, ...] = convert.DEFAULT_DATE_FORMATS
    timezone: str = "UTC"
    tz: tzinfo = UTC
    currency: str = "CNY"
    thousands: str = ","
    decimal: str = "."
    separators: str = convert.DEFAULT_SEPARATORS
    region: str = "CN"
    encoding: str = "auto"
    delimiter: str = "auto"
    native: bool = False
    ignore: tuple[str, ...] = ()

    @classmethod
    def native_mapping(cls) -> ImportMapping:
        """The mapping for files custrec exported: headers are field paths."""
        return cls(name="custrec export", native=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> ImportMapping:
        """Validate mapping data (as read from TOML or JSON). Raises :class:`MappingError`."""
        _expect(data, dict, "", "a table")
        _check_unknown(data, _TOP_KEYS, "")
        version = data.get("version", MAPPING_VERSION)
        if version != MAPPING_VERSION or isinstance(version, bool):
            raise MappingError(
                "version", f"unsupported mapping version (this custrec reads {MAPPING_VERSION})"
            )
        top = {
            "thousands": data.get("thousands", ","),
            "decimal": data.get("decimal", "."),
            "currency": data.get("currency", "CNY"),
            "separators": data.get("separators", convert.DEFAULT_SEPARATORS),
        }
        thousands = _separator(top["thousands"], "thousands", empty_ok=True)
        decimal = _separator(top["decimal"], "decimal", empty_ok=False)
        if thousands == decimal:
            raise MappingError("decimal", "must differ from the thousands separator")
        _currency(top["currency"], "currency")
        _expect(top["separators"], str, "separators", "a string")
        region = _expect(data.get("region", "CN"), str, "region", "a region code").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise MappingError(
                "region", "not a region phonenumbers knows (use ISO 3166 codes: CN, HK, US...)"
            )
        zone_text = _expect(data.get("timezone", "UTC"), str, "timezone", "UTC or an offset")
        try:
            zone = convert.parse_timezone(zone_text)
        except convert.ConversionError as exc:
            raise MappingError("timezone", exc.message) from None
        columns_data = _expect(data.get("columns", {}), dict, "columns", "a table of columns")
        columns = tuple(_column(str(key), spec, top) for key, spec in columns_data.items())
        defaults_data = _expect(
            data.get("defaults", {}), dict, "defaults", "a table of field = value"
        )
        defaults: list[tuple[FieldPath, Any]] = []
        for field, value in defaults_data.items():
            try:
                path = parse_path(str(field))
            except ValueError as exc:
                raise MappingError(f"defaults.{field}", str(exc)) from None
            if not isinstance(value, _Scalar) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise MappingError(
                    f"defaults.{field}", "must be a string, number, boolean or list of strings"
                )
            defaults.append((path, value))
        mapping = cls(
            name=_expect(data.get("name", name), (str, NoneType), "name", "a string"),
            columns=columns,
            defaults=tuple(defaults),
            nulls=frozenset(_value_key(v) for v in _strings(data["nulls"], "nulls"))
            if "nulls" in data
            else frozenset(convert.DEFAULT_NULLS),
            date_formats=_formats(data["date_formats"], "date_formats")
            if "date_formats" in data
            else convert.DEFAULT_DATE_FORMATS,
            timezone=zone_text,
            tz=zone,
            currency=top["currency"],
            thousands=thousands,
            decimal=decimal,
            separators=top["separators"],
            region=region,
            encoding=_expect(data.get("encoding", "auto"), str, "encoding", "an encoding name"),
            delimiter=_expect(
                data.get("delimiter", "auto"), str, "delimiter", "'auto' or one character"
            ),
            native=_expect(data.get("native", False), bool, "native", "true or false"),
            ignore=_strings(data.get("ignore", []), "ignore"),
        )
        mapping.check()
        return mapping

    def check(self) -> None:
        """Check that no two columns or defaults overlap. Raises :class:`MappingError`."""
        if self.delimiter != "auto" and len(self.delimiter) != 1:
            raise MappingError("delimiter", "must be 'auto' or one character")
        seen: dict[str, str] = {}
        for rule in self.columns:
            for alias in (rule.name, *rule.aliases):
                owner = seen.setdefault(header_key(alias), rule.name)
                if owner != rule.name:
                    raise MappingError(
                        f"columns.{rule.name}.aliases", f"{alias!r} already names column {owner!r}"
                    )
        paths = [(f"columns.{r.name}.field", r.path) for r in self.columns]
        for index, (key, path) in enumerate(paths):
            for other_key, other in paths[:index]:
                if path.covers(other) or other.covers(path):
                    raise MappingError(key, f"{path.text!r} overlaps {other.text!r} of {other_key}")

    def to_dict(self) -> dict[str, Any]:
        """The mapping as mapping-file data (what :meth:`from_dict` reads back)."""
        data: dict[str, Any] = {"version": MAPPING_VERSION}
        if self.name is not None:
            data["name"] = self.name
        data.update(
            region=self.region,
            encoding=self.encoding,
            delimiter=self.delimiter,
            timezone=self.timezone,
            currency=self.currency,
            thousands=self.thousands,
            decimal=self.decimal,
            date_formats=list(self.date_formats),
            nulls=sorted(self.nulls),
            native=self.native,
        )
        if self.ignore:
            data["ignore"] = list(self.ignore)
        if self.defaults:
            data["defaults"] = {path.text: value for path, value in self.defaults}
        data["columns"] = {rule.name: rule.to_dict(self) for rule in self.columns}
        return data

    def bind(self, headers: Iterable[str]) -> BoundMapping:
        """Match the mapping's columns to a file's headers.

        Raises :class:`MappingError` when a ``required`` column is missing or when no header
        at all is read by the mapping (the wrong file, or the wrong mapping).
        """
        return BoundMapping(self, tuple(headers))


def load_mapping(path: str | os.PathLike[str]) -> ImportMapping:
    """Read a mapping from a ``.toml`` or ``.json`` file. Raises :class:`MappingError` for a
    missing, unreadable or invalid file (the message names the key at fault)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise MappingError("", f"no such mapping file: {file.name}") from None
    except OSError as exc:
        raise MappingError(
            "", f"cannot read the mapping file {file.name}: {exc.strerror}"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MappingError("", f"{file.name} is not UTF-8 text") from None
    is_json = file.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MappingError(
            "",
            f"{file.name} is not valid {'JSON' if is_json else 'TOML'}: {exc}",
        ) from None
    return ImportMapping.from_dict(data, name=file.stem)


# ------------------------------------------------------------------------------- binding


class _Slots(dict[Any, Any]):
    """List positions (ints) or identifiers ((scheme, system)) while a row is being built."""


@attrs.frozen(kw_only=True)
class MappedRow:
    """A source row turned into raw customer data, ready for
    :func:`~custrec.validation.parse_customer`.

    ``issues`` are the reader's and the converters' problems. ``columns`` maps each field path
    of ``data`` to the column that filled it (for issue attribution, see :meth:`column_of`);
    ``touched`` are the top-level fields the row's cells filled (defaults excluded): an update
    changes only those. ``values`` are the cells read (column -> text) and ``paths`` the field
    path of each column, so that a report can show a cell masked.
    """

    data: dict[str, Any]
    issues: tuple[RowIssue, ...] = ()
    columns: Mapping[str, str] = attrs.field(factory=dict)
    declared: Mapping[str, str] = attrs.field(factory=dict)
    touched: frozenset[str] = frozenset()
    values: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    paths: Mapping[str, FieldPath] = attrs.field(factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no issue is an error."""
        return not any(i.severity is Severity.ERROR for i in self.issues)

    def column_of(self, path: str) -> str | None:
        """The column that fed ``path`` or the nearest record or list holding it."""
        for table in (self.columns, self.declared):
            probe = path
            while probe:
                found = table.get(probe)
                if found is not None:
                    return found
                probe = _parent(probe)
        return None


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


class BoundMapping:
    """A mapping matched to one file's headers; :meth:`apply` turns rows into customer data."""

    def __init__(self, mapping: ImportMapping, headers: tuple[str, ...]) -> None:
        self.mapping = mapping
        by_key: dict[str, ColumnRule] = {}
        for column in mapping.columns:
            for alias in (column.name, *column.aliases):
                by_key[header_key(alias)] = column
        ignored = {header_key(h) for h in mapping.ignore}
        self._bound: list[tuple[str, ColumnRule]] = []
        self._meta: list[str] = []
        unmapped: list[str] = []
        used: dict[str, str] = {}
        taken: list[FieldPath] = []
        for header in headers:
            if header in META_COLUMNS:
                self._meta.append(header)
                continue
            rule: ColumnRule | None = by_key.get(header_key(header))
            if rule is None and mapping.native:
                rule = self._native_rule(header, taken)
            if rule is None or rule.name in used:
                if header_key(header) not in ignored:
                    unmapped.append(header)
                continue
            used[rule.name] = header
            taken.append(rule.path)
            self._bound.append((header, rule))
        missing = tuple(r.name for r in mapping.columns if r.name not in used)
        for rule in mapping.columns:
            if rule.required and rule.name not in used:
                raise MappingError(
                    f"columns.{rule.name}", "this required column is not in the file"
                )
        if headers and not self._bound:
            if mapping.native and not mapping.columns:
                raise MappingError(
                    "", "no column of the file is a field path: give a mapping for this file"
                )
            raise MappingError(
                "columns", "no column of the file matches the mapping (wrong file or mapping?)"
            )
        self._paths = {header: rule.path for header, rule in self._bound}
        self.usage = ColumnUsage(
            mapped={header: rule.path.text for header, rule in self._bound},
            unmapped=tuple(unmapped),
            missing=missing,
        )

    def _native_rule(self, header: str, taken: list[FieldPath]) -> ColumnRule | None:
        try:
            path = parse_path(header)
        except ValueError:
            return None
        if any(path.covers(t) or t.covers(path) for t in taken):
            return None
        m = self.mapping
        return ColumnRule(
            name=header,
            path=path,
            type=path.converter,
            separators=m.separators,
            currency=m.currency,
            thousands=m.thousands,
            decimal=m.decimal,
        )

    def apply(self, row: SourceRow) -> MappedRow:
        """Turn one source row into customer data; never raises for bad cell values."""
        issues = list(row.problems)
        shifted = is_shifted(row)
        tree: dict[str, Any] = {}
        placed: list[tuple[tuple[Step, ...], str]] = []
        values: dict[str, str] = {}
        touched: set[str] = set()
        m = self.mapping
        for header in self._meta:
            issues.extend(_meta_issues(row, header))
        for header, rule in self._bound:
            raw = row.cells.get(header)
            if raw is None or (isinstance(raw, str) and convert.is_null(raw, m.nulls)):
                continue
            try:
                value = self._convert(raw, rule)
            except convert.ConversionError as exc:
                issues.append(
                    RowIssue(
                        row=row.number,
                        column=header,
                        path=rule.path.text,
                        code=exc.code,
                        message=exc.message,
                        value=shown_value(raw, None if shifted else rule.path),
                    )
                )
                continue
            if value is None:
                continue
            _put(tree, rule.path.steps, value)
            placed.append((rule.path.steps, header))
            touched.add(rule.path.top)
            if isinstance(raw, str):
                values[header] = raw
        for path, default in m.defaults:
            if _has(tree, path.steps) or not _has(tree, _item(path.steps)):
                continue  # filled by a cell, or inside a list item no cell created
            _put(tree, path.steps, list(default) if isinstance(default, list) else default)
        renames: dict[tuple[str, Any], int] = {}
        data = _finalize(tree, "", renames)
        columns = {_final_path(steps, renames): header for steps, header in placed}
        declared = {rule.path.text: header for header, rule in self._bound}
        return MappedRow(
            data=data,
            issues=tuple(issues),
            columns=columns,
            declared=declared,
            touched=frozenset(touched),
            values=values,
            paths=self._paths,
        )

    def _convert(self, raw: Any, rule: ColumnRule) -> Any:
        m = self.mapping
        if isinstance(raw, bool | int | float) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str):
            return raw  # a JSON value (list, object, boolean) goes to validation as it is
        if rule.values:
            key = _value_key(raw)
            if key in rule.values:
                return rule.values[key]
        kind = rule.type
        if kind == "text":
            return raw
        if kind == "date":
            return convert.parse_date(raw, formats=rule.formats or m.date_formats)
        if kind == "datetime":
            return convert.parse_datetime(raw, formats=rule.formats, tz=m.tz)
        if kind == "decimal":
            return convert.parse_decimal(raw, thousands=rule.thousands, decimal=rule.decimal)
        if kind == "integer":
            return convert.parse_int(raw, thousands=rule.thousands)
        if kind == "bool":
            return convert.parse_bool(raw)
        if kind == "money":
            amount, currency = convert.parse_money(
                raw, currency=rule.currency, thousands=rule.thousands, decimal=rule.decimal
            )
            return {"amount": amount, "currency": currency}
        if kind == "list":
            text = raw.strip()
            if text.startswith("["):
                parsed = convert.parse_json(text)
                if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
                    return parsed or None
                raise convert.ConversionError("json.format", "expected a JSON list of strings")
            return convert.split_values(raw, rule.separators) or None
        return convert.parse_json(raw)


SHIFTED_CODES: Final = frozenset({"row.extra_cells", "row.missing_cells"})


def is_shifted(row: SourceRow) -> bool:
    """Whether a row has more or fewer cells than headers: its cells may sit under the wrong
    columns (a phone under "industry"), so reports mask every value of it."""
    return any(problem.code in SHIFTED_CODES for problem in row.problems)


def shown_value(raw: Any, path: FieldPath | None) -> str | None:
    """How a cell is shown in a report: masked when the field is personal (or unknown: ``path``
    ``None``, as for every cell of a shifted row), else at most 40 characters of it."""
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    if path is None or path.personal:
        kind = path.mask_kind if path is not None else "full"
        return mask(text, kind)
    return text if len(text) <= 40 else text[:39] + "…"


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return convert.parse_bool(value)
        except convert.ConversionError:
            return True
    return bool(value)


def _meta_issues(row: SourceRow, header: str) -> list[RowIssue]:
    value = row.cells.get(header)
    if header == "_masked" and value not in (None, "") and _truthy(value):
        return [
            RowIssue(
                row=row.number,
                column=header,
                path="",
                code="row.masked",
                message="a masked export cannot be imported: export with the unmask role",
            )
        ]
    current = str(SCHEMA_VERSION)
    if header == "_schema_version" and value not in (None, "") and str(value).strip() != current:
        return [
            RowIssue(
                row=row.number,
                column=header,
                path="",
                code="row.schema",
                message=f"exported with schema version {str(value)[:8]!r}; this custrec "
                f"reads version {SCHEMA_VERSION}",
            )
        ]
    return []


def _put(tree: dict[str, Any], steps: Sequence[Step], value: Any) -> None:
    node: Any = tree
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        if step.kind == "ident":
            node[(step.scheme, step.system)] = value
            return
        key: Any = step.name if step.kind == "attr" else step.index
        if last:
            node[key] = value
            return
        following = steps[position + 1]
        fresh: Any = _Slots() if following.kind in ("index", "ident") else {}
        child = node.get(key)
        if not isinstance(child, dict):
            child = fresh
            node[key] = child
        node = child


def _item(steps: Sequence[Step]) -> Sequence[Step]:
    """The steps up to the innermost list item on the path (none: the record itself)."""
    last = max((i for i, s in enumerate(steps) if s.kind != "attr"), default=-1)
    return steps[: last + 1]


def _has(tree: Mapping[str, Any], steps: Sequence[Step]) -> bool:
    node: Any = tree
    for step in steps:
        if not isinstance(node, dict):
            return False
        if step.kind == "ident":
            key: Any = (step.scheme, step.system)
        else:
            key = step.name if step.kind == "attr" else step.index
        if key not in node:
            return False
        node = node[key]
    return True


def _finalize(node: Any, prefix: str, renames: dict[tuple[str, Any], int]) -> Any:
    if isinstance(node, _Slots):
        items: list[Any] = []
        identifiers = any(isinstance(k, tuple) for k in node)
        for key in sorted(
            node,
            key=lambda k: (str(k[0]), str(k[1])) if isinstance(k, tuple) else (str(k).zfill(4), ""),
        ):
            value = node[key]
            if identifiers:
                scheme, system = key
                item: Any = {"scheme": scheme, "value": value}
                if system is not None:
                    item["system"] = system
            else:
                item = _finalize(value, f"{prefix}[{len(items)}]", renames)
                if item in ({}, None):
                    continue
            renames[(prefix, key)] = len(items)
            items.append(item)
        return items
    if isinstance(node, dict):
        return {
            key: _finalize(value, f"{prefix}.{key}" if prefix else key, renames)
            for key, value in node.items()
        }
    return node


def _final_path(steps: Sequence[Step], renames: Mapping[tuple[str, Any], int]) -> str:
    prefix = ""
    for step in steps:
        if step.kind == "attr":
            prefix = f"{prefix}.{step.name}" if prefix else step.name
        else:
            key: Any = (step.scheme, step.system) if step.kind == "ident" else step.index
            prefix = f"{prefix}[{renames.get((prefix, key), key if isinstance(key, int) else 0)}]"
    return prefix
