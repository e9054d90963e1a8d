"""A mapping bound to one file's headers (:class:`BoundMapping`) and the rows it turns into
customer data (:class:`MappedRow`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import attrs

from custrec.errors import MappingError
from custrec.interchange import convert
from custrec.interchange._columns import ColumnRule, _value_key, for_fields, header_key
from custrec.interchange._paths import FieldPath, Step, parse_path
from custrec.interchange.readers import SourceRow
from custrec.interchange.report import ColumnUsage, RowIssue
from custrec.model.issues import Severity
from custrec.model.serialization import SCHEMA_VERSION
from custrec.security import mask

if TYPE_CHECKING:
    from custrec.interchange.mapping import ImportMapping


_COLUMN_SHAPES_KEPT: Final = 256  # distinct shapes of filled columns remembered per binding
META_COLUMNS: Final = frozenset({"_row", "_errors", "_schema_version", "_masked", "version"})
"""Columns the importer reads itself: the error file's ``_row``/``_errors`` (ignored), an
export's ``_schema_version`` and ``_masked`` (checked) and ``version`` (ignored: storage sets
it)."""


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
        # shared by every row this binding maps (and so pickled once per batch of rows)
        self._paths = {header: rule.path for header, rule in self._bound}
        self._declared = {rule.path.text: header for header, rule in self._bound}
        self._columns: dict[tuple[Any, ...], dict[str, str]] = {}
        self._plans: dict[tuple[int, ...], _Plan | None] = {}
        self.usage = ColumnUsage(
            mapped={header: rule.path.text for header, rule in self._bound},
            unmapped=tuple(unmapped),
            missing=missing,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_plans"] = {}  # compiled functions: made again on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _native_rule(self, header: str, taken: list[FieldPath]) -> ColumnRule | None:
        try:
            path = parse_path(header)
        except ValueError:
            return None
        if any(path.covers(t) or t.covers(path) for t in taken):
            return None
        m = self.mapping
        rule = ColumnRule(
            name=header,
            path=path,
            type=path.converter,
            separators=m.separators,
            currency=m.currency,
            thousands=m.thousands,
            decimal=m.decimal,
            auto_type=True,
        )
        if m.fields is not None and path.custom is not None:
            try:  # typed by its definition; a field nobody defined fails the file
                rule = for_fields(rule, m.fields)
            except MappingError as exc:  # the file's column, not a mapping key, is at fault
                raise MappingError(header, exc.message) from None
        return rule

    def apply(self, row: SourceRow) -> MappedRow:
        """Turn one source row into customer data; never raises for bad cell values."""
        issues = list(row.problems)
        shifted = is_shifted(row)
        values: dict[str, str] = {}
        filled: list[int] = []  # positions in ``_bound`` of the cells that gave a value
        converted: list[Any] = []
        plain = True  # every value a scalar (or a sum of money, a list of texts)
        m = self.mapping
        for header in self._meta:
            issues.extend(_meta_issues(row, header))
        for position, (header, rule) in enumerate(self._bound):
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
            filled.append(position)
            converted.append(value)
            if plain and type(value) not in _PLAIN:
                # a container only as its converter makes it: fresh, never a source's own
                plain = _PLAIN_OF.get(rule.type) is type(value) and value is not raw
            if isinstance(raw, str):
                values[header] = raw
        plan = self._plan(tuple(filled)) if plain else None
        if plan is None:
            data, columns, touched = self._build(filled, converted)
        else:
            data, columns, touched = plan.fill(converted), plan.columns, plan.touched
        return MappedRow(
            data=data,
            issues=tuple(issues),
            columns=columns,
            declared=self._declared,
            touched=touched,
            values=values,
            paths=self._paths,
        )

    def _build(
        self, filled: Sequence[int], converted: Sequence[Any]
    ) -> tuple[dict[str, Any], dict[str, str], frozenset[str]]:
        """A row's data, column of each final path and top-level fields touched, from the
        values of the cells at ``filled`` (positions in ``_bound``), and the defaults."""
        tree: dict[str, Any] = {}
        placed: list[tuple[tuple[Step, ...], str]] = []
        touched: set[str] = set()
        for position, value in zip(filled, converted, strict=True):
            header, rule = self._bound[position]
            _put(tree, rule.path.steps, value)
            placed.append((rule.path.steps, header))
            touched.add(rule.path.top)
        for path, default in self.mapping.defaults:
            if _has(tree, path.steps) or not _has(tree, _item(path.steps)):
                continue  # filled by a cell, or inside a list item no cell created
            _put(tree, path.steps, list(default) if isinstance(default, list) else default)
        renames: dict[tuple[str, Any], int] = {}
        data = _finalize(tree, "", renames)
        return data, self._columns_of(placed, renames), frozenset(touched)

    def _plan(self, shape: tuple[int, ...]) -> _Plan | None:
        """How rows that filled the cells at ``shape`` with plain values are built (most rows
        of a file share a few shapes): :meth:`_build` run once with placeholders, compiled;
        ``None`` when one cell's path runs through another's or a default's (then the values
        themselves decide the result)."""
        try:
            return self._plans[shape]
        except KeyError:
            pass
        steps = [self._bound[position][1].path.steps for position in shape]
        others = [*steps, *(path.steps for path, _ in self.mapping.defaults)]
        plan: _Plan | None = None
        if not any(_through(a, b) or _through(b, a) for a in steps for b in others):
            holes = [_Hole(k) for k in range(len(shape))]
            data, columns, touched = self._build(shape, holes)
            plan = _Plan(_compiled(data), columns, touched)
        if len(self._plans) >= _COLUMN_SHAPES_KEPT:
            self._plans.clear()
        self._plans[shape] = plan
        return plan

    def _columns_of(
        self, placed: list[tuple[tuple[Step, ...], str]], renames: dict[tuple[str, Any], int]
    ) -> dict[str, str]:
        """The column that filled each final path: one shared mapping for the rows that filled
        the same columns into the same list positions (most rows of a file)."""
        key = (tuple(header for _, header in placed), tuple(renames.items()))
        columns = self._columns.get(key)
        if columns is None:
            columns = {_final_path(steps, renames): header for steps, header in placed}
            if len(self._columns) >= _COLUMN_SHAPES_KEPT:
                self._columns.clear()
            self._columns[key] = columns
        return columns

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


_PLAIN: Final = frozenset({str, int, float, bool, Decimal, date, datetime})
"""Value types a converter gives that hold no container (a row of them can take a plan)."""
_PLAIN_OF: Final = {"money": dict, "list": list}
"""The container a converter of that type gives: a fresh one a call, never gone through by
another path of a plan (see ``BoundMapping._plan``)."""


class _Hole:
    """Where the ``k``-th value of a row goes in a plan's template."""

    __slots__ = ("k",)

    def __init__(self, k: int) -> None:
        self.k = k


