"""Custom fields: the definitions of the fields users add to customers at run time.

A :class:`CustomField` defines one field: an identifier-like ``name``, a :class:`FieldType`,
its rules (``required``, a length, a range, options), labels by language, and whether it holds
personal data (then with its :class:`~custrec.model.records.DataCategory`, and optionally an
exact look-up through a blind index, ``indexed``) or may be a plain facet (``filterable``).
A :class:`CustomFieldSet` is the versioned set of definitions: :meth:`~CustomFieldSet.define`,
:meth:`~CustomFieldSet.change` and :meth:`~CustomFieldSet.remove` each return a new set one
version up. A removed definition is kept: the values stored under it stay readable until
retention removes them.

>>> fields = (
...     CustomFieldSet()
...     .define(CustomField(name="member_no", type=FieldType.NUMBER, minimum=1,
...                         labels={"en": "Member number", "zh": "会员编号"}))
...     .define(CustomField(name="tier", type="enum", options=("silver", "gold"),
...                         filterable=True))
... )
>>> fields.version, [f.name for f in fields.fields], fields["member_no"].label("zh")
(2, ['member_no', 'tier'], '会员编号')

:meth:`~CustomFieldSet.coerce` turns raw input (CSV text, JSON) into typed values and reports
what it cannot convert; :meth:`~CustomFieldSet.validate` checks typed values against the rules.
Issues name ``custom.<name>`` and never repeat a value:

>>> values, issues = fields.coerce({"member_no": "１２３", "tier": " Gold", "colour": "red"})
>>> dict(values), [(i.path, i.code) for i in issues]
({'member_no': 123, 'tier': 'gold'}, [('custom.colour', 'unknown_field')])
>>> [(i.path, i.code) for i in fields.validate(CustomValues({"member_no": 0}))]
[('custom.member_no', 'range')]

:func:`to_json` and :func:`from_json` store a set exactly (a store keeps every version):

>>> from_json(to_json(fields)) == fields
True
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from custrec._checks import (
    Validator,
    calendar_date,
    check,
    int_range,
    integer,
    non_empty_text,
    optional,
    storable_text,
)
from custrec._text import INVALID_CHARACTER_MESSAGE, clean, has_invalid_character, nfkc
from custrec.errors import DefinitionConflict, SchemaError
from custrec.model.issues import Issue
from custrec.model.records import CustomValue, CustomValues, DataCategory, Sensitivity

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "DOCUMENT_TYPE",
    "NAME_PATTERN",
    "SCHEMA_VERSION",
    "CustomField",
    "CustomFieldSet",
    "DefinitionConflict",
    "FieldType",
    "from_json",
    "to_json",
]

NAME_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
BOOLEAN_TRUE: Final = frozenset({"true", "t", "yes", "y", "1", "on", "是", "对", "有", "√", "✓"})
"""The texts a boolean field reads as true (after NFKC, trimmed, case folded)."""
BOOLEAN_FALSE: Final = frozenset({"false", "f", "no", "n", "0", "off", "否", "错", "×", "✗"})
"""The texts a boolean field reads as false."""
DOCUMENT_TYPE: Final = "custrec.custom_fields"
"""The ``type`` of the JSON document :func:`to_json` writes."""
SCHEMA_VERSION: Final = 1
"""The shape of that document; bumped (with a reader for the old shape) when it changes."""

_SEPARATORS: Final = re.compile(r"[;,]")  # after NFKC, which folds '；' and '，' to these
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_DECIMAL: Final = re.compile(  # NaN and infinities too: refused as "not a finite number"
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:s?nan|inf|infinity))"
)
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class FieldType(enum.StrEnum):
    """What a custom field holds, and the Python type of its values."""

    TEXT = "text"  # str
    NUMBER = "number"  # int
    DECIMAL = "decimal"  # Decimal
    DATE = "date"  # date
    ENUM = "enum"  # str: one of the options
    MULTI_ENUM = "multi_enum"  # tuple[str, ...]: some of the options, in the options' order
    BOOLEAN = "boolean"  # bool


# ---------------------------------------------------------------------------------- helpers


def _accepts(validator: Validator, value: object) -> bool:
    """Whether a :mod:`custrec._checks` validator accepts ``value`` (for data, not arguments)."""
    try:
        check("value", value, validator)
    except (TypeError, ValueError):
        return False
    return True


def _member(enum_cls: type[enum.Enum], value: object) -> Any:
    """A member's value (text) to the member; anything else unchanged, for the constructor's
    check to refuse with the field's name."""
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        return next((m for m in enum_cls if m.value == value), value)
    return value


