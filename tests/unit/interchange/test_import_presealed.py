"""A real import seals each customer where it is prepared (presealing) and the writer only
decides and writes: what is stored must be what the general path (``intake_many``) stores.

Compared on random rows (valid and invalid phones, e-mails, names, repeated identifiers, stored
customers matched): the report, every stored customer opened, its row (index tokens, facets,
kind, stage, owner, instants), its history and the audit actions. A key that an interrupted
run left in a separate key store is reused; a presealed row that was altered, made for another
actor or by another registry is refused.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.interchange import ImportMapping, ImportPolicy, Outcome, SourceRow, plan_import
from custrec.interchange import plan as plan_module
from custrec.interchange._prepare import Preparer, _packed, _slim, _unpacked
from custrec.interchange.report import RowIssue
from custrec.matching import MatchConfig
from custrec.model.records import Customer
from custrec.services._presealed import intake_presealed, presealer
from custrec.storage import WrappedKey

STORES: dict[int, Any] = {}
ADMIN = Actor(id="ops", roles={"admin", "unmask"}, team="east")
WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "编号": "identifiers[EXTERNAL:crm]",
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
            "城市": "addresses[0].city",
            "阶段": {"field": "stage", "values": {"成交": "active", "潜在": "prospect"}},
        },
    }
)

MAPPING_HEADERS = ("编号", "名称", "手机", "邮箱", "城市", "阶段")
cells = st.fixed_dictionaries(
    {
        "编号": st.one_of(st.just(""), st.integers(0, 6).map(lambda i: f"E{i}")),
        "名称": st.one_of(
            st.sampled_from(["张三", "李四", "王 五", "Acme Ltd", "", "欧阳修文"]),
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
        ),
        "手机": st.one_of(
            st.integers(0, 9).map(lambda i: f"1380000000{i}"), st.sampled_from(["", "12", "x"])
        ),
        "邮箱": st.one_of(
            st.integers(0, 9).map(lambda i: f"p{i}@example.com"), st.sampled_from(["", "bad@"])
        ),
        "城市": st.sampled_from(["", "北京", "上海"]),
        "阶段": st.sampled_from(["成交", "潜在", "", "unknown"]),
    }
)


def registry(
    ring: KeyRing, *, blocking: bool = True, review: bool = False, store: Any = None
) -> Registry:
    reg = Registry(
        MemoryStore() if store is None else store,
        keyring=ring,
        clock=lambda: WHEN,
        matching=MatchConfig(blocking=blocking),
        review_intake=review,
    )
    STORES[id(reg)] = reg.customers._context.store  # type: ignore[attr-defined]
    return reg


def seeded(reg: Registry) -> Registry:
    reg.customers.intake(
        {
            "id": "seed-1",
            "kind": "individual",
            "name": "老客户",
            "contacts": [{"phones": ["13800000003"]}],
        },
        actor=ADMIN,
    )
    return reg


def stored(reg: Registry) -> dict[str, Any]:
    """Everything the registry holds, with what differs by construction left out (payload
    bytes and data keys are random; audit instants and chain values follow)."""
    with STORES[id(reg)].transaction(readonly=True) as session:
        rows = session.customers.query(limit=10_000)
        audit = [(e.action, e.customer_id, e.reason, e.outcome) for e in session.audit.read()]
    out: dict[str, Any] = {"audit": audit}
    for row in rows:
        customer = reg.customers.get(row.id, actor=ADMIN)
        history = [(h.action, h.path, h.reason) for h in reg.customers.history(row.id, actor=ADMIN)]
        out[row.id] = (customer, attrs.evolve(row, payload=b""), history)
    return out


def run(reg: Registry, rows: list[dict[str, str]], *, sealed: bool, **policy: Any) -> Any:
    def off(*args: Any, **kwargs: Any) -> None:
        return None

    with pytest.MonkeyPatch.context() as patch:
        if not sealed:
            patch.setattr(plan_module, "presealer", off)
        return plan_import(
            rows,
            MAPPING,
            reg,
            actor=ADMIN,
            import_id="cmp",
            policy=ImportPolicy(batch_size=4, **policy),
            dry_run=False,
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(cells, min_size=1, max_size=14),
    blocking=st.booleans(),
    review=st.booleans(),
    on_match=st.sampled_from(["skip", "update", "conflict"]),
)
def test_a_presealed_import_stores_what_intake_many_stores(
    rows: list[dict[str, str]], blocking: bool, review: bool, on_match: str
) -> None:
    ring = KeyRing.generate()
    general = seeded(registry(ring, blocking=blocking, review=review))
    sealed = seeded(registry(ring, blocking=blocking, review=review))
    expected = run(general, rows, sealed=False, on_match=on_match)
    report = run(sealed, rows, sealed=True, on_match=on_match)
    assert report.to_dict() == expected.to_dict()
    assert stored(sealed) == stored(general)
    again = run(sealed, rows, sealed=True, on_match=on_match)  # a re-run writes nothing
    assert again.counts[Outcome.CREATED] == 0
    assert again.counts[Outcome.ALREADY_APPLIED] >= report.counts[Outcome.CREATED]


def test_a_key_left_behind_in_a_separate_key_store_is_reused(tmp_path: Path) -> None:
    ring = KeyRing.generate()
    reg = registry(ring, store=SQLiteStore(tmp_path / "data.sqlite"))
    rows = [
        {"编号": "E1", "名称": "张三", "手机": "13800000001", "邮箱": "", "城市": "", "阶段": ""}
    ]
    dry = plan_import(rows, MAPPING, reg, actor=ADMIN, import_id="keys")
    target = dry.row_ids[0].customer_id if dry.row_ids else None
    assert target is not None
    _, master_id, wrapped = ring.new_data_key(target)  # an interrupted run committed this key
    key_store = reg.customers._context.codec.key_store  # type: ignore[attr-defined]
    with key_store.transaction() as session:
        session.keys.put(
            WrappedKey(
                customer_id=target, master_key_id=master_id, wrapped=wrapped, created_at=WHEN
            )
        )
        session.commit()
    report = plan_import(rows, MAPPING, reg, actor=ADMIN, import_id="keys", dry_run=False)
    assert report.counts[Outcome.CREATED] == 1
    assert reg.customers.get(target, actor=ADMIN).name == "张三"
    with key_store.transaction(readonly=True) as session:
        assert session.keys.get(target).wrapped == wrapped  # the key kept, the row sealed under it


def sealed_one(reg: Registry, actor: Actor = ADMIN) -> Any:
    sealer = presealer(reg.customers, actor=actor)
    assert sealer is not None
    data = {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800000009"]}]}
    prepared = reg.customers.prepare(data, actor=actor)
    assert prepared.record is not None
    return sealer.seal(attrs.evolve(prepared.record, id="c-1"), WHEN)


def test_only_an_unaltered_presealed_row_of_this_registry_and_actor_is_taken_in() -> None:
    ring = KeyRing.generate()
    reg = registry(ring)
    item = sealed_one(reg)
    other = Actor(id="other", roles={"admin"})
    altered = attrs.evolve(item, row=attrs.evolve(item.row, owner="someone-else"))
    foreign = sealed_one(registry(ring))
    for bad, actor in ((altered, ADMIN), (item, other), (foreign, ADMIN)):
        with pytest.raises(ValueError, match="presealed"):
            intake_presealed(reg.customers, [bad], actor=actor, reason=None)
    with STORES[id(reg)].transaction(readonly=True) as session:
        assert session.customers.get_many(["c-1"]) == []
    result = intake_presealed(reg.customers, [item], actor=ADMIN, reason="import x")
    assert result.added == ("c-1",)
    customer = reg.customers.get("c-1", actor=ADMIN)
    assert isinstance(customer, Customer)
    assert (customer.owner, customer.team, customer.created_at) == ("ops", "east", WHEN)


@pytest.mark.parametrize(
    "change",
    [
        {"row": {"payload": b"\x00"}},
        {"row": {"kind": "organization"}},
        {"row": {"stage": "active"}},
        {"row": {"team": None}},
        {"row": {"tags": ("vip",)}},
        {"row": {"facets": frozenset({"industry=x"})}},
        {"row": {"created_at": datetime(2026, 3, 2, tzinfo=UTC)}},
        {"row": {"id": "c-2"}},
        {"strong": (("phone", "+8613800000008"),)},
        {"keys": ()},
        {"data_key": bytes(32)},
    ],
)
def test_a_presealed_row_altered_in_any_stored_part_is_refused(change: dict[str, Any]) -> None:
    reg = registry(KeyRing.generate())
    item = sealed_one(reg)
    row_change = change.get("row")
    altered = attrs.evolve(item, **{k: v for k, v in change.items() if k != "row"})
    if row_change is not None:
        altered = attrs.evolve(altered, row=attrs.evolve(item.row, **row_change))
    with pytest.raises(ValueError, match="presealed"):
        intake_presealed(reg.customers, [altered], actor=ADMIN, reason=None)


@given(st.lists(cells, min_size=1, max_size=6))
def test_a_worker_sends_each_prepared_row_whole_but_its_mapped_data_and_cells(
    rows: list[dict[str, str]],
) -> None:
    reg = registry(KeyRing.generate())
    mapping = MAPPING.with_fields(reg.fields.current())
    preparer = Preparer(
        mapping,
        headers=tuple(MAPPING_HEADERS),
        import_id="wire",
        as_of=WHEN,
        preparation=reg.customers.preparation(actor=ADMIN, as_of=WHEN),
        presealer=presealer(reg.customers, actor=ADMIN),
        records=False,
    )
    for number, row in enumerate(rows, start=1):
        prepared = preparer.prepare(SourceRow(number=number, cells=row, raw=()), WHEN)
        mapped = prepared.mapped
        expected = (
            prepared
            if mapped is None
            else attrs.evolve(prepared, mapped=attrs.evolve(mapped, data={}, values={}, paths={}))
        )
        assert _slim(prepared) == expected
        sent = pickle.loads(pickle.dumps(_slim(prepared)))
        assert attrs.evolve(sent, presealed=None) == attrs.evolve(expected, presealed=None)
        if prepared.presealed is not None:
            assert attrs.asdict(sent.presealed) == attrs.asdict(prepared.presealed)


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
SOURCE_ROW = st.builds(
    SourceRow,
    number=st.integers(1, 10**9),
    cells=st.dictionaries(st.sampled_from(["a", "b", "姓名", "c d"]), JSON_VALUE, max_size=4),
    raw=st.tuples(st.text(max_size=5)),
    problems=st.lists(
        st.builds(
            RowIssue,
            row=st.integers(1, 9),
            column=st.none(),
            path=st.just(""),
            code=st.sampled_from(["row.extra_cells", "row.broken"]),
            message=st.just("m"),
        ),
        max_size=2,
    ).map(tuple),
)


@given(st.lists(SOURCE_ROW, max_size=8))
def test_a_worker_gets_each_row_of_a_chunk_but_its_raw_cells(chunk: list[SourceRow]) -> None:
    sent = _unpacked(pickle.loads(pickle.dumps(_packed(chunk))))
    assert sent == [attrs.evolve(row, raw=()) for row in chunk]
    assert [list(row.cells) for row in sent] == [list(row.cells) for row in chunk]  # in order


def test_a_presealer_pickles_without_any_key_of_the_registry() -> None:
    import pickle

    ring = KeyRing.generate()
    sealer = presealer(registry(ring).customers, actor=ADMIN)
    blob = pickle.dumps(sealer)
    master = ring.provider
    assert all(k not in blob for k in getattr(master, "_keys", {}).values())
    # nor the index keys, from which the audit chain's key is derived unless pinned: a worker
    # holding them could forge audit entries
    index_secrets = list(ring.index_keys._keys.values())
    assert index_secrets and all(k not in blob for k in index_secrets)
    assert ring.audit_key() not in blob
    assert "ops" in repr(pickle.loads(blob))
