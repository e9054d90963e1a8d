"""``session.documents``: compliance documents and their per-customer links (private; see
:mod:`custrec.testing.contracts`).

The example tests state one rule each; the property test and the state machine
(:mod:`custrec.testing._contracts.document_model`) compare pages, counts and a customer's
links, and the outcome of random writes, with a brute force over plain dicts. Their examples
share the store: each draws fresh kinds and customer ids (a namespace), so it sees only its own
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs
import pytest
from hypothesis import given
from hypothesis.stateful import run_state_machine_as_test

from custrec.errors import DuplicateKey, NotFound, VersionConflict
from custrec.model.ids import new_id
from custrec.storage.protocols import Session, Store
from custrec.storage.types import DocumentLink, DocumentRow
from custrec.testing._contracts import document_model as _model
from custrec.testing._contracts.common import (
    _CST,
    _invalid_argument,
    _is_utc,
    _ordered_ids,
    _refused,
    _StoreFixtures,
    kit_settings,
)
from custrec.testing._contracts.document_model import document, link, stored
from custrec.testing._support import finishes_while_held, minutes, reading, writing

_NUL: Final = "a\x00b"
_NAIVE: Final = datetime(2024, 3, 1, 9, 30)
_BAD_LIMITS: Final = (0, -1, True, 1.5, Decimal(5), "5")
_BEYOND_64_BITS: Final = (2**63 - 1, 2**63, 2**70)
_R = TypeVar("_R", DocumentRow, DocumentLink)
# in code-point order; UTF-16 would put 𠀀 before ！, a locale's collation B after a
_ORDERED: Final = ("B", "a", "ab", "b", "é", "中", "！", "𠀀")


def _changed(row: _R, field: str, value: object) -> _R:
    """``row`` with ``field`` set to ``value`` (of any type: the argument rules' bad values)."""
    changes: dict[str, Any] = {field: value}
    return attrs.evolve(row, **changes)


def _ids(rows: list[DocumentRow]) -> list[str]:
    return [r.id for r in rows]


def _customers(links: list[DocumentLink]) -> list[str]:
    return [x.customer_id for x in links]


def _documents_of(links: list[DocumentLink]) -> list[tuple[str, str]]:
    return [(x.kind, x.document_id) for x in links]


class _DocumentArgumentRules(_StoreFixtures):
    """The argument rules of ``session.documents`` (part of :class:`DocumentContract`)."""

    @pytest.mark.parametrize(
        ("method", "field"),
        [
            *(("add", f) for f in ("kind", "id", "tag")),
            *(("update", f) for f in ("kind", "id", "tag")),
            *(("link", f) for f in ("kind", "document_id", "customer_id", "state")),
            *(("update_link", f) for f in ("kind", "document_id", "customer_id", "state")),
        ],
    )
    def test_documents_nul_in_row_text_raises_value_error_and_writes_nothing(
        self, store: Store, method: str, field: str
    ) -> None:
        row = document(tag="t")
        line = link(row, "c-1", state="p")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([line])
        bad: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.documents.add(_changed(document(), field, _NUL)),
            "update": lambda s: s.documents.update(_changed(row, field, _NUL), expected_version=1),
            "link": lambda s: s.documents.link(
                [link(row, "c-2"), _changed(link(row, "c-3"), field, _NUL)]
            ),
            "update_link": lambda s: s.documents.update_link(
                _changed(line, field, _NUL), expected_version=1
            ),
        }
        with store.transaction() as s:
            with _invalid_argument():
                bad[method](s)
            assert s.documents.list(row.kind) == [stored(row)]
            assert s.documents.links(row.kind, row.id) == [stored(line)]

    @pytest.mark.parametrize(
        ("method", "field"),
        [
            ("add", "created_at"),
            ("add", "updated_at"),
            ("update", "created_at"),  # ignored by update, checked all the same
            ("update", "updated_at"),
            ("link", "updated_at"),
            ("update_link", "updated_at"),
        ],
    )
    def test_documents_naive_instants_raise_value_error_and_write_nothing(
        self, store: Store, method: str, field: str
    ) -> None:
        row = document()
        line = link(row, "c-1")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([line])
        bad: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.documents.add(_changed(document(), field, _NAIVE)),
            "update": lambda s: s.documents.update(
                _changed(row, field, _NAIVE), expected_version=1
            ),
            "link": lambda s: s.documents.link(
                [link(row, "c-2"), link(row, "c-3", updated_at=_NAIVE)]
            ),
            "update_link": lambda s: s.documents.update_link(
                attrs.evolve(line, updated_at=_NAIVE), expected_version=1
            ),
        }
        with store.transaction() as s:
            with _invalid_argument():
                bad[method](s)
            assert s.documents.list(row.kind) == [stored(row)]
            assert s.documents.links(row.kind, row.id) == [stored(line)]

    @pytest.mark.parametrize(
        ("method", "field"),
        [
            ("add", "kind"),
            ("add", "id"),
            ("link", "kind"),
            ("link", "document_id"),
            ("link", "customer_id"),
        ],
    )
    def test_documents_an_empty_kind_or_id_raises_value_error(
        self, store: Store, method: str, field: str
    ) -> None:
        row = document()
        with store.transaction() as s:
            with _invalid_argument():
                if method == "link":
                    s.documents.link([_changed(link(row, "c-1"), field, "")])
                else:
                    s.documents.add(_changed(row, field, ""))
            assert s.documents.list(row.kind) == []
            assert s.documents.links_for("c-1") == []

    @pytest.mark.parametrize(
        "call",
        [
            "get_kind",
            "get_id",
            "get_many_kind",
            "get_many_id",
            "list_kind",
            "list_tag",
            "list_after",
            "get_link_kind",
            "get_link_document",
            "get_link_customer",
            "links_kind",
            "links_document",
            "links_state",
            "links_after",
            "count_links_kind",
            "count_links_document",
            "count_links_state",
            "links_for_customer",
            "links_for_kind",
            "reassign_from",
            "reassign_to",
        ],
    )
    def test_documents_nul_in_an_argument_raises_value_error(self, store: Store, call: str) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([link(row, "c-1")])
        k, d = row.kind, row.id
        calls: dict[str, Callable[[Session], object]] = {
            "get_kind": lambda s: s.documents.get(_NUL, d),
            "get_id": lambda s: s.documents.get(k, _NUL),
            "get_many_kind": lambda s: s.documents.get_many(_NUL, [d]),
            "get_many_id": lambda s: s.documents.get_many(k, [d, _NUL]),
            "list_kind": lambda s: s.documents.list(_NUL),
            "list_tag": lambda s: s.documents.list(k, tag=_NUL),
            "list_after": lambda s: s.documents.list(k, after=_NUL),
            "get_link_kind": lambda s: s.documents.get_link(_NUL, d, "c-1"),
            "get_link_document": lambda s: s.documents.get_link(k, _NUL, "c-1"),
            "get_link_customer": lambda s: s.documents.get_link(k, d, _NUL),
            "links_kind": lambda s: s.documents.links(_NUL, d),
            "links_document": lambda s: s.documents.links(k, _NUL),
            "links_state": lambda s: s.documents.links(k, d, state=_NUL),
            "links_after": lambda s: s.documents.links(k, d, after=_NUL),
            "count_links_kind": lambda s: s.documents.count_links(_NUL, d),
            "count_links_document": lambda s: s.documents.count_links(k, _NUL),
            "count_links_state": lambda s: s.documents.count_links(k, d, state=_NUL),
            "links_for_customer": lambda s: s.documents.links_for(_NUL),
            "links_for_kind": lambda s: s.documents.links_for("c-1", kind=_NUL),
            "reassign_from": lambda s: s.documents.reassign(_NUL, "c-2"),
            "reassign_to": lambda s: s.documents.reassign("c-1", _NUL),
        }
        with store.transaction() as s:
            with _invalid_argument():
                calls[call](s)
            assert _customers(s.documents.links(k, d)) == ["c-1"]

    @pytest.mark.parametrize("limit", _BAD_LIMITS)
    def test_documents_a_limit_that_is_not_a_positive_integer_raises_value_error(
        self, store: Store, limit: object
    ) -> None:
        with reading(store) as s:
            with _invalid_argument():
                s.documents.list("disclosure", limit=limit)  # type: ignore[arg-type]
            with _invalid_argument():
                s.documents.links("disclosure", "d-1", limit=limit)  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", _BEYOND_64_BITS)
    def test_documents_a_limit_beyond_64_bits_means_no_limit(
        self, store: Store, limit: int
    ) -> None:
        rows = [document(kind="sampling"), document(kind="sampling")]
        with writing(store) as s:
            for row in rows:
                s.documents.add(row)
            s.documents.link([link(rows[0], "c-1"), link(rows[0], "c-2")])
        with reading(store) as s:
            assert len(s.documents.list("sampling", limit=limit)) == 2
            assert len(s.documents.links("sampling", rows[0].id, limit=limit)) == 2

    @pytest.mark.parametrize("method", ["add", "update", "link", "update_link", "reassign"])
    def test_documents_a_read_only_session_refuses_writes_before_checking_them(
        self, store: Store, method: str
    ) -> None:
        bad_row = document(_NUL, created_at=_NAIVE)
        bad_link = link(bad_row, _NUL)
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.documents.add(bad_row),
            "update": lambda s: s.documents.update(bad_row, expected_version="1"),  # type: ignore[arg-type]
            "link": lambda s: s.documents.link([bad_link, bad_link]),
            "update_link": lambda s: s.documents.update_link(bad_link, expected_version=None),  # type: ignore[arg-type]
            "reassign": lambda s: s.documents.reassign(_NUL, "c-2"),
        }
        with reading(store) as s, _refused():
            calls[method](s)

    @pytest.mark.parametrize(
        "method",
        [
            "add",
            "get",
            "update",
            "list",
            "link",
            "get_link",
            "update_link",
            "links",
            "count_links",
            "links_for",
            "reassign",
        ],
    )
    def test_documents_a_finished_session_refuses_every_call(
        self, store: Store, method: str
    ) -> None:
        bad_row = document(_NUL)
        bad_link = link(bad_row, _NUL)
        calls: dict[str, Callable[[Session], object]] = {
            "add": lambda s: s.documents.add(bad_row),
            "get": lambda s: s.documents.get(_NUL, "d"),
            "update": lambda s: s.documents.update(bad_row, expected_version=1),
            "list": lambda s: s.documents.list(_NUL, limit=0),
            "link": lambda s: s.documents.link([bad_link]),
            "get_link": lambda s: s.documents.get_link(_NUL, "d", "c"),
            "update_link": lambda s: s.documents.update_link(bad_link, expected_version=1),
            "links": lambda s: s.documents.links(_NUL, "d", limit=0),
            "count_links": lambda s: s.documents.count_links("k", "d", state=_NUL),
            "links_for": lambda s: s.documents.links_for(_NUL),
            "reassign": lambda s: s.documents.reassign(_NUL, "c-2"),
        }
        with store.transaction() as s:
            s.commit()
            with _refused():
                calls[method](s)


