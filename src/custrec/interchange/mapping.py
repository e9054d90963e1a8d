"""Import mappings: which source column feeds which customer field, and how its values read.

A mapping is saved as TOML or JSON and reused for every file of the same shape. It names, for
each source column, a *field path* into :class:`~custrec.model.records.Customer`:

==============================  ==============================================================
path                            meaning
==============================  ==============================================================
``name``, ``stage``             a top-level field
``milestones.contract_amount``  a field of a nested record (a ``Money`` takes a ``money`` cell)
``contacts[0].phones[0]``       one element of a list (``contacts[1].name`` is a second contact)
``contacts[0].phones``          the whole list, split on separators (``tags`` likewise)
``identifiers[CN-USCC]``        the identifier of that scheme (``CN-RIC``, ``PASSPORT``, ...)
``identifiers[EXTERNAL:crm]``   the customer's id in another system (here ``crm``)
``custom.member_no``            the value of a custom field (see below)
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

A ``custom.<name>`` column feeds ``data["custom"][name]``; the field's definition reads the
value at intake (``parse_customer(fields=...)``). :meth:`ImportMapping.with_fields` (which
:func:`~custrec.interchange.plan_import` calls with the registry's definitions) checks every
custom field the mapping names against the definitions, and types each column without a
``type`` by its field: a number or decimal field reads ``12,345.50`` or ``１２３`` with the
column's separators, a date field the mapping's date formats; text, options and yes/no go to
the definition as text.

Every problem in a mapping raises :class:`MappingError` naming the mapping key at fault
(``columns.手机.field: unknown field 'phonez' in 'contacts[0].phonez'``).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, tzinfo
from pathlib import Path
from types import NoneType
from typing import Any, Final

import attrs
import phonenumbers

from custrec.errors import MappingError
from custrec.interchange import convert
from custrec.interchange._binding import META_COLUMNS, BoundMapping, MappedRow
from custrec.interchange._binding import SHIFTED_CODES as SHIFTED_CODES
from custrec.interchange._binding import is_shifted as is_shifted
from custrec.interchange._binding import shown_value as shown_value
from custrec.interchange._columns import (
    CONVERTERS,
    ColumnRule,
    _check_unknown,
    _column,
    _expect,
    _formats,
    _Scalar,
    _separator,
    _strings,
    _value_key,
    check_default,
    currency_code,
    for_fields,
    header_key,
)
from custrec.interchange._paths import FieldPath, Step, parse_path
from custrec.model.custom import CustomFieldSet

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


@attrs.frozen(kw_only=True)
class ImportMapping:
    """A validated mapping; build it with :meth:`from_dict`, :func:`load_mapping` or
    :meth:`native`, then :meth:`bind` it to a file's headers.

    ``native`` mappings also read any column whose header is itself a field path (the CSV that
    :func:`~custrec.interchange.export_customers` writes), and JSON Lines rows that are custrec
    export documents as they are.

    ``fields`` are the custom-field definitions the mapping was checked against
    (:meth:`with_fields`; ``None``: not checked, custom values are read as raw text).
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
    fields: CustomFieldSet | None = attrs.field(default=None, repr=False)

    @classmethod
    def native_mapping(cls) -> ImportMapping:
        """The mapping for files custrec exported: headers are field paths, and only an empty
        cell means "no value" (an export writes ``无`` or ``N/A`` only when a field holds it)."""
        return cls(name="custrec export", native=True, nulls=frozenset({""}))

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
        currency_code(top["currency"], "currency")
        _expect(top["separators"], str, "separators", "a string")
        region = _expect(data.get("region", "CN"), str, "region", "a region code").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise MappingError(
                "region", "not a region phonenumbers knows (use ISO 3166 codes: CN, HK, US...)"
            )
        zone_text = _expect(
            data.get("timezone", "UTC"), str, "timezone", "UTC, an offset or a time zone name"
        )
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

    def with_fields(self, fields: CustomFieldSet) -> ImportMapping:
        """The mapping checked against custom-field definitions (``registry.fields.current()``):
        every ``custom.<name>`` column and default must name a defined field (current, or
        removed: such a column is read, so that an export re-imports, but intake refuses a
        new value for a removed field, row by row), and a column's ``type`` must fit
        the field; a column without a ``type`` takes the field's (see the module docs). A native
        mapping also checks, when it binds, the ``custom.<name>`` headers of the file. Raises
        :class:`MappingError` naming the key at fault, so an import fails before reading a row.

        >>> from custrec.model.custom import CustomField
        >>> fields = CustomFieldSet().define(CustomField(name="budget", type="decimal"))
        >>> mapping = ImportMapping.from_dict({"columns": {"预算": "custom.budget"}})
        >>> mapping.with_fields(fields).columns[0].type
        'decimal'
        >>> ImportMapping.from_dict({"columns": {"会员号": "custom.member_no"}}).with_fields(
        ...     fields)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        custrec.errors.MappingError: columns.会员号.field: no custom field 'member_no' is ...
        """
        if not isinstance(fields, CustomFieldSet):
            raise TypeError("fields must be a custrec.model.custom.CustomFieldSet")
        columns = tuple(for_fields(rule, fields) for rule in self.columns)
        for path, _ in self.defaults:
            check_default(path, fields)
        return attrs.evolve(self, columns=columns, fields=fields)

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
