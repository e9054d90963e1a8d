"""Registry duplicates: find_duplicates, find_duplicate_clusters, stop keys, blocking, merge.

Every test runs on an encrypted registry (blind-indexed) and on a plaintext one; the merge and
duplicate-search tests also run on SQLite.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.consent import CaptureChannel
from custrec.errors import AccessDenied, Erased, InvalidState, NotFound, ValidationFailed
from custrec.matching import (
    DEFAULT_RULES,
    DuplicateSearch,
    MatchConfig,
    MatchDecision,
    Reason,
    StopKey,
    Strategy,
    SurvivorshipRules,
)
from custrec.model.records import Customer, Interaction, Transaction
from custrec.retention import (
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
)
from custrec.services import ErasureAction, MergeResult
from custrec.storage import AuditRecord, Store
from custrec.testing import TickingClock
from custrec.workflow import WorkflowSettings

ADMIN = Actor(id="admin-1", roles={"admin", "unmask", "erase"}, team="hq")
MASKED_ADMIN = Actor(id="admin-2", roles={"admin"}, team="hq")
AUDITOR = Actor(id="aud-1", roles={"auditor"})
STAFF = Actor(id="staff-1", roles={"staff", "unmask"}, team="east")
MANAGER = Actor(id="mgr-1", roles={"manager", "unmask"}, team="east")
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
EARLIER = (T0 - timedelta(days=10)).isoformat()

BOTH_STORES = pytest.mark.parametrize("store", ["memory", "sqlite"], indirect=True)


_numbers = itertools.count(1)


def new_phone() -> str:
    """A mobile number no other record of the test session holds."""
    return f"1391{next(_numbers):07d}"


def person(
    name: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    street: str | None = None,
    city: str = "北京",
    **extra: Any,
) -> dict[str, Any]:
    """A raw individual; without a phone or e-mail it has none (a partial search candidate)."""
    data: dict[str, Any] = {"kind": "individual", "name": name, **extra}
    if phone is not None or email is not None:
        data["contacts"] = [
            {"phones": [phone] if phone else [], "emails": [email] if email else []}
        ]
    if street is not None:
        data["addresses"] = [{"city": city, "street": street}]
    return data


def organisation(
    name: str,
    *,
    street: str,
    city: str,
    phone: str | None = None,
    uscc: str | None = None,
) -> dict[str, Any]:
    """A raw organisation; with ``phone`` it is complete enough for intake."""
    data: dict[str, Any] = {
        "kind": "organization",
        "name": name,
        "industry": "通信设备",
        "addresses": [{"city": city, "street": street}],
    }
    if phone is not None:
        data["contacts"] = [{"name": "王经理", "phones": [phone]}]
    if uscc is not None:
        data["identifiers"] = [{"scheme": "CN-USCC", "value": uscc}]
    return data


MakeRegistry = Callable[..., Registry]


@pytest.fixture(params=["encrypted", "plaintext"])
def keyring(request: pytest.FixtureRequest) -> KeyRing | None:
    """Every test runs on an encrypted registry and on a plaintext one."""
    return KeyRing.generate() if request.param == "encrypted" else None


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A memory store, or a SQLite file for the tests marked ``BOTH_STORES``."""
    kind = getattr(request, "param", "memory")
    s: Store = SQLiteStore(tmp_path / "db.sqlite") if kind == "sqlite" else MemoryStore()
    yield s
    s.close()


# Survivorship here is pinned on the order the records were taken in and updated: lifecycle
# rules, which update a customer when an activity is recorded, are off in this module.
NO_RULES = WorkflowSettings(rules=())


@pytest.fixture
def registry(make: MakeRegistry) -> Registry:
    """The module's registry: no lifecycle rules."""
    return make(workflow=NO_RULES)


@pytest.fixture
def encrypted_registry(store: Store, clock: TickingClock) -> Registry:
    """Erasure needs a keyring: this one always has one."""
    return Registry(store, keyring=KeyRing.generate(), clock=clock, workflow=NO_RULES)


def ids(search: DuplicateSearch) -> list[str]:
    return [c.customer_id for c in search.candidates]


def findings(reasons: Sequence[Reason]) -> list[str]:
    """``field: finding`` of each reason, without its weight."""
    return [f"{r.field}: {r.finding}" for r in reasons]


def audit_actions(registry: Registry, **filters: Any) -> list[AuditRecord]:
    return registry.audit.trail(actor=AUDITOR, **filters)


# ----------------------------------------------------------------------- find_duplicates


@BOTH_STORES
def test_a_shared_government_id_decides_same(registry: Registry) -> None:
    existing = registry.customers.intake(
        organisation(
            "甲公司",
            street="中关村大街1号",
            city="北京",
            phone=new_phone(),
            uscc="91350100M000100Y43",
        ),
        actor=ADMIN,
    )
    candidate = organisation("乙集团", street="南京路2号", city="上海", uscc="91350100m000100y43")
    search = registry.matching.find_duplicates(candidate, actor=ADMIN)
    assert ids(search) == [existing.id]
    best = search.best
    assert best is not None
    assert best.decision is MatchDecision.SAME and best.score == 1.0
    assert findings(best.reasons)[0] == "uscc: same"


@BOTH_STORES
@pytest.mark.parametrize(
    ("stored", "candidate", "finding"),
    [
        (
            person("李雷", phone="13800138000"),
            person("韩梅梅", phone="+86 138-0013-8000"),
            "phone: same",
        ),
        (
            person("李雷", email="Li.Lei@Example.com"),
            person("Lei Li", email="li.lei@example.COM"),
            "email: same",
        ),
    ],
    ids=["phone", "email"],
)
def test_a_shared_phone_or_email_is_strong_evidence_but_never_decides(
    registry: Registry, stored: dict[str, Any], candidate: dict[str, Any], finding: str
) -> None:
    existing = registry.customers.intake(stored, actor=ADMIN)
    search = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    assert ids(search) == [existing.id]
    best = search.best
    assert best is not None
    assert best.decision is not MatchDecision.SAME
    [shared] = [r for r in best.reasons if f"{r.field}: {r.finding}" == finding]
    assert shared.weight > 10


