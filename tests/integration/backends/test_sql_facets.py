"""Facets, the new filter conditions and the grouped and period counts in the SQL backends.

What the conformance kit does not see: the facet table itself (written by every write path,
emptied with its row), the indexes the counts read (SQLite's query plans), a store made by an
earlier schema opening with an empty facet table, and many periods at once. A differential test
compares every new read with the reference semantics (``CustomerFilter.matches``) on rows drawn
at random. Each test runs on SQLite and on PostgreSQL (which skips without
``CUSTREC_TEST_POSTGRES_DSN``, as in test_postgres.py).
"""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import custrec.backends._sqlite.pairs as sqlite_pairs
import custrec.backends._sqlite.tables as sqlite_tables
import custrec.backends.sqlite as sqlite_backend
from custrec.backends import SQLiteStore
from custrec.storage import (
    GROUP_COLUMNS,
    ActivityRow,
    CustomerFilter,
    CustomerRow,
    FacetCondition,
    Reach,
    Store,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
LIVE = CustomerFilter(states={"live", "archived", "restricted"})
VALUES = ("a", "b", "软件", "\uffff", "\U00010000", "", "a=b")


def customer(customer_id: str, **changes: Any) -> CustomerRow:
    fields: dict[str, Any] = {
        "id": customer_id,
        "payload": b"sealed",
        "index_keys": {f"k:{customer_id}"},
        "kind": "individual",
        "stage": "lead",
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return CustomerRow(**fields)


def purchase(activity_id: str, customer_id: str, amount: int, at: datetime) -> ActivityRow:
    return ActivityRow(
        id=activity_id,
        customer_id=customer_id,
        kind="transaction",
        occurred_at=at,
        amount=Decimal(amount),
        currency="CNY",
        payload=b"",
    )


# ---------------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if backend == "sqlite":
        opened: Store = SQLiteStore(tmp_path / "facets.db", key_file=False)
    else:
        from custrec.backends import PostgresStore

        dsn = request.getfixturevalue("postgres_dsn")
        opened = PostgresStore(dsn, schema=request.getfixturevalue("postgres_schema"))
    yield opened
    opened.close()


def stored_facets(store: Store) -> set[tuple[str, str]]:
    """Every ``(customer id, facet)`` row of the facet table, read behind the store's back."""
    with store.transaction(readonly=True) as session:
        conn: Any = session._conn  # type: ignore[attr-defined]
        if isinstance(store, SQLiteStore):
            found = conn.execute(
                "SELECT c.id, f.facet FROM customer_facets AS f "
                "JOIN customers AS c ON c.pk = f.customer_pk"
            )
        else:
            schema = store.schema  # type: ignore[attr-defined]
            found = conn.execute(
                f'SELECT customer_id, facet FROM "{schema}".customer_facets'.encode()
            )
        return {(r[0], r[1]) for r in found.fetchall()}


# ---------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------


def test_every_write_path_keeps_the_facet_table(store: Store) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1", facets={"industry=软件", "grade.stars=4"}))
        s.customers.add_many(
            [customer("c-2", facets={"industry=零售"}), customer("c-3"), customer("c-4")]
        )
        assert (
            s.customers.add_many(
                [
                    customer("c-2", facets={"industry=ignored"}),
                    customer("c-5", facets={"region=华东", "interest=云", "interest=硬件"}),
                    customer("c-5", facets={"region=second copy"}),
                ],
                skip_existing=True,
            )
            == 1
        )
        s.commit()
    assert stored_facets(store) == {
        ("c-1", "industry=软件"),
        ("c-1", "grade.stars=4"),
        ("c-2", "industry=零售"),
        ("c-5", "region=华东"),
        ("c-5", "interest=云"),
        ("c-5", "interest=硬件"),
    }
    with store.transaction() as s:
        s.customers.update(
            customer("c-1", facets={"grade.stars=5", "industry=软件"}), expected_version=1
        )
        s.customers.update(customer("c-2"), expected_version=1)
        s.customers.update(customer("c-3", facets={"region=华北"}), expected_version=1)
        s.customers.delete("c-5", expected_version=1)
        s.commit()
    assert stored_facets(store) == {
        ("c-1", "industry=软件"),
        ("c-1", "grade.stars=5"),
        ("c-3", "region=华北"),
    }
    with store.transaction(readonly=True) as s:
        assert [row.facets for row in s.customers.get_many(["c-1", "c-2", "c-3", "c-4"])] == [
            {"industry=软件", "grade.stars=5"},
            frozenset(),
            {"region=华北"},
            frozenset(),
        ]


def test_a_failed_update_leaves_the_facets_as_they_were(store: Store) -> None:
    with store.transaction() as s:
        s.customers.add(customer("c-1", facets={"industry=a"}))
        s.commit()
    with store.transaction() as s:
        with pytest.raises(Exception, match="c-1"):
            s.customers.update(customer("c-1", facets={"industry=b"}), expected_version=7)
        assert s.customers.get("c-1").facets == {"industry=a"}
        s.commit()
    assert stored_facets(store) == {("c-1", "industry=a")}


# ---------------------------------------------------------------------------------------------
# Reads against the reference semantics
# ---------------------------------------------------------------------------------------------


def random_rows(seed: int, count: int) -> list[CustomerRow]:
    rnd = random.Random(seed)
    rows = []
    for n in range(count):
        facets = {
            f"{name}={rnd.choice(VALUES)}"
            for name in ("industry", "region", "verified_at")
            for _ in range(rnd.choice((0, 1, 1, 2)))
        }
        rows.append(
            customer(
                f"c-{n:04d}",
                kind=rnd.choice(("individual", "organization")),
                stage=rnd.choice(("lead", "active")),
                state=rnd.choice(("live", "live", "archived", "restricted", "erased", "merged")),
                owner=rnd.choice((None, "u-1", "u-2")),
                team=rnd.choice((None, "east", "west")),
                grade=rnd.choice((None, "A", "B")),
                tags=tuple(rnd.choice(("vip", "b2b")) for _ in range(rnd.randrange(3))),
                facets=facets,
                created_at=T0 + timedelta(hours=rnd.randrange(24 * 60)),
                updated_at=T0 + timedelta(hours=rnd.randrange(24 * 60)),
            )
        )
    return rows


FILTERS = [
    None,
    CustomerFilter(),
    LIVE,
    CustomerFilter(states=set()),
    CustomerFilter(states={"archived"}, kind="individual"),
    CustomerFilter(facets=[FacetCondition(any_of={"industry=a", "industry=软件"})]),
    CustomerFilter(facets=[FacetCondition(any_of={"industry=a=b"})]),
    CustomerFilter(facets=[FacetCondition(at_least="region=\uffff", below="region=\U00010001")]),
    CustomerFilter(facets=[FacetCondition(at_least="region=", below="region>")]),
    CustomerFilter(facets=[FacetCondition(at_least="region=b", below="region=a")]),  # empty
    CustomerFilter(
        facets=[
            FacetCondition(any_of={"industry=b"}),
            FacetCondition(at_least="verified_at=a", below="verified_at=软"),
        ],
        tag="vip",
    ),
    CustomerFilter(reach=Reach(owner="u-1", team="east")),
    CustomerFilter(reach=Reach(team="west"), states={"live"}),
    CustomerFilter(reach=Reach()),
    CustomerFilter(
        created_after=T0 + timedelta(days=10),
        created_before=T0 + timedelta(days=40),
        updated_before=T0 + timedelta(days=50),
    ),
]

GROUPINGS = [
    ["industry"],
    ["tag"],
    ["state"],
    ["owner", "industry"],
    ["industry", "region"],
    ["region", "verified_at"],
    ["tag", "verified_at"],
    ["grade", "tag"],
    ["nobody"],
]


def reference_groups(
    rows: list[CustomerRow], by: list[str], where: CustomerFilter | None
) -> dict[tuple[str | None, ...], int]:
    counts: Counter[tuple[str | None, ...]] = Counter()
    for row in rows:
        if where is not None and not where.matches(row):
            continue
        values: list[list[str | None]] = []
        for name in by:
            if name in GROUP_COLUMNS:
                values.append([getattr(row, name)])
            elif name == "tag":
                values.append([*set(row.tags)] or [None])
            else:
                found = {f.partition("=")[2] for f in row.facets if f.partition("=")[0] == name}
                values.append([*found] or [None])
        counts.update(itertools.product(*values))
    return dict(counts)


def test_reads_agree_with_the_reference_semantics(store: Store) -> None:
    rows = random_rows(seed=20, count=240)
    rnd = random.Random(21)
    purchases = [
        purchase(
            f"a-{n:04d}",
            rnd.choice([r.id for r in rows] + ["no-such-customer"]),
            rnd.choice((-5, 0, 10, 99)),
            T0 + timedelta(hours=rnd.randrange(24 * 60)),
        )
        for n in range(400)
    ]
    with store.transaction() as s:
        s.customers.add_many(rows[:200])
        for row in rows[200:]:
            s.customers.add(row)
        s.activities.add_many(purchases)
        s.commit()
    wide = [T0 + timedelta(days=d) for d in (0, 7, 8, 30, 45, 61)]
    narrow = [T0 + timedelta(days=10, hours=h) for h in (0, 5, 30)]  # few rows: another plan
    with store.transaction(readonly=True) as s:
        for where in FILTERS:
            expected = [r for r in rows if where is None or where.matches(r)]
            assert s.customers.query(where=where, limit=1000) == [
                attrs.evolve(r, version=1) for r in expected
            ], where
            assert s.customers.count(where=where) == len(expected), where
            paged: list[str] = []
            after = None
            while page := s.customers.query(where=where, after=after, limit=9):
                paged.extend(r.id for r in page)
                after = page[-1].id
            assert paged == [r.id for r in expected], where
            for by in GROUPINGS:
                assert s.customers.group_count(by, where=where) == reference_groups(
                    rows, by, where
                ), (by, where)
            kept = {r.id for r in expected}
            for edges, field in itertools.product((wide, narrow), ("created_at", "updated_at")):
                assert s.customers.count_by_period(edges, field=field, where=where) == [
                    sum(1 for r in expected if low <= getattr(r, field) < high)
                    for low, high in itertools.pairwise(edges)
                ], (field, where)
                assert s.activities.buyers_by_period(edges, where=where) == [
                    buyers(purchases, low, high, None if where is None else kept)
                    for low, high in itertools.pairwise(edges)
                ], where


def buyers(
    purchases: list[ActivityRow], low: datetime, high: datetime, kept: set[str] | None
) -> tuple[int, int]:
    made = Counter(
        p.customer_id
        for p in purchases
        if low <= p.occurred_at < high
        and p.amount is not None
        and p.amount > 0
        and (kept is None or p.customer_id in kept)
    )
    return len(made), sum(1 for n in made.values() if n > 1)


def test_facets_compare_in_code_point_order(store: Store) -> None:
    values = ["Z", "a", "é", "\uffff", "\U00010000", "\U0010ffff"]  # UTF-16 would misorder two
    with store.transaction() as s:
        s.customers.add_many(
            [customer(f"c-{n}", facets={f"name={v}"}) for n, v in enumerate(values)]
        )
        s.commit()
    with store.transaction(readonly=True) as s:
        for low, high in itertools.combinations(values, 2):
            where = CustomerFilter(
                facets=[FacetCondition(at_least=f"name={low}", below=f"name={high}")]
            )
            inside = [f"c-{n}" for n, v in enumerate(values) if low <= v < high]
            assert [r.id for r in s.customers.query(where=where)] == inside, (low, high)
        assert s.customers.group_count(["name"]) == {(v,): 1 for v in values}


def test_ten_thousand_edges_in_one_call(store: Store) -> None:
    with store.transaction() as s:
        s.customers.add_many(
            [customer(f"c-{n}", created_at=T0 + timedelta(minutes=n)) for n in range(50)]
        )
        s.activities.add_many(
            [purchase(f"a-{n}", f"c-{n % 7}", 10, T0 + timedelta(minutes=n)) for n in range(50)]
        )
        s.commit()
    edges = [T0 + timedelta(seconds=30 * n) for n in range(10_000)]
    with store.transaction(readonly=True) as s:
        counts = s.customers.count_by_period(edges, where=CustomerFilter(kind="individual"))
        assert len(counts) == 9_999 and sum(counts) == 50
        assert [counts[2 * n] for n in range(50)] == [1] * 50
        bought = s.activities.buyers_by_period(edges, where=CustomerFilter())
        assert sum(b for b, _ in bought) == 50 and {r for _, r in bought} == {0}


# ---------------------------------------------------------------------------------------------
# Facet-first counts: every row's facets, less those of the rows the states leave out
# ---------------------------------------------------------------------------------------------


def first_flags(store: Store) -> dict[tuple[str, str], int]:
    """Every facet row's ``first_of_name``, by (customer id, facet), read behind the store's
    back."""
    with store.transaction(readonly=True) as session:
        conn: Any = session._conn  # type: ignore[attr-defined]
        if isinstance(store, SQLiteStore):
            found = conn.execute(
                "SELECT c.id, f.facet, f.first_of_name FROM customer_facets AS f "
                "JOIN customers AS c ON c.pk = f.customer_pk"
            )
        else:
            schema = store.schema  # type: ignore[attr-defined]
            found = conn.execute(
                f'SELECT customer_id, facet, first_of_name FROM "{schema}".customer_facets'.encode()
            )
        return {(r[0], r[1]): int(r[2]) for r in found.fetchall()}


def flags_of(rows: list[CustomerRow]) -> dict[tuple[str, str], int]:
    """The flags the rows should have: 1 for each customer's least facet of each name."""
    expected: dict[tuple[str, str], int] = {}
    for row in rows:
        seen: set[str] = set()
        for facet in sorted(row.facets):
            name = facet.partition("=")[0]
            expected[(row.id, facet)] = 0 if name in seen else 1
            seen.add(name)
    return expected


def shown_and_hidden_rows() -> list[CustomerRow]:
    """Rows of every state, the hidden ones (erased, merged) carrying facets like the others:
    several values of one name, names that are prefixes of one another, an empty value, and a
    row without facets."""
    return [
        customer("c-01", facets={"industry=a", "region=x"}),
        customer(
            "c-02",
            facets={"industry=a", "industry=b", "region=x", "region=y"},
            owner="u-1",
            team="east",
        ),
        customer("c-03", facets={"industry=b"}, state="archived", owner="u-2"),
        customer(
            "c-04", facets={"region=y", "regions=z", "industr=y"}, state="restricted", team="east"
        ),
        customer("c-05"),
        customer(
            "c-06", facets={"industry=a", "industry=c", "region=x"}, state="erased", owner="u-1"
        ),
        customer("c-07", facets={"region=w", "industryx=q"}, state="merged", team="east"),
        customer("c-08", facets={"industry=c", "industry=d"}, state="erased"),
        customer("c-09", facets={"industry=", "region=y"}, state="archived"),
        customer("c-10", facets={"region=x", "region=z"}, state="merged", owner="u-1"),
    ]


SHOWN = frozenset({"live", "archived", "restricted"})
STATE_FILTERS = [
    None,
    CustomerFilter(),
    LIVE,
    CustomerFilter(state="live"),
    CustomerFilter(states={"live", "erased"}),
    CustomerFilter(states={"erased", "merged"}),  # no live row: the joined count of those
    CustomerFilter(state="erased", states={"erased", "live"}),
    CustomerFilter(states=set()),
    CustomerFilter(states=SHOWN, reach=Reach(owner="u-1", team="east")),
    CustomerFilter(states=SHOWN, facets=[FacetCondition(any_of={"region=x"})]),
    CustomerFilter(states=SHOWN, kind="individual"),
]
FACET_GROUPINGS = [
    ["industry"],
    ["region"],
    ["regions"],
    ["nobody"],
    ["industry", "region"],  # region has fewer values: SQLite keys it, streams industry
    ["region", "industry"],
    ["industry", "nobody"],
    ["nobody", "region"],
    ["regions", "region"],
    ["industry", "owner"],  # a column with an index: counted from index ranges (SQLite)
    ["team", "region"],
    ["industry", "state"],  # a column without one: the joined count
]


def assert_groups(store: Store, rows: list[CustomerRow]) -> None:
    with store.transaction(readonly=True) as s:
        for where in STATE_FILTERS:
            for by in FACET_GROUPINGS:
                assert s.customers.group_count(by, where=where) == reference_groups(
                    rows, by, where
                ), (by, where)


def test_facet_first_counts_leave_out_the_hidden_rows_and_their_facets(store: Store) -> None:
    rows = shown_and_hidden_rows()
    with store.transaction() as s:
        s.customers.add_many(rows[:5])
        for row in rows[5:]:
            s.customers.add(row)
        s.commit()
    assert first_flags(store) == flags_of(rows)
    assert_groups(store, rows)


def test_updates_keep_one_first_facet_per_name(store: Store) -> None:
    """Adding a lesser value, dropping the first one, hiding a row and showing it again: each
    customer keeps exactly one first facet of each name it holds, and the counts follow."""
    rows = shown_and_hidden_rows()
    with store.transaction() as s:
        s.customers.add_many(rows)
        s.commit()
    changes = {
        "c-01": {"facets": {"industry=0", "industry=a", "region=x"}},  # a new first
        "c-02": {"facets": {"industry=b", "region=y", "region=z"}},  # the first ones gone
        "c-03": {"state": "erased"},
        "c-06": {"state": "live"},
        "c-08": {"facets": frozenset(), "state": "merged"},
        "c-10": {"facets": {"region=a", "region=x", "region=z"}, "state": "live"},
    }
    with store.transaction() as s:
        for n, row in enumerate(rows):
            if row.id in changes:
                rows[n] = attrs.evolve(row, **changes[row.id])
                s.customers.update(rows[n], expected_version=1)
        s.commit()
    assert first_flags(store) == flags_of(rows)
    assert_groups(store, rows)
    with store.transaction() as s:
        s.customers.delete("c-02", expected_version=2)
        s.commit()
    rows = [row for row in rows if row.id != "c-02"]
    assert first_flags(store) == flags_of(rows)
    assert_groups(store, rows)


def test_sqlite_pairs_of_too_many_values_keep_the_joined_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grouping with more values than a pair reads one by one: the joined statement, the
    same groups."""
    monkeypatch.setattr(sqlite_pairs, "MAX_VALUES", 1)
    rows = shown_and_hidden_rows()
    with SQLiteStore(tmp_path / "many.db", key_file=False) as store:
        with store.transaction() as s:
            s.customers.add_many(rows)
            s.commit()
        assert_groups(store, rows)
        with store.transaction(readonly=True) as s:
            conn: sqlite3.Connection = s._conn
            sent: list[str] = []
            conn.set_trace_callback(sent.append)
            try:
                s.customers.group_count(["industry", "owner"])
            finally:
                conn.set_trace_callback(None)
    assert "LEFT JOIN customer_facets AS g0" in sent[-1], sent
    monkeypatch.setattr(sqlite_pairs, "MAX_VALUES", 5)  # industry's 5 values, region's 4
    with (
        SQLiteStore(tmp_path / "many.db", key_file=False) as store,
        store.transaction(readonly=True) as s,
    ):
        conn = s._conn
        sent.clear()
        conn.set_trace_callback(sent.append)
        try:
            s.customers.group_count(["industry", "region"])
        finally:
            conn.set_trace_callback(None)
    assert not any("JOIN" in sql for sql in sent), sent


# ---------------------------------------------------------------------------------------------
# An existing store gets the facet table
# ---------------------------------------------------------------------------------------------


def test_a_schema_8_sqlite_file_opens_with_an_empty_facet_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:  # what custrec wrote before schema 9: no facets
        patch.setattr(sqlite_backend, "MIGRATIONS", sqlite_backend.MIGRATIONS[:8])
        patch.setattr(sqlite_tables._CustomerTable, "_read_facets", lambda *_, **__: None)
        patch.setattr(sqlite_tables._CustomerTable, "_write_facets", lambda *_, **__: None)
        with SQLiteStore(path, key_file=False) as old, old.transaction() as s:
            s.customers.add_many([customer("c-1", tags=("vip",)), customer("c-2")])
            s.activities.add(purchase("a-1", "c-1", 10, T0))
            s.commit()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (8,)
    finally:
        conn.close()
    with SQLiteStore(path, key_file=False) as store:
        with store.transaction() as s:
            assert s.customers.get("c-1").facets == frozenset()
            assert s.customers.group_count(["industry", "tag"]) == {
                (None, "vip"): 1,
                (None, None): 1,
            }
            s.customers.update(customer("c-2", facets={"industry=软件"}), expected_version=1)
            s.commit()
        with store.transaction(readonly=True) as s:
            where = CustomerFilter(facets=[FacetCondition(any_of={"industry=软件"})])
            assert [r.id for r in s.customers.query(where=where)] == ["c-2"]
            assert s.customers.count_by_period([T0, T0 + timedelta(1)]) == [2]
            assert s.activities.buyers_by_period([T0, T0 + timedelta(1)]) == [(1, 0)]
    conn = sqlite3.connect(path)
    try:
        assert (
            conn.execute("SELECT max(version) FROM schema_version").fetchone()
            == (sqlite_backend.SCHEMA_VERSION,)
            == (11,)
        )
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"customer_facets", "customer_facets_facet", "customers_created_at"} <= names
        assert "activities_bought" in names
    finally:
        conn.close()


def test_a_schema_5_postgres_schema_gets_an_empty_facet_table(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    psycopg = pytest.importorskip("psycopg")
    import custrec.backends.postgres as pg

    with monkeypatch.context() as patch:
        patch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:5])
        pg.PostgresStore(postgres_dsn, schema=postgres_schema).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        for customer_id in ("c-1", "c-2"):  # rows as schema 5 held them
            admin.execute(
                f'INSERT INTO "{postgres_schema}".customers (id, version, payload, kind,'
                " stage, created_at, updated_at)"
                " VALUES (%s, 1, 'x', 'individual', 'lead', %s, %s)".encode(),
                (customer_id, T0, T0),
            )
        with pg.PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            with store.transaction() as s:
                assert s.customers.get("c-1").facets == frozenset()
                assert s.customers.group_count(["industry"]) == {(None,): 2}
                s.customers.update(customer("c-2", facets={"industry=软件"}), expected_version=1)
                s.commit()
            with store.transaction(readonly=True) as s:
                assert s.customers.group_count(["industry"]) == {(None,): 1, ("软件",): 1}
        versions = admin.execute(
            f'SELECT max(version) FROM "{postgres_schema}".schema_version'.encode()
        ).fetchone()
        assert versions == (pg.SCHEMA_VERSION,) == (8,)
        indexes = dict(
            admin.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
                (postgres_schema,),
            ).fetchall()
        )
        assert "(facet, customer_id)" in indexes["customer_facets_facet"]
        assert "(created_at)" in indexes["customers_created_at"]
        assert "(occurred_at, customer_id)" in indexes["activities_bought"]
        collation = admin.execute(
            "SELECT collation_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'customer_facets' AND column_name = 'facet'",
            (postgres_schema,),
        ).fetchone()
        assert collation == ("C",)


def _write_facets_v10(table: Any, items: Any, *, replace: bool = False) -> None:
    """What schema 10 wrote: the facets without their flag."""
    if replace:
        table._conn.executemany(
            "DELETE FROM customer_facets WHERE customer_pk = ?", [(pk,) for pk, _ in items]
        )
    table._conn.executemany(
        "INSERT INTO customer_facets (customer_pk, facet) VALUES (?, ?)",
        [(pk, facet) for pk, row in items for facet in row.facets],
    )


def test_a_schema_10_sqlite_file_gets_the_first_facet_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    rows = shown_and_hidden_rows()
    with monkeypatch.context() as patch:  # what custrec wrote at schema 10
        patch.setattr(sqlite_backend, "MIGRATIONS", sqlite_backend.MIGRATIONS[:10])
        patch.setattr(sqlite_tables._CustomerTable, "_write_facets", _write_facets_v10)
        with SQLiteStore(path, key_file=False) as old, old.transaction() as s:
            s.customers.add_many(rows)
            s.commit()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (10,)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(customer_facets)")]
        assert columns == ["customer_pk", "facet"]
    finally:
        conn.close()
    with SQLiteStore(path, key_file=False) as store:
        assert first_flags(store) == flags_of(rows)
        assert_groups(store, rows)
        with store.transaction() as s:  # the new code writes the flags itself
            rows[0] = attrs.evolve(rows[0], facets={"industry=0", "industry=a"})
            s.customers.update(rows[0], expected_version=1)
            s.commit()
        assert first_flags(store) == flags_of(rows)
        assert_groups(store, rows)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (11,)
        index = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'customer_facets_facet'"
        ).fetchone()[0]
        assert index.endswith("(facet, customer_pk, first_of_name)"), index
    finally:
        conn.close()


def test_a_schema_7_postgres_schema_gets_the_first_facet_flags(
    postgres_dsn: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    psycopg = pytest.importorskip("psycopg")
    import custrec.backends.postgres as pg

    rows = shown_and_hidden_rows()
    with monkeypatch.context() as patch:
        patch.setattr(pg, "MIGRATIONS", pg.MIGRATIONS[:7])
        pg.PostgresStore(postgres_dsn, schema=postgres_schema).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        for row in rows:  # as schema 7 held them: the facets without their flag
            admin.execute(
                f'INSERT INTO "{postgres_schema}".customers (id, version, payload, kind,'
                " stage, owner, team, created_at, updated_at, state)"
                " VALUES (%s, 1, 'x', 'individual', 'lead', %s, %s, %s, %s, %s)".encode(),
                (row.id, row.owner, row.team, T0, T0, row.state),
            )
            for facet in row.facets:
                admin.execute(
                    f'INSERT INTO "{postgres_schema}".customer_facets (customer_id, facet)'
                    " VALUES (%s, %s)".encode(),
                    (row.id, facet),
                )
        with pg.PostgresStore(postgres_dsn, schema=postgres_schema) as store:
            assert first_flags(store) == flags_of(rows)
            assert_groups(store, rows)
            with store.transaction() as s:
                rows[1] = attrs.evolve(rows[1], facets={"industry=b", "region=a", "region=y"})
                s.customers.update(rows[1], expected_version=1)
                s.commit()
            assert first_flags(store) == flags_of(rows)
            assert_groups(store, rows)
        versions = admin.execute(
            f'SELECT max(version) FROM "{postgres_schema}".schema_version'.encode()
        ).fetchone()
        assert versions == (pg.SCHEMA_VERSION,) == (8,)
        index = admin.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname = 'customer_facets_facet'",
            (postgres_schema,),
        ).fetchone()
        assert index is not None
        assert index[0].endswith("(facet, customer_id) INCLUDE (first_of_name)"), index


# ---------------------------------------------------------------------------------------------
# SQLite reads the indexes it was given
# ---------------------------------------------------------------------------------------------


def test_sqlite_counts_read_index_ranges(tmp_path: Path) -> None:
    """The statements the counts and a page send, explained: each reads an index range."""
    with SQLiteStore(tmp_path / "plans.db", key_file=False) as store:
        with store.transaction() as s:
            s.customers.add(customer("c-1", facets={"industry=a"}))
            s.activities.add(purchase("a-1", "c-1", 10, T0))
            s.commit()
        edges = [T0, T0 + timedelta(days=1)]
        where = CustomerFilter(facets=[FacetCondition(any_of={"industry=a"})])
        with store.transaction(readonly=True) as s:
            conn: sqlite3.Connection = s._conn
            sent: list[str] = []
            conn.set_trace_callback(sent.append)  # each statement, its parameters filled in
            try:
                s.customers.group_count(["industry"], where=CustomerFilter(kind="individual"))
                s.customers.count_by_period(edges)
                s.activities.buyers_by_period(edges)
                s.customers.count(where=where)
                s.customers.query(where=where, after="c-0", limit=10)
                s.activities.buyers_by_period(edges, where=LIVE)
            finally:
                conn.set_trace_callback(None)
            group, periods, bought, counted, paged, *_, customers_first = (
                " | ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)) for sql in sent
            )
    # a grouping under a column's condition: the customers it selects, each one's facets
    assert "SEARCH g0 USING PRIMARY KEY (customer_pk=? AND facet>? AND facet<?)" in group
    assert "USING COVERING INDEX customers_created_at (created_at>? AND created_at<?)" in periods
    assert "USING INDEX activities_bought (occurred_at>? AND occurred_at<?)" in bought
    # a count starts from the facet's index; a page walks the ids and seeks each row's facet
    assert "SEARCH f USING COVERING INDEX customer_facets_facet (facet=?)" in counted, counted
    assert "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)" in counted, counted
    assert "sqlite_autoindex_customers_1 (id>?)" in paged, paged
    assert "SEARCH f USING PRIMARY KEY (customer_pk=? AND facet=?)" in paged, paged
    # buyers of customers that a filter selects, over most purchases: the customers first
    assert customers_first.index("SCAN c") < customers_first.index("SEARCH a"), customers_first


def test_sqlite_facet_first_counts_read_the_facet_index(tmp_path: Path) -> None:
    """Grouped by facet names with no condition, or with the shown states: one covering range
    of the facet index per name (in its order: no sort); a pair (two names, or a name and a
    column) one covering range of an index per value, with no join and no sort; and the rows
    the states leave out read through the index of rows not live."""
    with SQLiteStore(tmp_path / "plans.db", key_file=False) as store:
        with store.transaction() as s:
            s.customers.add_many(
                [
                    customer("c-1", facets={"industry=a", "region=x", "region=y"}, owner="u"),
                    customer("c-2", facets={"industry=b"}, state="erased"),
                ]
            )
            s.commit()
        plans: dict[str, list[str]] = {}
        with store.transaction(readonly=True) as s:
            conn: sqlite3.Connection = s._conn
            for label, by, where in (
                ("one", ["industry"], None),
                ("pair", ["industry", "region"], None),
                ("column", ["region", "owner"], LIVE),
                ("shown", ["industry"], LIVE),
            ):
                sent: list[str] = []
                conn.set_trace_callback(sent.append)
                try:
                    s.customers.group_count(by, where=where)
                finally:
                    conn.set_trace_callback(None)
                plans[label] = [
                    " | ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
                    for sql in sent
                ]
    one = plans["one"]
    assert len(one) == 2, one  # the customers, the name's range
    ranged = "SEARCH f USING COVERING INDEX customer_facets_facet (facet>? AND facet<?)"
    assert one[1] == ranged, one
    valued = "SEARCH f USING COVERING INDEX customer_facets_facet (facet=?)"
    for label, by_value in (("pair", valued), ("column", "customers_owner (owner=?)")):
        sent = plans[label]
        counted = sent[1:-1] if label == "column" else sent[1:]  # the column's: then hidden
        assert any(by_value in plan for plan in counted), sent
        for plan in counted:  # each an index range or seek: no join, no sort, no table scan
            assert "TEMP B-TREE" not in plan, sent
            assert plan.count("SEARCH") == max(1, plan.count("SCALAR SUBQUERY")), sent
            assert "SCAN" not in plan.replace("SCAN (subquery-1)", "").replace(
                "SCAN CONSTANT ROW", ""
            ), sent
    hidden = plans["column"][-1]
    assert "SEARCH c USING INDEX customers_state (state=?)" in hidden, hidden
    shown = plans["shown"]
    assert shown[1] == ranged, shown
    assert "SEARCH c USING COVERING INDEX customers_state (state=?)" in shown[2], shown
    assert "SEARCH g0 USING PRIMARY KEY" in shown[2], shown
