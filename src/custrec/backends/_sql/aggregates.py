"""Counts by group and by period: the SQL every dialect shares (private).

**Joined counts.** ``group_count`` is in general one ``GROUP BY`` over ``customers AS c``: a
column groups directly, and a tag or a facet name through a ``LEFT JOIN`` of its child table,
so that a row with several values meets the group of each and a row with none the group
``NULL`` (``None``). The join of a facet name ``n`` is a range of the child's primary key,
``(customer, facet)`` with ``'n=' <= facet < 'n>'`` (``>`` follows ``=`` in code-point order,
and a name holds no ``=``), so it reads only that name's facets; its groups are the facets'
whole text, and the ``n=`` prefix is cut off here. A tag joins only its first position among
equal tags of the row, so a repeated tag counts once.

**Facet-first counts.** Without a condition, or with conditions on the row state alone that
keep the live rows (the reports' counts leave out erased and merged rows), a grouping by one
facet name, or by a pair (where the dialect says so: two facet names, or a facet name and one
of the dialect's columns; not PostgreSQL, whose joined plan hashes), starts from the indexes
instead of the customers:

- by one name ``n``: the groups are a covering range of the index, ``'n=' <= facet < 'n>'``
  grouped by facet (already in order, no sort), and the group ``None`` is the number of
  customers less those holding a facet of ``n``;
- by a pair: the dialect's own count (SQLite's: :mod:`custrec.backends._sqlite.pairs`, one
  index range per value counted without a sort), the joined statement over every row by
  default.

Every facet row says whether it is its customer's first facet of its name
(``first_of_name``: 1 for the least of the customer's facets named ``n``, 0 for the others;
written with the row, :func:`facet_rows`), so each customer is counted once per name by
summing that column: the customers holding ``n`` are the sum over the range. The counts stay
exact with multi-valued names.

Rows that the states leave out are then subtracted: their groups, counted by the joined
statement above over those rows only (through an index of the rows that are not live), are
taken off; a count is a sum over customers, so this is exact for any rows stored, hidden
rows carrying facets included. Other conditions (a reach, a facet, a column) keep the joined
statement, which starts from the customers they select.

Period counts are each dialect's own (a ``VALUES`` list of periods in SQLite, ``width_bucket``
in PostgreSQL); :func:`period_args` and :func:`period_edges` check their arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

import attrs

from custrec.backends._sql.dialect import Dialect
from custrec.backends._sql.filters import Link
from custrec.storage.checks import check_edges, check_group_by, check_period_field
from custrec.storage.types import GROUP_COLUMNS, ROW_STATES, CustomerFilter

__all__ = [
    "TOTAL",
    "FacetCounts",
    "Groups",
    "facet_first",
    "facet_rows",
    "group_counts",
    "group_statement",
    "kept_states",
    "name_counts",
    "name_statement",
    "one_name",
    "period_args",
    "period_edges",
    "without",
]

GroupMap = dict[tuple[str | None, ...], int]

TOTAL: Final = "SELECT count(*) FROM {s}.customers"
"""Every customer, whatever its state (the facet-first counts' group ``None`` starts here)."""


class Groups(NamedTuple):
    """A ``group_count`` statement: its template, parameters and, per grouping, how many
    characters to cut off the front of a value (a facet's ``<name>=``)."""

    template: str
    params: list[Any]
    cuts: tuple[int, ...]


def _grouping(name: str, n: int, link: Link) -> tuple[str, str, list[Any], int]:
    """The selected value, the join, its parameters and the prefix length of grouping ``n``."""
    if name in GROUP_COLUMNS:
        return f"c.{name}", "", [], 0
    g = f"g{n}"
    if name == "tag":
        earlier = f"e{n}"
        join = (
            f" LEFT JOIN {{s}}.customer_tags AS {g} ON {link.of(g)} AND NOT EXISTS ("
            f"SELECT 1 FROM {{s}}.customer_tags AS {earlier}"
            f" WHERE {earlier}.{link.column} = {g}.{link.column}"
            f" AND {earlier}.tag = {g}.tag AND {earlier}.pos < {g}.pos)"
        )
        return f"{g}.tag", join, [], 0
    join = (
        f" LEFT JOIN {{s}}.customer_facets AS {g} ON {link.of(g)}"
        f" AND {g}.facet >= %s AND {g}.facet < %s"
    )
    return f"{g}.facet", join, [f"{name}=", f"{name}>"], len(name) + 1


def group_statement(
    by: object, clause: str, params: Sequence[Any], link: Link, *, joined_scan: str = ""
) -> Groups:
    """The ``group_count`` statement for ``by`` (checked here) over the rows that the
    ``WHERE`` ``clause`` (from :func:`~custrec.backends._sql.filters.customer_where`, with its
    ``params``) keeps; ``joined_scan`` follows ``customers AS c`` when a grouping joins a child
    table (a dialect's hint on how to read the customers)."""
    names = check_group_by(by)
    values: list[str] = []
    joins: list[str] = []
    joined: list[Any] = []
    cuts: list[int] = []
    for n, name in enumerate(names):
        value, join, join_params, cut = _grouping(name, n, link)
        values.append(value)
        joins.append(join)
        joined.extend(join_params)
        cuts.append(cut)
    selected = ", ".join(values)
    scan = joined_scan if any(joins) else ""
    return Groups(
        f"SELECT {selected}, count(*) FROM {{s}}.customers AS c{scan}{''.join(joins)}{clause}"
        f" GROUP BY {selected}",
        [*joined, *params],
        tuple(cuts),
    )


def group_counts(
    rows: Iterable[Sequence[Any]], cuts: tuple[int, ...]
) -> dict[tuple[str | None, ...], int]:
    """The ``group_count`` result from the statement's rows (values, then the count)."""
    width = len(cuts)
    return {
        tuple(
            None if value is None else value[cut:]
            for value, cut in zip(row[:width], cuts, strict=True)
        ): int(row[width])
        for row in rows
    }


# --------------------------------------------------------------------------------------------
# Facet-first counts
# --------------------------------------------------------------------------------------------


def facet_rows(facets: Iterable[str]) -> list[tuple[str, int]]:
    """The stored rows of a customer's facets, sorted: each facet with ``first_of_name``, 1
    for the least facet (in code-point order) of each name (the text before the first ``=``)
    and 0 for the others."""
    rows: list[tuple[str, int]] = []
    seen: set[str] = set()
    for facet in sorted(set(facets)):
        name = facet.partition("=")[0]
        rows.append((facet, 0 if name in seen else 1))
        seen.add(name)
    return rows


def kept_states(where: CustomerFilter | None) -> frozenset[str] | None:
    """The states a checked filter keeps when it has no other condition (every state for
    none); ``None`` when it has another condition."""
    if where is None:
        return frozenset(ROW_STATES)
    if attrs.evolve(where, state=None, states=None) != CustomerFilter():
        return None
    kept = frozenset(ROW_STATES)
    if where.state is not None:
        kept &= {where.state}
    if where.states is not None:
        kept &= where.states
    return kept


def facet_first(
    names: Sequence[str],
    where: CustomerFilter | None,
    *,
    pairs: bool = True,
    columns: frozenset[str] = frozenset(),
) -> frozenset[str] | None:
    """The states left out when the checked ``names`` are counted facet-first under the checked
    ``where`` (see the module's docstring): one facet name, or (if ``pairs``) two names that
    are facet names or one of ``columns`` (not both columns), and ``where`` keeps the live
    rows with no condition but on the state; ``None`` otherwise."""
    kept = kept_states(where)
    if kept is None or "live" not in kept or (len(names) > 1 and not pairs):
        return None
    facets = [name for name in names if name not in GROUP_COLUMNS and name != "tag"]
    if not facets or any(name not in facets and name not in columns for name in names):
        return None
    return frozenset(ROW_STATES) - kept


def without(states: frozenset[str]) -> CustomerFilter:
    """The filter of the rows in ``states`` (those a facet-first count subtracts)."""
    return CustomerFilter(states=states)


class FacetCounts(NamedTuple):
    """One name's rows of the facet index, grouped: per facet, its rows and how many of them
    are their customer's first of the name."""

    name: str
    rows: dict[str, int]
    firsts: dict[str, int]

    @property
    def holders(self) -> int:
        """The customers holding a facet of the name."""
        return sum(self.firsts.values())

    @property
    def cut(self) -> int:
        """The length of the ``<name>=`` prefix."""
        return len(self.name) + 1


def _range(name: str) -> list[str]:
    return [f"{name}=", f"{name}>"]


def name_statement(name: str) -> tuple[str, list[Any]]:
    """Per facet of ``name``: its rows and their ``first_of_name`` sum (one covering range of
    the facet index, in its order)."""
    return (
        "SELECT f.facet, count(*), sum(f.first_of_name) FROM {s}.customer_facets AS f"
        " WHERE f.facet >= %s AND f.facet < %s GROUP BY f.facet",
        _range(name),
    )


def name_counts(name: str, rows: Iterable[Sequence[Any]]) -> FacetCounts:
    """:class:`FacetCounts` from the rows of :func:`name_statement`."""
    counted: dict[str, int] = {}
    firsts: dict[str, int] = {}
    for facet, count, first in rows:
        counted[facet] = int(count)
        firsts[facet] = int(first or 0)
    return FacetCounts(name, counted, firsts)


def one_name(counts: FacetCounts, total: int) -> GroupMap:
    """The groups of one facet name over all ``total`` customers."""
    found: GroupMap = {(facet[counts.cut :],): n for facet, n in counts.rows.items()}
    if total > counts.holders:
        found[(None,)] = total - counts.holders
    return found


def period_edges(edges: object, dialect: Dialect) -> list[Any]:
    """Checked period edges as stored: 2 to 10,000 strictly increasing UTC instants."""
    instants: tuple[datetime, ...] = check_edges(edges)
    return [dialect.instant(edge) for edge in instants]


def period_args(edges: object, field: object, dialect: Dialect) -> tuple[list[Any], str]:
    """Checked ``count_by_period`` arguments: the edges as stored and the column
    (``created_at`` or ``updated_at``)."""
    column = check_period_field(field)
    return period_edges(edges, dialect), column
