"""``session.work``: service cases and tasks (private; see :mod:`custrec.testing.contracts`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import WORK_KINDS, WorkFilter, WorkRow
from custrec.testing._contracts.common import (
    _CST,
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _refused,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._support import T0, finishes_while_held, minutes, reading, writing

_NUL: Final = "a\x00b"
_NAIVE: Final = datetime(2024, 3, 1, 9, 30)
_FAR: Final = T0 + timedelta(days=3650)
_BAD_LIMITS: Final = (0, -1, True, 1.5, Decimal(5), "5")
_BEYOND_64_BITS: Final = (2**63 - 1, 2**63, 2**70)

# few values, so that filters match and due times tie (one instant given in two time zones)
_CUSTOMERS: Final = ("c-1", "c-2", "c-3")
_STATUSES: Final = ("new", "waiting", "done")
_ASSIGNEES: Final = (None, "staff-1", "staff-2")
_TEAMS: Final = (None, "north", "south")
_DUE_TIMES: Final = (minutes(-30), minutes(0), minutes(0).astimezone(_CST), minutes(45))


def work_item(work_id: str | None = None, **changes: Any) -> WorkRow:
    """A valid open task of customer ``c-1``, due one hour after ``T0``."""
    row = WorkRow(
        id=work_id or new_id(),
        kind="task",
        customer_id="c-1",
        status="new",
        open=True,
        assignee="staff-1",
        team="north",
        due_at=minutes(60),
        breached=False,
        created_at=T0,
        updated_at=T0,
        payload=b"\x00sealed\xff" + new_id().encode(),
    )
    return attrs.evolve(row, **changes) if changes else row


def _stored(row: WorkRow, version: int = 1) -> WorkRow:
    return attrs.evolve(row, version=version)


def _due_order(row: WorkRow) -> tuple[datetime, str]:
    assert row.due_at is not None
    return row.due_at, row.id


def _due(rows: Iterable[WorkRow], before: datetime, where: WorkFilter | None) -> list[WorkRow]:
    """The reference answer of ``due`` (every page at once)."""
    found = [
        r
        for r in rows
        if r.open
        and r.due_at is not None
        and r.due_at < before
        and (where is None or where.matches(r))
    ]
    return sorted(found, key=_due_order)


def _page_query(session: Session, where: WorkFilter | None, limit: int) -> list[WorkRow]:
    got: list[WorkRow] = []
    after: str | None = None
    while page := session.work.query(where=where, after=after, limit=limit):
        assert len(page) <= limit
        got += page
        after = page[-1].id
    return got


def _page_due(
    session: Session, before: datetime, where: WorkFilter | None, limit: int
) -> list[WorkRow]:
    got: list[WorkRow] = []
    after: tuple[datetime, str] | None = None
    while page := session.work.due(before=before, where=where, after=after, limit=limit):
        assert len(page) <= limit
        got += page
        after = _due_order(page[-1])
    return got


@st.composite
def _rows(draw: st.DrawFn) -> WorkRow:
    prefix = draw(st.text(alphabet="aAzZ09-é中", max_size=2))  # ids in code-point order
    return WorkRow(
        id=prefix + new_id(),
        kind=draw(st.sampled_from(WORK_KINDS)),
        customer_id=draw(st.sampled_from(_CUSTOMERS)),
        status=draw(st.sampled_from(_STATUSES)),
        open=draw(st.booleans()),
        assignee=draw(st.sampled_from(_ASSIGNEES)),
        team=draw(st.sampled_from(_TEAMS)),
        due_at=draw(st.one_of(st.none(), st.sampled_from(_DUE_TIMES))),
        breached=draw(st.booleans()),
        created_at=T0,
        updated_at=T0,
        payload=prefix.encode(),
    )


def _maybe(values: Iterable[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.sampled_from([v for v in values if v is not None]))


_FILTERS: Final = st.one_of(
    st.none(),
    st.builds(
        WorkFilter,
        kind=_maybe(WORK_KINDS),
        open=_maybe((True, False)),
        status=_maybe(_STATUSES),
        customer_id=_maybe(_CUSTOMERS),
        assignee=_maybe(_ASSIGNEES),
        team=_maybe(_TEAMS),
        breached=_maybe((True, False)),
    ),
)


class WorkTableContract(_StoreFixtures):
    """``session.work``: versioned cases and tasks, compare-and-set, filtered keyset pages by
    id, and due-time lists of open rows by ``(due_at, id)``."""

    # -- rows and versions --------------------------------------------------------------------

    def test_add_returns_version_one_and_ignores_the_given_version(self, store: Store) -> None:
        row = work_item(version=42)
        with writing(store) as s:
            assert s.work.add(row) == 1
        with reading(store) as s:
            assert s.work.get(row.id) == _stored(row)

    def test_work_get_round_trips_every_field(self, store: Store) -> None:
        local = datetime(2024, 2, 29, 23, 59, 59, 500_001, tzinfo=_CST)
        rows = [
            work_item(
                kind="case",
                status="escalated",
                open=False,
                breached=True,
                payload=bytes(range(256)),
                created_at=local,
                updated_at=local + timedelta(microseconds=1),
                due_at=local + timedelta(days=2),
            ),
            work_item(assignee=None, team=None, due_at=None, payload=b""),
        ]
        with writing(store) as s:
            s.work.add_many(rows)
        with reading(store) as s:
            got = [s.work.get(r.id) for r in rows]
        assert got == [_stored(r) for r in rows]
        assert type(got[0].payload) is bytes and got[0].open is False and got[0].breached is True
        assert _is_utc(got[0].created_at) and _is_utc(got[0].updated_at)
        assert _is_utc(got[0].due_at)

    def test_work_add_of_existing_id_raises_duplicate_key(self, store: Store) -> None:
        row = work_item()
        with writing(store) as s:
            s.work.add(row)
        with store.transaction() as s:
            with pytest.raises(DuplicateKey):
                s.work.add(work_item(row.id, payload=b"other"))
            assert s.work.get(row.id) == _stored(row)

    def test_work_get_of_missing_id_raises_not_found(self, store: Store) -> None:
        with reading(store) as s, pytest.raises(NotFound):
            s.work.get(new_id())

    def test_update_replaces_all_but_id_kind_and_created_at(self, store: Store) -> None:
        row = work_item()
        with writing(store) as s:
            s.work.add(row)
        changed = work_item(
            row.id,
            kind="case",
            customer_id="c-9",
            status="done",
            open=False,
            assignee=None,
            team="south",
            due_at=None,
            breached=True,
            created_at=minutes(5),
            updated_at=minutes(9),
            payload=b"new",
        )
        with writing(store) as s:
            assert s.work.update(changed, expected_version=1) == 2
            assert s.work.update(changed, expected_version=2) == 3
        with reading(store) as s:
            got = s.work.get(row.id)
        assert got == attrs.evolve(changed, version=3, kind="task", created_at=T0)

    def test_work_update_of_missing_id_raises_not_found(self, store: Store) -> None:
        with store.transaction() as s, pytest.raises(NotFound):
            s.work.update(work_item(), expected_version=1)

    @pytest.mark.parametrize("expected", [0, 2, 7, -1, 2**63, 2**64, -(2**70)])
    def test_update_with_another_version_raises_version_conflict(
        self, store: Store, expected: int
    ) -> None:
        row = work_item()
        with writing(store) as s:
            s.work.add(row)
        with store.transaction() as s:
            with pytest.raises(VersionConflict):
                s.work.update(attrs.evolve(row, status="done"), expected_version=expected)
            assert s.work.get(row.id) == _stored(row)

    @pytest.mark.parametrize("expected", ["1", 1.0, None, True])
    def test_expected_version_that_is_not_an_integer_raises_value_error(
        self, store: Store, expected: object
    ) -> None:
        row = work_item()
        with writing(store) as s:
            s.work.add(row)
        with store.transaction() as s, _invalid_argument():
            s.work.update(row, expected_version=expected)  # type: ignore[arg-type]

    # -- add_many -----------------------------------------------------------------------------

    def test_add_many_returns_the_number_inserted(self, store: Store) -> None:
        rows = [work_item() for _ in range(3)]
        with writing(store) as s:
            assert s.work.add_many(rows) == 3
            assert s.work.add_many([]) == 0
        with reading(store) as s:
            assert [s.work.get(r.id) for r in rows] == [_stored(r) for r in rows]

    @pytest.mark.parametrize("twice", ["existing", "in the batch"])
    def test_add_many_with_a_taken_id_raises_duplicate_key_and_adds_nothing(
        self, store: Store, twice: str
    ) -> None:
        old = work_item()
        with writing(store) as s:
            s.work.add(old)
        fresh = [work_item(), work_item()]
        taken = old.id if twice == "existing" else fresh[0].id
        with store.transaction() as s:
            with pytest.raises(DuplicateKey):
                s.work.add_many([*fresh, work_item(taken)])
            assert s.work.count() == 1
            assert s.work.add_many(fresh) == 2  # the session is usable, as it was

    def test_add_many_skip_existing_inserts_only_new_ids(self, store: Store) -> None:
        old = work_item()
        with writing(store) as s:
            s.work.add(old)
        new = work_item()
        with writing(store) as s:
            assert s.work.add_many([work_item(old.id, status="x"), new], skip_existing=True) == 1
            assert s.work.add_many([new, old], skip_existing=True) == 0
        with reading(store) as s:
            assert s.work.get(old.id) == _stored(old)
            assert s.work.get(new.id) == _stored(new)
            assert s.work.count() == 2

    # -- lists --------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("facet", "value"),
        [
            ("kind", "case"),
            ("open", False),
            ("status", "waiting"),
            ("customer_id", "c-2"),
            ("assignee", "staff-2"),
            ("team", "south"),
            ("breached", True),
        ],
    )
    def test_query_and_count_filter_by_each_facet(
        self, store: Store, facet: str, value: Any
    ) -> None:
        ids = _ordered_ids(4)
        rows = [work_item(i) for i in ids]
        rows[1] = attrs.evolve(rows[1], **{facet: value})
        rows[3] = attrs.evolve(rows[3], **{facet: value})
        with writing(store) as s:
            s.work.add_many(rows)
        where = WorkFilter(**{facet: value})
        with reading(store) as s:
            assert [r.id for r in s.work.query(where=where)] == [ids[1], ids[3]]
            assert s.work.count(where=where) == 2
            assert s.work.count() == 4

    def test_query_pages_by_id_with_after_and_limit(self, store: Store) -> None:
        ids = _ordered_ids(5)
        with writing(store) as s:
            s.work.add_many([work_item(i) for i in reversed(ids)])
        with reading(store) as s:
            assert [r.id for r in s.work.query(limit=2)] == ids[:2]
            assert [r.id for r in s.work.query(after=ids[1], limit=2)] == ids[2:4]
            assert [r.id for r in s.work.query(after=ids[4])] == []
            where = WorkFilter(customer_id="c-1", kind="task")
            assert [r.id for r in s.work.query(where=where, after=ids[0])] == ids[1:]

    def test_due_lists_open_rows_due_before_the_bound_by_due_time_then_id(
        self, store: Store
    ) -> None:
        ids = _ordered_ids(7)
        rows = [
            work_item(ids[0], due_at=minutes(30)),
            work_item(ids[1], due_at=minutes(10)),
            work_item(ids[2], due_at=minutes(30).astimezone(_CST)),  # a tie, in another zone
            work_item(ids[3], due_at=minutes(20), open=False),  # closed: never listed
            work_item(ids[4], due_at=None),  # nothing due: never listed
            work_item(ids[5], due_at=minutes(40)),  # at the bound: excluded
            work_item(ids[6], due_at=minutes(-5), kind="case"),
        ]
        with writing(store) as s:
            s.work.add_many(rows)
        with reading(store) as s:
            listed = s.work.due(before=minutes(40))
            assert [r.id for r in listed] == [ids[6], ids[1], ids[0], ids[2]]
            assert listed[1] == _stored(rows[1])
            assert [r.id for r in s.work.due(before=minutes(40), limit=2)] == [ids[6], ids[1]]
            after = (minutes(30).astimezone(_CST), ids[0])
            assert [r.id for r in s.work.due(before=minutes(40), after=after)] == [ids[2]]
            assert [r.id for r in s.work.due(before=_FAR, after=(minutes(30), ids[2]))] == [ids[5]]
            tasks = WorkFilter(kind="task", assignee="staff-1", team="north")
            assert [r.id for r in s.work.due(before=minutes(31), where=tasks)] == [
                ids[1],
                ids[0],
                ids[2],
            ]
            assert s.work.due(before=_FAR, where=WorkFilter(open=False)) == []
            assert len(s.work.due(before=_FAR, where=WorkFilter(open=True))) == 5

    def test_reassign_moves_every_row_of_a_customer_and_keeps_versions(self, store: Store) -> None:
        mine = [work_item(customer_id="c-1"), work_item(customer_id="c-1", kind="case")]
        other = work_item(customer_id="c-2")
        with writing(store) as s:
            s.work.add_many([*mine, other])
            s.work.update(mine[0], expected_version=1)
        with writing(store) as s:
            assert s.work.reassign("c-1", "c-3") == 2
            assert s.work.reassign("c-3", "c-3") == 0
            assert s.work.reassign("c-404", "c-3") == 0
        with reading(store) as s:
            moved = s.work.query(where=WorkFilter(customer_id="c-3"))
            assert sorted(r.id for r in moved) == sorted(r.id for r in mine)
            assert {r.id: r.version for r in moved} == {mine[0].id: 2, mine[1].id: 1}
            assert s.work.query(where=WorkFilter(customer_id="c-1")) == []
            assert len(s.work.due(before=_FAR, where=WorkFilter(customer_id="c-3"))) == 2
            assert s.work.get(other.id).customer_id == "c-2"

    # -- units of work ------------------------------------------------------------------------

    def test_a_session_reads_its_own_writes(self, store: Store) -> None:
        row = work_item(customer_id="c-7")
        with store.transaction() as s:
            s.work.add(row)
            s.work.update(attrs.evolve(row, due_at=minutes(5)), expected_version=1)
            assert s.work.get(row.id).version == 2
            assert [r.id for r in s.work.query(where=WorkFilter(customer_id="c-7"))] == [row.id]
            assert [r.id for r in s.work.due(before=minutes(6))] == [row.id]
            assert s.work.due(before=minutes(5)) == []
            assert s.work.count(where=WorkFilter(customer_id="c-7")) == 1
            assert s.work.reassign("c-7", "c-8") == 1
            assert s.work.count(where=WorkFilter(customer_id="c-8")) == 1
            s.commit()
        with reading(store) as s:
            assert s.work.get(row.id).customer_id == "c-8"

    def test_rollback_leaves_no_row_no_update_and_no_move(self, store: Store) -> None:
        kept = work_item()
        with writing(store) as s:
            s.work.add(kept)
        with store.transaction() as s:
            s.work.add(work_item())
            s.work.add_many([work_item(), work_item()])
            s.work.update(attrs.evolve(kept, open=False, due_at=None), expected_version=1)
            s.work.reassign("c-1", "c-2")
            s.rollback()
        with reading(store) as s:
            assert s.work.count() == 1
            assert s.work.get(kept.id) == _stored(kept)
            assert [r.id for r in s.work.due(before=_FAR)] == [kept.id]

    def test_uncommitted_rows_are_invisible_to_a_reader(self, store: Store) -> None:
        if not store.capabilities.concurrent_reads:
            pytest.skip("backend does not declare capabilities.concurrent_reads")
        kept = work_item()
        with writing(store) as s:
            s.work.add(kept)

        def hold(session: Session) -> None:
            session.work.add(work_item())
            session.work.update(attrs.evolve(kept, due_at=minutes(1)), expected_version=1)

        def meanwhile() -> None:
            with reading(store) as s:
                assert s.work.count() == 1
                assert s.work.due(before=minutes(30)) == []

        finishes_while_held(store, hold, meanwhile)
        with reading(store) as s:
            assert s.work.count() == 2
            assert [r.id for r in s.work.due(before=minutes(30))] == [kept.id]

    # -- argument rules -----------------------------------------------------------------------

    @pytest.mark.parametrize("field", ["id", "customer_id", "status", "assignee", "team"])
    @pytest.mark.parametrize("method", ["add", "add_many", "update"])
    def test_nul_in_row_text_raises_value_error_and_writes_nothing(
        self, store: Store, method: str, field: str
    ) -> None:
        good = work_item()
        with writing(store) as s:
            s.work.add(good)
        bad = work_item(good.id if method == "update" else None, **{field: _NUL})
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.work.add(bad),
            "add_many": lambda s: s.work.add_many([work_item(), bad]),
            "update": lambda s: s.work.update(bad, expected_version=1),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.work.count() == 1
            assert s.work.get(good.id) == _stored(good)

    @pytest.mark.parametrize("field", ["created_at", "updated_at", "due_at"])
    @pytest.mark.parametrize("method", ["add", "add_many", "update"])
    def test_naive_instants_in_rows_raise_value_error(
        self, store: Store, method: str, field: str
    ) -> None:
        good = work_item()
        with writing(store) as s:
            s.work.add(good)
        bad = work_item(good.id if method == "update" else None, **{field: _NAIVE})
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.work.add(bad),
            "add_many": lambda s: s.work.add_many([work_item(), bad]),
            "update": lambda s: s.work.update(bad, expected_version=1),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[method](s)
            assert s.work.count() == 1
            assert s.work.get(good.id) == _stored(good)

    def test_empty_status_raises_value_error(self, store: Store) -> None:
        with store.transaction() as s:
            with _invalid_argument():
                s.work.add(work_item(status=""))
            assert s.work.count() == 0

    @pytest.mark.parametrize(
        "call",
        [
            "get",
            "query_after",
            "query_where",
            "due_where",
            "due_after_id",
            "due_after_naive",
            "due_before_naive",
            "due_after_shape",
            "count_where",
            "reassign_from",
            "reassign_to",
        ],
    )
    def test_invalid_arguments_raise_value_error(self, store: Store, call: str) -> None:
        with writing(store) as s:
            s.work.add(work_item())
        calls: dict[str, Callable[[Session], object]] = {
            "get": lambda s: s.work.get(_NUL),
            "query_after": lambda s: s.work.query(after=_NUL),
            "query_where": lambda s: s.work.query(where=WorkFilter(status=_NUL)),
            "due_where": lambda s: s.work.due(before=_FAR, where=WorkFilter(assignee=_NUL)),
            "due_after_id": lambda s: s.work.due(before=_FAR, after=(T0, _NUL)),
            "due_after_naive": lambda s: s.work.due(before=_FAR, after=(_NAIVE, "w")),
            "due_before_naive": lambda s: s.work.due(before=_NAIVE),
            "due_after_shape": lambda s: s.work.due(before=_FAR, after=(T0,)),  # type: ignore[arg-type]
            "count_where": lambda s: s.work.count(where=WorkFilter(team=_NUL)),
            "reassign_from": lambda s: s.work.reassign(_NUL, "c-2"),
            "reassign_to": lambda s: s.work.reassign("c-1", _NUL),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[call](s)
            assert s.work.query(where=WorkFilter(customer_id="c-1"))

    @pytest.mark.parametrize("limit", _BAD_LIMITS)
    def test_work_a_limit_that_is_not_a_positive_integer_raises_value_error(
        self, store: Store, limit: object
    ) -> None:
        with reading(store) as s:
            with _invalid_argument():
                s.work.query(limit=limit)  # type: ignore[arg-type]
            with _invalid_argument():
                s.work.due(before=_FAR, limit=limit)  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", _BEYOND_64_BITS)
    def test_work_a_limit_beyond_64_bits_means_no_limit(self, store: Store, limit: int) -> None:
        with writing(store) as s:
            s.work.add_many([work_item(), work_item(kind="case")])
        with reading(store) as s:
            assert len(s.work.query(limit=limit)) == 2
            assert len(s.work.due(before=_FAR, limit=limit)) == 2

    @pytest.mark.parametrize("method", ["add", "add_many", "update", "reassign"])
    def test_a_read_only_session_refuses_writes_before_checking_them(
        self, store: Store, method: str
    ) -> None:
        bad = work_item(_NUL)
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.work.add(bad),
            "add_many": lambda s: s.work.add_many([bad]),
            "update": lambda s: s.work.update(bad, expected_version=1),
            "reassign": lambda s: s.work.reassign(_NUL, "c-2"),
        }
        with reading(store) as s, _refused():
            calls[method](s)

    @pytest.mark.parametrize(
        "method", ["add", "add_many", "get", "update", "query", "due", "count", "reassign"]
    )
    def test_work_a_finished_session_refuses_every_call(self, store: Store, method: str) -> None:
        bad = work_item(_NUL)
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.work.add(bad),
            "add_many": lambda s: s.work.add_many([bad]),
            "get": lambda s: s.work.get(_NUL),
            "update": lambda s: s.work.update(bad, expected_version=1),
            "query": lambda s: s.work.query(limit=0),
            "due": lambda s: s.work.due(before=_NAIVE),
            "count": lambda s: s.work.count(where=WorkFilter(team=_NUL)),
            "reassign": lambda s: s.work.reassign(_NUL, "c-2"),
        }
        with store.transaction() as s:
            s.commit()
            with _refused():
                calls[method](s)

    # -- against a brute-force model ----------------------------------------------------------

    def test_query_and_due_pages_match_a_brute_force_model(self, store: Store) -> None:
        """Random rows (ids in code-point order, due times that tie, some updated later),
        random filters, bounds and small limits: paging through ``query`` and ``due`` gives
        exactly the sorted, filtered rows of a plain model, each once, and ``count`` agrees."""
        model: dict[str, WorkRow] = {}

        @kit_settings(40)
        @given(
            rows=st.lists(_rows(), max_size=12),
            changes=st.lists(st.tuples(st.integers(0, 10**6), _rows()), max_size=4),
            where=_FILTERS,
            before=st.sampled_from([*_DUE_TIMES, minutes(-31), minutes(46), _FAR]),
            limit=st.integers(min_value=1, max_value=4),
        )
        def check(
            rows: list[WorkRow],
            changes: list[tuple[int, WorkRow]],
            where: WorkFilter | None,
            before: datetime,
            limit: int,
        ) -> None:
            with writing(store) as s:
                s.work.add_many(rows)
            model.update((r.id, _stored(r)) for r in rows)
            known = sorted(model)
            with writing(store) as s:  # rows move in and out of the due-time index
                for pick, facets in changes:
                    current = model[known[pick % len(known)]] if known else None
                    if current is None:
                        continue
                    new = attrs.evolve(facets, id=current.id, kind=current.kind)
                    version = s.work.update(new, expected_version=current.version)
                    model[current.id] = attrs.evolve(
                        new, version=version, created_at=current.created_at
                    )
            matching = [model[i] for i in sorted(model) if where is None or where.matches(model[i])]
            with reading(store) as s:
                assert _page_query(s, where, limit) == matching
                assert _page_due(s, before, where, limit) == _due(model.values(), before, where)
                assert s.work.count(where=where) == len(matching)
                assert s.work.count() == len(model)

        check()

    def test_due_times_compare_as_instants_in_any_time_zone(self, store: Store) -> None:
        @kit_settings(25)
        @given(
            offsets=st.lists(st.integers(-600, 600), min_size=1, max_size=6),
            zone=st.integers(-14 * 60, 14 * 60),
        )
        def check(offsets: list[int], zone: int) -> None:
            tz = UTC if zone == 0 else timezone(timedelta(minutes=zone))
            customer = new_id()
            rows = [
                work_item(customer_id=customer, due_at=minutes(m).astimezone(tz)) for m in offsets
            ]
            with writing(store) as s:
                s.work.add_many(rows)
            bound = minutes(0).astimezone(tz)
            with reading(store) as s:
                got = s.work.due(before=bound, where=WorkFilter(customer_id=customer))
            want = _due([_stored(r) for r in rows], bound, None)
            assert got == want
            assert all(_is_utc(r.due_at) for r in got)

        check()
