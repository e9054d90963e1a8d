"""Row facets, the filters on them and the aggregations ``group_count``, ``count_by_period``
and ``buyers_by_period`` (private; see :mod:`custrec.testing.contracts`).

The property tests insert generated rows and activities and compare every answer with a brute
force written here: filters with :meth:`CustomerFilter.matches` (the reference semantics),
aggregations with plain loops over the rows inserted. Each example's ids are fresh, so what
earlier examples left in the store is measured first and added to the brute force.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import (
    GROUP_COLUMNS,
    PERIOD_FIELDS,
    ROW_STATES,
    ActivityRow,
    CustomerFilter,
    CustomerRow,
    FacetCondition,
    Reach,
)
from custrec.testing import strategies
from custrec.testing._contracts.common import (
    _CST,
    _invalid_argument,
    _ordered_ids,
    _refused,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._support import T0, activity, customer, interaction, reading, writing

Group = tuple[str | None, ...]

_NUL: Final = "a\x00b"
_NAMES: Final = ("industry", "interest", "interests", "地区")
_VALUES: Final = ("", "B", "a", "ab", "abc", "b", "x=y", "z", "é", "中", "中国", "！", "𠀀")
"""In code-point order (UTF-16 would put 𠀀 before ！; a locale's collation é near e)."""
_FACETS: Final = tuple(f"{name}={value}" for name in _NAMES for value in _VALUES)
_BOUNDS: Final = (
    *_FACETS,
    *(f"{name}{end}" for name in _NAMES for end in ("", "=", ">")),  # ">" follows "="
    "",
    "\U0010ffff",
)
_MOMENTS: Final = tuple(
    T0 + timedelta(microseconds=us)
    for us in (-1, 0, 1, 2, 999_999, 1_000_000, 3_600_000_000, 86_400_000_001)
)
"""A few instants a microsecond apart and further: rows, activities and edges share them, so
edges fall on, just before and just after the rows' instants."""
_BY_NAMES: Final = (*GROUP_COLUMNS, "tag", *_NAMES, "missing")
_AMOUNTS: Final = tuple(map(Decimal, ("10", "0.0001", "999.9999", "0", "-0.0001", "-5")))


def _where(*conditions: FacetCondition) -> CustomerFilter:
    """A filter of facet conditions (built from a dict: the attrs plugin types ``facets``
    with an unbound type variable)."""
    fields: dict[str, Any] = {"facets": conditions}
    return CustomerFilter(**fields)


def _any_of(*facets: str) -> CustomerFilter:
    return _where(FacetCondition(any_of=facets))


_MOMENT: Final = st.builds(
    lambda at, local: at.astimezone(_CST) if local else at,
    st.sampled_from(_MOMENTS),
    st.booleans(),
)
"""An instant of ``_MOMENTS``, in UTC or in China Standard Time."""

_rows: Final = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(("individual", "organization")),
            "stage": st.sampled_from(("lead", "active")),
            "state": st.sampled_from(ROW_STATES),
            "owner": st.none() | st.sampled_from(("u1", "u2")),
            "team": st.none() | st.sampled_from(("north", "south")),
            "grade": st.none() | st.sampled_from(("A", "B")),
            "tags": st.lists(st.sampled_from(("vip", "b2b", "重点")), max_size=4).map(tuple),
            "facets": strategies.facets(),
            "created_at": _MOMENT,
            "updated_at": _MOMENT,
        }
    ).map(lambda fields: customer("", **fields)),
    max_size=8,
)
"""Customer rows (their ids are replaced by fresh ones), tags repeated at times."""

_CONDITION: Final = st.builds(
    FacetCondition,
    any_of=st.frozensets(
        st.sampled_from((*_FACETS, "industry", "industry=zz")), min_size=1, max_size=3
    ),
) | st.builds(FacetCondition, at_least=st.sampled_from(_BOUNDS), below=st.sampled_from(_BOUNDS))

