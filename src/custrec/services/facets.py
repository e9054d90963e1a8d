"""The facets customer queries filter on, checked once."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Final, TypedDict, TypeVar

from custrec._checks import require_aware
from custrec.model.records import (
    CustomerKind,
    KindName,
    LifecycleStage,
    RecordState,
    StageName,
    StateName,
)
from custrec.storage import CustomerFilter

__all__ = ["FACETS", "CustomerFacets", "facet_filter"]


class CustomerFacets(TypedDict, total=False):
    """The facets customer queries filter on (``registry.customers.query``, ``count``,
    ``ids``, ``batches``, exports); every one given must hold.

    ``kind``, ``stage`` and ``state`` take the enum or its value (a misspelt value fails type
    checking, and raises ``ValueError`` naming the allowed values at run time); ``owner``,
    ``team``, ``grade`` and ``tag`` exact text; ``updated_after`` and ``updated_before`` are
    exclusive, timezone-aware bounds.
    """

    kind: CustomerKind | KindName
    stage: LifecycleStage | StageName
    state: RecordState | StateName
    owner: str
    team: str
    grade: str
    tag: str
    updated_after: datetime
    updated_before: datetime


FACETS: Final = tuple(CustomerFacets.__annotations__)
"""The names of the facets, in order."""
_E = TypeVar("_E", bound=enum.StrEnum)


def _enum_facet(name: str, value: object, kind: type[_E]) -> str | None:
    if value is None:
        return None
    if isinstance(value, kind):
        return value.value
    allowed = ", ".join(member.value for member in kind)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a {kind.__name__} or one of: {allowed}")
    try:
        return kind(value).value
    except ValueError:
        raise ValueError(f"unknown {name} {value!r}; expected one of: {allowed}") from None


def _text_facet(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value


def facet_filter(facets: Mapping[str, object]) -> CustomerFilter:
    """Check the facets of a query (names, types, enum values) and build the storage filter."""
    unknown = sorted(set(facets) - set(FACETS))
    if unknown:
        raise TypeError(f"unknown facet {unknown[0]!r}; the facets are: {', '.join(FACETS)}")
    bounds: dict[str, datetime | None] = {}
    for name in ("updated_after", "updated_before"):
        value = facets.get(name)
        bounds[name] = None if value is None else require_aware(value, name)
    return CustomerFilter(
        kind=_enum_facet("kind", facets.get("kind"), CustomerKind),
        stage=_enum_facet("stage", facets.get("stage"), LifecycleStage),
        state=_enum_facet("state", facets.get("state"), RecordState),
        owner=_text_facet("owner", facets.get("owner")),
        team=_text_facet("team", facets.get("team")),
        grade=_text_facet("grade", facets.get("grade")),
        tag=_text_facet("tag", facets.get("tag")),
        updated_after=bounds["updated_after"],
        updated_before=bounds["updated_before"],
    )
