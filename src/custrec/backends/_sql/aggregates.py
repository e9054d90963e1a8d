"""Counts by group and by period: the SQL every dialect shares (private).

``group_count`` is one ``GROUP BY`` over ``customers AS c``: a column groups directly, and a
tag or a facet name through a ``LEFT JOIN`` of its child table, so that a row with several
values meets the group of each and a row with none the group ``NULL`` (``None``). The join of a
facet name ``n`` is a range of the child's primary key, ``(customer, facet)`` with
``'n=' <= facet < 'n>'`` (``>`` follows ``=`` in code-point order, and a name holds no ``=``), so
it reads only that name's facets; its groups are the facets' whole text, and the ``n=`` prefix
is cut off here. A tag joins only its first position among equal tags of the row, so a repeated
tag counts once.

Period counts are each dialect's own (a ``VALUES`` list of periods in SQLite, ``width_bucket``
in PostgreSQL); :func:`period_args` and :func:`period_edges` check their arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from custrec.backends._sql.dialect import Dialect
from custrec.backends._sql.filters import Link
from custrec.storage.checks import check_edges, check_group_by, check_period_field
from custrec.storage.types import GROUP_COLUMNS

__all__ = ["Groups", "group_counts", "group_statement", "period_args", "period_edges"]


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


def period_edges(edges: object, dialect: Dialect) -> list[Any]:
    """Checked period edges as stored: 2 to 10,000 strictly increasing UTC instants."""
    instants: tuple[datetime, ...] = check_edges(edges)
    return [dialect.instant(edge) for edge in instants]


def period_args(edges: object, field: object, dialect: Dialect) -> tuple[list[Any], str]:
    """Checked ``count_by_period`` arguments: the edges as stored and the column
    (``created_at`` or ``updated_at``)."""
    column = check_period_field(field)
    return period_edges(edges, dialect), column
