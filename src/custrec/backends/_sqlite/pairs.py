"""SQLite's grouped counts by a pair, counted from index ranges (private).

A ``GROUP BY`` of two values that SQLite does not read in their order sorts one row per
customer in a temporary b-tree (SQLite has no hash aggregation), and reading a customer's
second value costs a seek. Where the facet-first counts serve (see
:mod:`custrec.backends._sql.aggregates`: no condition but on the row state, the rows the
states leave out subtracted afterwards), a pair of two facet names, or of a facet name and a
column of :data:`PAIR_COLUMNS`, is counted here instead, with no join and no sort:

1. each grouping's values are found one seek of an index each (the least after the last);
2. the *keyed* grouping (a facet name: the one with fewer values of two): each value's
   customers are one range of ``customer_facets_facet`` ``(facet, customer_pk,
   first_of_name)``, read as ``pk`` s (one text per value, or per chunk of :data:`CHUNK`
   when too long for SQLite) into a table of codes by ``pk`` (the value's position, 0 for
   none; a customer's further values are kept aside, and its holders counted once);
3. the *streamed* grouping: each value's customers, one range each (of the facet index, or
   the column's ``(column, id)``), counted by their code;
4. the groups without a streamed value follow from the keyed values' holders less those
   counted with a streamed value, each customer once: a customer holding several values of a
   streamed name is counted with each, so its rows past the first (``first_of_name = 0``,
   read per value off the same index) are taken off; the group of neither from the total and
   both groupings' holders.

The counts are exact for any stored rows: multi-valued names, names that are prefixes of one
another, customers holding neither. A grouping of more than :data:`MAX_VALUES` values (each
read by statements of its own) is left to the joined statement.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections import defaultdict
from collections.abc import (
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
    MutableSequence,
    Sequence,
)
from typing import Any, Final, NamedTuple

__all__ = [
    "CHUNK",
    "DENSE_PKS",
    "MAX_VALUES",
    "PAIR_COLUMNS",
    "Grouping",
    "code_table",
    "column_grouping",
    "count_pair",
    "facet_grouping",
    "read_pks",
]

Codes = MutableSequence[int] | MutableMapping[int, int]
Run = Callable[[str, Sequence[Any]], Iterable[Sequence[Any]]]
"""Runs one statement (``sqlite3.Connection.execute``)."""
Chunks = Iterable[list[int]]

PAIR_COLUMNS: Final = frozenset({"kind", "stage", "owner", "team", "grade"})
"""The columns a pair reads from their own index (``state``'s holds only rows not live)."""

DENSE_PKS: Final = 1 << 26
"""The greatest ``pk`` the table of codes is an array for (four bytes each at most);
beyond it, or below 1, a dictionary."""

CHUNK: Final = 1 << 20
"""The ``pk`` s read per statement when a value's are more than SQLite's longest text."""

MAX_VALUES: Final = 4096
"""The most values a grouping of a pair counted here may have (each is read by its own
statements); a pair with more is counted by the joined statement."""


class Grouping(NamedTuple):
    """One grouping of a pair: its values (as shown), how to read the ``pk`` s of the ``n``-th
    (chunks of an index range), and those of the rows past a customer's first value (``None``
    for a column: a customer has one value)."""

    values: list[str]
    pks: Callable[[int], Chunks]
    repeats: Callable[[], Chunks] | None


def read_pks(
    run: Run, pk: str, key: str, rows: str, params: Sequence[Any], *, chunk: int = CHUNK
) -> Iterator[list[int]]:
    """The values of ``pk`` over ``rows`` (``FROM ... WHERE ...``, with ``params``: one
    index range), as one text (``group_concat``, parsed as a JSON array: a row per ``pk``
    costs far more), or ``chunk`` at a time in ``key`` order when SQLite refuses a text that
    long (``SQLITE_TOOBIG``).

    ``key`` is unique over ``rows``, and the index holds them in its order after the
    conditions (no sort): each chunk is one range of it, after the last one's greatest key.
    """
    try:
        (text,) = next(iter(run(f"SELECT group_concat({pk}) {rows}", params)))
    except sqlite3.DataError:
        yield from _chunks(run, pk, key, rows, params, chunk)
        return
    if text is not None:
        yield json.loads(f"[{text}]")


def _chunks(
    run: Run, pk: str, key: str, rows: str, params: Sequence[Any], chunk: int
) -> Iterator[list[int]]:
    """:func:`read_pks` a chunk at a time (halved while SQLite refuses its text)."""
    after: list[Any] = []
    while True:
        bound = f" AND {key} > ?" if after else ""
        try:
            count, last, text = next(
                iter(
                    run(
                        f"SELECT count(*), max(k), group_concat(pk) FROM (SELECT {pk} AS pk,"
                        f" {key} AS k {rows}{bound} ORDER BY {key} LIMIT ?)",
                        [*params, *after, chunk],
                    )
                )
            )
        except sqlite3.DataError:
            if chunk == 1:
                raise
            chunk //= 2
            continue
        if count:
            yield json.loads(f"[{text}]")
        if count < chunk:
            return
        after = [last]


def _values(
    run: Run, value: str, source: str, low: str, high: str | None, cap: int | None
) -> list[Any] | None:
    """The distinct values of ``value`` from ``low`` to below ``high`` (``None``: no bound)
    in ``source`` (``FROM ...``), in an index's order, one seek each (the least after the
    last one: one lower bound, or SQLite would seek the other and read on); ``None`` past
    ``cap`` (default :data:`MAX_VALUES`)."""
    cap = MAX_VALUES if cap is None else cap
    below = "" if high is None else f" AND {value} < ?"
    found: list[Any] = []
    while True:
        after = ">" if found else ">="
        least = list(
            run(
                f"SELECT {value} {source} WHERE {value} {after} ?{below} ORDER BY {value} LIMIT 1",
                [found[-1] if found else low, *([] if high is None else [high])],
            )
        )
        if not least:
            return found
        if len(found) == cap:
            return None
        found.append(least[0][0])


def facet_grouping(
    name: str, run: Run, *, chunk: int = CHUNK, cap: int | None = None
) -> Grouping | None:
    """A facet name's grouping, each value one range of ``customer_facets_facet``
    (``(facet, customer_pk, first_of_name)``); ``None`` when it has more than ``cap`` values."""
    facets = _values(run, "f.facet", "FROM customer_facets AS f", f"{name}=", f"{name}>", cap)
    if facets is None:
        return None
    pk = "f.customer_pk"

    def pks(n: int) -> Chunks:
        rows = "FROM customer_facets AS f WHERE f.facet = ?"
        return read_pks(run, pk, pk, rows, [facets[n]], chunk=chunk)

    def repeats() -> Chunks:
        rows = "FROM customer_facets AS f WHERE f.facet = ? AND f.first_of_name = 0"
        for facet in facets:
            yield from read_pks(run, pk, pk, rows, [facet], chunk=chunk)

    return Grouping([facet[len(name) + 1 :] for facet in facets], pks, repeats)


def column_grouping(
    column: str, run: Run, *, chunk: int = CHUNK, cap: int | None = None
) -> Grouping | None:
    """A column's grouping (one of :data:`PAIR_COLUMNS`), each value one range of its index
    ``(column, id)``; ``None`` when it has more than ``cap`` values."""
    if column not in PAIR_COLUMNS:
        raise ValueError(f"no pair reads the column {column!r} from an index")
    values = _values(run, f"c.{column}", "FROM customers AS c", "", None, cap)  # text >= ''

    if values is None:
        return None

    def pks(n: int) -> Chunks:
        rows = f"FROM customers AS c WHERE c.{column} = ?"
        return read_pks(run, "c.pk", "c.id", rows, [values[n]], chunk=chunk)

    return Grouping([str(value) for value in values], pks, None)


def code_table(low: int | None, high: int | None, width: int, *, dense: int = DENSE_PKS) -> Codes:
    """An empty table of codes below ``width`` by ``pk``, for ``pk`` s from ``low`` to
    ``high`` (``None``: no rows): an array for ``pk`` s from 1 to ``dense`` (of bytes when
    the codes fit), else a dictionary."""
    if low is None or high is None:
        return bytearray()
    if low < 1 or high > dense:
        return defaultdict(int)
    if width <= 256:
        return bytearray(high + 1)
    return array("i", bytes(4 * (high + 1)))


def count_pair(
    keyed: Grouping, streamed: Grouping, total: int, codes: Codes
) -> dict[tuple[str | None, ...], int]:
    """The groups ``(streamed value, keyed value)`` of all ``total`` customers (see the
    module's docstring); ``codes`` is an empty :func:`code_table` of their ``pk`` s."""
    width = len(keyed.values) + 1
    further: dict[int, list[int]] = {}
    holders = [0] * width
    for code in range(1, width):
        for pks in keyed.pks(code - 1):
            holders[code] += len(pks)
            for pk in pks:
                if codes[pk]:
                    further.setdefault(pk, []).append(code)
                else:
                    codes[pk] = code
    keyed_holding = sum(holders) - sum(map(len, further.values()))
    found: dict[tuple[str | None, ...], int] = {}
    with_streamed = [0] * width
    both = streamed_rows = 0
    for n, value in enumerate(streamed.values):
        counts = [0] * width
        for pks in streamed.pks(n):
            streamed_rows += len(pks)
            both += len(pks)
            if further:
                for pk in pks:
                    counts[codes[pk]] += 1
                    for code in further.get(pk, ()):
                        counts[code] += 1
            else:
                for pk in pks:
                    counts[codes[pk]] += 1
        both -= counts[0]
        if counts[0]:
            found[(value, None)] = counts[0]
        for code in range(1, width):
            if counts[code]:
                found[(value, keyed.values[code - 1])] = counts[code]
                with_streamed[code] += counts[code]
    repeated = 0
    for pks in () if streamed.repeats is None else streamed.repeats():
        repeated += len(pks)
        for pk in pks:
            code = codes[pk]
            if code:
                both -= 1
                with_streamed[code] -= 1
                for more in further.get(pk, ()):
                    with_streamed[more] -= 1
    for code in range(1, width):
        alone = holders[code] - with_streamed[code]
        if alone:
            found[(None, keyed.values[code - 1])] = alone
    neither = total - (streamed_rows - repeated) - keyed_holding + both
    if neither:
        found[(None, None)] = neither
    return found