def _field_type(value: object) -> Any:
    return _member(FieldType, value)


def _category(value: object) -> Any:
    return _member(DataCategory, value)


def _sensitivity(value: object) -> Any:
    return _member(Sensitivity, value)


def _texts(value: object) -> Any:
    if value is None or isinstance(value, str):
        value = () if value is None else (value,)
    if isinstance(value, Iterable):
        return tuple(clean(v) if isinstance(v, str) else v for v in value)
    return value


def _pairs(value: object) -> Any:
    if isinstance(value, Mapping):
        return tuple(value.items())
    if isinstance(value, Iterable) and not isinstance(value, str):
        return tuple(tuple(p) if isinstance(p, list | tuple) else p for p in value)
    return value


def _language(tag: str) -> str:
    return tag.casefold().replace("_", "-")


def _describe(value: int | Decimal | date) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


# -------------------------------------------------------------------------------- definition


@attrs.frozen(kw_only=True)
class CustomField:
    """The definition of one custom field.

    ``name`` is an identifier (``[a-z][a-z0-9_]{0,62}``). ``min_length``/``max_length`` apply
    to text fields; ``minimum``/``maximum`` to number (an ``int``), decimal (a ``Decimal`` or an
    ``int``, kept as ``Decimal``) and date fields. Enum and multi-enum fields need ``options``:
    non-empty, distinct ignoring case, kept NFKC-normalised and trimmed; a multi-enum option may
    not hold ``;`` or ``,`` (they separate choices in text). ``labels`` maps a language to a
    label (a mapping or pairs, kept sorted by language). ``type``, ``category`` and
    ``sensitivity`` also take their text values.

    A ``personal`` field needs a ``category`` (not ``CUSTOM``), may be ``SENSITIVE`` and may be
    ``indexed`` (text and number fields: an exact look-up through a blind index); it is never
    ``filterable``: a personal value is never a plain facet. Inconsistent definitions raise
    ``TypeError``/``ValueError`` naming the field.

    >>> CustomField(name="vip_since", type="date").label("en")
    'vip_since'
    >>> CustomField(name="phone2", type="text", personal=True, category="contact",
    ...             filterable=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: custom field 'phone2': a personal field cannot be filterable (...)
    """

    name: str
    type: FieldType = attrs.field(converter=_field_type)
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | Decimal | date | None = None
    maximum: int | Decimal | date | None = None
    options: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    labels: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    personal: bool = False
    category: DataCategory | None = attrs.field(default=None, converter=_category)
    sensitivity: Sensitivity = attrs.field(default=Sensitivity.PERSONAL, converter=_sensitivity)
    indexed: bool = False
    filterable: bool = False

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"a custom field name must be text, not {type(self.name).__name__}")
        if not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                f"custom field name {self.name!r} is not an identifier: a lower-case letter, "
                "then up to 62 lower-case letters, digits or underscores"
            )
        where = f"custom field {self.name!r}"
        if not isinstance(self.type, FieldType):
            choices = ", ".join(FieldType)
            raise ValueError(f"{where}: type must be one of {choices}")
        for flag in ("required", "personal", "indexed", "filterable"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{where}: {flag} must be True or False")
        self._check_lengths(where)
        self._check_bounds(where)
        self._check_options(where)
        self._check_labels(where)
        self._check_privacy(where)

    def _check_lengths(self, where: str) -> None:
        for which in ("min_length", "max_length"):
            check(f"{where}: {which}", getattr(self, which), optional(int_range(0)))
        if self.type is not FieldType.TEXT and (
            self.min_length is not None or self.max_length is not None
        ):
            raise ValueError(f"{where}: min_length and max_length apply to text fields only")
        low, high = self.min_length, self.max_length
        if low is not None and high is not None and low > high:
            raise ValueError(f"{where}: min_length is greater than max_length")

    def _bound(self, where: str, which: str, value: object) -> int | Decimal | date | None:
        if value is None:
            return None
        label = f"{where}: {which}"
        if self.type is FieldType.DATE:
            check(label, value, calendar_date())
            assert isinstance(value, date)
            return value
        if self.type not in (FieldType.NUMBER, FieldType.DECIMAL):
            raise ValueError(
                f"{where}: minimum and maximum apply to number, decimal and date fields"
            )
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{label} must be a finite number")
            if self.type is FieldType.DECIMAL:
                return value
            if value != value.to_integral_value():
                raise ValueError(f"{label} must be an integer for a number field")
            return int(value)
        if not _accepts(integer(), value):
            wanted = "an int" if self.type is FieldType.NUMBER else "a Decimal or an int"
            raise TypeError(f"{label} must be {wanted}, not {type(value).__name__}")
        assert isinstance(value, int)
        return value if self.type is FieldType.NUMBER else Decimal(value)

    def _check_bounds(self, where: str) -> None:
        low = self._bound(where, "minimum", self.minimum)
        high = self._bound(where, "maximum", self.maximum)
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise ValueError(f"{where}: minimum is greater than maximum")
        object.__setattr__(self, "minimum", low)  # normalised: int, Decimal or date by type
        object.__setattr__(self, "maximum", high)

    def _check_options(self, where: str) -> None:
        if not isinstance(self.options, tuple):
            raise TypeError(f"{where}: options must be a sequence of text")
        if self.type not in (FieldType.ENUM, FieldType.MULTI_ENUM):
            if self.options:
                raise ValueError(f"{where}: options apply to enum and multi_enum fields only")
            return
        if not self.options:
            raise ValueError(f"{where}: {self.type} fields need at least one option")
        for option in self.options:
            check(f"{where}: an option", option, non_empty_text())
            check(f"{where}: an option", option, storable_text())
            if self.type is FieldType.MULTI_ENUM and _SEPARATORS.search(option):
                raise ValueError(f"{where}: a multi_enum option may not hold ';' or ','")
        if len({o.casefold() for o in self.options}) != len(self.options):
            raise ValueError(f"{where}: options must be distinct (ignoring case)")

    def _check_labels(self, where: str) -> None:
        if not isinstance(self.labels, tuple):
            raise TypeError(f"{where}: labels must be a mapping of language to label")
        for pair in self.labels:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"{where}: labels must be (language, label) pairs")
            check(f"{where}: a label's language", pair[0], non_empty_text())
            check(f"{where}: a label", pair[1], non_empty_text())
            check(f"{where}: a label", pair[1], storable_text())
        if len({_language(p[0]) for p in self.labels}) != len(self.labels):
            raise ValueError(f"{where}: labels name a language twice")
        object.__setattr__(self, "labels", tuple(sorted(self.labels)))

    def _check_privacy(self, where: str) -> None:
        for which, kind in (("sensitivity", Sensitivity), ("category", DataCategory)):
            value = getattr(self, which)
            if (value is not None or kind is Sensitivity) and not isinstance(value, kind):
                raise ValueError(f"{where}: {which} must be one of {', '.join(kind)}")
        if not self.personal:
            if self.category is not None:
                raise ValueError(f"{where}: a category applies to personal fields only")
            if self.sensitivity is not Sensitivity.PERSONAL:
                raise ValueError(f"{where}: only a personal field can be sensitive")
            if self.indexed:
                raise ValueError(
                    f"{where}: indexed is a blind index for personal fields; a field that is "
                    "not personal is filterable instead"
                )
            return
        if self.category is None or self.category is DataCategory.CUSTOM:
            raise ValueError(
                f"{where}: a personal field needs a category other than custom "
                "(identity, contact, identifier, ...)"
            )
        if self.filterable:
            raise ValueError(
                f"{where}: a personal field cannot be filterable (a personal value is never a "
                "plain facet)"
            )
        if self.indexed and self.type not in (FieldType.TEXT, FieldType.NUMBER):
            raise ValueError(f"{where}: only personal text and number fields can be indexed")

    def label(self, language: str, default: str | None = None) -> str:
        """The label in ``language`` (``"zh-CN"`` falls back to ``"zh"``; case and ``_`` do not
        matter), else ``default``, else the name.

        >>> CustomField(name="no", type="text", labels={"zh": "编号"}).label("zh_CN")
        '编号'
        """
        wanted = _language(language)
        by_language = {_language(tag): text for tag, text in self.labels}
        found = by_language.get(wanted) or by_language.get(wanted.split("-", 1)[0])
        if found is not None:
            return found
        return self.name if default is None else default


