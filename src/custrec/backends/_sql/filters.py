"""``CustomerFilter`` to SQL: one ``WHERE`` clause for every dialect."""

from __future__ import annotations

from typing import Any

from custrec.backends._sql.dialect import Dialect
from custrec.storage import CustomerFilter
from custrec.storage.checks import check_filter, check_instant

__all__ = ["customer_where"]

_FACETS = ("kind", "stage", "state", "owner", "team", "grade")


def customer_where(
    where: CustomerFilter | None, after: str | None, *, tag_of: str, dialect: Dialect
) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (or ``""``) over ``customers AS c`` and its parameters.

    ``tag_of`` joins ``customer_tags AS t`` to ``c`` (``t.customer_pk = c.pk``, say). The clause
    is a template (``{s}.`` and ``%s``). Raises ``ValueError`` for invalid conditions.
    """
    check_filter(where, after)
    clauses: list[str] = []
    params: list[Any] = []
    if where is not None:
        for column in _FACETS:
            value = getattr(where, column)
            if value is not None:
                clauses.append(f"c.{column} = %s")
                params.append(value)
        if where.tag is not None:
            clauses.append(
                f"EXISTS (SELECT 1 FROM {{s}}.customer_tags AS t WHERE {tag_of} AND t.tag = %s)"
            )
            params.append(where.tag)
        for name, operator in (("updated_after", ">"), ("updated_before", "<")):
            value = getattr(where, name)
            if value is not None:
                clauses.append(f"c.updated_at {operator} %s")
                params.append(dialect.instant(check_instant(value, name)))
    if after is not None:
        clauses.append("c.id > %s")
        params.append(after)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
