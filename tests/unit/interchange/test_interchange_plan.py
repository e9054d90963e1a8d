"""plan_import: decisions per row, policies, idempotency, dry runs, chunks and the sample."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import (
    ErrorFile,
    ImportMapping,
    ImportPolicy,
    Outcome,
    derive_id,
    merge_changes,
    open_source,
    plan_import,
    row_identity,
)
from custrec.model.records import (
    Address,
    AddressKind,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    Milestones,
    Money,
)
from custrec.validation import parse_customer

ADMIN = Actor(id="ops", roles={"admin", "unmask", "erase", "auditor"})
IMPORTER = Actor(id="importer", roles={"admin"})
COLUMNS = {
    "名称": "name",
    "编号": "identifiers[EXTERNAL:crm]",
    "手机": "contacts[0].phones[0]",
    "邮箱": "contacts[0].emails[0]",
    "信用代码": "identifiers[CN-USCC]",
    "阶段": {"field": "stage", "values": {"成交": "active", "潜在": "prospect"}},
    "标签": "tags",
}
MAPPING = ImportMapping.from_dict({"defaults": {"kind": "individual"}, "columns": COLUMNS})
USCC_A = "91110000600037341L"
USCC_B = "91310115MA1FL2QX3H"


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate())


def person(name: str, phone: str = "", **cells: str) -> dict[str, str]:
    return {"名称": name, "手机": phone, **cells}


def counts(report: Any) -> dict[str, int]:
    return {outcome.value: n for outcome, n in report.counts.items() if n}


def codes(report: Any) -> list[tuple[int, str]]:
    return [(i.row, i.code) for i in report.issues]


def stored(registry: Registry) -> list[Customer]:
    return [c for batch in registry.customers.batches(actor=ADMIN) for c in batch]


def run(registry: Registry, rows: list[dict[str, str]], **options: Any) -> Any:
    options.setdefault("actor", IMPORTER)
    options.setdefault("import_id", "t1")
    options.setdefault("dry_run", False)
    return plan_import(rows, options.pop("mapping", MAPPING), registry, **options)


def test_a_dry_run_writes_nothing(registry: Registry) -> None:
    report = run(registry, [person("张三", "13800138000")], dry_run=True)
    assert counts(report) == {"created": 1}
    assert report.dry_run and report.written == 0
    assert registry.customers.count(actor=ADMIN) == 0
    with registry._context.store.transaction(readonly=True) as session:
        # nothing but the audit of its identity look-ups, which are reads like any other
        assert {e.action for e in session.audit.read()} == {"customer.identify"}
        assert session.keys.list() == []


def test_created_customers_get_ids_derived_from_the_import(registry: Registry) -> None:
    report = run(registry, [person("张三", "13800138000", 编号="C1")])
    (customer,) = stored(registry)
    identity = row_identity(customer)
    assert identity == "ext:crm:C1"
    assert customer.id == derive_id("t1", identity)
    assert report.sample_ids == (customer.id,)
    assert customer.owner == "importer"
    (change,) = registry.customers.history(customer.id, actor=ADMIN)
    assert change.reason == "import t1"


def test_duplicates_are_found_across_chunks(registry: Registry) -> None:
    rows = [
        person("甲", "13800138000"),
        person("乙", "13900139000"),
        person("丙", "138-0013-8000"),
        person("丁", "13700137000", 邮箱="x@example.com"),
        person("戊", "", 邮箱="X@Example.com"),
    ]
    report = run(registry, rows, policy=ImportPolicy(batch_size=2))
    assert counts(report) == {"created": 3, "duplicate_in_file": 2}
    assert [i.message for i in report.issues] == [
        "same phone as row 1",
        "same e-mail as row 4",
    ]


def test_rows_without_identifiers_are_identified_by_content(registry: Registry) -> None:
    mapping = ImportMapping.from_dict(
        {
            "defaults": {"kind": "individual"},
            "columns": {"名称": "name", "微信": "contacts[0].wechat"},
        }
    )
    rows = [
        {"名称": "张三", "微信": "zs"},
        {"名称": "李四", "微信": "ls"},
        {"名称": "张三", "微信": "zs"},
    ]
    first = run(registry, rows, mapping=mapping)
    assert counts(first) == {"created": 2, "duplicate_in_file": 1}
    assert codes(first) == [(3, "duplicate.in_file")]
    again = run(registry, rows, mapping=mapping)
    assert counts(again) == {"already_applied": 2, "duplicate_in_file": 1}


def test_a_second_run_reports_rows_already_applied(registry: Registry) -> None:
    rows = [person("张三", "13800138000"), person("李四", "12")]
    run(registry, rows)
    versions = {c.id: c.version for c in stored(registry)}
    again = run(registry, rows)
    assert counts(again) == {"already_applied": 1, "rejected": 1}
    assert {c.id: c.version for c in stored(registry)} == versions
    other = run(registry, rows, import_id="t2")
    assert counts(other) == {"duplicate_in_store": 1, "rejected": 1}


def test_an_erased_customer_is_not_brought_back(registry: Registry) -> None:
    run(registry, [person("张三", "13800138000")])
    (customer,) = stored(registry)
    registry.privacy.erase(customer.id, actor=ADMIN, reason="subject request")
    again = run(registry, [person("张三", "13800138000")])
    assert counts(again) == {"already_applied": 1}
    update = ImportPolicy(on_match="update")
    changed = run(
        registry, [person("张三", "13800138000", 阶段="成交")], policy=update, actor=ADMIN
    )
    assert counts(changed) == {"already_applied": 1}
    assert codes(changed) == [(1, "match.erased")]
    assert stored(registry) == []


def test_store_duplicates_are_skipped_by_default(registry: Registry) -> None:
    kept = registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=ADMIN,
    )
    report = run(registry, [person("张三丰", "+86 138 0013 8000")])
    assert counts(report) == {"duplicate_in_store": 1}
    assert [i.message for i in report.issues] == [f"same phone as stored customer {kept.id}"]
    assert report.ok


def test_update_merges_mapped_fields_only(registry: Registry, tmp_path: Path) -> None:
    kept = registry.customers.intake(
        {
            "kind": "individual",
            "name": "张三",
            "stage": "lead",
            "notes": "keep me",
            "tags": ["old"],
            "contacts": [{"name": "张三", "phones": ["13800138000"], "emails": ["a@example.com"]}],
        },
        actor=ADMIN,
    )
    rows = [person("张三", "13800138000", 邮箱="b@example.com", 阶段="成交", 标签="new")]
    policy = ImportPolicy(on_match="update")
    planned = run(registry, rows, policy=policy, actor=ADMIN, dry_run=True)
    assert counts(planned) == {"updated": 1}
    assert registry.customers.get(kept.id, actor=ADMIN).version == 1

    report = run(registry, rows, policy=policy, actor=ADMIN)
    assert counts(report) == {"updated": 1}
    now = registry.customers.get(kept.id, actor=ADMIN)
    assert (now.stage.value, now.notes, now.tags, now.version) == (
        "active",
        "keep me",
        ("old", "new"),
        2,
    )
    assert now.contacts[0].emails == ("a@example.com", "b@example.com")
    assert now.contacts[0].phones == ("+8613800138000",)
    assert report.sample_ids == (kept.id,)
    changes = registry.customers.history(kept.id, actor=ADMIN)[1:]
    assert {c.path for c in changes} == {"stage", "tags", "contacts[0].emails"}
    assert {c.reason for c in changes} == {"import t1"}

    again = run(registry, rows, policy=policy, actor=ADMIN)
    assert counts(again) == {"unchanged": 1}
    assert registry.customers.get(kept.id, actor=ADMIN).version == 2


def test_update_needs_clear_values(registry: Registry) -> None:
    registry.customers.intake(
        {"kind": "individual", "name": "张三", "contacts": [{"phones": ["13800138000"]}]},
        actor=ADMIN,
    )
    rows = [person("张三", "13800138000", 阶段="成交")]
    report = run(registry, rows, policy=ImportPolicy(on_match="update"), actor=IMPORTER)
    assert counts(report) == {"conflict": 1}
    assert codes(report) == [(1, "update.masked")]


def test_updates_of_the_rows_own_customers(registry: Registry) -> None:
    rows = [person("张三", "13800138000", 编号="C1", 阶段="潜在")]
    run(registry, rows)
    policy = ImportPolicy(on_match="update")
    same = run(registry, rows, policy=policy, actor=ADMIN)
    assert counts(same) == {"already_applied": 1}
    fixed = [person("张三", "13800138000", 编号="C1", 阶段="成交")]
    report = run(registry, fixed, policy=policy, actor=ADMIN)
    assert counts(report) == {"updated": 1}
    assert stored(registry)[0].stage.value == "active"


def test_conflicts_go_to_the_error_file(registry: Registry, tmp_path: Path) -> None:
    a = registry.customers.intake(
        {
            "kind": "individual",
            "name": "甲",
            "contacts": [{"phones": ["13800138000"], "emails": ["a@example.com"]}],
        },
        actor=ADMIN,
    )
    b = registry.customers.intake(
        {
            "kind": "individual",
            "name": "乙",
            "identifiers": [{"scheme": "CN-USCC", "value": USCC_B}],
            "contacts": [{"phones": ["13900139000"]}],
        },
        actor=ADMIN,
    )
    rows = [
        person("甲", "13800138000"),
        person("混", "13600136000", 邮箱="a@example.com", 信用代码=USCC_B),
        person("丙", "13700137000"),
        person("丙二", "13700137000"),
    ]
    policy = ImportPolicy(on_match="conflict", on_file_duplicate="conflict")
    with ErrorFile(tmp_path / "errors.jsonl", format="jsonl") as errors:
        report = run(registry, rows, policy=policy, error_file=errors)
    assert counts(report) == {"created": 1, "conflict": 3}
    ids = ", ".join(sorted([a.id, b.id]))
    review = f"same phone as stored customer {a.id}; the policy asks a person to decide"
    assert [(i.row, i.code, i.message) for i in report.issues] == [
        (1, "match.review", review),
        (2, "match.ambiguous", f"matches 2 stored customers: {ids}"),
        (4, "duplicate.in_file", "same phone as row 3"),
    ]
    lines = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [(line["_row"], line["名称"]) for line in lines] == [(1, "甲"), (2, "混"), (4, "丙二")]
    assert lines[0]["_errors"][0].startswith("row: match.review")


def test_two_rows_updating_one_customer(registry: Registry) -> None:
    registry.customers.intake(
        {
            "kind": "individual",
            "name": "甲",
            "contacts": [{"phones": ["13800138000"], "emails": ["a@example.com"]}],
        },
        actor=ADMIN,
    )
    rows = [person("甲", "13800138000"), person("甲", "", 邮箱="a@example.com")]
    report = run(registry, rows, policy=ImportPolicy(on_match="update"), actor=ADMIN)
    assert counts(report) == {"unchanged": 1, "duplicate_in_file": 1}
    assert [i.message for i in report.issues] == ["updates the same customer as row 1"]


def test_an_actor_who_may_not_create_is_refused_per_row(registry: Registry) -> None:
    report = run(registry, [person("张三", "13800138000")], actor=Actor(id="a", roles={"auditor"}))
    assert counts(report) == {"rejected": 1}
    assert codes(report) == [(1, "access.denied")]


def test_rows_may_carry_their_own_ids(registry: Registry) -> None:
    given = str(uuid.uuid4())
    rows = [
        {
            "id": given,
            "kind": "individual",
            "name": "张三",
            "contacts": [{"phones": ["13800138000"]}],
        }
    ]
    report = plan_import(rows, None, registry, actor=IMPORTER, import_id="x", dry_run=False)
    assert counts(report) == {"created": 1}
    assert [c.id for c in stored(registry)] == [given]


def test_the_sample_is_reproducible_and_sized_by_share(registry: Registry) -> None:
    rows = [person(f"客户{i}", f"138{i:08d}") for i in range(40)]
    full = run(registry, rows, dry_run=True, policy=ImportPolicy(sample_share=1.0))
    assert len(full.sample_ids) == 40
    a = run(registry, rows, dry_run=True, policy=ImportPolicy(sample_share=0.1, sample_seed=1))
    b = run(registry, rows, dry_run=True, policy=ImportPolicy(sample_share=0.1, sample_seed=1))
    c = run(registry, rows, dry_run=True, policy=ImportPolicy(sample_share=0.1, sample_seed=2))
    assert a.sample_ids == b.sample_ids != c.sample_ids
    assert len(a.sample_ids) == 4 and set(a.sample_ids) <= set(full.sample_ids)
    none = run(registry, rows, dry_run=True, policy=ImportPolicy(sample_share=0))
    assert none.sample_ids == ()
    real = run(registry, rows, policy=ImportPolicy(sample_share=0.1, sample_seed=1))
    assert real.sample_ids == a.sample_ids


def test_progress_is_reported_per_chunk(registry: Registry) -> None:
    seen: list[int] = []
    rows = [person(f"客户{i}", f"138{i:08d}") for i in range(5)]
    run(registry, rows, dry_run=True, policy=ImportPolicy(batch_size=2), progress=seen.append)
    assert seen == [2, 4, 5]


def test_json_lines_rows_with_a_mapping(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "legacy.jsonl"
    lines = [
        {"名称": "张三", "手机": 13800138000, "标签": ["a", "b"]},
        {"名称": "李四", "手机": "139 0013 9000", "其它": 1},
        "broken",
    ]
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines[:2]) + "\n{\n")
    with open_source(path) as rows:
        report = plan_import(rows, MAPPING, registry, actor=IMPORTER, import_id="j", dry_run=False)
    assert counts(report) == {"created": 2, "rejected": 1}
    assert codes(report) == [(3, "row.json")]
    assert report.columns.unmapped == ("其它",)
    assert sorted(c.tags for c in stored(registry)) == [(), ("a", "b")]


def test_arguments_are_checked_early(registry: Registry) -> None:
    with pytest.raises(ValueError, match="import_id"):
        run(registry, [], import_id="not ok!")
    with pytest.raises(TypeError, match="actor"):
        run(registry, [], actor="ops")
    with pytest.raises(ValueError, match="on_match"):
        ImportPolicy(on_match="merge")
    with pytest.raises(ValueError, match="sample_share"):
        ImportPolicy(sample_share=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        ImportPolicy(batch_size=0)
    with pytest.raises(ValueError, match="aware"):
        run(registry, [], as_of=datetime(2024, 1, 1))


def test_derive_id_is_a_stable_uuid() -> None:
    a = derive_id("legacy", "ext:crm:1")
    assert a == derive_id("legacy", "ext:crm:1")
    assert a != derive_id("legacy", "ext:crm:2") and a[:13] == derive_id("legacy", "x")[:13]
    parsed = uuid.UUID(a)
    assert (parsed.version, parsed.variant, str(parsed)) == (8, uuid.RFC_4122, a)


def test_merge_changes() -> None:
    current = Customer(
        id="c",
        kind=CustomerKind.ORGANIZATION,
        name="甲",
        industry="软件",
        tags=("a",),
        identifiers=(
            Identifier(scheme="CN-USCC", value=USCC_A),
            Identifier(scheme="EXTERNAL", system="crm", value="1"),
        ),
        contacts=(
            Contact(name="王", phones=("+8613800138000",)),
            Contact(name="李", emails=("li@example.com",)),
        ),
        addresses=(Address(kind=AddressKind.OFFICE, city="北京", street="路1号"),),
        milestones=Milestones(satisfaction=3, contract_amount=Money(amount=1)),
    )
    new = Customer(
        id="n",
        kind=CustomerKind.ORGANIZATION,
        name="甲",
        tags=("b", "a"),
        identifiers=(Identifier(scheme="EXTERNAL", system="crm", value="2"),),
        contacts=(
            Contact(emails=("LI@example.com",), title="经理"),
            Contact(name="赵", phones=("+8613900139000",)),
        ),
        addresses=(Address(kind=AddressKind.OFFICE, street="路2号"),),
        milestones=Milestones(satisfaction=5),
    )
    touched = {"name", "tags", "identifiers", "contacts", "addresses", "milestones", "id"}
    changes = merge_changes(current, new, touched)
    assert sorted(changes) == ["addresses", "contacts", "identifiers", "milestones", "tags"]
    assert changes["tags"] == ["a", "b"]
    assert [i["value"] for i in changes["identifiers"]] == [USCC_A, "2"]
    assert [(c["name"], c["title"], c["emails"]) for c in changes["contacts"]] == [
        ("王", None, []),
        ("李", "经理", ["li@example.com"]),
        ("赵", None, []),
    ]
    assert changes["addresses"][0]["city"] == "北京"
    assert changes["addresses"][0]["street"] == "路2号"
    assert changes["milestones"]["satisfaction"] == 5
    assert changes["milestones"]["contract_amount"] == {"amount": "1", "currency": "CNY"}
    merged = {**make(current), **changes}
    assert parse_customer(merged).record is not None


def make(customer: Customer) -> dict[str, Any]:
    from custrec.model.serialization import make_converter

    data: dict[str, Any] = make_converter().unstructure(customer)
    data.pop("version")
    return data


def test_the_report_renders_a_table(registry: Registry) -> None:
    report = run(registry, [person("张三", "13800138000"), person("", "1")], dry_run=True)
    text = report.render()
    assert "planned (dry run)" in text
    assert "created                1" in text
    assert "row 2, 名称 (name): required" in text
    assert "13800138000" not in report.to_json()
    assert Outcome.REJECTED.needs_attention and not Outcome.CREATED.needs_attention


CELLS = st.sampled_from(
    ["", "N/A", "13800138000", "１３９００１３９０００", "12", "a@b.cn", USCC_A]
)
ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "名称": st.text(max_size=6) | st.just("张三"),
            "手机": CELLS,
            "邮箱": CELLS,
            "信用代码": CELLS,
            "阶段": st.sampled_from(["成交", "潜在", "?", ""]),
            "编号": st.sampled_from(["", "C1", "C2"]),
        }
    ),
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(ROWS, st.sampled_from(["skip", "update", "conflict"]))
def test_any_rows_are_planned_without_raising(rows: list[dict[str, str]], on_match: str) -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    registry.customers.intake(
        {"kind": "individual", "name": "甲", "contacts": [{"phones": ["13800138000"]}]},
        actor=ADMIN,
    )
    policy = ImportPolicy(on_match=on_match, batch_size=3)
    report = run(registry, rows, policy=policy, actor=ADMIN)
    assert sum(report.counts.values()) == report.rows == len(rows)
    again = run(registry, rows, policy=policy, actor=ADMIN)
    assert again.counts[Outcome.CREATED] == 0
    assert registry.customers.count(actor=ADMIN) == 1 + report.counts[Outcome.CREATED]