# ---------------------------------------------------------------------- coercion of values

_Result = tuple[CustomValue | None, Issue | None]
"""A coerced value (``None``: absent) or the issue that stopped it."""

_EXPECTED: Final = {
    FieldType.TEXT: "expected text",
    FieldType.NUMBER: "expected an integer (an int or integer text)",
    FieldType.DECIMAL: "expected a decimal number (a Decimal, an int or text; a float is inexact)",
    FieldType.DATE: "expected a date (a date or ISO 8601 text, YYYY-MM-DD)",
    FieldType.ENUM: "expected one option, as text",
    FieldType.MULTI_ENUM: "expected options, as a list or as text separated by ';' or ','",
    FieldType.BOOLEAN: "expected true or false (or yes/no, 1/0, 是/否)",
}


def _issue(name: str, code: str, message: str) -> Issue:
    return Issue(path=f"custom.{name}", code=code, message=message)


def _type_issue(field: CustomField) -> _Result:
    return None, _issue(field.name, "type", _EXPECTED[field.type])


def _option_issue(field: CustomField) -> _Result:
    return None, _issue(field.name, "option", "not one of the field's options")


def _option(field: CustomField, text: str) -> str | None:
    """The option ``text`` names (exactly, else ignoring case), or ``None``."""
    if text in field.options:
        return text
    folded = text.casefold()
    return next((o for o in field.options if o.casefold() == folded), None)


