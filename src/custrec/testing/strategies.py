"""Hypothesis strategies for the values that cross the storage boundary.

Backend authors (and the conformance kit itself) use them to generate valid rows and records:
every value they produce is accepted by a correct backend. Ids are canonical lower-case UUIDv7
strings drawn from integers, so failing examples shrink towards small, readable ids; instants are
timezone-aware UTC datetimes with microseconds between 1990 and 2100; amounts are ``Decimal``\\ s
with at most four decimal places.

>>> from hypothesis import given
>>> from custrec.model.ids import is_valid_id
>>> @given(customer_id=ids(), at=aware_datetimes())
... def test_ids_and_instants(customer_id, at):
...     assert is_valid_id(customer_id) and at.utcoffset() == timedelta(0)
>>> test_ids_and_instants()
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

from custrec._checks import check, int_range
from custrec.model.records import CustomerKind, LifecycleStage
from custrec.storage.types import (
    ROW_STATES,
    ActivityRow,
    AuditRecord,
    ConsentRecord,
    CustomerRow,
    HistoryRecord,
    WrappedKey,
)

__all__ = [
    "activity_rows",
    "amounts",
    "audit_records",
    "aware_datetimes",
    "consent_records",
    "currencies",
    "customer_rows",
    "facets",
    "history_records",
    "ids",
    "uuid7_from_parts",
    "wrapped_keys",
]

_MIN_INSTANT: Final = datetime(1990, 1, 1)
_MAX_INSTANT: Final = datetime(2100, 1, 1)
_MS_MIN: Final = int(_MIN_INSTANT.replace(tzinfo=UTC).timestamp() * 1000)
_MS_MAX: Final = int(_MAX_INSTANT.replace(tzinfo=UTC).timestamp() * 1000)
_MAX_UNITS: Final = 10**9  # a billion currency units either way is plenty for one transaction

_CURRENCIES: Final = ("CNY", "USD", "EUR", "HKD", "JPY")
_FACET_VALUES: Final = ("a", "b", "c", "sales-1", "sales-2")
_TAGS: Final = ("vip", "export", "b2b", "new", "risk", "重点")
_FACET_NAMES: Final = ("industry", "interest", "interests", "地区")
# values sharing prefixes, in code-point order B < a < ab < abc < b < z < é < 中 < 中国 < ！ < 𠀀
# (not the order of UTF-16 or of a locale's collation), one holding "=" and an empty one
_FACET_TEXTS: Final = ("", "a", "ab", "abc", "b", "B", "z", "é", "！", "中", "中国", "𠀀", "x=y")
_PURPOSES: Final = ("marketing", "analytics", "profiling", "third_party")
_CONSENT_ACTIONS: Final = ("grant", "withdraw", "object")
_HISTORY_ACTIONS: Final = ("create", "update", "grade", "merge", "erase")
_AUDIT_ACTIONS: Final = ("read", "create", "update", "export", "erase")
_PATHS: Final = ("name", "contacts[0].phones[1]", "addresses[0].city", "grade", "stage")


def uuid7_from_parts(ms: int, rand_a: int, rand_b: int) -> str:
    """Return the canonical UUIDv7 string with the given timestamp and random fields.

    ``ms`` is a 48-bit Unix millisecond timestamp, ``rand_a`` 12 bits, ``rand_b`` 62 bits; the
    string order of the results follows ``(ms, rand_a, rand_b)``. Raises ``ValueError`` when a
    part is out of range.

    >>> uuid7_from_parts(0, 0, 1)
    '00000000-0000-7000-8000-000000000001'
    """
    for name, value, bits in (("ms", ms, 48), ("rand_a", rand_a, 12), ("rand_b", rand_b, 62)):
        check(name, value, int_range(0, (1 << bits) - 1))
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def ids() -> st.SearchStrategy[str]:
    """Canonical lower-case UUIDv7 strings, as :func:`custrec.model.ids.new_id` makes them.

    The timestamp lies between 1990 and 2100. Examples shrink towards the smallest id.
    """
    return st.builds(
        uuid7_from_parts,
        st.integers(_MS_MIN, _MS_MAX),
        st.integers(0, (1 << 12) - 1),
        st.integers(0, (1 << 62) - 1),
    )


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes with microsecond precision between 1990 and 2100."""
    return st.datetimes(min_value=_MIN_INSTANT, max_value=_MAX_INSTANT, timezones=st.just(UTC))


def amounts(*, allow_negative: bool = True) -> st.SearchStrategy[Decimal]:
    """Money amounts: ``Decimal`` with zero to four decimal places, up to a billion units.

    With ``allow_negative`` (the default) refunds (negative amounts) are generated too.
    """
    if not isinstance(allow_negative, bool):
        raise TypeError("allow_negative must be a bool")
    return _amount(allow_negative)


@st.composite
def _amount(draw: st.DrawFn, allow_negative: bool) -> Decimal:
    places = draw(st.integers(0, 4))
    bound = _MAX_UNITS * 10**places
    units = draw(st.integers(-bound if allow_negative else 0, bound))
    return Decimal(units).scaleb(-places)


def currencies() -> st.SearchStrategy[str]:
    """A few ISO 4217 currency codes."""
    return st.sampled_from(_CURRENCIES)


def _payloads() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=64)


def _customer_ids(customer_ids: st.SearchStrategy[str] | None) -> st.SearchStrategy[str]:
    if customer_ids is None:
        return ids()
    if not isinstance(customer_ids, st.SearchStrategy):
        raise TypeError("customer_ids must be a hypothesis strategy (for example ids())")
    return customer_ids


