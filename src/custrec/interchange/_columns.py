"""The column rules of a mapping: header matching (:func:`header_key`), value maps, and the
checks of each setting that build a :class:`ColumnRule`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from custrec._text import clean
from custrec.errors import MappingError
from custrec.interchange import convert
from custrec.interchange._paths import FieldPath, custom_path, parse_path
from custrec.model.custom import CustomFieldSet
from custrec.validation import currency

if TYPE_CHECKING:
    from custrec.interchange.mapping import ImportMapping


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


_HEADER_NOISE: Final = re.compile(r"[\s_\-*:：()（）]")


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
    """How one source column is read (see the module docs for each setting).

    ``auto_type``: the mapping gave no ``type``, so the column's follows its field (for a
    custom field, its definition once :func:`for_fields` knows it).
    """

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
    auto_type: bool = False

    def to_dict(self, defaults: ImportMapping | None = None) -> dict[str, Any]:
        """The rule as mapping-file data (settings equal to ``defaults``' are left out)."""
        data: dict[str, Any] = {"field": self.path.text}
        if self.aliases:
            data["aliases"] = list(self.aliases)
        given = self.path.custom is not None and not self.auto_type  # may differ once typed
        if self.type != self.path.converter or given:
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


def currency_code(value: Any, key: str) -> str:
    """A mapping's currency setting: a code of :data:`custrec.validation.currency.CODES`
    (``RMB`` is refused: use CNY), else ``MappingError``."""
    text = _expect(value, str, key, "a currency code")
    wrong = currency.problem(text)
    if wrong is not None:
        raise MappingError(key, wrong)
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
        currency=currency_code(spec.get("currency", top["currency"]), f"{key}.currency"),
        thousands=thousands,
        decimal=decimal,
        required=required,
        auto_type="type" not in spec,
    )


def _undefined(name: str) -> str:
    return (
        f"no custom field {name!r} is defined (define it with registry.fields.define before "
        "importing, or correct the name)"
    )


def for_fields(rule: ColumnRule, fields: CustomFieldSet) -> ColumnRule:
    """``rule`` with its custom field typed by ``fields`` (a current or removed definition:
    a removed field's column is still read; intake refuses a new value for it): the path
    knows whether the field is personal, and a column without a ``type`` takes the field's
    converter (a decimal field reads ``12,345.50`` with the column's separators, a date field
    the mapping's date formats). Other rules are returned unchanged. :class:`MappingError`
    for a field that is not defined or a ``type`` that does not fit it."""
    name = rule.path.custom
    if name is None:
        return rule
    field = fields.get(name, removed=True)
    if field is None:
        raise MappingError(f"columns.{rule.name}.field", _undefined(name))
    path = custom_path(name, field)
    kind = path.converter if rule.auto_type else rule.type
    if kind not in path.allowed:
        raise MappingError(
            f"columns.{rule.name}.type",
            f"{kind!r} does not fit custom field {name!r}, a {field.type} field (use "
            f"{', '.join(sorted(path.allowed))})",
        )
    return attrs.evolve(rule, path=path, type=kind)


def check_default(path: FieldPath, fields: CustomFieldSet) -> None:
    """:class:`MappingError` for a default naming a custom field that is not defined."""
    name = path.custom
    if name is not None and fields.get(name, removed=True) is None:
        raise MappingError(f"defaults.{path.text}", _undefined(name))
