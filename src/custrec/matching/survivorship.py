"""Survivorship: which values a merged customer keeps when duplicate records are merged.

:func:`merge_records` folds ``others`` into ``survivor`` and returns a new record (an
:func:`attrs.evolve` of the survivor) with a :class:`FieldChoice` per field saying where the value
came from. It is pure: no clock, no storage. A :class:`Strategy` decides each field:

* ``SURVIVOR``: the survivor's value, even if empty.
* ``MOST_RECENT``: the non-empty value of the most recently updated record (``updated_at``, then
  ``created_at``; ``None`` is oldest; ties go to the survivor, then to the order of ``others``).
* ``MOST_COMPLETE``: the non-empty value with the most information (strings: longest after
  ``strip()``; nested records: most fields set; tuples: most elements); ties go to the most recent.
* ``VERIFIED_FIRST``: the non-empty value of a ``VERIFIED`` record, most recent
  ``last_verified_at`` first; without one, ``MOST_RECENT``.
* ``UNION`` (tuple fields only): every distinct element, the survivor's first, order kept.
  Contacts that are the same person (a shared phone or e-mail, the same WeChat id or the same
  non-empty name) are merged into one without losing a phone, e-mail or WeChat id; identifiers and
  addresses are de-duplicated on normalised keys.

Empty means ``None``, a blank string, an empty tuple or a nested record with no field set. If no
record has a non-empty value the survivor's is kept. ``id``, ``version``, ``kind`` and
``updated_at`` are always the survivor's, ``created_at`` is the earliest of all records, and
``last_verified_at`` with ``verification`` come together from the most recently verified record.

>>> from datetime import UTC, datetime
>>> from custrec.model.records import Customer, CustomerKind
>>> old = Customer(
...     id="c-1", kind=CustomerKind.ORGANIZATION, name="Acme", industry="retail", tags=["vip"],
...     owner="u-1", created_at=datetime(2020, 1, 1, tzinfo=UTC),
... )
>>> new = Customer(
...     id="c-2", kind=CustomerKind.ORGANIZATION, name="Acme Trading", tags=["b2b", "vip"],
...     industry="wholesale", owner="u-2", updated_at=datetime(2024, 5, 1, tzinfo=UTC),
... )
>>> outcome = merge_records(old, [new])
>>> outcome.record.industry, outcome.record.owner, outcome.record.tags
('wholesale', 'u-1', ('vip', 'b2b'))
>>> outcome.changed_fields
('name', 'industry', 'tags')
>>> choice = outcome.choice("industry")
>>> choice.strategy, choice.source_ids
(<Strategy.MOST_RECENT: 'most_recent'>, ('c-2',))
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from custrec._text import clean, compact
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    Identifier,
    VerificationStatus,
)

__all__ = [
    "DEFAULT_RULES",
    "FIXED_FIELDS",
    "FieldChoice",
    "MergeOutcome",
    "Strategy",
    "SurvivorshipRules",
    "merge_records",
]


class Strategy(enum.StrEnum):
    """How the merged value of one field is chosen (see the module docstring)."""

    SURVIVOR = "survivor"
    MOST_RECENT = "most_recent"
    MOST_COMPLETE = "most_complete"
    VERIFIED_FIRST = "verified_first"
    UNION = "union"


_CUSTOMER_FIELDS: Final = attrs.fields(attrs.resolve_types(Customer))

FIXED_FIELDS: Final = frozenset(
    {"id", "version", "kind", "created_at", "updated_at", "last_verified_at", "verification"}
)
"""Fields set by the merge itself, never by a :class:`Strategy` (and not allowed in rules)."""

_TUPLE_FIELDS: Final = frozenset(
    f.name for f in _CUSTOMER_FIELDS if typing.get_origin(f.type) is tuple
)
_STRATEGY_FIELDS: Final = tuple(f.name for f in _CUSTOMER_FIELDS if f.name not in FIXED_FIELDS)


def _freeze_fields(value: Mapping[str, Strategy | str]) -> Mapping[str, Strategy]:
    if not isinstance(value, Mapping):
        raise TypeError("fields must be a mapping of field name to Strategy")
    frozen: dict[str, Strategy] = {}
    for name, strategy in value.items():
        if not isinstance(name, str):
            raise TypeError("field names in survivorship rules must be strings")
        frozen[name] = Strategy(strategy)
    return MappingProxyType(frozen)


@attrs.frozen(kw_only=True)
class SurvivorshipRules:
    """A :class:`Strategy` per ``Customer`` field, ``default`` for the rest.

    Validated at construction: a name that is not a ``Customer`` field, a field in
    :data:`FIXED_FIELDS`, or ``UNION`` for a field that is not a tuple raises ``ValueError``.

    >>> rules = SurvivorshipRules(fields={"industry": Strategy.SURVIVOR})
    >>> rules.strategy_for("industry"), rules.strategy_for("notes")
    (<Strategy.SURVIVOR: 'survivor'>, <Strategy.MOST_RECENT: 'most_recent'>)
    """

    default: Strategy = attrs.field(default=Strategy.MOST_RECENT, converter=Strategy)
    fields: Mapping[str, Strategy] = attrs.field(factory=dict, converter=_freeze_fields, hash=False)

    def __attrs_post_init__(self) -> None:
        for name in self.fields:
            if name in FIXED_FIELDS:
                raise ValueError(f"Customer.{name} is set by the merge, not by a strategy")
            if name not in _STRATEGY_FIELDS:
                raise ValueError(f"Customer has no field {name!r}")
        for name in _STRATEGY_FIELDS:
            if self.strategy_for(name) is Strategy.UNION and name not in _TUPLE_FIELDS:
                raise ValueError(f"UNION needs a tuple field; Customer.{name} is not one")

    def strategy_for(self, field: str) -> Strategy:
        """Return the strategy for ``field``; ``ValueError`` for a fixed or unknown field."""
        if field in self.fields:
            return self.fields[field]
        if field in FIXED_FIELDS:
            raise ValueError(f"Customer.{field} is set by the merge, not by a strategy")
        if field not in _STRATEGY_FIELDS:
            raise ValueError(f"Customer has no field {field!r}")
        return self.default


DEFAULT_RULES: Final = SurvivorshipRules(
    default=Strategy.MOST_RECENT,
    fields={
        "name": Strategy.VERIFIED_FIRST,
        "registered_name": Strategy.VERIFIED_FIRST,
        **dict.fromkeys(
            ("contacts", "addresses", "identifiers", "tags", "product_interests", "needs"),
            Strategy.UNION,
        ),
        "notes": Strategy.MOST_COMPLETE,
        "milestones": Strategy.MOST_COMPLETE,
        **dict.fromkeys(
            ("owner", "team", "stage", "grade", "category", "intent", "source"), Strategy.SURVIVOR
        ),
    },
)
"""The rules :func:`merge_records` uses when given none."""


@attrs.frozen(kw_only=True)
class FieldChoice:
    """Where the merged value of one field came from; it holds no values.

    ``strategy`` is ``None`` for :data:`FIXED_FIELDS`. ``source_ids`` are the ids of the records
    the value was taken from (for ``UNION``, every record with a non-empty value; the survivor's
    id when nothing else applied). ``changed`` says whether it differs from the survivor's value.
    """

    field: str
    strategy: Strategy | None
    source_ids: tuple[str, ...]
    changed: bool


@attrs.frozen(kw_only=True)
class MergeOutcome:
    """The merged record and one :class:`FieldChoice` per ``Customer`` field (declaration order)."""

    record: Customer
    choices: tuple[FieldChoice, ...]

    @property
    def changed_fields(self) -> tuple[str, ...]:
        """Names of the fields whose merged value differs from the survivor's."""
        return tuple(c.field for c in self.choices if c.changed)

    def choice(self, field: str) -> FieldChoice:
        """Return the choice for ``field``; ``KeyError`` if there is none."""
        for c in self.choices:
            if c.field == field:
                return c
        raise KeyError(field)