_FILTER_FIELDS: Final[dict[str, st.SearchStrategy[Any]]] = {
    "kind": st.sampled_from(("individual", "organization", "nobody")),
    "stage": st.sampled_from(("lead", "active")),
    "state": st.sampled_from(ROW_STATES),
    "owner": st.sampled_from(("u1", "u2")),
    "team": st.sampled_from(("north", "south")),
    "grade": st.sampled_from(("A", "B")),
    "tag": st.sampled_from(("vip", "b2b", "重点", "vi")),
    "updated_after": _MOMENT,
    "updated_before": _MOMENT,
    "created_after": _MOMENT,
    "created_before": _MOMENT,
    "states": st.frozensets(st.sampled_from(ROW_STATES), max_size=3),
    "facets": st.lists(_CONDITION, min_size=1, max_size=2).map(tuple),
    "reach": st.builds(
        Reach,
        owner=st.none() | st.sampled_from(("u1", "u2")),
        team=st.none() | st.sampled_from(("north", "south")),
    ),
}
_FILTER_NAMES: Final = st.lists(
    st.sampled_from((*_FILTER_FIELDS, "facets", "facets", "reach", "states")),
    max_size=4,
    unique=True,
)


@st.composite
def _filter(draw: st.DrawFn) -> CustomerFilter:
    """A filter setting up to four conditions, facet conditions and the new fields likelier."""
    names = draw(_FILTER_NAMES)
    return CustomerFilter(**{name: draw(_FILTER_FIELDS[name]) for name in names})


_filters: Final = _filter()
_edges: Final = (
    st.lists(_MOMENT, min_size=2, max_size=5)
    .filter(lambda edges: len({e.astimezone(UTC) for e in edges}) == len(edges))
    .map(lambda edges: sorted(edges))
)
_ACTIVITY: Final = st.tuples(
    st.sampled_from(("transaction", "transaction", "transaction", "interaction")),
    st.sampled_from(_AMOUNTS),
    st.booleans(),
    _MOMENT,
)


def _activities(customers: int) -> st.SearchStrategy[list[tuple[int, ActivityRow]]]:
    """``(customer number, activity)`` pairs; number ``customers`` and above name no row.
    Interactions never count, even one carrying an amount."""

    def made(kind: str, amount: Decimal, money: bool, at: datetime) -> ActivityRow:
        if kind == "transaction":
            return activity("", amount=amount, occurred_at=at)
        return activity(
            "",
            kind=kind,
            amount=amount if money else None,
            currency="CNY" if money else None,
            occurred_at=at,
        )

    pair = st.tuples(st.integers(0, customers + 1), _ACTIVITY.map(lambda a: made(*a)))
    return st.lists(pair, max_size=12)


def _insert(session: Session, rows: Sequence[CustomerRow], many: bool) -> None:
    if many:
        assert session.customers.add_many(rows) == len(rows)
    else:
        for row in rows:
            assert session.customers.add(row) == 1


def _fresh(rows: Sequence[CustomerRow]) -> list[CustomerRow]:
    """``rows`` with fresh ids, given out of id order."""
    ids = _ordered_ids(len(rows))
    return [attrs.evolve(row, id=i) for row, i in zip(rows, reversed(ids), strict=True)]


def _walk(session: Session, where: CustomerFilter | None, limit: int) -> list[str]:
    """Every id ``query`` returns, page by page."""
    seen: list[str] = []
    after: str | None = None
    while page := session.customers.query(where=where, after=after, limit=limit):
        assert len(page) <= limit
        seen.extend(row.id for row in page)
        after = page[-1].id
    return seen


def _group_values(row: CustomerRow, name: str) -> set[str | None]:
    """The brute force's values of one grouping of ``row``."""
    if name in GROUP_COLUMNS:
        return {getattr(row, name)}
    values: set[str | None] = set()
    if name == "tag":
        for tag in row.tags:
            values.add(tag)
    else:
        for facet in row.facets:
            facet_name, _, value = facet.partition("=")
            if facet_name == name:
                values.add(value)
    if not values:
        values.add(None)
    return values