@st.composite
def _customer_row(draw: st.DrawFn, id_strategy: st.SearchStrategy[str]) -> CustomerRow:
    created_at = draw(aware_datetimes())
    later = draw(st.integers(0, 10**6 * 86_400 * 3_650))  # up to ten years, in microseconds
    updated_at = min(created_at + timedelta(microseconds=later), _MAX_INSTANT.replace(tzinfo=UTC))
    optional_facet = st.none() | st.sampled_from(_FACET_VALUES)
    return CustomerRow(
        id=draw(id_strategy),
        payload=draw(_payloads()),
        index_keys=draw(
            st.frozensets(st.text("0123456789abcdef", min_size=8, max_size=16), max_size=4)
        ),
        kind=draw(st.sampled_from([k.value for k in CustomerKind])),
        stage=draw(st.sampled_from([s.value for s in LifecycleStage])),
        state=draw(st.sampled_from(ROW_STATES)),
        owner=draw(optional_facet),
        team=draw(optional_facet),
        grade=draw(st.none() | st.sampled_from(("A", "B", "C", "D"))),
        tags=tuple(draw(st.lists(st.sampled_from(_TAGS), max_size=3, unique=True))),
        facets=draw(facets()),
        created_at=created_at,
        updated_at=updated_at,
    )


def facets() -> st.SearchStrategy[frozenset[str]]:
    """Sets of up to four row facets ``"<name>=<value>"`` from small alphabets, so that rows
    share them and carry several values of one name: names that are prefixes of one another,
    values sharing prefixes, multi-byte and beyond-BMP text, an empty value and one holding
    ``=``."""
    facet = st.builds("{}={}".format, st.sampled_from(_FACET_NAMES), st.sampled_from(_FACET_TEXTS))
    return st.frozensets(facet, max_size=4)


def customer_rows(
    *, customer_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[CustomerRow]:
    """Valid :class:`~custrec.storage.types.CustomerRow`\\ s (``version`` left at 0).

    ``customer_ids`` draws the row ids (default :func:`ids`). Index keys look like hex digests,
    columns, tags and facets (:func:`facets`) come from small alphabets (so filters match
    several rows) and ``created_at <= updated_at``.
    """
    return _customer_row(_customer_ids(customer_ids))


@st.composite
def _activity_row(draw: st.DrawFn, customer_ids: st.SearchStrategy[str]) -> ActivityRow:
    kind = draw(st.sampled_from(("transaction", "interaction")))
    is_transaction = kind == "transaction"
    return ActivityRow(
        id=draw(ids()),
        customer_id=draw(customer_ids),
        kind=kind,
        occurred_at=draw(aware_datetimes()),
        amount=draw(amounts()) if is_transaction else None,
        currency=draw(currencies()) if is_transaction else None,
        payload=draw(_payloads()),
    )


def activity_rows(
    *, customer_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[ActivityRow]:
    """Valid activities: transactions (with an amount and a currency) and interactions (without).

    ``customer_ids`` draws the owning customer (default :func:`ids`).
    """
    return _activity_row(_customer_ids(customer_ids))


def consent_records(
    *, customer_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[ConsentRecord]:
    """Valid consent events (``seq`` left at 0: storage assigns it)."""
    return st.builds(
        ConsentRecord,
        customer_id=_customer_ids(customer_ids),
        recorded_at=aware_datetimes(),
        purpose=st.sampled_from(_PURPOSES),
        action=st.sampled_from(_CONSENT_ACTIONS),
        payload=_payloads(),
    )


def history_records(
    *, customer_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[HistoryRecord]:
    """Valid change-history entries (``seq`` left at 0: storage assigns it)."""
    return st.builds(
        HistoryRecord,
        customer_id=_customer_ids(customer_ids),
        at=aware_datetimes(),
        actor_id=ids(),
        action=st.sampled_from(_HISTORY_ACTIONS),
        path=st.sampled_from(_PATHS),
        reason=st.none() | st.sampled_from(("import", "correction", "merge")),
        payload=_payloads(),
    )


def audit_records(
    *, customer_ids: st.SearchStrategy[str | None] | None = None
) -> st.SearchStrategy[AuditRecord]:
    """Valid audit entries (``seq`` left at 0); ``customer_id`` may be ``None`` by default."""
    if customer_ids is None:
        customer_ids = st.none() | ids()
    elif not isinstance(customer_ids, st.SearchStrategy):
        raise TypeError("customer_ids must be a hypothesis strategy (for example ids())")
    return st.builds(
        AuditRecord,
        at=aware_datetimes(),
        actor_id=ids(),
        action=st.sampled_from(_AUDIT_ACTIONS),
        customer_id=customer_ids,
        fields=st.lists(st.sampled_from(_PATHS), max_size=3, unique=True).map(tuple),
        reason=st.none() | st.sampled_from(("support ticket", "export request")),
        outcome=st.sampled_from(("ok", "denied")),
        chain=st.binary(min_size=0, max_size=32),
        on_behalf_of=st.none() | ids(),
    )


def wrapped_keys(
    *, customer_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[WrappedKey]:
    """Valid wrapped data keys (random bytes standing in for AES key-wrap output)."""
    return st.builds(
        WrappedKey,
        customer_id=_customer_ids(customer_ids),
        master_key_id=st.sampled_from(("mk-2024", "mk-2025", "mk-2026")),
        wrapped=st.binary(min_size=24, max_size=48),
        created_at=aware_datetimes(),
    )
