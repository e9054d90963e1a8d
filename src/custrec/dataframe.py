"""Report results as Apache Arrow tables, for dataframes and dashboards (the ``dataframe`` extra:
``pip install 'custrec[dataframe]'``, which brings pyarrow).

:func:`to_arrow` turns what ``registry.reports`` and ``registry.activities`` give into a
``pyarrow.Table``; ``pandas`` and ``polars`` read those directly (``table.to_pandas()``,
``polars.from_arrow(table)``). Importing this module does not import pyarrow: the first call
of :func:`to_arrow` does, and raises ``ImportError`` naming the extra when it is missing.

Columns:

- :class:`~custrec.services.GroupCounts`: one column per grouping (named as grouped:
  ``city``, ``grade.stars``, ``custom.budget``), then ``count``. A custom field's column has
  its type (``int64``, ``decimal128``, ``date32``, ``bool``), the others are text.
- :class:`~custrec.services.PeriodCount` s: ``start``, ``end`` (timestamps in the report's
  time zone), ``count``.
- :class:`~custrec.services.PeriodRate` s: ``start``, ``end``, ``buyers``, ``repeat_buyers``,
  ``rate`` (``decimal128(5, 4)``, null without buyers).
- grades, ``(customer_id, DimensionGrade)`` pairs or :class:`~custrec.records.Customer` s
  (each customer's named dimensions): ``customer_id``, ``dimension``, ``label``,
  ``policy_id``, ``graded_at`` (UTC). The policy's explanation is personal and is left out.
- :class:`~custrec.grading.ActivitySummary` s: ``customer_id``, ``first_purchase_at``,
  ``last_purchase_at`` (UTC), ``purchase_count``, ``total_spent`` (``decimal128``),
  ``currency``.

An empty sequence gives an empty table without columns (nothing tells what it would hold).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final

from custrec.grading import ActivitySummary
from custrec.model.records import Customer, DimensionGrade
from custrec.services.results import GroupCounts, PeriodCount, PeriodRate

__all__ = ["to_arrow"]

_EXTRA: Final = (
    "custrec.dataframe needs pyarrow, which the 'dataframe' extra installs: "
    "pip install 'custrec[dataframe]'"
)
_MAX_PRECISION: Final = 38  # decimal128


def _pyarrow() -> Any:
    try:
        return importlib.import_module("pyarrow")
    except ImportError as exc:
        raise ImportError(_EXTRA, name="pyarrow") from exc


def to_arrow(data: object) -> Any:
    """``data`` as a ``pyarrow.Table`` (see the module's documentation for the columns):
    a :class:`~custrec.services.GroupCounts`, or a sequence of
    :class:`~custrec.services.PeriodCount`, :class:`~custrec.services.PeriodRate`,
    ``(customer_id, DimensionGrade)`` pairs or :class:`~custrec.records.Customer` s (their
    grades), or :class:`~custrec.grading.ActivitySummary`.

    ``TypeError`` for anything else (or a sequence mixing kinds); ``ImportError`` when
    pyarrow is not installed.
    """
    pa = _pyarrow()
    if isinstance(data, GroupCounts):
        return _group_counts(pa, data)
    if isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise TypeError(_WHAT)
    items = list(data)
    if not items:
        return pa.table({})
    if all(isinstance(item, PeriodCount) for item in items):
        return _periods(pa, items)
    if all(isinstance(item, PeriodRate) for item in items):
        return _rates(pa, items)
    if all(isinstance(item, ActivitySummary) for item in items):
        return _summaries(pa, items)
    if all(isinstance(item, Customer) or _is_grade_pair(item) for item in items):
        return _grades(pa, items)
    raise TypeError(_WHAT)


_WHAT: Final = (
    "to_arrow takes a GroupCounts, or a sequence of PeriodCount, of PeriodRate, of "
    "(customer_id, DimensionGrade) pairs or Customers, or of ActivitySummary"
)


def _is_grade_pair(item: object) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], DimensionGrade)
    )


# ----------------------------------------------------------------------------------- types


def _zone_name(zone: tzinfo | None) -> str:
    """Arrow's name for a time zone: the IANA key, or a fixed offset (``+08:00``)."""
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    if zone is None or zone is UTC:
        return "UTC"
    offset = zone.utcoffset(None) if isinstance(zone, timezone) else None
    if offset is None:
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _instants(pa: Any, values: Sequence[datetime | None], zone: str = "UTC") -> Any:
    utc = [None if v is None else v.astimezone(UTC) for v in values]
    return pa.array(utc, type=pa.timestamp("us", tz=zone))


def _decimals(pa: Any, values: Sequence[Decimal | None]) -> Any:
    """Decimals in one ``decimal128`` wide enough for every value (finite values)."""
    places = whole = 0
    for value in values:
        if value is not None:
            shape = value.as_tuple()
            exponent = int(shape.exponent)
            places = max(places, -exponent)
            whole = max(whole, len(shape.digits) + exponent)
    precision = min(max(whole + places, 1), _MAX_PRECISION)
    return pa.array(values, type=pa.decimal128(precision, min(places, precision)))


_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _fits_decimal128(values: Sequence[Decimal]) -> bool:
    """Whether every value fits one ``decimal128`` (at most 38 digits in all); numbers that do
    not (a custom field without limits takes any) become text instead."""
    places = whole = 0
    for value in values:
        shape = value.as_tuple()
        exponent = int(shape.exponent)
        places = max(places, -exponent)
        whole = max(whole, len(shape.digits) + exponent)
    return max(whole, 0) + places <= _MAX_PRECISION


def _column(pa: Any, values: Sequence[object]) -> Any:
    """One grouping's values: typed by what they are (a custom field's type), else text (also
    integers beyond 64 bits and decimals beyond 38 digits)."""
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if len(kinds) == 1:
        (kind,) = kinds
        if kind is bool:
            return pa.array(values, type=pa.bool_())
        if kind is int and all(_INT64_MIN <= v <= _INT64_MAX for v in present):  # type: ignore[operator]
            return pa.array(values, type=pa.int64())
        if kind is Decimal and _fits_decimal128(present):  # type: ignore[arg-type]
            return _decimals(pa, values)  # type: ignore[arg-type]
        if kind is date:
            return pa.array(values, type=pa.date32())
    texts = [None if v is None else _text(v) for v in values]
    return pa.array(texts, type=pa.string())


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------- tables


def _group_counts(pa: Any, counts: GroupCounts) -> Any:
    columns = {
        name: _column(pa, [values[i] for values, _ in counts.rows])
        for i, name in enumerate(counts.by)
    }
    columns["count"] = pa.array([n for _, n in counts.rows], type=pa.int64())
    return pa.table(columns)


def _periods(pa: Any, items: Sequence[PeriodCount]) -> Any:
    zone = _zone_name(items[0].start.tzinfo)
    return pa.table(
        {
            "start": _instants(pa, [p.start for p in items], zone),
            "end": _instants(pa, [p.end for p in items], zone),
            "count": pa.array([p.count for p in items], type=pa.int64()),
        }
    )


def _rates(pa: Any, items: Sequence[PeriodRate]) -> Any:
    zone = _zone_name(items[0].start.tzinfo)
    return pa.table(
        {
            "start": _instants(pa, [p.start for p in items], zone),
            "end": _instants(pa, [p.end for p in items], zone),
            "buyers": pa.array([p.buyers for p in items], type=pa.int64()),
            "repeat_buyers": pa.array([p.repeat_buyers for p in items], type=pa.int64()),
            "rate": pa.array([p.rate for p in items], type=pa.decimal128(5, 4)),
        }
    )


def _grades(pa: Any, items: Sequence[object]) -> Any:
    pairs: list[tuple[str, DimensionGrade]] = []
    for item in items:
        if isinstance(item, Customer):
            pairs.extend((item.id, grade) for grade in item.grades)
        else:
            assert isinstance(item, tuple)
            pairs.append((item[0], item[1]))
    return pa.table(
        {
            "customer_id": pa.array([c for c, _ in pairs], type=pa.string()),
            "dimension": pa.array([g.dimension for _, g in pairs], type=pa.string()),
            "label": pa.array([g.label for _, g in pairs], type=pa.string()),
            "policy_id": pa.array([g.policy_id for _, g in pairs], type=pa.string()),
            "graded_at": _instants(pa, [g.graded_at for _, g in pairs]),
        }
    )


def _summaries(pa: Any, items: Sequence[ActivitySummary]) -> Any:
    return pa.table(
        {
            "customer_id": pa.array([s.customer_id for s in items], type=pa.string()),
            "first_purchase_at": _instants(pa, [s.first_purchase_at for s in items]),
            "last_purchase_at": _instants(pa, [s.last_purchase_at for s in items]),
            "purchase_count": pa.array([s.purchase_count for s in items], type=pa.int64()),
            "total_spent": _decimals(pa, [s.total_spent for s in items]),
            "currency": pa.array([s.currency for s in items], type=pa.string()),
        }
    )