class DocumentContract(_DocumentArgumentRules):
    """``session.documents``: versioned documents identified by ``(kind, id)``, listed by id
    (optionally by tag); versioned links identified by ``(kind, document_id, customer_id)``,
    listed per document by customer id (optionally by state), counted, listed per customer by
    ``(kind, document_id)`` and moved by ``reassign`` (a merge)."""

    # -- documents and versions ---------------------------------------------------------------

    def test_documents_add_returns_version_one_and_ignores_the_given_version(
        self, store: Store
    ) -> None:
        row = document(version=42)
        with writing(store) as s:
            assert s.documents.add(row) == 1
        with reading(store) as s:
            assert s.documents.get(row.kind, row.id) == stored(row)

    def test_documents_get_round_trips_every_field_with_instants_in_utc(self, store: Store) -> None:
        local = datetime(2024, 2, 29, 23, 59, 59, 500_001, tzinfo=_CST)
        rows = [
            document(
                kind="incident",
                tag="open",
                created_at=local,
                updated_at=local + timedelta(microseconds=1),
                payload=bytes(range(256)),
            ),
            document(kind="sampling", tag=None, payload=b""),
            document(kind="recipient", tag="", payload=b"\x00"),  # an empty tag is a tag
        ]
        with writing(store) as s:
            for row in rows:
                s.documents.add(row)
        with reading(store) as s:
            got = [s.documents.get(r.kind, r.id) for r in rows]
        assert got == [stored(r) for r in rows]
        assert [r.tag for r in got] == ["open", None, ""]
        assert type(got[0].payload) is bytes
        assert got[0].created_at == local and got[0].updated_at == local + timedelta(microseconds=1)
        assert all(_is_utc(r.created_at) and _is_utc(r.updated_at) for r in got)

    def test_documents_a_document_is_identified_by_kind_and_id(self, store: Store) -> None:
        one, other = document("d-1", kind="disclosure"), document("d-1", kind="incident", tag="x")
        with writing(store) as s:
            assert s.documents.add(one) == 1
            assert s.documents.add(other) == 1
        with reading(store) as s:
            assert s.documents.get("disclosure", "d-1") == stored(one)
            assert s.documents.get("incident", "d-1") == stored(other)
            assert _ids(s.documents.list("disclosure")) == ["d-1"]

    def test_documents_add_of_an_existing_kind_and_id_raises_duplicate_key(
        self, store: Store
    ) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
        with store.transaction() as s:
            with pytest.raises(DuplicateKey):
                s.documents.add(document(row.id, tag="other", payload=b"other"))
            assert s.documents.get(row.kind, row.id) == stored(row)
            assert s.documents.add(document(row.id, kind="incident")) == 1  # still usable

    def test_documents_get_of_a_missing_document_raises_not_found(self, store: Store) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
        with reading(store) as s:
            with pytest.raises(NotFound):
                s.documents.get(row.kind, new_id())
            with pytest.raises(NotFound):
                s.documents.get("incident", row.id)  # the id, under another kind

    def test_documents_get_many_returns_the_stored_documents_of_a_kind_each_once_by_id(
        self, store: Store
    ) -> None:
        rows = [document(new_id(), kind="erased_subject") for _ in range(520)]  # > 500 a query
        other = document(rows[0].id, kind="incident")
        with writing(store) as s:
            for row in [*rows, other]:
                s.documents.add(row)
        ids = [r.id for r in rows]
        with reading(store) as s:
            got = s.documents.get_many("erased_subject", [*reversed(ids), new_id(), ids[0]])
            assert got == sorted((stored(r) for r in rows), key=lambda r: r.id)
            assert s.documents.get_many("incident", iter(ids[:3])) == [stored(other)]
            assert s.documents.get_many("erased_subject", []) == []
            assert s.documents.get_many("sampling", ids) == []

    @pytest.mark.parametrize("single", ["a", b"a"], ids=["str", "bytes"])
    def test_documents_get_many_refuses_a_single_text_for_its_ids(
        self, store: Store, single: object
    ) -> None:
        # a str iterates as its characters: "abc" would look up "a", "b" and "c"
        row = document("a", kind="erased_subject")
        with writing(store) as s:
            s.documents.add(row)
        with reading(store) as s, pytest.raises(TypeError, match="collection"):
            s.documents.get_many("erased_subject", single)  # type: ignore[arg-type]

    def test_documents_update_replaces_tag_updated_at_and_payload_only(self, store: Store) -> None:
        row = document(tag="batch-1")
        with writing(store) as s:
            s.documents.add(row)
        changed = attrs.evolve(
            row, tag=None, created_at=minutes(5), updated_at=minutes(9), payload=b"new", version=7
        )
        with writing(store) as s:
            assert s.documents.update(changed, expected_version=1) == 2
            assert s.documents.update(attrs.evolve(changed, tag="b"), expected_version=2) == 3
        with reading(store) as s:
            got = s.documents.get(row.kind, row.id)
        assert got == attrs.evolve(row, tag="b", updated_at=minutes(9), payload=b"new", version=3)

    def test_documents_update_of_a_missing_document_raises_not_found(self, store: Store) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
        with store.transaction() as s:
            with pytest.raises(NotFound):
                s.documents.update(document(), expected_version=1)
            with pytest.raises(NotFound):
                s.documents.update(attrs.evolve(row, kind="incident"), expected_version=1)

    @pytest.mark.parametrize("expected", [0, 2, 7, -1, 2**63, 2**64, -(2**70)])
    def test_documents_update_with_another_version_raises_version_conflict(
        self, store: Store, expected: int
    ) -> None:
        row, target = document(), document()
        line = link(target, "c-1")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.add(target)
            s.documents.link([line])
        with store.transaction() as s:
            with pytest.raises(VersionConflict):
                s.documents.update(attrs.evolve(row, tag="x"), expected_version=expected)
            with pytest.raises(VersionConflict):
                s.documents.update_link(attrs.evolve(line, state="x"), expected_version=expected)
            assert s.documents.get(row.kind, row.id) == stored(row)
            assert s.documents.get_link(line.kind, line.document_id, "c-1") == stored(line)

    @pytest.mark.parametrize("expected", ["1", 1.0, None, True])
    @pytest.mark.parametrize("method", ["update", "update_link"])
    def test_documents_expected_version_that_is_not_an_integer_raises_value_error(
        self, store: Store, method: str, expected: object
    ) -> None:
        row = document()
        line = link(row, "c-1")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([line])
        with store.transaction() as s, _invalid_argument():
            if method == "update":
                s.documents.update(row, expected_version=expected)  # type: ignore[arg-type]
            else:
                s.documents.update_link(line, expected_version=expected)  # type: ignore[arg-type]

    # -- lists of documents -------------------------------------------------------------------

    def test_documents_list_pages_a_kinds_documents_by_id(self, store: Store) -> None:
        ids = list(_ORDERED)
        with writing(store) as s:
            for document_id in reversed(ids):
                s.documents.add(document(document_id, kind="sampling"))
            s.documents.add(document("c", kind="sampling-2"))  # a kind that the first prefixes
            s.documents.add(document("c", kind="samplin"))  # a kind that prefixes the first
        with reading(store) as s:
            assert _ids(s.documents.list("sampling")) == ids
            assert _ids(s.documents.list("sampling", limit=3)) == ids[:3]
            assert _ids(s.documents.list("sampling", after="ab", limit=2)) == ["b", "é"]
            assert _ids(s.documents.list("sampling", after="c")) == ids[4:]  # not an id
            assert _ids(s.documents.list("sampling", after="")) == ids
            assert s.documents.list("sampling", after="𠀀") == []
            assert s.documents.list("nobody") == []
            assert s.documents.list("sampling")[0] == stored(document("B", kind="sampling"))

    def test_documents_list_with_a_tag_lists_the_documents_that_carry_it(
        self, store: Store
    ) -> None:
        ids = _ordered_ids(5)
        tags = ["batch-1", None, "batch-1", "batch-2", ""]
        rows = [document(i, kind="sampling", tag=t) for i, t in zip(ids, tags, strict=True)]
        with writing(store) as s:
            for row in rows:
                s.documents.add(row)
            s.documents.add(document(kind="incident", tag="batch-1"))
        with writing(store) as s:  # an update moves a document from one tag to another
            s.documents.update(attrs.evolve(rows[2], tag="batch-2"), expected_version=1)
            s.documents.update(attrs.evolve(rows[1], tag="batch-1"), expected_version=1)
        with reading(store) as s:
            assert _ids(s.documents.list("sampling", tag="batch-1")) == [ids[0], ids[1]]
            assert _ids(s.documents.list("sampling", tag="batch-2")) == [ids[2], ids[3]]
            assert _ids(s.documents.list("sampling", tag="batch-2", after=ids[2])) == [ids[3]]
            assert _ids(s.documents.list("sampling", tag="batch-2", limit=1)) == [ids[2]]
            assert _ids(s.documents.list("sampling", tag="")) == [ids[4]]
            assert s.documents.list("sampling", tag="batch") == []
            assert s.documents.list("sampling", tag="batch-1")[1].version == 2

    # -- links --------------------------------------------------------------------------------

    def test_documents_link_inserts_links_at_version_one_and_returns_how_many(
        self, store: Store
    ) -> None:
        row = document()
        local = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=_CST)
        links = [
            link(
                row, "c-1", state="pending", version=9, updated_at=local, payload=bytes(range(256))
            ),
            link(row, "c-2", state=None, payload=b""),
            link(row, "c-3", state=""),
        ]
        with writing(store) as s:
            s.documents.add(row)
            assert s.documents.link(links) == 3
            assert s.documents.link([]) == 0
        with reading(store) as s:
            got = [s.documents.get_link(row.kind, row.id, x.customer_id) for x in links]
        assert got == [stored(x) for x in links]
        assert [x.state for x in got] == ["pending", None, ""]
        assert got[0].updated_at == local and type(got[0].payload) is bytes
        assert all(_is_utc(x.updated_at) for x in got)

    @pytest.mark.parametrize("twice", ["existing", "in the batch"])
    def test_documents_link_with_a_taken_key_raises_duplicate_key_and_links_nothing(
        self, store: Store, twice: str
    ) -> None:
        row, other = document(), document()
        old = link(row, "c-1")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.add(other)
            s.documents.link([old])
        fresh = [link(row, "c-2"), link(other, "c-1")]
        taken = link(row, "c-1", state="other") if twice == "existing" else fresh[0]
        with store.transaction() as s:
            with pytest.raises(DuplicateKey):
                s.documents.link([*fresh, taken])
            assert s.documents.count_links(row.kind, row.id) == 1
            assert s.documents.count_links(other.kind, other.id) == 0
            assert s.documents.links_for("c-1") == [stored(old)]
            assert s.documents.links_for("c-2") == []
            assert s.documents.link(fresh) == 2  # the session is usable, as it was
            s.commit()
        with reading(store) as s:
            assert s.documents.get_link(row.kind, row.id, "c-1") == stored(old)

    def test_documents_links_of_documents_of_other_kinds_and_ids_are_apart(
        self, store: Store
    ) -> None:
        one, two = document("d-1", kind="disclosure"), document("d-1", kind="incident")
        three = document("d-2", kind="disclosure")
        with writing(store) as s:
            for row in (one, two, three):
                s.documents.add(row)
            s.documents.link([link(one, "c-1"), link(two, "c-1"), link(two, "c-2")])
            s.documents.link([link(three, "c-1", state="p")])
        with reading(store) as s:
            assert _customers(s.documents.links("disclosure", "d-1")) == ["c-1"]
            assert _customers(s.documents.links("incident", "d-1")) == ["c-1", "c-2"]
            assert s.documents.count_links("disclosure", "d-2") == 1
            assert s.documents.count_links("disclosure", "d-3") == 0
            assert s.documents.links("disclosure", "d-3") == []
            with pytest.raises(NotFound):
                s.documents.get_link("disclosure", "d-1", "c-2")
            with pytest.raises(NotFound):
                s.documents.get_link("recipient", "d-1", "c-1")

    def test_documents_update_link_replaces_state_updated_at_and_payload_only(
        self, store: Store
    ) -> None:
        row = document()
        line = link(row, "c-1", state="pending")
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([line])
        changed = attrs.evolve(
            line, state="notified", updated_at=minutes(3), payload=b"n", version=5
        )
        with writing(store) as s:
            assert s.documents.update_link(changed, expected_version=1) == 2
            assert (
                s.documents.update_link(attrs.evolve(changed, state=None), expected_version=2) == 3
            )
        with reading(store) as s:
            got = s.documents.get_link(row.kind, row.id, "c-1")
            assert s.documents.get(row.kind, row.id) == stored(row)  # the document is as it was
        assert got == attrs.evolve(changed, state=None, version=3)

    def test_documents_update_link_of_a_missing_link_raises_not_found(self, store: Store) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([link(row, "c-1")])
        with store.transaction() as s:
            with pytest.raises(NotFound):
                s.documents.update_link(link(row, "c-2"), expected_version=1)
            with pytest.raises(NotFound):
                s.documents.update_link(link(document(), "c-1"), expected_version=1)
            assert s.documents.count_links(row.kind, row.id) == 1

    def test_documents_links_page_a_documents_links_by_customer_id_in_a_state(
        self, store: Store
    ) -> None:
        row = document()
        customers = list(_ORDERED)
        states = ["sent", "pending", None, "sent", "", "pending", "sent", None]
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link(
                [
                    link(row, c, state=t)
                    for c, t in reversed(list(zip(customers, states, strict=True)))
                ]
            )

        def where(state: str) -> list[str]:
            return [c for c, t in zip(customers, states, strict=True) if t == state]

        with reading(store) as s:
            docs = s.documents
            assert _customers(docs.links(row.kind, row.id)) == customers
            assert _customers(docs.links(row.kind, row.id, limit=2)) == customers[:2]
            assert _customers(docs.links(row.kind, row.id, after="ab", limit=3)) == ["b", "é", "中"]
            assert _customers(docs.links(row.kind, row.id, after="c")) == customers[4:]
            for state in ("sent", "pending", ""):
                assert _customers(docs.links(row.kind, row.id, state=state)) == where(state)
                assert docs.count_links(row.kind, row.id, state=state) == len(where(state))
            assert _customers(docs.links(row.kind, row.id, state="sent", after="B")) == ["b", "！"]
            assert _customers(docs.links(row.kind, row.id, state="sent", limit=1)) == ["B"]
            assert docs.links(row.kind, row.id, state="sen") == []
            assert docs.count_links(row.kind, row.id) == len(customers)
            assert docs.count_links(row.kind, row.id, state="none") == 0

    def test_documents_an_updated_state_moves_a_link_between_state_lists(
        self, store: Store
    ) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([link(row, c, state="pending") for c in ("c-1", "c-2", "c-3")])
        with writing(store) as s:
            got = s.documents.get_link(row.kind, row.id, "c-2")
            s.documents.update_link(attrs.evolve(got, state="notified"), expected_version=1)
        with reading(store) as s:
            assert _customers(s.documents.links(row.kind, row.id, state="pending")) == [
                "c-1",
                "c-3",
            ]
            assert _customers(s.documents.links(row.kind, row.id, state="notified")) == ["c-2"]
            assert s.documents.count_links(row.kind, row.id, state="pending") == 2
            assert s.documents.count_links(row.kind, row.id) == 3

    def test_documents_links_for_lists_a_customers_links_by_kind_then_document_id(
        self, store: Store
    ) -> None:
        # ("ab", "z") comes before ("abc", "a"): a pair, not the concatenated text
        rows = [
            document("a", kind="abc"),
            document("z", kind="ab"),
            document("B", kind="ab"),
            document("中", kind="ab"),
            document("a", kind="b"),
        ]
        with writing(store) as s:
            for row in rows:
                s.documents.add(row)
            s.documents.link([link(r, "c-1", state="x") for r in reversed(rows)])
            s.documents.link([link(rows[1], "c-2"), link(rows[1], "c-0")])
        with reading(store) as s:
            mine = s.documents.links_for("c-1")
            assert _documents_of(mine) == [
                ("ab", "B"),
                ("ab", "z"),
                ("ab", "中"),
                ("abc", "a"),
                ("b", "a"),
            ]
            assert mine[0] == stored(link(rows[2], "c-1", state="x"))
            assert _documents_of(s.documents.links_for("c-1", kind="ab")) == [
                ("ab", "B"),
                ("ab", "z"),
                ("ab", "中"),
            ]
            assert _documents_of(s.documents.links_for("c-1", kind="abc")) == [("abc", "a")]
            assert s.documents.links_for("c-1", kind="a") == []
            assert _documents_of(s.documents.links_for("c-2")) == [("ab", "z")]
            assert s.documents.links_for("c-9") == []

    # -- reassign -----------------------------------------------------------------------------

    def test_documents_reassign_moves_links_and_drops_those_the_survivor_has(
        self, store: Store
    ) -> None:
        shared, mine, theirs = document(), document(kind="incident"), document()
        with writing(store) as s:
            for row in (shared, mine, theirs):
                s.documents.add(row)
            s.documents.link(
                [
                    link(shared, "c-1", state="pending", payload=b"loser's"),
                    link(shared, "c-2", state="notified", payload=b"survivor's"),
                    link(mine, "c-1", state="pending", updated_at=minutes(7), payload=b"moved"),
                    link(theirs, "c-2"),
                ]
            )
            moved = s.documents.get_link(mine.kind, mine.id, "c-1")
            s.documents.update_link(moved, expected_version=1)
        with writing(store) as s:
            assert s.documents.reassign("c-1", "c-2") == 1
        with reading(store) as s:
            assert s.documents.links_for("c-1") == []
            assert _documents_of(s.documents.links_for("c-2")) == [
                (shared.kind, shared.id),  # disclosures, by id (ids are time-ordered)
                (theirs.kind, theirs.id),
                (mine.kind, mine.id),  # an incident
            ]
            kept = s.documents.get_link(shared.kind, shared.id, "c-2")
            assert kept == stored(link(shared, "c-2", state="notified", payload=b"survivor's"))
            assert s.documents.get_link(mine.kind, mine.id, "c-2") == attrs.evolve(
                moved, customer_id="c-2", version=2
            )
            assert _customers(s.documents.links(shared.kind, shared.id)) == ["c-2"]
            assert s.documents.count_links(shared.kind, shared.id) == 1
            assert _customers(s.documents.links(mine.kind, mine.id, state="pending")) == ["c-2"]
            with pytest.raises(NotFound):
                s.documents.get_link(shared.kind, shared.id, "c-1")

    def test_documents_reassign_to_the_same_or_from_an_unlinked_customer_moves_nothing(
        self, store: Store
    ) -> None:
        row = document()
        with writing(store) as s:
            s.documents.add(row)
            s.documents.link([link(row, "c-1"), link(row, "c-2")])
        with writing(store) as s:
            assert s.documents.reassign("c-1", "c-1") == 0
            assert s.documents.reassign("c-9", "c-1") == 0
            assert s.documents.reassign("c-2", "c-3") == 1
        with reading(store) as s:
            assert _customers(s.documents.links(row.kind, row.id)) == ["c-1", "c-3"]
            assert s.documents.get_link(row.kind, row.id, "c-1") == stored(link(row, "c-1"))

    # -- units of work ------------------------------------------------------------------------

    def test_documents_a_session_reads_its_own_writes(self, store: Store) -> None:
        row = document(tag="t")
        with store.transaction() as s:
            s.documents.add(row)
            s.documents.update(attrs.evolve(row, tag="u"), expected_version=1)
            assert s.documents.get(row.kind, row.id).version == 2
            assert _ids(s.documents.list(row.kind, tag="u")) == [row.id]
            assert s.documents.list(row.kind, tag="t") == []
            s.documents.link([link(row, "c-7", state="p"), link(row, "c-8")])
            s.documents.update_link(link(row, "c-8", state="p"), expected_version=1)
            assert _customers(s.documents.links(row.kind, row.id, state="p")) == ["c-7", "c-8"]
            assert s.documents.count_links(row.kind, row.id) == 2
            assert s.documents.reassign("c-7", "c-9") == 1
            assert _documents_of(s.documents.links_for("c-9")) == [(row.kind, row.id)]
            assert s.documents.links_for("c-7") == []
            s.commit()
        with reading(store) as s:
            assert _customers(s.documents.links(row.kind, row.id)) == ["c-8", "c-9"]

    def test_documents_rollback_leaves_no_document_no_link_no_update_and_no_move(
        self, store: Store
    ) -> None:
        kept = document(tag="t")
        line = link(kept, "c-1", state="p")
        with writing(store) as s:
            s.documents.add(kept)
            s.documents.link([line])
        with store.transaction() as s:
            s.documents.add(document(kind=kept.kind))
            s.documents.update(attrs.evolve(kept, tag="u"), expected_version=1)
            s.documents.link([link(kept, "c-2")])
            s.documents.update_link(attrs.evolve(line, state="q"), expected_version=1)
            s.documents.reassign("c-1", "c-3")
            s.rollback()
        with reading(store) as s:
            assert s.documents.list(kept.kind) == [stored(kept)]
            assert _ids(s.documents.list(kept.kind, tag="t")) == [kept.id]
            assert s.documents.links(kept.kind, kept.id) == [stored(line)]
            assert s.documents.count_links(kept.kind, kept.id, state="p") == 1
            assert s.documents.links_for("c-1") == [stored(line)]
            assert s.documents.links_for("c-2") == s.documents.links_for("c-3") == []

    def test_documents_uncommitted_writes_are_invisible_to_a_reader(self, store: Store) -> None:
        if not store.capabilities.concurrent_reads:
            pytest.skip("backend does not declare capabilities.concurrent_reads")
        kept = document()
        with writing(store) as s:
            s.documents.add(kept)

        def hold(session: Session) -> None:
            session.documents.add(document(kind=kept.kind))
            session.documents.update(attrs.evolve(kept, tag="t"), expected_version=1)
            session.documents.link([link(kept, "c-1")])

        def meanwhile() -> None:
            with reading(store) as s:
                assert s.documents.list(kept.kind) == [stored(kept)]
                assert s.documents.count_links(kept.kind, kept.id) == 0
                assert s.documents.links_for("c-1") == []

        finishes_while_held(store, hold, meanwhile)
        with reading(store) as s:
            assert len(s.documents.list(kept.kind)) == 2
            assert _ids(s.documents.list(kept.kind, tag="t")) == [kept.id]
            assert s.documents.count_links(kept.kind, kept.id) == 1

    # -- against a brute-force model ----------------------------------------------------------

    def test_documents_pages_counts_and_customer_lists_match_a_brute_force_model(
        self, store: Store
    ) -> None:
        """Random documents and links (ids in code-point order with shared prefixes, kinds
        that prefix one another, tags and states that repeat, some changed later), random
        filters, ``after`` bounds and small limits: paging through ``list`` and ``links``
        gives exactly the sorted, filtered rows of a plain model, each once; ``count_links``
        and every customer's ``links_for`` (with and without a kind) agree."""

        @kit_settings(40)
        @given(data=_model.examples(), reads=_model.reads())
        def check(data: _model.Example, reads: _model.Reads) -> None:
            space, brute = _model.populate(store, data)
            with reading(store) as s:
                _model.compare_reads(s, space, brute, reads)

        check()

    def test_documents_random_writes_and_units_of_work_match_a_brute_force_model(
        self, store: Store
    ) -> None:
        """A state machine adds and updates documents and links (duplicates, missing keys and
        stale versions included), reassigns customers, and groups these writes in units of
        work that commit or roll back: every call returns or raises as a plain model says,
        a failed write changes nothing, and the lists agree with the model inside the session
        and after it."""
        run_state_machine_as_test(
            _model.machine(store), settings=kit_settings(25, stateful_step_count=12)
        )