# ---------------------------------------------------------------------------------- helpers


def _information(value: object) -> int:
    """How much a value says: 0 means empty."""
    if value is None:
        return 0
    if isinstance(value, enum.Enum):
        return 1
    if isinstance(value, str):
        return len(value.strip())
    if isinstance(value, tuple):
        return len(value)
    cls = type(value)
    if attrs.has(cls):
        return sum(_information(getattr(value, f.name)) > 0 for f in attrs.fields(cls))
    return 1


def _instant(value: datetime | None) -> tuple[bool, datetime | None]:
    """Sort key for an optional instant: ``None`` first; naive instants are read as UTC."""
    if value is None:
        return (False, None)
    return (True, value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _recency(record: Customer) -> tuple[tuple[bool, datetime | None], ...]:
    return (_instant(record.updated_at), _instant(record.created_at))


def _best(records: Sequence[Customer], key: Callable[[Customer], Any]) -> Customer | None:
    """The record with the greatest ``key``; ties go to the earliest in ``records``."""
    best: Customer | None = None
    best_key: Any = None
    for record in records:
        k = key(record)
        if best is None or k > best_key:
            best, best_key = record, k
    return best


def _text_key(value: str | None) -> str:
    return "" if value is None else clean(value)


def _phone_key(value: str) -> str:
    """NFKC, without spaces, dashes, brackets and dots: ``138-0013 8000`` is ``13800138000``."""
    return compact(value, strip=" -().")


def _email_key(value: str) -> str:
    return clean(value).casefold()


def _union(items: Iterable[Any], key: Callable[[Any], Hashable]) -> tuple[Any, ...]:
    seen: set[Hashable] = set()
    kept: list[Any] = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            kept.append(item)
    return tuple(kept)


def _identifier_key(value: Identifier) -> Hashable:
    system = None if value.system is None else clean(value.system) or None
    return (clean(value.scheme).upper(), system, clean(value.value).upper())


def _address_key(value: Address) -> Hashable:
    parts = (value.country, value.province, value.city, value.district, value.street)
    return (value.kind, *(_text_key(p) for p in (*parts, value.postal_code)))


def _contact_keys(contact: Contact) -> set[tuple[str, str]]:
    keys = {("phone", k) for k in map(_phone_key, contact.phones) if k}
    keys |= {("email", k) for k in map(_email_key, contact.emails) if k}
    if wechat := _text_key(contact.wechat):
        keys.add(("wechat", wechat))
    if name := _text_key(contact.name).casefold():
        keys.add(("name", name))
    return keys or {("anonymous", _text_key(contact.title).casefold())}


def _fill(first: str | None, other: str | None) -> str | None:
    return first if _text_key(first) or not _text_key(other) else other


def _absorb(first: Contact, other: Contact) -> Contact:
    return attrs.evolve(
        first,
        name=_fill(first.name, other.name),
        title=_fill(first.title, other.title),
        wechat=_fill(first.wechat, other.wechat),
        phones=_union((*first.phones, *other.phones), _phone_key),
        emails=_union((*first.emails, *other.emails), _email_key),
        primary=first.primary or other.primary,
    )


def _merge_contacts(contacts: Sequence[Contact]) -> tuple[Contact, ...]:
    """Group contacts that are the same person (transitively) and merge each group.

    Contacts with no phone, e-mail, WeChat id or name are the same when their titles are.

    Within a group, a contact whose WeChat id conflicts with every merged contact so far starts a
    new one, so no WeChat id is lost. At most one contact (the first) stays primary.
    """
    parent = list(range(len(contacts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, contact in enumerate(contacts):
        for key in _contact_keys(contact):
            j = owner.setdefault(key, i)
            a, b = sorted((root(i), root(j)))
            parent[b] = a
    groups: dict[int, list[Contact]] = {}
    for i, contact in enumerate(contacts):
        groups.setdefault(root(i), []).append(contact)
    merged: list[Contact] = []
    for members in groups.values():  # insertion order follows each group's first member
        out: list[Contact] = []
        for member in members:
            wechat = _text_key(member.wechat)
            for k, kept in enumerate(out):
                if not wechat or _text_key(kept.wechat) in ("", wechat):
                    out[k] = _absorb(kept, member)
                    break
            else:
                out.append(_absorb(member, Contact()))
        merged.extend(out)
    primary_seen = False
    result: list[Contact] = []
    for contact in merged:
        if contact.primary and primary_seen:
            contact = attrs.evolve(contact, primary=False)
        primary_seen = primary_seen or contact.primary
        result.append(contact)
    return tuple(result)


def _union_values(field: str, values: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    items = [item for value in values for item in value]
    if field == "contacts":
        return _merge_contacts(items)
    if field == "identifiers":
        return _union(items, _identifier_key)
    if field == "addresses":
        return _union(items, _address_key)
    return _union(items, lambda item: item)


def _verified_order(records: Sequence[Customer]) -> list[Customer]:
    """``VERIFIED`` records, most recent ``last_verified_at`` first (then most recent update)."""
    verified = [
        ((_instant(r.last_verified_at), _recency(r), -n), r)
        for n, r in enumerate(records)
        if r.verification is VerificationStatus.VERIFIED
    ]
    return [r for _, r in sorted(verified, key=lambda pair: pair[0], reverse=True)]


def _choose(
    field: str, strategy: Strategy, survivor: Customer, records: Sequence[Customer]
) -> tuple[Any, tuple[str, ...]]:
    """Return (merged value, source ids) for one strategy-driven field."""
    if strategy is Strategy.SURVIVOR:
        return getattr(survivor, field), (survivor.id,)
    filled = [r for r in records if _information(getattr(r, field)) > 0]
    if not filled:
        return getattr(survivor, field), (survivor.id,)
    if strategy is Strategy.UNION:
        values = [getattr(r, field) for r in filled]
        return _union_values(field, values), tuple(r.id for r in filled)
    chosen: Customer | None = None
    if strategy is Strategy.VERIFIED_FIRST:
        verified = _verified_order(filled)
        chosen = verified[0] if verified else None
    elif strategy is Strategy.MOST_COMPLETE:
        chosen = _best(filled, lambda r: (_information(getattr(r, field)), _recency(r)))
    if chosen is None:  # MOST_RECENT, or VERIFIED_FIRST without a verified record
        chosen = _best(filled, _recency)
    assert chosen is not None
    return getattr(chosen, field), (chosen.id,)


def _check_inputs(survivor: Customer, others: Sequence[Customer]) -> tuple[Customer, ...]:
    if not isinstance(survivor, Customer):
        raise TypeError("survivor must be a Customer")
    if isinstance(others, Customer) or not isinstance(others, Sequence):
        raise TypeError("others must be a sequence of Customer records")
    others = tuple(others)
    if not others:
        raise ValueError("others is empty: there is nothing to merge")
    seen: dict[str, int] = {}
    for n, other in enumerate(others):
        if not isinstance(other, Customer):
            raise TypeError(f"others[{n}] is not a Customer")
        if other.id == survivor.id:
            raise ValueError(f"others[{n}] is the survivor (same id)")
        if other.id in seen:
            raise ValueError(f"others[{n}] repeats the id of others[{seen[other.id]}]")
        seen[other.id] = n
        if other.kind != survivor.kind:
            raise ValueError(
                f"others[{n}] is an {other.kind.value} customer; "
                f"it cannot be merged into an {survivor.kind.value} customer"
            )
    return others


def merge_records(
    survivor: Customer, others: Sequence[Customer], *, rules: SurvivorshipRules | None = None
) -> MergeOutcome:
    """Merge ``others`` into ``survivor`` by ``rules`` (default :data:`DEFAULT_RULES`).

    Raises ``ValueError`` if ``others`` is empty, repeats an id or contains the survivor's id, or
    if a record's ``kind`` differs from the survivor's; ``TypeError`` for non-``Customer`` inputs.
    """
    others = _check_inputs(survivor, others)
    rules = DEFAULT_RULES if rules is None else rules
    records = (survivor, *others)
    values: dict[str, Any] = {}
    choices: list[FieldChoice] = []

    def put(field: str, strategy: Strategy | None, value: Any, sources: tuple[str, ...]) -> None:
        values[field] = value
        changed = value != getattr(survivor, field)
        choices.append(
            FieldChoice(field=field, strategy=strategy, source_ids=sources, changed=changed)
        )

    dated = [r for r in records if r.created_at is not None]
    earliest = min(dated, key=lambda r: _instant(r.created_at)) if dated else survivor
    verified = _verified_order(records)
    verifier = verified[0] if verified else survivor
    for field in (f.name for f in _CUSTOMER_FIELDS):
        if field == "created_at":
            put(field, None, earliest.created_at, (earliest.id,))
        elif field in ("last_verified_at", "verification"):
            put(field, None, getattr(verifier, field), (verifier.id,))
        elif field in FIXED_FIELDS:
            put(field, None, getattr(survivor, field), (survivor.id,))
        else:
            strategy = rules.strategy_for(field)
            put(field, strategy, *_choose(field, strategy, survivor, records))
    changes = {c.field: values[c.field] for c in choices if c.changed}
    return MergeOutcome(record=attrs.evolve(survivor, **changes), choices=tuple(choices))