def _coerce_text(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, str):
        return clean(raw), None
    if _accepts(integer(), raw):  # a member number typed as a number in a spreadsheet
        try:
            return str(raw), None
        except ValueError:  # beyond the interpreter's digit limit
            pass
    return _type_issue(field)


def _coerce_number(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, str):
        text = clean(raw)
        if _INTEGER.fullmatch(text):
            try:
                return int(text), None
            except ValueError:  # beyond the interpreter's digit limit
                pass
        return _type_issue(field)
    if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
        return int(raw), None
    if _accepts(integer(), raw):
        return raw, None  # type: ignore[return-value]
    return _type_issue(field)


def _coerce_decimal(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, str):
        text = clean(raw)
        if not _DECIMAL.fullmatch(text):
            return _type_issue(field)
        try:
            raw = Decimal(text)
        except (InvalidOperation, ValueError):  # an exponent beyond what Decimal holds
            return _type_issue(field)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            return None, _issue(field.name, "type", "not a finite number")
        return raw, None
    if _accepts(integer(), raw):
        assert isinstance(raw, int)
        return Decimal(raw), None
    return _type_issue(field)


def _coerce_date(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, str):
        text = clean(raw)
        if _ISO_DATE.fullmatch(text):
            try:
                return date.fromisoformat(text), None
            except ValueError:
                pass
        return _type_issue(field)
    if _accepts(calendar_date(), raw):
        return raw, None  # type: ignore[return-value]
    return _type_issue(field)  # a datetime too: a date-time is not a calendar date


def _coerce_enum(field: CustomField, raw: object) -> _Result:
    if not isinstance(raw, str):
        return _type_issue(field)
    found = _option(field, clean(raw))
    return (found, None) if found is not None else _option_issue(field)


def _coerce_multi_enum(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, str):
        parts: list[object] = list(_SEPARATORS.split(nfkc(raw)))
    elif isinstance(raw, list | tuple | set | frozenset):
        parts = list(raw)
    else:
        return _type_issue(field)
    chosen: set[str] = set()
    for part in parts:
        if not isinstance(part, str):
            return _type_issue(field)
        if has_invalid_character(part):
            return None, _issue(field.name, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
        text = clean(part)
        if not text:
            continue
        found = _option(field, text)
        if found is None:
            return _option_issue(field)
        chosen.add(found)
    if not chosen:
        return None, None
    return tuple(o for o in field.options if o in chosen), None


def _coerce_boolean(field: CustomField, raw: object) -> _Result:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, str):
        text = clean(raw).casefold()
        if text in BOOLEAN_TRUE:
            return True, None
        if text in BOOLEAN_FALSE:
            return False, None
    elif _accepts(int_range(0, 1), raw):
        return raw == 1, None
    return _type_issue(field)


