"""Field paths: :func:`parse_path` reads ``contacts[0].phones[0]`` into :class:`FieldPath`
steps, type-checked against :class:`~custrec.model.records.Customer`.

``custom.<name>`` names one custom field's value (``custom`` alone: all of them, as a JSON
object). Which custom fields exist is only known at run time: :func:`parse_path` checks the
name's form, and :func:`custom_path` types the path by the field's definition."""

from __future__ import annotations

import enum
import re
import typing
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from types import NoneType, UnionType
from typing import Any, Final, Literal

import attrs

from custrec.model.custom import NAME_PATTERN, CustomField, FieldType
from custrec.model.records import Customer, IdentifierScheme, Money, personal_fields

_UNMAPPABLE: Final = frozenset({"version"})
_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]*)\])?")
_SCHEME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_SYSTEM: Final = re.compile(r"[^\[\]:]{1,64}")


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
_CUSTOM_TYPES: Final = frozenset({"text", "date", "decimal", "integer", "bool", "list"})
"""The converters a custom column may use before its definition is known."""
_BY_FIELD_TYPE: Final[dict[FieldType, tuple[str, frozenset[str]]]] = {
    # the default converter and the converters that fit; raw text always fits (the definition
    # reads it at intake); a multi_enum's default is text, which the definition splits on the
    # separators its options can never hold (the list converter's may be in an option)
    FieldType.TEXT: ("text", frozenset({"text"})),
    FieldType.ENUM: ("text", frozenset({"text"})),
    FieldType.MULTI_ENUM: ("text", frozenset({"text", "list"})),
    FieldType.BOOLEAN: ("text", frozenset({"text", "bool"})),
    FieldType.NUMBER: ("integer", frozenset({"integer", "decimal", "text"})),
    FieldType.DECIMAL: ("decimal", frozenset({"decimal", "integer", "text"})),
    FieldType.DATE: ("date", frozenset({"date", "text"})),
}
_MASK_BY_SCHEME: Final = {
    IdentifierScheme.USCC.value: "uscc",
    IdentifierScheme.RIC.value: "ric",
    IdentifierScheme.PASSPORT.value: "passport",
}


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
        :func:`~custrec.model.records.personal_fields`."""
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

    @property
    def custom(self) -> str | None:
        """The custom field a ``custom.<name>`` path names (else ``None``)."""
        if len(self.steps) == 2 and self.steps[0].name == "custom":
            return self.steps[1].name
        return None

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
    """Parse and type-check a field path against :class:`~custrec.model.records.Customer`.

    Raises ``ValueError`` with a message saying what is wrong (the mapping adds the key).

    >>> parse_path("contacts[0].phones[0]").generic, parse_path("identifiers[CN-USCC]").mask_kind
    ('contacts[].phones', 'uscc')
    >>> parse_path("milestones.contract_amount").converter
    'money'
    >>> parse_path("contacts[0]")
    Traceback (most recent call last):
    ...
    ValueError: 'contacts[0]' is a record: name one of its fields (e.g. 'contacts[0].name')
    >>> parse_path("custom.member_no").custom
    'member_no'
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a field path must be a non-empty string")
    text = text.strip()
    head, dot, rest = text.partition(".")
    if head == "custom":
        return _custom(text, rest if dot else None)
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


def _custom(text: str, name: str | None) -> FieldPath:
    """``custom`` (every custom value, a JSON object) or ``custom.<name>`` (one value, raw text
    until :func:`custom_path` knows its definition; personal until then)."""
    if name is None:
        steps = [Step("attr", name="custom")]
        return _finish(text, steps, "json", frozenset({"json"}), None)
    if NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(
            f"{text!r}: {name!r} is not a custom field name (custom.<name>, the name a "
            "lower-case letter, then up to 62 lower-case letters, digits or underscores)"
        )
    return custom_path(name, None)


def custom_path(name: str, field: CustomField | None) -> FieldPath:
    """The path ``custom.<name>``, typed by the field's definition: its default converter and
    the converters that fit the field's type, personal as the definition says. Without a
    definition (``None``): raw text (the definitions read it at intake), and personal (any
    value may be)."""
    if field is None:
        converter, allowed, personal = "text", _CUSTOM_TYPES, True
    else:
        (converter, allowed), personal = _BY_FIELD_TYPE[field.type], field.personal
    return FieldPath(
        text=f"custom.{name}",
        steps=(Step("attr", name="custom"), Step("attr", name=name)),
        converter=converter,
        allowed=allowed,
        personal=personal,
        mask_kind="full",
    )


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