def _brute_groups(rows: Iterable[CustomerRow], by: Sequence[str]) -> Counter[Group]:
    counts: Counter[Group] = Counter()
    for row in rows:
        first = _group_values(row, by[0])
        second = _group_values(row, by[1]) if len(by) == 2 else {None}
        for a in first:
            for b in second:
                counts[(a, b) if len(by) == 2 else (a,)] += 1
    return counts


def _brute_periods(rows: Iterable[CustomerRow], edges: Sequence[datetime], field: str) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for row in rows:
        instant = getattr(row, field)
        for i in range(len(counts)):
            if edges[i] <= instant < edges[i + 1]:
                counts[i] += 1
    return counts


def _brute_buyers(
    activities: Iterable[ActivityRow],
    rows: Mapping[str, CustomerRow],
    edges: Sequence[datetime],
    where: CustomerFilter | None,
) -> list[tuple[int, int]]:
    activities = list(activities)
    result = []
    for i in range(len(edges) - 1):
        purchases: dict[str, int] = {}
        for sale in activities:
            if sale.kind != "transaction" or sale.amount is None or sale.amount <= 0:
                continue
            if not edges[i] <= sale.occurred_at < edges[i + 1]:
                continue
            if where is not None:
                row = rows.get(sale.customer_id)
                if row is None or not where.matches(row):
                    continue
            purchases[sale.customer_id] = purchases.get(sale.customer_id, 0) + 1
        result.append((len(purchases), len([n for n in purchases.values() if n >= 2])))
    return result


def _plus(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(x[0] + y[0], x[1] + y[1]) for x, y in zip(a, b, strict=True)]