_COERCE: Final[Mapping[FieldType, Callable[[CustomField, object], _Result]]] = {
    FieldType.TEXT: _coerce_text,
    FieldType.NUMBER: _coerce_number,
    FieldType.DECIMAL: _coerce_decimal,
    FieldType.DATE: _coerce_date,
    FieldType.ENUM: _coerce_enum,
    FieldType.MULTI_ENUM: _coerce_multi_enum,
    FieldType.BOOLEAN: _coerce_boolean,
}


def _coerce(field: CustomField | None, name: str, raw: object) -> _Result:
    """``raw`` for the field, or for a removed field (``field`` is ``None``)."""
    if isinstance(raw, str) and has_invalid_character(raw):
        return None, _issue(name, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
    if raw is None or (isinstance(raw, str) and not clean(raw)):
        return None, None
    if field is not None:
        return _COERCE[field.type](field, raw)
    try:  # a removed field's value: kept unchanged when a custom field can hold it at all
        return CustomValues({name: raw})[name], None
    except TypeError:
        return None, _issue(name, "type", "not a value a custom field can hold")


# --------------------------------------------------------------------- validation of values


_IS_VALUE: Final[Mapping[FieldType, Callable[[object], bool]]] = {
    FieldType.TEXT: lambda v: isinstance(v, str),
    FieldType.NUMBER: lambda v: _accepts(integer(), v),
    FieldType.DECIMAL: lambda v: isinstance(v, Decimal) and v.is_finite(),
    FieldType.DATE: lambda v: _accepts(calendar_date(), v),
    FieldType.ENUM: lambda v: isinstance(v, str),
    FieldType.MULTI_ENUM: lambda v: isinstance(v, tuple) and all(isinstance(o, str) for o in v),
    FieldType.BOOLEAN: lambda v: isinstance(v, bool),
}
"""Whether a value has the Python type of a field's values."""


def _between(
    low: int | Decimal | date | None, high: int | Decimal | date | None, unit: str = ""
) -> str:
    """``must be from 1 to 5``, ``must be at least 1`` or ``must be at most 5`` (never a value)."""
    if low is not None and high is not None:
        return f"must be from {_describe(low)}{unit} to {_describe(high)}{unit}"
    if low is not None:
        return f"must be at least {_describe(low)}{unit}"
    assert high is not None
    return f"must be at most {_describe(high)}{unit}"


def _rule_issue(field: CustomField, value: Any) -> Issue | None:
    """The first rule ``value`` (of the field's type) breaks: length, range or option."""
    name = field.name
    if field.type is FieldType.TEXT:
        if has_invalid_character(value):
            return _issue(name, "text.invalid_character", INVALID_CHARACTER_MESSAGE)
        low, high = field.min_length, field.max_length
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            return _issue(name, "length", _between(low, high, " characters"))
    elif field.type in (FieldType.NUMBER, FieldType.DECIMAL, FieldType.DATE):
        low_v, high_v = field.minimum, field.maximum
        if (low_v is not None and value < low_v) or (high_v is not None and value > high_v):
            return _issue(name, "range", _between(low_v, high_v))
    elif field.type is FieldType.ENUM:
        if value not in field.options:
            return _option_issue(field)[1]
    elif field.type is FieldType.MULTI_ENUM and (
        len(set(value)) != len(value) or not set(value) <= set(field.options)
    ):
        return _issue(name, "option", "not distinct options of the field")
    return None


# ------------------------------------------------------------------------------------- sets


def _fields(value: object) -> Any:
    return tuple(value) if isinstance(value, Iterable) else value


@attrs.frozen(kw_only=True)
class CustomFieldSet:
    """Every custom field definition at one ``version`` (0 for the empty set).

    ``fields`` are the current definitions and ``removed`` the removed ones (their stored
    values are kept, and read unchanged, until retention removes them); both sorted by name,
    names unique across the two. :meth:`define`, :meth:`change` and :meth:`remove` return a new
    set with ``version + 1``.
    """

    version: int = attrs.field(default=0, validator=int_range(0))
    fields: tuple[CustomField, ...] = attrs.field(default=(), converter=_fields)
    removed: tuple[CustomField, ...] = attrs.field(default=(), converter=_fields)
    _current: Mapping[str, CustomField] = attrs.field(init=False, eq=False, repr=False)
    _gone: Mapping[str, CustomField] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for which in ("fields", "removed"):
            found = getattr(self, which)
            if not isinstance(found, tuple) or not all(isinstance(f, CustomField) for f in found):
                raise TypeError(f"{which} must be a sequence of CustomField")
            names = [f.name for f in found]
            if len(set(names)) != len(names):
                raise ValueError(f"{which} name a custom field twice")
            object.__setattr__(self, which, tuple(sorted(found, key=lambda f: f.name)))
        current = {f.name: f for f in self.fields}
        gone = {f.name: f for f in self.removed}
        if both := sorted(current.keys() & gone.keys()):
            raise ValueError(f"custom fields {both} are both current and removed")
        if self.version == 0 and (current or gone):
            raise ValueError("a custom field set with definitions has a version of at least 1")
        object.__setattr__(self, "_current", current)
        object.__setattr__(self, "_gone", gone)

    def get(self, name: str, *, removed: bool = False) -> CustomField | None:
        """The current definition of ``name``; with ``removed=True`` a removed one too (to read
        a kept value); ``None`` when there is none."""
        found = self._current.get(name)
        if found is None and removed:
            return self._gone.get(name)
        return found

    def __getitem__(self, name: str) -> CustomField:
        """The current definition of ``name`` (``KeyError`` when there is none)."""
        return self._current[name]

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is a current field (not a removed one)."""
        return isinstance(name, str) and name in self._current

    def __iter__(self) -> Iterator[CustomField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def personal_fields(self) -> tuple[CustomField, ...]:
        """The personal fields, removed ones included (their kept values are still personal
        data: to encrypt, mask, export and erase), by name."""
        return tuple(
            sorted((f for f in (*self.fields, *self.removed) if f.personal), key=lambda f: f.name)
        )

    def filterable_fields(self) -> tuple[CustomField, ...]:
        """The current fields a plain facet may filter on, by name."""
        return tuple(f for f in self.fields if f.filterable)

    def indexed_fields(self) -> tuple[CustomField, ...]:
        """The current fields with an exact look-up through a blind index, by name."""
        return tuple(f for f in self.fields if f.indexed)

    def define(self, field: CustomField) -> CustomFieldSet:
        """A set one version up with ``field`` added.

        :class:`DefinitionConflict` when the name is a current field. A removed name may be
        defined again when the definition is a compatible change of the removed one (same type,
        same ``personal``): the kept values then belong to the field again.
        """
        _require_field(field)
        if field.name in self._current:
            raise DefinitionConflict(f"custom field {field.name!r} exists; change() it instead")
        earlier = self._gone.get(field.name)
        if earlier is not None:
            _compatible(earlier, field, "define again a removed field")
        return CustomFieldSet(
            version=self.version + 1,
            fields=(*self.fields, field),
            removed=tuple(f for f in self.removed if f.name != field.name),
        )

    def change(self, field: CustomField) -> CustomFieldSet:
        """A set one version up with the definition of ``field.name`` replaced by ``field``;
        the same set when nothing changes.

        Compatible changes only: options added or removed, labels, ``required``, lengths,
        range, category, sensitivity, and ``filterable``/``indexed`` where the definition
        allows them. Another type or a flip of ``personal`` raises :class:`DefinitionConflict`
        (define a new field instead). A removed option is allowed: nobody here can know whether
        a stored value uses it; such a value passes :meth:`coerce` no more and fails
        :meth:`validate` (``option``) when its record is next validated. ``KeyError`` for a
        name that is not a current field.
        """
        _require_field(field)
        old = self._current.get(field.name)
        if old is None:
            if field.name in self._gone:
                raise DefinitionConflict(f"custom field {field.name!r} was removed; define() it")
            raise KeyError(f"no custom field {field.name!r} to change")
        _compatible(old, field, "change")
        if old == field:
            return self
        return CustomFieldSet(
            version=self.version + 1,
            fields=tuple(field if f.name == field.name else f for f in self.fields),
            removed=self.removed,
        )

    def remove(self, name: str) -> CustomFieldSet:
        """A set one version up in which ``name`` is a removed field: its definition is kept
        in ``removed`` so that stored values stay readable. ``KeyError`` for a name that is
        not a current field."""
        old = self._current.get(name) if isinstance(name, str) else None
        if old is None:
            raise KeyError(f"no custom field {name!r} to remove")
        return CustomFieldSet(
            version=self.version + 1,
            fields=tuple(f for f in self.fields if f.name != name),
            removed=(*self.removed, old),
        )

    def coerce(self, values: Mapping[str, object]) -> tuple[CustomValues, tuple[Issue, ...]]:
        """Typed values from raw input (CSV text, decoded JSON), and an issue for each value
        that cannot be converted (it is left out). Never raises for a value.

        ``None`` and blank text are absent. Text is NFKC-normalised, trimmed and its runs of
        white space collapsed (an ``int`` becomes its digits). Number: an ``int``, an integral
        ``Decimal`` or integer text (full-width digits too). Decimal: a ``Decimal``, an ``int``
        or decimal text; a float is refused (inexact), so are NaN and infinities. Date: a
        ``date`` or ISO 8601 text. Enum: an option (case is ignored; the option's spelling is
        kept). Multi-enum: a list or text separated by ``;``, ``,``, ``；`` or ``，``, kept as
        the options chosen in the options' order. Boolean: a ``bool``, 0/1, or one of
        :data:`BOOLEAN_TRUE`/:data:`BOOLEAN_FALSE`.

        Codes: ``type``, ``option``, ``text.invalid_character``, ``unknown_field`` (a name
        never defined). A removed field's value is kept unchanged (``type`` if it is not a
        :data:`~custrec.model.records.CustomValue` at all). Lengths, ranges and required fields
        are for :meth:`validate`.
        """
        found: dict[str, CustomValue] = {}
        issues: list[Issue] = []
        for name, raw in values.items():
            field = self._current.get(name) if isinstance(name, str) else None
            if field is not None or (isinstance(name, str) and name in self._gone):
                value, issue = _coerce(field, name, raw)
            else:
                value = None
                issue = _issue(str(name), "unknown_field", "no custom field of this name")
            if issue is not None:
                issues.append(issue)
            if value is not None:
                found[name] = value
        return CustomValues(found), tuple(issues)

    def validate(self, values: Mapping[str, object], *, require: bool = True) -> tuple[Issue, ...]:
        """Every issue of ``values`` (typed, as :meth:`coerce` makes them): ``required`` (a
        required field without a value, only when ``require``: pass ``False`` for a partial
        change), ``type``, ``length``, ``range``, ``option``, ``text.invalid_character``, and
        ``unknown_field``; a removed field's value is fine. Fields in name order, then the
        unknown names; messages never hold a value."""
        if not values and not self.fields:
            return ()  # nothing required, nothing unknown
        issues: list[Issue] = []
        for field in self.fields:
            value = values.get(field.name)
            if value is None or value == () or (isinstance(value, str) and not value.strip()):
                if require and field.required:
                    issues.append(_issue(field.name, "required", "a value is required"))
            elif not _IS_VALUE[field.type](value):
                issues.append(_type_issue(field)[1])  # type: ignore[arg-type]
            elif (issue := _rule_issue(field, value)) is not None:
                issues.append(issue)
        for name in sorted(n for n in values if n not in self._current and n not in self._gone):
            issues.append(_issue(name, "unknown_field", "no custom field of this name"))
        return tuple(issues)


def _require_field(field: object) -> None:
    if not isinstance(field, CustomField):
        raise TypeError(f"expected a CustomField, not {type(field).__name__}")


def _compatible(old: CustomField, new: CustomField, doing: str) -> None:
    """Stored values keep their type and their privacy: define a new field instead."""
    where = f"cannot {doing} custom field {new.name!r}"
    if old.type is not new.type:
        raise DefinitionConflict(f"{where}: its type would change from {old.type} to {new.type}")
    if old.personal is not new.personal:
        was = "personal" if old.personal else "not personal"
        raise DefinitionConflict(f"{where}: it is {was} (so are its stored values)")


# ------------------------------------------------------------------------------------- JSON

_FIELD_KEYS: Final = frozenset(a.name for a in attrs.fields(CustomField))
_SET_KEYS: Final = frozenset({"type", "schema", "version", "fields", "removed"})


def _field_json(field: CustomField) -> dict[str, Any]:
    data = {a.name: getattr(field, a.name) for a in attrs.fields(CustomField)}
    data.update(options=list(field.options), labels=dict(field.labels))
    for key in ("minimum", "maximum"):  # a Decimal or a date as text, an int as itself
        if isinstance(data[key], Decimal | date):
            data[key] = _describe(data[key])
    return data  # the enums are text (StrEnum)


def to_json(fields: CustomFieldSet) -> bytes:
    """The set as a UTF-8 JSON document, the same bytes for equal sets (keys sorted).

    Decimal bounds are text (``"12.50"``), dates ISO 8601 text; :func:`from_json` reads it back
    exactly.
    """
    if not isinstance(fields, CustomFieldSet):
        raise TypeError(f"expected a CustomFieldSet, not {type(fields).__name__}")
    document = {
        "type": DOCUMENT_TYPE,
        "schema": SCHEMA_VERSION,
        "version": fields.version,
        "fields": [_field_json(f) for f in fields.fields],
        "removed": [_field_json(f) for f in fields.removed],
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("an object names a key twice")
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _read_bound(kind: object, value: object) -> object:
    """A stored bound in its Python type (a wrong one is left for :class:`CustomField`)."""
    if isinstance(value, str) and kind == FieldType.DATE.value:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError("a date bound is not ISO 8601 (YYYY-MM-DD)")
        return date.fromisoformat(value)
    if isinstance(value, str) and kind == FieldType.DECIMAL.value:
        if not _DECIMAL.fullmatch(value):
            raise ValueError("a decimal bound is not a decimal number")
        return Decimal(value)
    if kind == FieldType.DECIMAL.value and value is not None:
        raise ValueError("a decimal bound is stored as text")
    return value


_WORDS: Final = {list: "a list", dict: "an object", str: "text"}


def _read_field(data: object) -> CustomField:
    if not isinstance(data, dict):
        raise ValueError("a field is not an object")
    if unknown := sorted(data.keys() - _FIELD_KEYS):
        raise ValueError(f"a field has unknown keys {unknown}")
    if missing := sorted({"name", "type"} - data.keys()):
        raise ValueError(f"a field lacks {missing}")
    shapes = {"options": list, "labels": dict, "type": str, "category": str, "sensitivity": str}
    for key, shape in shapes.items():
        if data.get(key) is not None and not isinstance(data[key], shape):
            raise ValueError(f"a field's {key} is not {_WORDS[shape]}")
    arguments = dict(data)
    for key in ("minimum", "maximum"):
        if key in arguments:
            arguments[key] = _read_bound(data["type"], arguments[key])
    if "options" in arguments:
        arguments["options"] = tuple(arguments["options"])
    return CustomField(**arguments)


def from_json(data: bytes | str) -> CustomFieldSet:
    """The set :func:`to_json` wrote. A document that is not one (bad JSON, duplicate keys,
    unknown or missing keys, values of the wrong type, an inconsistent definition) raises
    :class:`~custrec.errors.SchemaError` saying what is wrong; so does an unknown document type
    or schema version.
    """
    if not isinstance(data, bytes | str):
        raise TypeError(f"expected bytes or text, not {type(data).__name__}")
    try:
        document = json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"custom field set: not a valid JSON document ({exc})") from None
    if not isinstance(document, dict) or document.get("type") != DOCUMENT_TYPE:
        raise SchemaError(f"custom field set: not a {DOCUMENT_TYPE} document")
    schema = document.get("schema")
    if not (_accepts(integer(), schema) and schema == SCHEMA_VERSION):
        raise SchemaError(f"custom field set: schema version is not {SCHEMA_VERSION}")
    if document.keys() != _SET_KEYS:
        raise SchemaError(f"custom field set: the document's keys are not {sorted(_SET_KEYS)}")
    try:
        if not isinstance(document["fields"], list) or not isinstance(document["removed"], list):
            raise ValueError("fields and removed are JSON lists")
        if not _accepts(integer(), document["version"]):
            raise ValueError("version is not an integer")
        return CustomFieldSet(
            version=document["version"],
            fields=[_read_field(f) for f in document["fields"]],
            removed=[_read_field(f) for f in document["removed"]],
        )
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"custom field set: {exc}") from None
