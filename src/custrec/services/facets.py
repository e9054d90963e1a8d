"""The facets customer queries filter on, checked once."""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final, TypedDict, TypeVar

import attrs

from custrec._checks import require_aware
from custrec.model.custom import CustomField, CustomFieldSet
from custrec.model.records import (
    CustomerCategory,
    CustomerKind,
    Intent,
    KindName,
    LifecycleStage,
    RecordState,
    StageName,
    StateName,
    VerificationStatus,
)
from custrec.services._custom import custom_facet_values
from custrec.storage import CustomerFilter, FacetCondition
from custrec.storage.ordered import encode_instant, upper_bound

__all__ = ["FACETS", "Between", "CustomerFacets", "facet_filter"]


class CustomerFacets(TypedDict, total=False):
    """The facets customer queries filter on (``registry.customers.query``, ``count``,
    ``ids``, ``batches``, ``group_count``, exports); every one given must hold.

    - ``kind``, ``stage``, ``state`` take the enum or its value (a misspelt value fails type
      checking, and raises ``ValueError`` naming the allowed values at run time); ``owner``,
      ``team``, ``grade`` (the primary grade) and ``tag`` exact text.
    - ``industry``, ``province``, ``city``, ``interest`` (a product interest), ``source``
      (text) and ``intent``, ``category``, ``verification`` (enum or value) take one value or
      a collection of values, any of which may match (a customer matches ``city`` when any of
      its addresses is in that city, ``interest`` when any of its product interests is).
    - ``grades`` maps a grade dimension to a label or a collection of labels
      (``{"stars": ["4", "5"], "value_tier": "A"}``).
    - ``custom`` maps a filterable custom field (see ``registry.fields``) to a value, a
      collection of values (any of them) or a :class:`Between` range.
    - ``updated_after`` / ``updated_before``, ``created_after`` / ``created_before`` and
      ``verified_after`` / ``verified_before`` (``last_verified_at``) are exclusive,
      timezone-aware bounds.
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
    created_after: datetime
    created_before: datetime
    verified_after: datetime
    verified_before: datetime
    industry: str | Collection[str]
    province: str | Collection[str]
    city: str | Collection[str]
    interest: str | Collection[str]
    source: str | Collection[str]
    intent: Intent | str | Collection[Intent | str]
    category: CustomerCategory | str | Collection[CustomerCategory | str]
    verification: VerificationStatus | str | Collection[VerificationStatus | str]
    grades: Mapping[str, str | Collection[str]]
    custom: Mapping[str, object]


FACETS: Final = tuple(CustomerFacets.__annotations__)
"""The names of the facets, in order."""
_E = TypeVar("_E", bound=enum.StrEnum)
_TEXT_SETS: Final = ("industry", "province", "city", "interest", "source")
_ENUM_SETS: Final[dict[str, type[enum.StrEnum]]] = {
    "intent": Intent,
    "category": CustomerCategory,
    "verification": VerificationStatus,
}


@attrs.frozen
class Between:
    """A range of a custom field's values: ``at_least <= value < below``; either side may be
    left open (``None``), not both. Numbers (``int``, ``Decimal``), dates and text compare as
    values of their field's type.

    >>> Between(at_least=1000, below=5000)
    Between(at_least=1000, below=5000)
    """

    at_least: object = None
    below: object = None

    def __attrs_post_init__(self) -> None:
        if self.at_least is None and self.below is None:
            raise ValueError("a Between range needs at_least, below or both")


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


def _many(name: str, value: object) -> list[object]:
    """One value or a collection of them, as a non-empty list."""
    if isinstance(value, str | enum.Enum) or not isinstance(value, Collection):
        return [value]
    found = list(value)
    if not found:
        raise ValueError(f"{name}: an empty collection matches nobody; leave the facet out")
    return found


def _any_of(facet: str, values: Iterable[str]) -> FacetCondition:
    return FacetCondition(any_of=frozenset(f"{facet}={v}" for v in values))


def _dimension(name: object) -> str:
    if not isinstance(name, str) or not _DIMENSION.fullmatch(name):
        raise ValueError("a grade dimension is a name such as 'stars' or 'value_tier'")
    return name


_DIMENSION: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _range(facet: str, low: str | None, high: str | None) -> FacetCondition:
    prefix = f"{facet}="
    return FacetCondition(
        at_least=prefix if low is None else prefix + low,
        below=upper_bound(prefix) if high is None else prefix + high,
    )


def _custom_texts(fields: CustomFieldSet, field: CustomField, value: object) -> tuple[str, ...]:
    """The facet texts a filter value of a custom field matches, the value read as intake
    reads it (an enum option in any case or width, ``"是"`` for a boolean, ``"１２"`` for a
    number): ``TypeError`` for a value of another type, ``ValueError`` for one the field
    cannot hold (an unknown option)."""
    values, issues = fields.coerce({field.name: value})
    typed = values.get(field.name)
    if issues or typed is None:
        codes = {issue.code for issue in issues}
        kind = field.type.value
        if "type" in codes or (typed is None and not issues):
            raise TypeError(f"custom field {field.name!r} is a {kind} field: filter it by a {kind}")
        raise ValueError(
            f"custom field {field.name!r}: not a value this {kind} field can hold "
            f"({', '.join(sorted(codes))})"
        )
    return custom_facet_values(field, typed)


def _bound(fields: CustomFieldSet, field: CustomField, value: object) -> str | None:
    if value is None:
        return None
    texts = _custom_texts(fields, field, value)
    if len(texts) != 1:
        raise ValueError(f"custom field {field.name!r}: a range bound is one value")
    return texts[0]


def _custom(conditions: object, fields: CustomFieldSet | None) -> list[FacetCondition]:
    if not isinstance(conditions, Mapping):
        raise TypeError("custom must map custom field names to values")
    found: list[FacetCondition] = []
    for name, wanted in conditions.items():
        field = None if fields is None else fields.get(name)
        if field is None or fields is None:
            raise ValueError(f"no custom field {name!r} (see registry.fields.current())")
        if not field.filterable:
            raise ValueError(f"custom field {name!r} is not filterable (define it filterable)")
        facet = f"custom.{name}"
        if isinstance(wanted, Between):
            low = _bound(fields, field, wanted.at_least)
            high = _bound(fields, field, wanted.below)
            found.append(_range(facet, low, high))
        else:
            texts = [t for v in _many(facet, wanted) for t in _custom_texts(fields, field, v)]
            found.append(_any_of(facet, texts))
    return found


def _instant_range(
    facet: str, after: datetime | None, before: datetime | None
) -> FacetCondition | None:
    if after is None and before is None:
        return None
    low = None if after is None else encode_instant(after + _MICROSECOND)
    high = None if before is None else encode_instant(before)
    return _range(facet, low, high)


_MICROSECOND: Final = timedelta(microseconds=1)


def facet_filter(
    facets: Mapping[str, object], *, fields: CustomFieldSet | None = None
) -> CustomerFilter:
    """Check the facets of a query (names, types, enum values) and build the storage filter;
    ``fields`` are the custom-field definitions a ``custom`` facet needs."""
    unknown = sorted(set(facets) - set(FACETS))
    if unknown:
        raise TypeError(f"unknown facet {unknown[0]!r}; the facets are: {', '.join(FACETS)}")
    bounds: dict[str, datetime | None] = {}
    for name in (
        "updated_after",
        "updated_before",
        "created_after",
        "created_before",
        "verified_after",
        "verified_before",
    ):
        value = facets.get(name)
        bounds[name] = None if value is None else require_aware(value, name)
    conditions: list[FacetCondition] = []
    for name in _TEXT_SETS:
        if facets.get(name) is not None:
            values = [_text_facet(name, v) for v in _many(name, facets[name])]
            conditions.append(_any_of(name, (v for v in values if v is not None)))
    for name, kind in _ENUM_SETS.items():
        if facets.get(name) is not None:
            values = [_enum_facet(name, v, kind) for v in _many(name, facets[name])]
            conditions.append(_any_of(name, (v for v in values if v is not None)))
    grades = facets.get("grades")
    if grades is not None:
        if not isinstance(grades, Mapping):
            raise TypeError("grades must map grade dimensions to labels")
        for dimension, labels in grades.items():
            facet = f"grade.{_dimension(dimension)}"
            texts = [_text_facet(facet, v) for v in _many(facet, labels)]
            conditions.append(_any_of(facet, (v for v in texts if v is not None)))
    if facets.get("custom") is not None:
        conditions.extend(_custom(facets["custom"], fields))
    verified = _instant_range("verified_at", bounds["verified_after"], bounds["verified_before"])
    if verified is not None:
        conditions.append(verified)
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
        created_after=bounds["created_after"],
        created_before=bounds["created_before"],
        facets=conditions,
    )
