"""``CustomerFilter`` to SQL: one ``WHERE`` clause for every dialect.

Tags and facets are child tables of ``customers AS c`` (``customer_tags``, ``customer_facets``);
a :class:`Link` says how a child row names its customer (``customer_pk = c.pk`` in SQLite,
``customer_id = c.id`` in PostgreSQL). A tag or facet condition takes one of two forms:

- in a page (``paged``: ordered by id, with a limit), an ``EXISTS`` that seeks the child
  table's primary key ``(customer, ...)`` for the row at hand, so that the page walks
  ``customers`` by id and stops after ``limit`` matches, however common the value is;
- in a count or an aggregate, ``<key> IN (SELECT <customer> FROM <child> WHERE ...)``: the
  child's value index gives the customers that qualify, which are then read in key order
  (SQLite would otherwise test every customer, in the order of whichever index it walks).

PostgreSQL plans both as the same semi-join and picks its way by its statistics.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from custrec.backends._sql.dialect import Dialect
from custrec.storage import CustomerFilter
from custrec.storage.checks import check_filter, check_instant
from custrec.storage.types import FacetCondition

__all__ = [
    "NOTHING",
    "Link",
    "also",
    "customer_conditions",
    "customer_where",
    "facet_condition",
]

_FACETS: Final = ("kind", "stage", "state", "owner", "team", "grade")
_BOUNDS: Final = (
    ("updated_after", "updated_at", ">"),
    ("updated_before", "updated_at", "<"),
    ("created_after", "created_at", ">"),
    ("created_before", "created_at", "<"),
)

NOTHING: Final = "1 = 0"
"""A condition no row meets (an empty ``states`` set, a ``Reach`` of nobody)."""


class Link(NamedTuple):
    """How a child table's rows name their customer ``c``: ``<alias>.<column> = <key>``."""

    column: str
    """The child's column holding the customer (``customer_pk``, ``customer_id``)."""
    key: str
    """The customer's column it holds (``c.pk``, ``c.id``)."""

    def of(self, alias: str) -> str:
        """The join condition of the child table ``alias``."""
        return f"{alias}.{self.column} = {self.key}"


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def _child(
    table: str,
    alias: str,
    test: str,
    values: list[Any],
    link: Link,
    *,
    paged: bool,
    after: str | None,
) -> tuple[str, list[Any]]:
    """The condition that ``customers AS c`` has a row of child ``table`` meeting ``test``
    (with parameters ``values``), and its parameters. In a page after an id, a child keyed
    by the id is bounded by it too: PostgreSQL, merging the child's primary key with the
    customers', then starts both at that id."""
    rows = f"{{s}}.{table} AS {alias}"
    if not paged:
        return f"{link.key} IN (SELECT {alias}.{link.column} FROM {rows} WHERE {test})", values
    if after is not None and link.key == "c.id":
        test += f" AND {alias}.{link.column} > %s"
        values = [*values, after]
    return f"EXISTS (SELECT 1 FROM {rows} WHERE {link.of(alias)} AND {test})", values


def facet_condition(
    condition: FacetCondition, link: Link, *, paged: bool, after: str | None = None
) -> tuple[str, list[Any]]:
    """The condition over ``customer_facets AS f`` for one facet condition, and its
    parameters."""
    if condition.any_of:
        values = sorted(condition.any_of)
        test = "f.facet = %s" if len(values) == 1 else f"f.facet IN ({_marks(len(values))})"
        params: list[Any] = list(values)
    else:
        test = "f.facet >= %s AND f.facet < %s"
        params = [condition.at_least, condition.below]
    return _child("customer_facets", "f", test, params, link, paged=paged, after=after)


def customer_conditions(
    where: CustomerFilter | None,
    *,
    link: Link,
    dialect: Dialect,
    paged: bool = False,
    after: str | None = None,
) -> tuple[list[str], list[Any]]:
    """The conditions of a checked ``where`` over ``customers AS c`` (all must hold), as
    templates (``{s}.`` and ``%s``), and their parameters; ``paged``: for a page in id
    order, after the id ``after`` (which the caller adds as a condition itself)."""
    clauses: list[str] = []
    params: list[Any] = []
    if where is None:
        return clauses, params
    for column in _FACETS:
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"c.{column} = %s")
            params.append(value)
    if where.states is not None:
        states = sorted(where.states)
        if not states:
            clauses.append(NOTHING)
        elif len(states) == 1:
            clauses.append("c.state = %s")
        else:
            clauses.append(f"c.state IN ({_marks(len(states))})")
        params.extend(states)
    if where.tag is not None:
        clause, values = _child(
            "customer_tags", "t", "t.tag = %s", [where.tag], link, paged=paged, after=after
        )
        clauses.append(clause)
        params.extend(values)
    for name, column, operator in _BOUNDS:
        value = getattr(where, name)
        if value is not None:
            clauses.append(f"c.{column} {operator} %s")
            params.append(dialect.instant(check_instant(value, name)))
    for condition in where.facets:
        clause, values = facet_condition(condition, link, paged=paged, after=after)
        clauses.append(clause)
        params.extend(values)
    if where.reach is not None:
        sides = [
            (column, value)
            for column, value in (("owner", where.reach.owner), ("team", where.reach.team))
            if value is not None
        ]
        tests = [f"c.{column} = %s" for column, _ in sides]
        clauses.append("(" + " OR ".join(tests) + ")" if tests else NOTHING)
        params.extend(value for _, value in sides)
    return clauses, params


def customer_where(
    where: CustomerFilter | None,
    after: str | None,
    *,
    link: Link,
    dialect: Dialect,
    paged: bool = False,
) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (or ``""``) over ``customers AS c`` and its parameters; ``paged``:
    for a page in id order (see the module's docstring).

    The clause is a template (``{s}.`` and ``%s``). Raises ``ValueError`` (or ``TypeError``)
    for invalid conditions.
    """
    check_filter(where, after)
    clauses, params = customer_conditions(
        where, link=link, dialect=dialect, paged=paged, after=after
    )
    if after is not None:
        clauses.append("c.id > %s")
        params.append(after)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def also(clause: str) -> str:
    """A clause of :func:`customer_where` as further conditions: ``" AND ..."`` (or ``""``)."""
    return " AND " + clause.removeprefix(" WHERE ") if clause else ""