@attrs.frozen
class _Plan:
    """A compiled way to build the data of rows of one shape (``fill(values)``), with the
    column attribution and the top-level fields those rows share."""

    fill: Callable[[Sequence[Any]], dict[str, Any]]
    columns: dict[str, str]
    touched: frozenset[str]


def _through(a: tuple[Step, ...], b: tuple[Step, ...]) -> bool:
    """Whether path ``b`` runs through the value at path ``a`` (``a`` a proper prefix)."""
    return len(a) < len(b) and b[: len(a)] == a


def _compiled(template: dict[str, Any]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function building ``template`` afresh with the values for its holes: dicts and lists
    new each call, a hole's value itself, any other leaf (a default, an identifier's scheme)
    the template's own object, a list of them copied (as a default list is)."""
    constants: list[Any] = []

    def constant(value: Any) -> str:
        constants.append(value)
        return f"c[{len(constants) - 1}]"

    def source(node: Any) -> str:
        if isinstance(node, _Hole):
            return f"v[{node.k}]"
        if type(node) is dict:
            items = ", ".join(f"{constant(key)}: {source(value)}" for key, value in node.items())
            return "{" + items + "}"
        if type(node) is list:
            return "[" + "".join(f"{source(item)}, " for item in node) + "]"
        return constant(node)

    code = compile(f"lambda v: {source(template)}", "<custrec mapped row>", "eval")
    made: Callable[[Sequence[Any]], dict[str, Any]] = eval(code, {"c": constants})
    return made