class FacetContract(_StoreFixtures):
    """Row facets, the filters on them (facet conditions, created-at bounds, state sets,
    reach) and the aggregations ``group_count``, ``count_by_period`` and
    ``buyers_by_period``."""

    # ------------------------------------------------------------------ rows and sessions

    def test_facets_round_trip_through_get_get_many_and_query(self, store: Store) -> None:
        a, b = _ordered_ids(2)
        rich = customer(a, facets={"industry=软件", "interest=a", "interest=中国", "x=", "y=p=q"})
        bare = customer(b, facets=())
        with writing(store) as s:
            s.customers.add(rich)
            s.customers.add_many([bare])
        with reading(store) as s:
            got = s.customers.get(a)
            assert got == attrs.evolve(rich, version=1)
            assert type(got.facets) is frozenset
            assert s.customers.get_many([b, a]) == [got, attrs.evolve(bare, version=1)]
            assert s.customers.query() == [got, attrs.evolve(bare, version=1)]

    def test_update_replaces_the_facets(self, store: Store) -> None:
        row = customer(facets={"industry=a", "interest=b"})
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            s.customers.update(attrs.evolve(row, facets={"interest=c"}), expected_version=1)
        with reading(store) as s:
            assert s.customers.get(row.id).facets == {"interest=c"}
            assert s.customers.count(where=_any_of("industry=a")) == 0
            assert s.customers.group_count(["interest"]) == {("c",): 1}
        with writing(store) as s:
            s.customers.update(attrs.evolve(row, facets=()), expected_version=2)
        with reading(store) as s:
            assert s.customers.get(row.id).facets == frozenset()
            assert s.customers.group_count(["interest"]) == {(None,): 1}

    def test_add_many_skip_existing_keeps_the_stored_facets(self, store: Store) -> None:
        row = customer(facets={"industry=a"})
        with writing(store) as s:
            s.customers.add(row)
        with writing(store) as s:
            again = attrs.evolve(row, facets={"industry=b"})
            assert s.customers.add_many([again, customer()], skip_existing=True) == 1
        with reading(store) as s:
            assert s.customers.get(row.id).facets == {"industry=a"}
            assert s.customers.group_count(["industry"]) == {("a",): 1, (None,): 1}

    def test_delete_removes_the_facets_from_filters_and_groups(self, store: Store) -> None:
        gone, kept = customer(facets={"industry=a"}), customer(facets={"industry=b"})
        with writing(store) as s:
            s.customers.add_many([gone, kept])
        with writing(store) as s:
            s.customers.delete(gone.id, expected_version=1)
        with reading(store) as s:
            assert s.customers.query(where=_any_of("industry=a")) == []
            assert s.customers.group_count(["industry"]) == {("b",): 1}
            assert s.customers.count_by_period([T0, T0 + timedelta(microseconds=1)]) == [1]

    def test_rollback_discards_facets_of_added_and_updated_rows(self, store: Store) -> None:
        row = customer(facets={"industry=a"})
        with writing(store) as s:
            s.customers.add(row)
        with store.transaction() as s:
            s.customers.update(attrs.evolve(row, facets={"industry=b"}), expected_version=1)
            s.customers.add(customer(facets={"industry=c"}))
            s.rollback()
        with reading(store) as s:
            assert s.customers.get(row.id).facets == {"industry=a"}
            assert s.customers.group_count(["industry"]) == {("a",): 1}
            assert s.customers.count(where=_any_of("industry=b", "industry=c")) == 0

    def test_a_session_reads_its_own_facets_and_activities(self, store: Store) -> None:
        row = customer(facets={"industry=a"})
        edges = [T0, T0 + timedelta(days=1)]
        with writing(store) as s:
            s.customers.add(row)
        with store.transaction() as s:
            s.customers.update(attrs.evolve(row, facets={"industry=b"}), expected_version=1)
            s.customers.add(customer(facets={"industry=b"}, state="archived"))
            s.activities.add_many([activity(row.id), activity(row.id)])
            where = _where(FacetCondition(at_least="industry=b", below="j"))
            assert [r.id for r in s.customers.query(where=where)][:1] == [row.id]
            assert s.customers.count(where=where) == 2
            assert s.customers.group_count(["industry", "state"]) == {
                ("b", "live"): 1,
                ("b", "archived"): 1,
            }
            assert s.customers.count_by_period(edges, where=where) == [2]
            assert s.activities.buyers_by_period(edges, where=where) == [(1, 1)]
            assert s.activities.buyers_by_period(edges, where=_any_of("industry=a")) == [(0, 0)]

    # ------------------------------------------------------------------------- filters

    def test_facet_ranges_follow_code_point_order(self, store: Store) -> None:
        ids = _ordered_ids(len(_VALUES))
        with writing(store) as s:
            for i, value in zip(ids, _VALUES, strict=True):
                s.customers.add(customer(i, facets={f"n={value}", "other=zzz"}))
        by_value = dict(zip(_VALUES, ids, strict=True))

        def between(low: str, high: str) -> list[str]:
            where = _where(FacetCondition(at_least=low, below=high))
            with reading(store) as s:
                found = [r.id for r in s.customers.query(where=where)]
                assert s.customers.count(where=where) == len(found)
            return found

        assert between("n=a", "n=ab") == [by_value["a"]]
        assert between("n=ab", "n=b") == [by_value["ab"], by_value["abc"]]
        assert between("n=b", "n=中") == [by_value[v] for v in ("b", "x=y", "z", "é")]
        assert between("n=中", "n=！") == [by_value["中"], by_value["中国"]]
        assert between("n=！", "n=\U0010ffff") == [by_value["！"], by_value["𠀀"]]
        assert between("n=", "n>") == ids
        assert between("n=", "n=") == []
        assert between("n=b", "n=a") == []
        assert between("n", "n=") == []

    def test_any_of_matches_exact_facet_text_only(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            s.customers.add(customer(a, facets={"interest=ab"}))
            s.customers.add(customer(b, facets={"interests=a", "interest=中"}))
            s.customers.add(customer(c, facets={"industry="}))
        with reading(store) as s:
            assert s.customers.query(where=_any_of("interest=a")) == []
            assert [r.id for r in s.customers.query(where=_any_of("interest=中"))] == [b]
            assert [r.id for r in s.customers.query(where=_any_of("industry="))] == [c]
            both = _any_of("interest=ab", "interests=a")
            assert [r.id for r in s.customers.query(where=both)] == [a, b]

    def test_facet_conditions_all_hold(self, store: Store) -> None:
        a, b = _ordered_ids(2)
        with writing(store) as s:
            s.customers.add(customer(a, facets={"industry=a", "interest=b"}))
            s.customers.add(customer(b, facets={"industry=a"}))
        where = _where(
            FacetCondition(any_of={"industry=a"}),
            FacetCondition(at_least="interest=", below="interest>"),
        )
        with reading(store) as s:
            assert [r.id for r in s.customers.query(where=where)] == [a]

    def test_reach_states_and_created_bounds(self, store: Store) -> None:
        a, b, c, d = _ordered_ids(4)
        second = T0 + timedelta(microseconds=1)
        with writing(store) as s:
            s.customers.add(customer(a, owner="u1", team=None, state="live", created_at=T0))
            s.customers.add(customer(b, owner=None, team="t1", state="archived", created_at=T0))
            s.customers.add(customer(c, owner="u2", team="t2", state="erased", created_at=second))
            s.customers.add(customer(d, owner=None, team=None, state="merged", created_at=second))

        def ids(**conditions: Any) -> list[str]:
            with reading(store) as s:
                return [r.id for r in s.customers.query(where=CustomerFilter(**conditions))]

        assert ids(reach=Reach(owner="u1", team="t1")) == [a, b]
        assert ids(reach=Reach(owner="u2")) == [c]
        assert ids(reach=Reach(team="t2")) == [c]
        assert ids(reach=Reach()) == []
        assert ids(states={"live", "erased"}) == [a, c]
        assert ids(states=frozenset()) == []
        assert ids(states={"merged"}, state="merged") == [d]
        assert ids(created_after=T0) == [c, d]
        assert ids(created_before=second) == [a, b]
        assert ids(created_after=T0.astimezone(_CST), created_before=second) == []

    def test_query_and_count_match_the_reference_filter(self, store: Store) -> None:
        @kit_settings(40)
        @given(rows=_rows, where=_filters, limit=st.integers(1, 4), many=st.booleans())
        def check(rows: list[CustomerRow], where: CustomerFilter, limit: int, many: bool) -> None:
            rows = _fresh(rows)
            with reading(store) as s:
                before, count = _walk(s, where, 1000), s.customers.count(where=where)
            with writing(store) as s:
                _insert(s, rows, many)
            expected = sorted([*before, *(r.id for r in rows if where.matches(r))])
            with reading(store) as s:
                assert _walk(s, where, limit) == expected
                assert s.customers.count(where=where) == count + len(expected) - len(before)

        check()

    # ------------------------------------------------------------------- aggregations

    def test_group_count_by_one_and_two_names(self, store: Store) -> None:
        a, b, c = _ordered_ids(3)
        with writing(store) as s:
            s.customers.add(
                customer(
                    a,
                    owner="u1",
                    tags=("vip", "vip", "b2b"),
                    facets={"interest=a", "interest=b", "interests=c", "industry=x=y"},
                )
            )
            s.customers.add(customer(b, owner=None, tags=("vip",), facets={"interest=a"}))
            s.customers.add(customer(c, owner="u1", tags=(), facets={"interest="}))
        with reading(store) as s:
            groups = s.customers.group_count
            assert groups(["owner"]) == {("u1",): 2, (None,): 1}
            assert groups(["tag"]) == {("vip",): 2, ("b2b",): 1, (None,): 1}
            assert groups(("interest",)) == {("a",): 2, ("b",): 1, ("",): 1}
            assert groups(["interests"]) == {("c",): 1, (None,): 2}
            assert groups(["industry"]) == {("x=y",): 1, (None,): 2}
            assert groups(["missing"]) == {(None,): 3}
            assert groups(["tag", "interest"]) == {
                ("vip", "a"): 2,
                ("vip", "b"): 1,
                ("b2b", "a"): 1,
                ("b2b", "b"): 1,
                (None, ""): 1,
            }
            assert groups(["interest", "owner"], where=CustomerFilter(tag="vip")) == {
                ("a", "u1"): 1,
                ("b", "u1"): 1,
                ("a", None): 1,
            }
            assert groups(["kind"], where=CustomerFilter(tag="nobody")) == {}

    def test_group_count_by_a_column_ignores_facets_of_its_name(self, store: Store) -> None:
        with writing(store) as s:
            s.customers.add(customer(owner="u1", facets={"owner=u9", "tag=t9", "stage=x"}))
        with reading(store) as s:
            assert s.customers.group_count(["owner", "stage"]) == {("u1", "lead"): 1}
            assert s.customers.group_count(["tag"]) == {("vip",): 1, ("b2b",): 1}

    def test_group_count_matches_a_brute_force(self, store: Store) -> None:
        @kit_settings(40)
        @given(
            rows=_rows,
            by=st.lists(st.sampled_from(_BY_NAMES), min_size=1, max_size=2, unique=True),
            where=st.none() | _filters,
        )
        def check(rows: list[CustomerRow], by: list[str], where: CustomerFilter | None) -> None:
            rows = _fresh(rows)
            with reading(store) as s:
                before = Counter(s.customers.group_count(by, where=where))
            with writing(store) as s:
                _insert(s, rows, many=True)
            matching = [r for r in rows if where is None or where.matches(r)]
            with reading(store) as s:
                got = s.customers.group_count(by, where=where)
            assert got == dict(before + _brute_groups(matching, by))
            assert all(count > 0 for count in got.values())

        check()

    def test_count_by_period_at_microsecond_boundaries(self, store: Store) -> None:
        us = timedelta(microseconds=1)
        with writing(store) as s:
            for at in (T0 - us, T0, T0, T0 + us, T0 + 2 * us):
                s.customers.add(customer(created_at=at, updated_at=at + timedelta(days=1)))
        with reading(store) as s:
            count = s.customers.count_by_period
            assert count([T0, T0 + us]) == [2]
            assert count([T0 - us, T0, T0 + us, T0 + 3 * us]) == [1, 2, 2]
            assert count([T0.astimezone(_CST), T0 + 2 * us]) == [3]
            assert count([T0 + 3 * us, T0 + timedelta(days=1)]) == [0]
            next_day = T0 + timedelta(days=1)
            assert count([next_day, next_day + us], field="updated_at") == [2]
            assert count([T0, T0 + us], field="updated_at") == [0]
            assert count([T0, T0 + us], where=CustomerFilter(state="archived")) == [0]

    def test_count_by_period_matches_a_brute_force(self, store: Store) -> None:
        @kit_settings(40)
        @given(
            rows=_rows,
            edges=_edges,
            field=st.sampled_from(PERIOD_FIELDS),
            where=st.none() | _filters,
        )
        def check(
            rows: list[CustomerRow],
            edges: list[datetime],
            field: str,
            where: CustomerFilter | None,
        ) -> None:
            rows = _fresh(rows)
            with reading(store) as s:
                before = s.customers.count_by_period(edges, field=field, where=where)
            with writing(store) as s:
                _insert(s, rows, many=False)
            matching = [r for r in rows if where is None or where.matches(r)]
            brute = _brute_periods(matching, edges, field)
            with reading(store) as s:
                got = s.customers.count_by_period(edges, field=field, where=where)
            assert got == [x + y for x, y in zip(before, brute, strict=True)]

        check()

    def test_buyers_by_period_counts_distinct_and_repeat_buyers(self, store: Store) -> None:
        a, b, c, nobody = _ordered_ids(4)
        day = timedelta(days=1)
        with writing(store) as s:
            s.customers.add(customer(a, facets={"industry=a"}))
            s.customers.add(customer(b, facets={"industry=b"}))
            s.customers.add(customer(c, facets={"industry=a"}))
            s.activities.add_many(
                [
                    activity(a, occurred_at=T0),
                    activity(a, occurred_at=T0 + day - timedelta(microseconds=1)),
                    activity(a, occurred_at=T0 + day),
                    activity(b, occurred_at=T0, amount=Decimal("0.0001")),
                    activity(b, occurred_at=T0, amount=Decimal(-10)),  # a refund
                    activity(c, occurred_at=T0, amount=Decimal(0)),
                    interaction(c, occurred_at=T0),
                    activity(c, kind="interaction", amount=Decimal(5), occurred_at=T0),
                    activity(nobody, occurred_at=T0 + day),
                    activity(nobody, occurred_at=T0 + day),
                ]
            )
        edges = [T0, T0 + day, T0 + 2 * day]
        with reading(store) as s:
            buyers = s.activities.buyers_by_period
            assert buyers(edges) == [(2, 1), (2, 1)]
            assert buyers(edges, where=_any_of("industry=a")) == [(1, 1), (1, 0)]
            assert buyers(edges, where=CustomerFilter()) == [(2, 1), (1, 0)]
            assert buyers([T0 - day, T0]) == [(0, 0)]
            assert buyers([T0.astimezone(_CST), T0 + timedelta(microseconds=1)]) == [(2, 0)]

    def test_buyers_by_period_matches_a_brute_force(self, store: Store) -> None:
        @kit_settings(40)
        @given(data=st.data(), rows=_rows, edges=_edges, where=st.none() | _filters)
        def check(
            data: st.DataObject,
            rows: list[CustomerRow],
            edges: list[datetime],
            where: CustomerFilter | None,
        ) -> None:
            rows = _fresh(rows)
            ids = [r.id for r in rows] + _ordered_ids(2)  # the last two name no row
            drawn = data.draw(_activities(len(rows)), label="activities")
            sales = [attrs.evolve(sale, id=new_id(), customer_id=ids[n]) for n, sale in drawn]
            with reading(store) as s:
                before = s.activities.buyers_by_period(edges, where=where)
            with writing(store) as s:
                _insert(s, rows, many=True)
                s.activities.add_many(sales)
            brute = _brute_buyers(sales, {r.id: r for r in rows}, edges, where)
            with reading(store) as s:
                assert s.activities.buyers_by_period(edges, where=where) == _plus(before, brute)

        check()

    def test_aggregations_take_ten_thousand_edges(self, store: Store) -> None:
        edges = [T0 + timedelta(seconds=n) for n in range(10_000)]
        with writing(store) as s:
            s.customers.add(customer(created_at=edges[5] + timedelta(microseconds=1)))
            s.activities.add(activity(new_id(), occurred_at=edges[-2]))
        with reading(store) as s:
            counts = s.customers.count_by_period(edges)
            buyers = s.activities.buyers_by_period(edges)
        assert len(counts) == len(buyers) == 9_999
        assert counts[5] == 1 and sum(counts) == 1
        assert buyers[-1] == (1, 0) and sum(b for b, _ in buyers) == 1

    # ------------------------------------------------------------------ argument rules

    @pytest.mark.parametrize(
        "by",
        [[], ["kind", "stage", "tag"], ["tag", "tag"], [""], ["a=b"], ["tag", "a\x00"], ["x", ""]],
    )
    def test_group_count_with_invalid_by_raises_value_error(
        self, store: Store, by: list[str]
    ) -> None:
        with writing(store) as s:
            s.customers.add(customer())
        with reading(store) as s, _invalid_argument():
            s.customers.group_count(by)

    @pytest.mark.parametrize("by", ["ab", "tag", None, 5])
    def test_group_count_refuses_a_bare_string_or_non_sequence(
        self, store: Store, by: object
    ) -> None:
        with reading(store) as s, pytest.raises((TypeError, ValueError)):
            s.customers.group_count(by)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "edges",
        [
            [],
            [T0],
            [T0, T0],
            [T0, T0.astimezone(_CST)],
            [T0 + timedelta(microseconds=1), T0],
            [T0, T0 + timedelta(hours=1), T0 + timedelta(minutes=1)],
            [datetime(2024, 1, 1), datetime(2024, 1, 2)],
            [T0, datetime(2099, 1, 1)],
            [T0 + timedelta(seconds=n) for n in range(10_001)],
        ],
        ids=[
            "none",
            "one",
            "equal",
            "equal-instants",
            "down",
            "unsorted",
            "naive",
            "naive-2",
            "10001",
        ],
    )
    @pytest.mark.parametrize("method", ["count_by_period", "buyers_by_period"])
    def test_invalid_edges_raise_value_error(
        self, store: Store, method: str, edges: list[datetime]
    ) -> None:
        calls: dict[str, Callable[[Session], object]] = {
            "count_by_period": lambda s: s.customers.count_by_period(edges),
            "buyers_by_period": lambda s: s.activities.buyers_by_period(edges),
        }
        with reading(store) as s, _invalid_argument():
            calls[method](s)

    @pytest.mark.parametrize("field", ["deleted_at", "", "created_at\x00", None])
    def test_count_by_period_of_an_unknown_field_raises_value_error(
        self, store: Store, field: object
    ) -> None:
        with reading(store) as s, _invalid_argument():
            s.customers.count_by_period([T0, T0 + timedelta(1)], field=field)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "where",
        [
            _where(FacetCondition(any_of={"industry=a", _NUL})),
            _where(FacetCondition(at_least=_NUL, below="z")),
            _where(FacetCondition(at_least="a", below=_NUL)),
            CustomerFilter(reach=Reach(owner=_NUL)),
            CustomerFilter(reach=Reach(owner="u1", team=_NUL)),
            CustomerFilter(states={"live", _NUL}),
            CustomerFilter(states={"gone"}),
            CustomerFilter(created_after=datetime(2024, 1, 1)),
            CustomerFilter(created_before=datetime(2024, 1, 1)),
        ],
        ids=[
            "any_of",
            "at_least",
            "below",
            "reach-owner",
            "reach-team",
            "states-nul",
            "states-unknown",
            "created_after",
            "created_before",
        ],
    )
    @pytest.mark.parametrize(
        "method", ["query", "count", "group_count", "count_by_period", "buyers_by_period"]
    )
    def test_invalid_new_filter_conditions_raise_value_error(
        self, store: Store, method: str, where: CustomerFilter
    ) -> None:
        with writing(store) as s:  # a row and a sale to compare with, so the filter is applied
            row = customer(facets={"industry=a"})
            s.customers.add(row)
            s.activities.add(activity(row.id))
        edges = [T0, T0 + timedelta(days=1)]
        calls: dict[str, Callable[[Session], object]] = {
            "query": lambda s: s.customers.query(where=where),
            "count": lambda s: s.customers.count(where=where),
            "group_count": lambda s: s.customers.group_count(["kind"], where=where),
            "count_by_period": lambda s: s.customers.count_by_period(edges, where=where),
            "buyers_by_period": lambda s: s.activities.buyers_by_period(edges, where=where),
        }
        with reading(store) as s, _invalid_argument():
            calls[method](s)

    @pytest.mark.parametrize("method", ["add", "add_many", "update"])
    def test_nul_in_a_row_facet_raises_value_error_and_writes_nothing(
        self, store: Store, method: str
    ) -> None:
        good = customer(facets={"industry=a"})
        with writing(store) as s:
            s.customers.add(good)
        bad = attrs.evolve(good if method == "update" else customer(), facets={"industry=" + _NUL})
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.customers.add(bad),
            "add_many": lambda s: s.customers.add_many([customer(), bad]),
            "update": lambda s: s.customers.update(bad, expected_version=1),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.customers.count() == 1
            assert s.customers.get(good.id) == attrs.evolve(good, version=1)

    def test_finished_session_refuses_aggregations_with_storage_error(self, store: Store) -> None:
        edges = [T0, T0 + timedelta(days=1)]
        with store.transaction() as s:
            s.commit()
            with _refused():
                s.customers.group_count(["kind"])
            with _refused():
                s.customers.group_count([])
            with _refused():
                s.customers.count_by_period(edges)
            with _refused():
                s.customers.count_by_period([])
            with _refused():
                s.activities.buyers_by_period(edges)
            with _refused():
                s.activities.buyers_by_period([T0])