@BOTH_STORES
def test_a_phone_many_stored_records_hold_weighs_less(registry: Registry) -> None:
    switchboard = new_phone()
    first = registry.customers.intake(person("王芳", phone=switchboard), actor=ADMIN)
    candidate = person("王芳", phone=switchboard)
    alone = registry.matching.find_duplicates(candidate, actor=ADMIN).best
    for n in range(20):
        registry.customers.intake(
            person(f"员工{n}", phone=switchboard), actor=ADMIN, allow_duplicates=True
        )
    crowded = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    shared = next(c for c in crowded.candidates if c.customer_id == first.id)
    assert alone is not None and alone.customer_id == first.id
    assert shared.score < alone.score
    weight = {r.field: r.weight for r in shared.reasons}["phone"]
    assert weight < {r.field: r.weight for r in alone.reasons}["phone"] - 3  # 2 vs 22 holders


def test_three_companies_on_shared_lines_are_never_decided_same_before_intake(
    registry: Registry,
) -> None:
    def company(uscc: str | None, *phones: str) -> dict[str, Any]:
        data = organisation("上海明华贸易有限公司", street="南京西路1号", city="上海", uscc=uscc)
        data["contacts"] = [{"name": "王经理", "phones": list(phones)}]
        return data

    a = registry.customers.intake(company("91110000600037341L", "021-5234 5678"), actor=ADMIN)
    c = registry.customers.intake(
        company("91110000710926094P", "021-9876 5432"), actor=ADMIN, allow_duplicates=True
    )
    b = company(None, "021-5234 5678", "021-9876 5432")
    search = registry.matching.find_duplicates(b, actor=ADMIN, decision=MatchDecision.DISTINCT)
    assert sorted(ids(search)) == sorted([a.id, c.id])
    for found in search.candidates:
        assert found.decision is not MatchDecision.SAME
        assert "phone: same landline" in [
            f"{r.field}: {r.finding.split(',')[0]}" for r in found.reasons
        ]
    a_again = registry.matching.find_duplicates(
        company("91110000600037341L", "021-9876 5432"), actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    verdicts = {f.customer_id: (f.decision, f.score) for f in a_again.candidates}
    assert verdicts[c.id] == (MatchDecision.DISTINCT, 0.0)  # another credit code
    assert verdicts[a.id] == (MatchDecision.SAME, 1.0)


@BOTH_STORES
def test_swapped_pinyin_name_order_at_the_same_street_is_probable_with_name_and_address(
    registry: Registry,
) -> None:
    stored = registry.customers.intake(
        person("Zhang Wei", phone=new_phone(), street="朝阳路88号"), actor=ADMIN
    )
    search = registry.matching.find_duplicates(
        person("WEI ZHANG", street="朝阳路８８号"), actor=ADMIN
    )
    assert ids(search) == [stored.id]
    best = search.best
    assert best is not None
    assert best.decision is MatchDecision.PROBABLE
    assert findings(best.reasons) == ["name: same", "address: same"]
    assert best.score >= 0.85


@BOTH_STORES
def test_the_same_name_at_a_different_address_is_not_probable(registry: Registry) -> None:
    stored = registry.customers.intake(
        person("张伟", phone=new_phone(), street="长安街1号"), actor=ADMIN
    )
    candidate = person("张伟", street="学院路30号")
    assert registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.PROBABLE
    ) == (DuplicateSearch(candidates=(), compared=1))
    everything = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    assert ids(everything) == [stored.id]
    assert everything.candidates[0].decision is MatchDecision.DISTINCT
    assert "address: different" in findings(everything.candidates[0].reasons)


@BOTH_STORES
def test_organisations_differing_only_in_legal_form_at_the_same_address_match(
    registry: Registry,
) -> None:
    stored = registry.customers.intake(
        organisation("华为技术有限公司", street="坂田华为基地", city="深圳", phone=new_phone()),
        actor=ADMIN,
    )
    search = registry.matching.find_duplicates(
        organisation("华为技术股份有限公司", street="坂田华为基地", city="深圳"),
        actor=ADMIN,
        decision=MatchDecision.PROBABLE,
    )
    assert ids(search) == [stored.id]
    assert search.candidates[0].decision is MatchDecision.PROBABLE
    assert findings(search.candidates[0].reasons) == ["name: same", "address: same"]


@BOTH_STORES
def test_organisations_with_one_core_name_in_different_regions_do_not_reach_probable(
    registry: Registry,
) -> None:
    stored = registry.customers.intake(
        organisation("北京银行", street="金融大街甲17号", city="北京", phone=new_phone()),
        actor=ADMIN,
    )
    candidate = organisation("上海银行", street="金融大街甲17号", city="北京")
    probable = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.PROBABLE
    )
    assert probable.candidates == ()
    possible = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.POSSIBLE
    )
    assert ids(possible) == [stored.id]
    assert possible.candidates[0].decision is MatchDecision.POSSIBLE
    assert "region: different" in findings(possible.candidates[0].reasons)


def test_a_person_never_matches_an_organisation(registry: Registry) -> None:
    phone = new_phone()
    stored = registry.customers.intake(person("张伟", phone=phone, street="学院路1号"), actor=ADMIN)
    candidate = organisation("张伟", street="学院路1号", city="北京", phone=phone)
    assert registry.matching.find_duplicates(candidate, actor=ADMIN).candidates == ()
    everything = registry.matching.find_duplicates(
        candidate, actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    assert ids(everything) == [stored.id]
    assert everything.candidates[0].decision is MatchDecision.DISTINCT
    assert everything.candidates[0].reasons == (Reason("kind", "different"),)


@BOTH_STORES
def test_a_stored_customer_never_matches_itself(registry: Registry) -> None:
    me = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    twin = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    search = registry.matching.find_duplicates(me, actor=ADMIN, decision=MatchDecision.DISTINCT)
    assert ids(search) == [twin.id]
    assert search.compared == 1


@BOTH_STORES
def test_candidates_are_sorted_best_first_and_limit_is_honoured(registry: Registry) -> None:
    phone = new_phone()
    possible = registry.customers.intake(person("李雷", phone=new_phone()), actor=ADMIN)
    distinct = registry.customers.intake(
        person("李雷", phone=new_phone(), street="长安街1号"), actor=ADMIN
    )
    probable = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    ric = [{"scheme": "CN-RIC", "value": "11010519491231002X"}]
    same = registry.customers.intake(person("韩梅梅", phone=phone, identifiers=ric), actor=ADMIN)
    candidate = person("李雷", street="学院路5号", identifiers=ric)

    search = registry.matching.find_duplicates(candidate, actor=ADMIN)
    assert ids(search) == [same.id, probable.id, possible.id]
    assert [c.decision for c in search.candidates] == [
        MatchDecision.SAME,
        MatchDecision.PROBABLE,
        MatchDecision.POSSIBLE,
    ]
    scores = [c.score for c in search.candidates]
    assert scores == sorted(scores, reverse=True)
    assert search.compared == 4
    assert distinct.id not in ids(search)

    assert ids(registry.matching.find_duplicates(candidate, actor=ADMIN, max_results=2)) == [
        same.id,
        probable.id,
    ]
    assert ids(registry.matching.find_duplicates(candidate, actor=ADMIN, max_results=1)) == [
        same.id
    ]


def test_equally_good_candidates_are_ordered_by_id(registry: Registry) -> None:
    stored = [
        registry.customers.intake(
            person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
        )
        for _ in range(3)
    ]
    search = registry.matching.find_duplicates(person("李雷", street="学院路5号"), actor=ADMIN)
    assert ids(search) == sorted(c.id for c in stored)


@pytest.mark.parametrize(
    "candidate",
    [
        {"kind": "individual"},
        {"name": "张三"},
        {"kind": "robot", "name": "张三"},
        {"kind": "individual", "name": "张三", "contacts": 42},
    ],
    ids=["no-name", "no-kind", "bad-kind", "bad-contacts"],
)
def test_a_candidate_with_a_structure_problem_raises_validation_failed(
    registry: Registry, candidate: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed):
        registry.matching.find_duplicates(candidate, actor=ADMIN)


def test_a_candidate_value_that_cannot_be_normalised_is_simply_not_used(
    registry: Registry,
) -> None:
    stored = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    candidate = person("李雷", phone="not a phone", email="nobody@", street="学院路5号")
    assert ids(registry.matching.find_duplicates(candidate, actor=ADMIN)) == [stored.id]


def test_a_candidate_that_is_not_a_mapping_or_customer_raises_type_error(
    registry: Registry,
) -> None:
    not_a_candidate: Any = ["kind", "individual"]
    with pytest.raises(TypeError):
        registry.matching.find_duplicates(not_a_candidate, actor=ADMIN)


@pytest.mark.parametrize(
    ("max_results", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (2.5, TypeError), ("3", TypeError)],
)
def test_max_results_that_is_not_a_positive_integer_is_refused(
    registry: Registry, max_results: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_results must be a positive integer"):
        registry.matching.find_duplicates(
            person("李雷", phone=new_phone()), actor=ADMIN, max_results=max_results
        )


def test_an_unknown_decision_raises_value_error(registry: Registry) -> None:
    unknown: Any = "maybe"
    with pytest.raises(ValueError, match="maybe"):
        registry.matching.find_duplicates(
            person("李雷", phone=new_phone()), actor=ADMIN, decision=unknown
        )


def test_searching_needs_the_right_to_create_the_candidate(registry: Registry) -> None:
    registry.customers.intake(person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN)
    with pytest.raises(AccessDenied):
        registry.matching.find_duplicates(person("李雷", street="学院路5号"), actor=AUDITOR)
    found = registry.matching.find_duplicates(person("李雷", street="学院路5号"), actor=STAFF)
    assert len(found.candidates) == 1


def test_merged_records_are_never_proposed(registry: Registry) -> None:
    a = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    b = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    registry.matching.merge(a.id, [b.id], actor=ADMIN, reason="duplicate")
    assert ids(
        registry.matching.find_duplicates(person("李雷", street="学院路5号"), actor=ADMIN)
    ) == [a.id]


def test_a_duplicate_search_is_audited_with_key_kinds_and_no_values(registry: Registry) -> None:
    phone = new_phone()
    registry.customers.intake(person("李雷", phone=phone, street="学院路5号"), actor=ADMIN)
    registry.matching.find_duplicates(person("李雷", phone=phone, street="学院路5号"), actor=ADMIN)
    entries = [e for e in audit_actions(registry) if e.action == "customer.find_duplicates"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.actor_id == ADMIN.id and entry.outcome == "ok"
    assert {"phone", "blk.name", "blk.addr"} <= set(entry.fields)
    for value in ("李雷", phone, "学院路5号"):
        assert value not in repr(entry)


def test_searching_changes_nothing(registry: Registry) -> None:
    stored = registry.customers.intake(
        person("李雷", phone=new_phone(), street="学院路5号"), actor=ADMIN
    )
    registry.matching.find_duplicates(person("李雷", street="学院路5号"), actor=ADMIN)
    assert registry.customers.get(stored.id, actor=ADMIN) == stored
    assert registry.customers.count(actor=ADMIN) == 1


# ------------------------------------------------------------------------------ stop keys


def crowd(registry: Registry, n: int, *, name: str = "王芳", street: str = "建国路9号") -> None:
    for _ in range(n):
        registry.customers.intake(person(name, phone=new_phone(), street=street), actor=ADMIN)


@BOTH_STORES
def test_a_name_and_street_shared_by_more_than_the_cap_are_reported_as_stop_keys(
    make: MakeRegistry,
) -> None:
    registry = make(matching=MatchConfig(cap=3))
    crowd(registry, 5)
    search = registry.matching.find_duplicates(person("王芳", street="建国路9号"), actor=ADMIN)
    assert {k.kind for k in search.stop_keys} == {"blk.name", "blk.addr"}
    assert all(k.records > 3 for k in search.stop_keys)
    assert search.candidates == () and search.compared == 0  # a stop key is never read

    run = registry.matching.clusters(actor=ADMIN)
    assert {k.kind for k in run.stop_keys} == {"blk.name", "blk.addr"}
    assert all(k.records > 3 for k in run.stop_keys)
    assert run.clusters == () and run.comparisons == 0


def test_a_key_shared_by_exactly_the_cap_is_not_a_stop_key(make: MakeRegistry) -> None:
    registry = make(matching=MatchConfig(cap=3))
    crowd(registry, 3)
    search = registry.matching.find_duplicates(person("王芳", street="建国路9号"), actor=ADMIN)
    assert search.stop_keys == ()
    assert len(search.candidates) == 3
    run = registry.matching.clusters(actor=ADMIN)
    assert run.stop_keys == ()
    assert [len(c.ids) for c in run.clusters] == [3]


def test_stop_keys_reveal_no_value(make: MakeRegistry) -> None:
    registry = make(matching=MatchConfig(cap=2))
    crowd(registry, 4)
    search = registry.matching.find_duplicates(person("王芳", street="建国路9号"), actor=ADMIN)
    run = registry.matching.clusters(actor=ADMIN)
    keys: list[StopKey] = [*search.stop_keys, *run.stop_keys]
    assert len(keys) == 4
    for key in keys:
        text = repr(key) + str(attrs.asdict(key))
        for value in ("王芳", "wang", "建国路", "北京"):
            assert value not in text
        assert re.fullmatch(r"[0-9a-f]+", key.digest)


def test_a_stop_key_does_not_hide_a_candidate_met_through_another_key(
    make: MakeRegistry,
) -> None:
    registry = make(matching=MatchConfig(cap=3))
    crowd(registry, 5)
    phone = new_phone()
    holder = registry.customers.intake(person("王芳", phone=phone, street="建国路9号"), actor=ADMIN)
    search = registry.matching.find_duplicates(
        person("王芳", phone=phone, street="建国路9号"), actor=ADMIN
    )
    assert ids(search) == [holder.id]
    assert {k.kind for k in search.stop_keys} == {"blk.name", "blk.addr"}


# ------------------------------------------------------------------------------- blocking


def test_without_blocking_keys_only_strong_identifiers_find_candidates(
    make: MakeRegistry,
) -> None:
    registry = make(matching=MatchConfig(blocking=False))
    phone = new_phone()
    weak = registry.customers.intake(
        person("Zhang Wei", phone=new_phone(), street="朝阳路88号"), actor=ADMIN
    )
    strong = registry.customers.intake(person("韩梅梅", phone=phone), actor=ADMIN)

    weak_candidate = person("Wei Zhang", street="朝阳路88号")
    assert registry.matching.find_duplicates(weak_candidate, actor=ADMIN) == DuplicateSearch(
        candidates=()
    )
    by_phone = registry.matching.find_duplicates(
        person("某人", phone=phone), actor=ADMIN, decision=MatchDecision.DISTINCT
    )
    assert ids(by_phone) == [strong.id]

    blocking = make(matching=MatchConfig(blocking=True))
    assert (
        blocking.matching.find_duplicates(weak_candidate, actor=ADMIN).candidates == ()
    )  # not yet
    assert blocking.keys.reindex(actor=ADMIN) == 2
    found = blocking.matching.find_duplicates(weak_candidate, actor=ADMIN)
    assert ids(found) == [weak.id]
    assert found.candidates[0].decision is MatchDecision.PROBABLE
    assert blocking.keys.reindex(actor=ADMIN) == 0  # nothing left to rewrite


def test_turning_blocking_off_and_reindexing_drops_weak_candidates(make: MakeRegistry) -> None:
    registry = make()
    registry.customers.intake(
        person("Zhang Wei", phone=new_phone(), street="朝阳路88号"), actor=ADMIN
    )
    candidate = person("Wei Zhang", street="朝阳路88号")
    assert len(registry.matching.find_duplicates(candidate, actor=ADMIN).candidates) == 1
    strict = make(matching=MatchConfig(blocking=False))
    assert strict.keys.reindex(actor=ADMIN) == 1
    assert strict.matching.find_duplicates(candidate, actor=ADMIN).candidates == ()


# ------------------------------------------------------------------------------- clusters


def chain(registry: Registry) -> tuple[Customer, Customer, Customer, Customer, Customer]:
    """A-B share a phone, B-C an e-mail (one person, one name); D and E are other people."""
    phone = new_phone()
    email = f"lilei{next(_numbers)}@example.com"
    a = registry.customers.intake(person("LI Lei", phone=phone, street="学院路1号"), actor=ADMIN)
    b = registry.customers.intake(
        person("Li Lei", phone=phone, email=email), actor=ADMIN, allow_duplicates=True
    )
    c = registry.customers.intake(
        person("LEI, Li", phone=new_phone(), email=email.upper()),
        actor=ADMIN,
        allow_duplicates=True,
    )
    d = registry.customers.intake(
        person("韩梅梅", phone=new_phone(), street="学院路1号"), actor=ADMIN
    )
    e = registry.customers.intake(
        person("韩梅梅", phone=new_phone(), street="长安街8号"), actor=ADMIN
    )
    return a, b, c, d, e


@BOTH_STORES
def test_a_chain_of_shared_phone_and_email_forms_one_cluster(registry: Registry) -> None:
    a, b, c, d, e = chain(registry)
    run = registry.matching.clusters(actor=ADMIN)
    assert run.decision is MatchDecision.PROBABLE
    assert run.records == 5
    assert [cluster.ids for cluster in run.clusters] == [tuple(sorted((a.id, b.id, c.id)))]
    cluster = run.clusters[0]
    assert cluster.decision is MatchDecision.PROBABLE  # a phone or e-mail never decides
    assert {d.id, e.id}.isdisjoint(cluster.ids)
    assert 2 <= run.comparisons <= run.comparisons_planned
    assert run.duplicate_ids == frozenset(sorted((a.id, b.id, c.id))[1:])
    for match in cluster.matches:
        assert "李雷" not in repr(match) and "example.com" not in repr(match)


def test_a_lower_decision_joins_no_distinct_people(registry: Registry) -> None:
    a, b, c, _, _ = chain(registry)
    run = registry.matching.clusters(actor=ADMIN, decision=MatchDecision.POSSIBLE)
    assert [cluster.ids for cluster in run.clusters] == [tuple(sorted((a.id, b.id, c.id)))]


def test_merged_records_are_not_clustered(registry: Registry) -> None:
    a, b, c, _, _ = chain(registry)
    registry.matching.merge(a.id, [b.id], actor=ADMIN, reason="same person")
    run = registry.matching.clusters(actor=ADMIN)
    assert run.records == 4
    assert [cluster.ids for cluster in run.clusters] == [tuple(sorted((a.id, c.id)))]
    assert b.id not in run.duplicate_ids


def test_erased_records_are_not_clustered(encrypted_registry: Registry) -> None:
    registry = encrypted_registry
    phone = new_phone()
    a = registry.customers.intake(person("李雷", phone=phone), actor=ADMIN)
    b = registry.customers.intake(person("李雷", phone=phone), actor=ADMIN, allow_duplicates=True)
    assert len(registry.matching.clusters(actor=ADMIN).clusters) == 1
    registry.privacy.erase(b.id, actor=ADMIN, reason="subject request")
    run = registry.matching.clusters(actor=ADMIN)
    assert run.records == 1 and run.clusters == ()
    assert a.id not in run.duplicate_ids


def test_a_person_and_an_organisation_sharing_a_phone_are_never_clustered(
    registry: Registry,
) -> None:
    phone = new_phone()
    registry.customers.intake(
        person("华为", phone=phone, street="坂田华为基地", city="深圳"), actor=ADMIN
    )
    registry.customers.intake(
        organisation("华为", street="坂田华为基地", city="深圳", phone=phone),
        actor=ADMIN,
        allow_duplicates=True,
    )
    run = registry.matching.clusters(actor=ADMIN, decision=MatchDecision.POSSIBLE)
    assert run.clusters == ()
    assert run.comparisons == 1


@pytest.mark.parametrize("actor", [STAFF, MANAGER], ids=["staff", "manager"])
def test_clustering_needs_read_rights_over_every_customer(registry: Registry, actor: Actor) -> None:
    registry.customers.intake(person("李雷", phone=new_phone()), actor=actor)
    with pytest.raises(AccessDenied):
        registry.matching.clusters(actor=actor)


def test_an_auditor_with_masked_reads_over_everyone_may_cluster(registry: Registry) -> None:
    a, b, c, _, _ = chain(registry)
    run = registry.matching.clusters(actor=AUDITOR)
    assert run.duplicate_ids == frozenset(sorted((a.id, b.id, c.id))[1:])


def test_clustering_is_audited(registry: Registry) -> None:
    registry.matching.clusters(actor=ADMIN)
    entries = [e for e in audit_actions(registry) if e.action == "customer.find_duplicate_clusters"]
    assert [(e.actor_id, e.outcome) for e in entries] == [(ADMIN.id, "ok")]


@pytest.mark.parametrize(
    ("decision", "batch_size", "message"),
    [
        (MatchDecision.DISTINCT, 10, "distinct"),
        ("nonsense", 10, "nonsense"),
        (MatchDecision.PROBABLE, 0, "batch_size"),
    ],
)
def test_clustering_refuses_distinct_unknown_decisions_and_bad_batch_sizes(
    registry: Registry, decision: Any, batch_size: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.matching.clusters(actor=ADMIN, decision=decision, batch_size=batch_size)


def test_clustering_in_small_batches_finds_the_same_clusters(registry: Registry) -> None:
    chain(registry)
    whole = registry.matching.clusters(actor=ADMIN)
    assert registry.matching.clusters(actor=ADMIN, batch_size=1).clusters == whole.clusters


# ---------------------------------------------------------------------------------- merge


@attrs.frozen
class Trio:
    """A survivor and two duplicates with activities and a consent grant on the first."""

    survivor: Customer
    first: Customer
    second: Customer
    activities: dict[str, str]  # activity id -> owning customer id before the merge
    summary: str


def trio(registry: Registry, actor: Actor = ADMIN) -> Trio:
    survivor = registry.customers.intake(
        {
            "kind": "individual",
            "name": "张三",
            "contacts": [{"phones": [new_phone()], "emails": ["zs@example.com"]}],
            "addresses": [{"city": "北京", "street": "学院路1号"}],
            "identifiers": [{"scheme": "EXTERNAL", "system": "crm", "value": "S-1"}],
            "tags": ["vip"],
        },
        actor=actor,
    )
    first = registry.customers.intake(
        {
            "kind": "individual",
            "name": "张三",
            "contacts": [{"phones": [new_phone()], "emails": ["zhangsan@work.example"]}],
            "addresses": [
                {"city": "北京", "street": "学院路1号"},
                {"city": "上海", "street": "南京路2号"},
            ],
            "identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002X"}],
            "tags": ["b2b", "vip"],
        },
        actor=actor,
    )
    second = registry.customers.intake(
        {
            "kind": "individual",
            "name": "Zhang San",
            "contacts": [{"name": "张三", "phones": [new_phone()]}],
            "identifiers": [{"scheme": "EXTERNAL", "system": "erp", "value": "O-2"}],
            "tags": ["wechat-group"],
        },
        actor=actor,
    )
    summary = "客户要求下周回电"
    made: dict[str, str] = {}
    for owner in (survivor, first, second):
        t = registry.activities.record_transaction(
            {
                "customer_id": owner.id,
                "occurred_at": EARLIER,
                "amount": {"amount": "99.50", "currency": "CNY"},
            },
            actor=actor,
        )
        made[t.id] = owner.id
    i = registry.activities.record_interaction(
        {"customer_id": first.id, "kind": "call", "occurred_at": EARLIER, "summary": summary},
        actor=actor,
    )
    made[i.id] = first.id
    registry.consent.grant(
        first.id, "marketing.email", actor=actor, channel=CaptureChannel.WEB_FORM
    )
    return Trio(survivor=survivor, first=first, second=second, activities=made, summary=summary)


def merge_trio(registry: Registry, t: Trio, reason: str = "ticket 4711") -> MergeResult:
    return registry.matching.merge(
        t.survivor.id, [t.first.id, t.second.id], actor=ADMIN, reason=reason
    )


def phones(c: Customer) -> set[str]:
    return {p for contact in c.contacts for p in contact.phones}


def emails(c: Customer) -> set[str]:
    return {e for contact in c.contacts for e in contact.emails}


@BOTH_STORES
def test_merge_keeps_every_phone_email_address_identifier_and_tag(registry: Registry) -> None:
    t = trio(registry)
    result = merge_trio(registry, t)
    merged = registry.customers.get(t.survivor.id, actor=ADMIN)
    assert result.customer == merged
    assert result.merged_ids == (t.first.id, t.second.id)
    records = (t.survivor, t.first, t.second)
    assert phones(merged) == set().union(*map(phones, records))
    assert emails(merged) == set().union(*map(emails, records))
    assert {(a.city, a.street) for a in merged.addresses} == {
        ("北京", "学院路1号"),
        ("上海", "南京路2号"),
    }
    assert {i.value for i in merged.identifiers} == {"S-1", "11010519491231002X", "O-2"}
    assert set(merged.tags) == {"vip", "b2b", "wechat-group"}
    assert merged.created_at == t.survivor.created_at  # the earliest


@BOTH_STORES
def test_merge_moves_every_transaction_and_interaction_to_the_survivor(
    registry: Registry,
) -> None:
    t = trio(registry)
    result = merge_trio(registry, t)
    assert result.activities_moved == 3
    moved = registry.activities.list(t.survivor.id, actor=ADMIN)
    assert {a.id for a in moved} == set(t.activities)
    assert {a.customer_id for a in moved} == {t.survivor.id}
    [interaction] = [a for a in moved if isinstance(a, Interaction)]
    assert interaction.summary == t.summary  # still readable after the move (sealed or not)
    assert len([a for a in moved if isinstance(a, Transaction)]) == 3
    assert registry.activities.list(t.first.id, actor=ADMIN) == moved  # the alias resolves


@BOTH_STORES
def test_merge_copies_consent_events_so_a_grant_to_a_merged_record_counts(
    registry: Registry,
) -> None:
    t = trio(registry)
    assert not registry.consent.may_use(t.survivor.id, "marketing.email", actor=ADMIN).allowed
    result = merge_trio(registry, t)
    assert result.consent_events_copied == 1
    ledger = registry.consent.ledger(t.survivor.id, actor=ADMIN)
    assert [(e.customer_id, e.purposes) for e in ledger.events] == [
        (t.survivor.id, ("marketing.email",))
    ]
    original = registry.consent.ledger(t.first.id, actor=ADMIN).events
    assert [e.id for e in ledger.events] == [e.id for e in original]  # kept as evidence
    assert registry.consent.may_use(t.survivor.id, "marketing.email", actor=ADMIN).allowed
    assert not registry.consent.may_use(t.survivor.id, "marketing.sms", actor=ADMIN).allowed


@BOTH_STORES
def test_get_and_update_of_a_merged_id_act_on_the_survivor(registry: Registry) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    assert registry.customers.get(t.first.id, actor=ADMIN).id == t.survivor.id
    updated = registry.customers.update(
        t.second.id, {"stage": "prospect"}, actor=ADMIN, reason="call"
    )
    assert updated.id == t.survivor.id
    assert registry.customers.get(t.survivor.id, actor=ADMIN).stage == "prospect"
    last = registry.customers.history(t.survivor.id, actor=ADMIN)[-1]
    assert (last.action, last.path, last.new) == ("update", "stage", "prospect")


@BOTH_STORES
def test_a_transaction_recorded_against_a_merged_id_lands_on_the_survivor(
    registry: Registry,
) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    tx = registry.activities.record_transaction(
        {
            "customer_id": t.first.id,
            "occurred_at": EARLIER,
            "amount": {"amount": "1", "currency": "CNY"},
        },
        actor=ADMIN,
    )
    stored = {a.id: a for a in registry.activities.list(t.survivor.id, actor=ADMIN)}
    assert stored[tx.id].customer_id == t.survivor.id
    summaries = list(registry.activities.summaries(as_of=T0 + timedelta(days=1), actor=ADMIN))
    assert [s.customer_id for s in summaries] == [t.survivor.id]


def test_the_transaction_returned_for_a_merged_id_is_the_one_stored_for_the_survivor(
    registry: Registry,
) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    tx = registry.activities.record_transaction(
        {
            "customer_id": t.first.id,
            "occurred_at": EARLIER,
            "amount": {"amount": "1", "currency": "CNY"},
        },
        actor=ADMIN,
    )
    stored = {a.id: a for a in registry.activities.list(t.survivor.id, actor=ADMIN)}
    assert tx == stored[tx.id]


@BOTH_STORES
def test_aliases_and_find_resolve_merged_ids_to_the_survivor(registry: Registry) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    assert registry.matching.aliases(t.survivor.id, actor=ADMIN) == sorted(
        (t.first.id, t.second.id)
    )
    assert registry.matching.aliases(t.first.id, actor=ADMIN) == []
    for merged in (t.first, t.second):
        [phone] = phones(merged)
        assert [c.id for c in registry.customers.find(phone=phone, actor=ADMIN)] == [t.survivor.id]
    assert [c.id for c in registry.customers.find(email="ZHANGSAN@work.example", actor=ADMIN)] == [
        t.survivor.id
    ]
    assert [c.id for c in registry.customers.query(actor=ADMIN)] == [t.survivor.id]
    assert registry.customers.count(actor=ADMIN) == 1


@BOTH_STORES
def test_history_explains_the_merge(registry: Registry) -> None:
    t = trio(registry)
    result = merge_trio(registry, t, reason="ticket 4711")
    changed = {c.field for c in result.choices if c.changed}
    assert {"contacts", "addresses", "identifiers", "tags", "name"} <= changed

    entries = [
        h for h in registry.customers.history(t.survivor.id, actor=ADMIN) if h.action == "merge"
    ]
    assert {h.reason for h in entries} == {"ticket 4711"}
    [naming] = [h for h in entries if h.path == ""]
    assert naming.new == {"merged": [t.first.id, t.second.id]}
    assert {re.split(r"[.\[]", h.path)[0] for h in entries if h.path} == changed - {"updated_at"}
    name_change = [h for h in entries if h.path == "name"]
    assert [(h.old, h.new) for h in name_change] == [("张三", "Zhang San")]

    for merged in (t.first, t.second):
        last = registry.customers.history(merged.id, actor=ADMIN)[-1]
        assert (last.action, last.path, last.new) == ("merged", "", {"merged_into": t.survivor.id})
        assert last.reason == "ticket 4711"


def test_a_reader_without_unmask_can_read_the_history_of_merged_records(
    registry: Registry,
) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    survivor_history = registry.customers.history(t.survivor.id, actor=MASKED_ADMIN)
    assert "merge" in {h.action for h in survivor_history}
    alias_history = registry.customers.history(t.first.id, actor=MASKED_ADMIN)
    assert alias_history[-1].action == "merged"
    assert "zs@example.com" not in repr([h.new for h in survivor_history])


def test_merge_is_audited_for_the_survivor_and_each_merged_record(registry: Registry) -> None:
    t = trio(registry)
    merge_trio(registry, t, reason="ticket 4711")
    entries = audit_actions(registry)
    merge = [e for e in entries if e.action == "customer.merge"]
    assert [(e.customer_id, e.reason, e.actor_id) for e in merge] == [
        (t.survivor.id, "ticket 4711", ADMIN.id)
    ]
    assert "contacts" in merge[0].fields
    merged = {e.customer_id for e in entries if e.action == "customer.merged"}
    assert merged == {t.first.id, t.second.id}


@BOTH_STORES
@pytest.mark.parametrize("others", ["self", "empty", "repeated"])
def test_merge_refuses_the_survivor_itself_an_empty_list_and_repeated_ids(
    registry: Registry, others: str
) -> None:
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    b = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    other_ids = {"self": [a.id], "empty": [], "repeated": [b.id, b.id]}[others]
    with pytest.raises(ValueError, match=r"merge\(\)"):
        registry.matching.merge(a.id, other_ids, actor=ADMIN, reason="duplicate")
    assert registry.customers.get(a.id, actor=ADMIN) == a
    assert registry.customers.get(b.id, actor=ADMIN) == b


def test_merge_needs_a_reason(registry: Registry) -> None:
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    b = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    with pytest.raises(ValueError, match="reason"):
        registry.matching.merge(a.id, [b.id], actor=ADMIN, reason=" ")


def test_merging_an_unknown_id_raises_not_found(registry: Registry) -> None:
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    with pytest.raises(NotFound):
        registry.matching.merge(a.id, ["no-such-customer"], actor=ADMIN, reason="duplicate")
    assert registry.customers.get(a.id, actor=ADMIN) == a


@BOTH_STORES
def test_a_person_cannot_be_merged_into_an_organisation(registry: Registry) -> None:
    phone = new_phone()
    org = registry.customers.intake(
        organisation("华为技术有限公司", street="坂田华为基地", city="深圳", phone=phone),
        actor=ADMIN,
    )
    someone = registry.customers.intake(person("华为", phone=new_phone()), actor=ADMIN)
    with pytest.raises(InvalidState):
        registry.matching.merge(org.id, [someone.id], actor=ADMIN, reason="duplicate")
    with pytest.raises(InvalidState):
        registry.matching.merge(someone.id, [org.id], actor=ADMIN, reason="duplicate")
    assert registry.customers.get(org.id, actor=ADMIN) == org
    assert registry.customers.get(someone.id, actor=ADMIN) == someone


@BOTH_STORES
def test_an_already_merged_record_cannot_be_merged_again(registry: Registry) -> None:
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    b = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    c = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    registry.matching.merge(a.id, [b.id], actor=ADMIN, reason="duplicate")
    before = registry.customers.get(a.id, actor=ADMIN)
    with pytest.raises(InvalidState):
        registry.matching.merge(c.id, [b.id], actor=ADMIN, reason="duplicate")
    with pytest.raises(InvalidState):
        registry.matching.merge(b.id, [c.id], actor=ADMIN, reason="duplicate")
    assert registry.customers.get(c.id, actor=ADMIN) == c
    assert registry.customers.get(a.id, actor=ADMIN) == before
    assert registry.matching.aliases(c.id, actor=ADMIN) == []


@BOTH_STORES
def test_staff_without_rights_on_one_record_cannot_merge_and_nothing_changes(
    registry: Registry,
) -> None:
    own = registry.customers.intake(person("张三", phone=new_phone()), actor=STAFF)
    own_dup = registry.customers.intake(person("张三", phone=new_phone()), actor=STAFF)
    foreign = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    with pytest.raises(AccessDenied):
        registry.matching.merge(own.id, [own_dup.id, foreign.id], actor=STAFF, reason="duplicate")
    for record in (own, own_dup, foreign):
        assert registry.customers.get(record.id, actor=ADMIN) == record
    assert registry.matching.aliases(own.id, actor=ADMIN) == []
    assert [h.action for h in registry.customers.history(own.id, actor=ADMIN)] == ["create"]
    denied = [e for e in audit_actions(registry) if e.outcome == "denied"]
    assert [(e.action, e.customer_id) for e in denied] == [("denied.update", foreign.id)]
    result = registry.matching.merge(own.id, [own_dup.id], actor=STAFF, reason="duplicate")
    assert result.merged_ids == (own_dup.id,)


@BOTH_STORES
def test_a_merge_that_fails_validation_changes_nothing(registry: Registry) -> None:
    # the survivor's resident id says born 1949-12-31; the newer record says 1980-01-01
    survivor = registry.customers.intake(
        person(
            "张三",
            phone=new_phone(),
            identifiers=[{"scheme": "CN-RIC", "value": "11010519491231002X"}],
        ),
        actor=ADMIN,
    )
    other = registry.customers.intake(
        person("张三", phone=new_phone(), birth_date="1980-01-01"), actor=ADMIN
    )
    tx = registry.activities.record_transaction(
        {"customer_id": other.id, "occurred_at": EARLIER, "amount": {"amount": "5"}},
        actor=ADMIN,
    )
    registry.consent.grant(other.id, "marketing.sms", actor=ADMIN, channel=CaptureChannel.APP)
    with pytest.raises(ValidationFailed) as info:
        registry.matching.merge(survivor.id, [other.id], actor=ADMIN, reason="duplicate")
    assert "ric.birth_date_mismatch" in info.value.report.codes
    assert registry.customers.get(survivor.id, actor=ADMIN) == survivor
    assert registry.customers.get(other.id, actor=ADMIN) == other
    assert [a.id for a in registry.activities.list(other.id, actor=ADMIN)] == [tx.id]
    assert registry.activities.list(survivor.id, actor=ADMIN) == []
    assert registry.consent.ledger(survivor.id, actor=ADMIN).events == ()
    assert [h.action for h in registry.customers.history(survivor.id, actor=ADMIN)] == ["create"]
    assert registry.matching.aliases(survivor.id, actor=ADMIN) == []


def test_default_survivorship_takes_the_most_recent_name(registry: Registry) -> None:
    t = trio(registry)
    result = merge_trio(registry, t)
    [choice] = [c for c in result.choices if c.field == "name"]
    assert choice.strategy is Strategy.VERIFIED_FIRST and choice.source_ids == (t.second.id,)
    assert result.customer.name == "Zhang San"


@BOTH_STORES
def test_custom_survivorship_rules_are_honoured(registry: Registry) -> None:
    t = trio(registry)
    rules = SurvivorshipRules(
        fields={**DEFAULT_RULES.fields, "name": Strategy.SURVIVOR, "tags": Strategy.SURVIVOR}
    )
    result = registry.matching.merge(
        t.survivor.id, [t.first.id, t.second.id], actor=ADMIN, reason="dup", rules=rules
    )
    choices = {c.field: c for c in result.choices}
    assert choices["name"].strategy is Strategy.SURVIVOR
    assert choices["name"].source_ids == (t.survivor.id,) and not choices["name"].changed
    merged = registry.customers.get(t.survivor.id, actor=ADMIN)
    assert merged.name == "张三"
    assert merged.tags == ("vip",)
    assert len(phones(merged)) == 3  # contacts still united


def test_the_merge_result_is_masked_for_a_reader_without_unmask(registry: Registry) -> None:
    t = trio(registry)
    result = registry.matching.merge(
        t.survivor.id, [t.first.id, t.second.id], actor=MASKED_ADMIN, reason="dup"
    )
    assert result.customer.name != "Zhang San"
    assert "zs@example.com" not in repr(result)


# ------------------------------------------------------------------- merge, then erase


@BOTH_STORES
def test_erasing_the_survivor_destroys_the_merged_records_keys(
    encrypted_registry: Registry,
) -> None:
    registry = encrypted_registry
    t = trio(registry)
    merge_trio(registry, t)
    receipt = registry.privacy.erase(t.survivor.id, actor=ADMIN, reason="subject request")
    for merged in (t.first, t.second):
        assert ErasureAction(target=f"alias {merged.id}", action="data key destroyed") in (
            receipt.actions
        )
        with pytest.raises(Erased):
            registry.customers.get(merged.id, actor=ADMIN)
        with pytest.raises(Erased):
            registry.customers.history(merged.id, actor=ADMIN)
        with pytest.raises(Erased):
            registry.activities.list(merged.id, actor=ADMIN)
    with pytest.raises(Erased):
        registry.customers.get(t.survivor.id, actor=ADMIN)
    assert registry.customers.find(phone=sorted(phones(t.first))[0], actor=ADMIN) == []


def test_erasing_after_a_chain_of_merges_destroys_every_merged_records_key(
    encrypted_registry: Registry,
) -> None:
    registry = encrypted_registry
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    b = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    c = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    registry.matching.merge(b.id, [a.id], actor=ADMIN, reason="first merge")
    registry.matching.merge(c.id, [b.id], actor=ADMIN, reason="second merge")
    receipt = registry.privacy.erase(c.id, actor=ADMIN, reason="subject request")
    targets = {x.target for x in receipt.actions}
    assert {f"alias {a.id}", f"alias {b.id}"} <= targets
    for merged in (a, b):
        with pytest.raises(Erased):
            registry.customers.history(merged.id, actor=ADMIN)


# ------------------------------------------------------- other operations after a merge


def test_retention_planning_skips_merged_records(make: MakeRegistry, clock: TickingClock) -> None:
    rule = RetentionRule(
        code="reverify",
        trigger=RetentionTrigger.LAST_VERIFICATION,
        period=timedelta(days=30),
        action=RetentionAction.REVIEW,
    )
    registry = make(retention=RetentionSchedule([rule]))
    a = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    b = registry.customers.intake(person("张三", phone=new_phone()), actor=ADMIN)
    registry.matching.merge(a.id, [b.id], actor=ADMIN, reason="duplicate")
    plan = registry.retention.plan(as_of=clock.now + timedelta(days=60), actor=ADMIN)
    assert [p.customer_id for p in plan] == [a.id]


def test_the_consent_audience_lists_the_survivor_and_not_the_merged_record(
    registry: Registry,
) -> None:
    t = trio(registry)
    merge_trio(registry, t)
    assert list(registry.consent.audience("marketing.email", actor=ADMIN)) == [t.survivor.id]
