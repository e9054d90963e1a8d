"""Post-import sampling audits (``registry.sampling``) through the public API, after a real
import of a generated legacy CSV.

The selection rule is pinned by hand-computed ranks; the sample of a large import is compared
with a brute-force application of the rule and with the binomial law; accuracy per field and
overall is checked against hand-computed figures; paging is compared with brute force by
hypothesis; every bad input raises a typed error and leaves the store exactly as it was.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import math
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.compliance import BatchReport, FieldResult, SamplingBatch
from custrec.compliance.sampling import Selection, import_prefix, sampling_rank
from custrec.errors import (
    AccessDenied,
    Erased,
    InvalidState,
    NotFound,
    NotSampled,
    UnknownImport,
)
from custrec.interchange import ImportMapping, ImportReport, derive_id, open_source, plan_import
from custrec.security import Action, Grant, RoleBasedPolicy, Scope
from custrec.security.access import DEFAULT_GRANTS
from custrec.storage import Store
from custrec.testing.clock import TickingClock
from custrec.testing.synthetic import labelled_customers

MIGRATION = Actor(id="migration", roles={"admin"})
CHECKER = Actor(id="checker", roles={"compliance"})
OFFICER = Actor(id="dpo", roles={"admin", "unmask"})
CLERK = Actor(id="clerk", roles={"staff"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
SAMPLER = Actor(id="sampler", roles={"sampler"})  # the compliance right and nothing else
HEADERS = ["客户编号", "客户名称", "客户性质", "行业", "联系人", "手机", "城市"]
MAPPING = ImportMapping.from_dict(
    {
        "columns": {
            "客户编号": "identifiers[EXTERNAL:legacy-crm]",
            "客户名称": "name",
            "客户性质": "kind",
            "行业": "industry",
            "联系人": "contacts[0].name",
            "手机": "contacts[0].phones[0]",
            "城市": "addresses[0].city",
        }
    }
)
FIELDS = ("name", "contacts", "addresses")
POLICY = RoleBasedPolicy(
    {**DEFAULT_GRANTS, "sampler": (Grant(action=Action.COMPLIANCE, scope=Scope.ALL),)}
)


def write_csv(path: Path, rows: int, *, seed: int = 3, code: str = "L") -> Path:
    """A legacy export of ``rows`` generated customers (no duplicates: every row imports)."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for number, record in enumerate(
            labelled_customers(rows, seed=seed, duplicate_share=0), start=1
        ):
            data = record.data
            contact = data["contacts"][0]
            city = (data.get("addresses") or [{}])[0].get("city", "")
            writer.writerow(
                [
                    f"{code}{number:06d}",
                    data["name"],
                    data["kind"],
                    data.get("industry", ""),
                    contact.get("name", ""),
                    contact["phones"][0],
                    city,
                ]
            )
    return path


def new_registry(store: Store) -> Registry:
    return Registry(
        store,
        keyring=KeyRing.generate(),
        policy=POLICY,
        clock=TickingClock(datetime(2025, 6, 1, tzinfo=UTC)),
    )


def run_import(registry: Registry, source: Path, import_id: str) -> ImportReport:
    with open_source(source) as rows:
        return plan_import(
            rows, MAPPING, registry, actor=MIGRATION, import_id=import_id, dry_run=False
        )


def created(report: ImportReport) -> int:
    return sum(n for outcome, n in report.counts.items() if outcome.value == "created")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    sqlite = SQLiteStore(tmp_path / "crm.sqlite")
    yield sqlite
    sqlite.close()


def imported(store: Store, tmp_path: Path, rows: int, import_id: str = "legacy-2025") -> Registry:
    registry = new_registry(store)
    report = run_import(registry, write_csv(tmp_path / f"{import_id}.csv", rows), import_id)
    assert created(report) == rows
    return registry


def every(registry: Registry, batch_id: str, state: str | None = None) -> list[Any]:
    """All sampled records of a batch, page by page."""
    found: list[Any] = []
    after = None
    while True:
        page = registry.sampling.records(batch_id, actor=OFFICER, state=state, after=after, limit=7)
        found += page
        if len(page) < 7:
            return found
        after = page[-1].customer_id


def snapshot(store: Store) -> tuple[Any, ...]:
    """What a failed call must leave unchanged: the audit log's end, every sampling batch and
    every link, with their versions."""
    with store.transaction(readonly=True) as session:
        last = session.audit.last()
        batches = session.documents.list("sampling", limit=10_000)
        links = [
            (link.document_id, link.customer_id, link.state, link.version, link.payload)
            for row in batches
            for link in session.documents.links("sampling", row.id, limit=100_000)
        ]
        return (
            None if last is None else last.seq,
            [(row.id, row.version, row.payload) for row in batches],
            links,
        )


def check_all(registry: Registry, batch: SamplingBatch, passed: bool = True) -> None:
    for record in every(registry, batch.id, state="pending"):
        registry.sampling.record_check(
            batch.id, record.customer_id, dict.fromkeys(batch.fields, passed), actor=CHECKER
        )


# ------------------------------------------------------------------------- the rule itself


def test_the_rank_is_hmac_sha256_of_the_seed_over_the_id_hand_computed() -> None:
    # first 8 bytes of HMAC-SHA256(key=b"custrec-sampling:7", msg=b"c-1"), worked out once
    assert sampling_rank(7, "c-1") == 0x7FD07C3907ADC263
    assert sampling_rank(7, "c-7") == 0x1339EC114617D340
    digest = hmac.new(b"custrec-sampling:42", "客户-1".encode(), hashlib.sha256).digest()
    assert sampling_rank(42, "客户-1") == int.from_bytes(digest[:8], "big")


def test_the_selection_keeps_ranks_below_share_times_two_to_the_64() -> None:
    ids = [f"c-{n}" for n in range(1, 9)]
    # ranks / 2**64 for seed 7: c-1 .499, c-2 .156, c-3 .726, c-4 .714, c-5 .660,
    # c-6 .316, c-7 .075, c-8 .285
    assert Selection(seed=7, share=0.2).pick(ids) == ["c-2", "c-7"]
    assert Selection(seed=7, share=0.1).pick(ids) == ["c-7"]
    assert Selection(seed=7, share=1).pick(ids) == ids
    assert Selection(seed=7, share=0.5).cut == 2**63
    nobody = Selection(seed=7, share=0.05)
    assert nobody.pick(ids) == [] and nobody.fallback == "c-7"  # the lowest rank stands in
    assert nobody.population == 8


def test_the_import_prefix_is_what_derive_id_starts_with() -> None:
    for import_id in ("legacy-2025", "a", "x.y:z_1-2"):
        assert derive_id(import_id, "ext:crm:C1").startswith(import_prefix(import_id))
        assert derive_id(import_id, "content:00").startswith(import_prefix(import_id))
    assert import_prefix("legacy-2025") == "db8bdd37-bd55-8"


# ------------------------------------------------------------------------------ sampling


def test_a_batch_samples_the_import_by_the_rule_and_is_reproducible(
    store: Store, tmp_path: Path
) -> None:
    registry = imported(store, tmp_path, 120)
    other = run_import(
        registry, write_csv(tmp_path / "other.csv", 30, seed=9, code="M"), "other-import"
    )
    assert created(other) == 30
    batch = registry.sampling.sample("legacy-2025", share=0.2, seed=11, actor=CHECKER)
    assert (batch.import_id, batch.share, batch.seed, batch.status) == (
        "legacy-2025",
        0.2,
        11,
        "open",
    )
    assert batch.population == 120 and batch.fields[:2] == ("kind", "name")
    prefix = import_prefix("legacy-2025")
    population = [c for c in registry.customers.ids(actor=MIGRATION) if c.startswith(prefix)]
    assert len(population) == 120
    expected = sorted(c for c in population if sampling_rank(11, c) < int(0.2 * 2**64))
    sampled = [r.customer_id for r in every(registry, batch.id)]
    assert sampled == expected and batch.sample_size == len(expected) > 0
    assert all(r.state == "pending" and r.checks == () for r in every(registry, batch.id))

    again = registry.sampling.sample("legacy-2025", share=0.2, seed=11, actor=CHECKER)
    assert again.id != batch.id
    assert [r.customer_id for r in every(registry, again.id)] == sampled
    reseeded = registry.sampling.sample("legacy-2025", share=0.2, seed=12, actor=CHECKER)
    assert [r.customer_id for r in every(registry, reseeded.id)] != sampled
    unseeded = registry.sampling.sample("legacy-2025", share=0.2, actor=CHECKER)
    assert isinstance(unseeded.seed, int)
    assert registry.sampling.batch(batch.id, actor=CHECKER) == batch
    listed = registry.sampling.batches(actor=CHECKER, import_id="legacy-2025")
    assert [b.id for b in listed] == [batch.id, again.id, reseeded.id, unseeded.id]
    assert registry.sampling.batches(actor=CHECKER, import_id="other-import") == []
    first = registry.sampling.batches(actor=CHECKER, limit=2)
    rest = registry.sampling.batches(actor=CHECKER, after=first[-1].id)
    assert [b.id for b in first + rest] == [b.id for b in listed]
    actions = [e.action for e in registry.audit.trail(actor=AUDITOR, actor_id="checker")]
    assert actions.count("sampling.create") == 4


def test_a_tiny_import_still_gets_a_sample_of_one(store: Store, tmp_path: Path) -> None:
    registry = imported(store, tmp_path, 3)
    ranks = {
        c: sampling_rank(5, c)
        for c in registry.customers.ids(actor=MIGRATION)
        if c.startswith(import_prefix("legacy-2025"))
    }
    share = min(ranks.values()) / 2**64 / 2  # below every rank: the rule picks nobody
    batch = registry.sampling.sample("legacy-2025", share=share, seed=5, actor=CHECKER)
    assert batch.sample_size == 1 and batch.population == 3
    assert [r.customer_id for r in every(registry, batch.id)] == [min(ranks, key=ranks.get)]


@functools.cache
def large() -> tuple[Registry, Store]:
    """An import of 5,000 generated rows (built once for the tests that only read it)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="custrec-sampling-"))
    store = MemoryStore()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry = imported(store, folder, 5_000, "big-import")
    return registry, store


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("share", [0.1, 0.15, 0.2])
def test_a_large_sample_is_within_binomial_expectations(seed: int, share: float) -> None:
    registry, _ = large()
    batch = registry.sampling.sample("big-import", share=share, seed=seed, actor=CHECKER)
    n = batch.population
    assert n == 5_000
    mean, sd = n * share, math.sqrt(n * share * (1 - share))
    # the rule is deterministic: these sizes never change; four standard deviations would
    # still hold for a fair coin 99.99 % of the time
    assert abs(batch.sample_size - mean) < 4 * sd
    assert batch.sample_size == len(every(registry, batch.id))


# -------------------------------------------------------------------- checks and accuracy


def small_batch(store: Store, tmp_path: Path) -> tuple[Registry, SamplingBatch, list[str]]:
    registry = imported(store, tmp_path, 4)
    batch = registry.sampling.sample("legacy-2025", share=1, seed=1, fields=FIELDS, actor=CHECKER)
    ids = [r.customer_id for r in every(registry, batch.id)]
    assert len(ids) == 4 and batch.fields == FIELDS
    return registry, batch, ids


def record_pattern(registry: Registry, batch: SamplingBatch, ids: list[str]) -> None:
    """r1 all pass; r2 name fails; r3 name and contacts fail; r4 all pass."""
    ok = dict.fromkeys(FIELDS, True)
    registry.sampling.record_check(batch.id, ids[0], ok, actor=CHECKER)
    registry.sampling.record_check(
        batch.id, ids[1], {**ok, "name": (False, "张伟 in the source, 张玮 stored")}, actor=CHECKER
    )
    registry.sampling.record_check(
        batch.id,
        ids[2],
        [
            FieldResult("name", False),
            FieldResult("contacts", False, "phone lost a digit"),
            FieldResult("addresses", True),
        ],
        actor=CHECKER,
    )
    registry.sampling.record_check(batch.id, ids[3], ok, actor=CHECKER)


def test_accuracy_per_field_and_overall_as_computed_by_hand(store: Store, tmp_path: Path) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    before = registry.sampling.report(batch.id, actor=CHECKER)
    assert (before.records_checked, before.records_pending, before.overall_accuracy) == (0, 4, None)
    assert not before.complete
    record_pattern(registry, batch, ids)
    report = registry.sampling.report(batch.id, actor=CHECKER)
    # name 2/4, contacts 3/4, addresses 4/4; overall (2 + 3 + 4) / 12; records 2/4 fully right
    assert [(f.field, f.checked, f.passed, f.failed) for f in report.fields] == [
        ("name", 4, 2, 2),
        ("contacts", 4, 3, 1),
        ("addresses", 4, 4, 0),
    ]
    assert [f.accuracy for f in report.fields] == [0.5, 0.75, 1.0]
    assert (report.field_checks, report.field_passes) == (12, 9)
    assert report.overall_accuracy == 0.75 and report.record_accuracy == 0.5
    assert (report.records_checked, report.records_correct, report.records_pending) == (4, 2, 0)
    assert report.complete and report.records_unavailable == 0

    # a second look at r2 finds the name right after all: its results are replaced
    registry.sampling.record_check(batch.id, ids[1], dict.fromkeys(FIELDS, True), actor=CHECKER)
    again = registry.sampling.report(batch.id, actor=CHECKER)
    assert [f.passed for f in again.fields] == [3, 3, 4]
    assert again.overall_accuracy == 10 / 12 and again.record_accuracy == 0.75
    trail = registry.audit.trail(actor=AUDITOR, actor_id="checker", limit=1000)
    assert [e.action for e in trail if e.action.startswith("sampling.")] == [
        "sampling.create",
        *["sampling.check"] * 4,
        "sampling.recheck",
    ]
    check = next(e for e in trail if e.action == "sampling.check")
    assert check.customer_id == ids[0] and check.reason == batch.id
    assert check.fields == FIELDS


def test_a_batch_is_accepted_at_its_threshold_and_rejected_above(
    store: Store, tmp_path: Path
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    twin = registry.sampling.sample("legacy-2025", share=1, seed=1, fields=FIELDS, actor=CHECKER)
    record_pattern(registry, batch, ids)
    record_pattern(registry, twin, ids)
    accepted = registry.sampling.decide(batch.id, threshold=0.75, actor=CHECKER)
    rejected = registry.sampling.decide(twin.id, threshold=0.8, actor=CHECKER)
    assert accepted.sampling.status == "accepted" and rejected.sampling.status == "rejected"
    assert accepted.overall_accuracy == rejected.overall_accuracy == 0.75
    stored = registry.sampling.batch(batch.id, actor=CHECKER)
    assert (stored.status, stored.threshold, stored.decided_by) == ("accepted", 0.75, "checker")
    assert stored.decided_at is not None and stored.version == accepted.sampling.version
    assert registry.sampling.report(batch.id, actor=CHECKER) == accepted
    decided = [
        (e.action, e.reason, e.fields)
        for e in registry.audit.trail(actor=AUDITOR, actor_id="checker", limit=1000)
        if e.action == "sampling.decide"
    ]
    assert decided == [
        ("sampling.decide", batch.id, ("accepted",)),
        ("sampling.decide", twin.id, ("rejected",)),
    ]


def test_min_field_accuracy_rejects_a_batch_with_a_field_below_it(
    store: Store, tmp_path: Path
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    twin, third = (
        registry.sampling.sample("legacy-2025", share=1, seed=1, fields=FIELDS, actor=CHECKER)
        for _ in range(2)
    )
    for sampled in (batch, twin):  # name 0.5, contacts 0.75, addresses 1.0; 0.75 overall
        record_pattern(registry, sampled, ids)
    at_it = registry.sampling.decide(
        batch.id, threshold=0.75, min_field_accuracy=0.5, actor=CHECKER
    )
    above = registry.sampling.decide(twin.id, threshold=0.75, min_field_accuracy=0.6, actor=CHECKER)
    assert (at_it.sampling.status, above.sampling.status) == ("accepted", "rejected")
    stored = registry.sampling.batch(twin.id, actor=CHECKER)
    assert (stored.status, stored.threshold, stored.min_field_accuracy) == ("rejected", 0.75, 0.6)

    # every name wrong, everything else right: 2/3 overall passes 0.6, the field at 0.0 does not
    for customer_id in ids:
        registry.sampling.record_check(
            third.id, customer_id, {**dict.fromkeys(FIELDS, True), "name": False}, actor=CHECKER
        )
    report = registry.sampling.report(third.id, actor=CHECKER)
    assert report.fields[0].accuracy == 0.0 and report.verdict(0.6) == "accepted"
    assert report.verdict(0.6, min_field_accuracy=0.01) == "rejected"
    decided = registry.sampling.decide(
        third.id, threshold=0.6, min_field_accuracy=0.01, actor=CHECKER
    )
    assert decided.sampling.status == "rejected"
    assert registry.sampling.batch(batch.id, actor=CHECKER).min_field_accuracy == 0.5


def test_a_result_that_is_not_a_bool_names_the_field_never_the_value(
    store: Store, tmp_path: Path
) -> None:
    secret = "源数据是 张伟 13800138000"
    with pytest.raises(TypeError, match="contacts") as raised:
        FieldResult("contacts", secret)  # type: ignore[arg-type]
    assert str(raised.value) == "the result of field 'contacts' must be True or False, not str"
    assert all(secret not in str(arg) for arg in raised.value.args)
    registry, batch, ids = small_batch(store, tmp_path)
    ok = dict.fromkeys(FIELDS, True)
    for checks in ({**ok, "name": "张秘密"}, {**ok, "name": ("张秘密", "a note")}):
        before = snapshot(store)
        with pytest.raises(TypeError, match="'name' must be True or False") as raised:
            registry.sampling.record_check(batch.id, ids[0], checks, actor=CHECKER)
        assert "张秘密" not in repr(raised.value.args)
        assert snapshot(store) == before


PERSONAL = "张伟 13800138000"  # typed as a field key by mistake
PERSONAL_PATH = "custom.zhang_wei_13800138000"  # shaped like a custom field path, in doubt


@pytest.mark.parametrize(
    ("key", "result", "error", "message"),
    [
        (PERSONAL, True, ValueError, "^checks must name only the fields this batch checks"),
        (PERSONAL_PATH, True, ValueError, "^checks must name only the fields this batch checks"),
        (PERSONAL, "yes", TypeError, "^the result of a field must be True or False, not str$"),
        (PERSONAL_PATH, 1, TypeError, "^the result of a custom field must be True or False"),
        (PERSONAL, (True,), TypeError, "^the result of a field must be passed or"),
        (PERSONAL_PATH, (True, "n", 1), TypeError, "^the result of a custom field must be passed"),
    ],
)
def test_a_field_key_the_batch_does_not_check_is_never_repeated(
    store: Store, tmp_path: Path, key: str, result: Any, error: type[Exception], message: str
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    before = snapshot(store)
    with pytest.raises(error, match=message) as raised:
        registry.sampling.record_check(
            batch.id, ids[0], {**dict.fromkeys(FIELDS, True), key: result}, actor=CHECKER
        )
    text = f"{raised.value} {raised.value.args!r}"
    assert all(part not in text for part in ("张伟", "13800138000", "zhang_wei"))
    if error is ValueError:  # the allowed values: the batch's fields
        assert "name, contacts, addresses" in text
    assert snapshot(store) == before


def test_notes_are_sealed_and_shown_only_to_who_may_unmask(store: Store, tmp_path: Path) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    record_pattern(registry, batch, ids)
    note = "张伟 in the source, 张玮 stored"
    with store.transaction(readonly=True) as session:
        document = session.documents.get("sampling", batch.id)
        link = session.documents.get_link("sampling", batch.id, ids[1])
    assert "张".encode() not in document.payload  # counts only in the batch document
    assert "张".encode() not in link.payload  # the note is sealed under the customer's key
    clear = registry.sampling.records(batch.id, actor=OFFICER, state="checked")
    masked = registry.sampling.records(batch.id, actor=CHECKER, state="checked")
    assert clear[1].checks[1 - 1].note == note and not clear[1].notes_withheld
    assert all(c.note is None for r in masked for c in r.checks)
    assert [r.notes_withheld for r in masked] == [False, True, True, False]
    assert [c.passed for c in masked[1].checks] == [False, True, True]
    assert note not in repr(clear)
    reads = [
        e.customer_id
        for e in registry.audit.trail(actor=AUDITOR, actor_id="dpo", limit=1000)
        if e.action == "sampling.read"
    ]
    assert reads == [ids[1], ids[2]]


def test_reading_a_sampled_record_is_an_audited_read(store: Store, tmp_path: Path) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    shown = registry.sampling.read(batch.id, ids[0], actor=CHECKER)
    clear = registry.sampling.read(batch.id, ids[0], actor=OFFICER)
    assert shown.id == clear.id == ids[0]
    assert shown.name != clear.name and "*" in shown.name  # the compliance role reads masked
    entries = [
        (e.actor_id, e.action, e.reason)
        for e in registry.audit.trail(actor=AUDITOR, customer_id=ids[0], limit=1000)
        if e.reason == f"sampling {batch.id}"
    ]
    assert entries == [
        ("checker", "customer.read", f"sampling {batch.id}"),
        ("dpo", "customer.unmask", f"sampling {batch.id}"),
    ]


def test_a_checker_needs_the_compliance_right_and_to_see_the_record(
    store: Store, tmp_path: Path
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    with pytest.raises(AccessDenied):
        registry.sampling.sample("legacy-2025", share=0.1, actor=CLERK)
    with pytest.raises(AccessDenied):
        registry.sampling.records(batch.id, actor=CLERK)
    before = snapshot(store)
    with pytest.raises(AccessDenied):  # the compliance right without reading customers
        registry.sampling.record_check(batch.id, ids[0], dict.fromkeys(FIELDS, True), actor=SAMPLER)
    after = snapshot(store)
    assert after[1:] == before[1:]  # only the refusal's audit entry was written
    denied = registry.audit.trail(actor=AUDITOR, actor_id="sampler", limit=10)
    assert [(e.action, e.customer_id) for e in denied] == [("denied.read", ids[0])]
    assert len(registry.sampling.records(batch.id, actor=SAMPLER)) == 4  # ids and states


# ------------------------------------------------------------------------ erased customers


def test_an_erased_sampled_customer_is_left_out_and_a_checked_one_keeps_its_counts(
    store: Store, tmp_path: Path
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    eraser = Actor(id="dpo", roles={"admin", "erase"})
    ok = dict.fromkeys(FIELDS, True)
    registry.sampling.record_check(
        batch.id, ids[0], {**ok, "name": (False, "wrong name")}, actor=CHECKER
    )
    registry.privacy.erase(ids[0], actor=eraser, reason="subject request")  # checked
    registry.privacy.erase(ids[1], actor=eraser, reason="subject request")  # pending
    before = snapshot(store)
    with pytest.raises(Erased):
        registry.sampling.record_check(batch.id, ids[1], ok, actor=CHECKER)
    with pytest.raises(Erased):
        registry.sampling.read(batch.id, ids[1], actor=CHECKER)
    assert snapshot(store)[1:] == before[1:]
    records = every(registry, batch.id)
    assert [(r.erased, r.state, r.checks) for r in records[:2]] == [
        (True, "checked", ()),  # its results were sealed under its key: shredded
        (True, "pending", ()),
    ]
    report = registry.sampling.report(batch.id, actor=CHECKER)
    assert (report.records_checked, report.records_pending, report.records_unavailable) == (
        1,
        2,
        1,
    )
    assert [f.passed for f in report.fields] == [0, 1, 1]  # the erased record's check counts
    for customer_id in ids[2:]:
        registry.sampling.record_check(batch.id, customer_id, ok, actor=CHECKER)
    decided = registry.sampling.decide(batch.id, threshold=0.8, actor=CHECKER)
    assert decided.records_unavailable == 1 and decided.overall_accuracy == 8 / 9
    assert decided.sampling.status == "accepted"


def test_a_merged_sampled_customer_is_checked_through_its_survivor(
    store: Store, tmp_path: Path
) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    merger = Actor(id="dpo", roles={"admin", "unmask"})
    first = registry.customers.get(ids[0], actor=merger)
    outside = registry.customers.intake(
        {
            "kind": first.kind.value,
            "name": first.name,
            "industry": "软件",
            "contacts": [{"name": "李雷", "phones": ["13800138000"]}],
        },
        actor=merger,
        allow_duplicates=True,
    )
    registry.matching.merge(outside.id, [ids[0]], actor=merger, reason="same company")
    registry.matching.merge(ids[2], [ids[1]], actor=merger, reason="same company")  # both sampled
    listed = [r.customer_id for r in every(registry, batch.id)]
    assert listed == sorted([outside.id, ids[2], ids[3]])
    result = registry.sampling.record_check(
        batch.id, ids[0], dict.fromkeys(FIELDS, True), actor=CHECKER
    )
    assert result.customer_id == outside.id  # the alias leads to the survivor's link
    report = registry.sampling.report(batch.id, actor=CHECKER)
    assert (report.records_checked, report.records_pending, report.records_unavailable) == (
        1,
        2,
        1,  # ids[1] merged into another sampled customer: one record fewer to check
    )


def test_an_import_whose_customers_were_all_erased_cannot_be_sampled(
    store: Store, tmp_path: Path
) -> None:
    registry = imported(store, tmp_path, 2)
    eraser = Actor(id="dpo", roles={"admin", "erase"})
    for customer_id in list(registry.customers.ids(actor=MIGRATION)):
        registry.privacy.erase(customer_id, actor=eraser, reason="subject request")
    before = snapshot(store)
    with pytest.raises(InvalidState, match="holds no customer"):
        registry.sampling.sample("legacy-2025", share=0.5, actor=CHECKER)
    assert snapshot(store) == before


# --------------------------------------------------------------------------- bad input


def refused(store: Store, call: Callable[[], object], error: type[Exception]) -> None:
    """``call`` raises exactly ``error`` and the store is exactly as it was."""
    before = snapshot(store)
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error
    assert snapshot(store) == before


def test_bad_input_raises_typed_errors_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    registry, batch, ids = small_batch(store, tmp_path)
    sampling = registry.sampling
    ok = dict.fromkeys(FIELDS, True)
    for share, error in [
        (0, ValueError),
        (-0.1, ValueError),
        (1.5, ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("0.1", TypeError),
        (None, TypeError),
    ]:
        refused(
            store, lambda s=share: sampling.sample("legacy-2025", share=s, actor=CHECKER), error
        )
    refused(
        store, lambda: sampling.sample("no-such-import", share=0.1, actor=CHECKER), UnknownImport
    )
    refused(store, lambda: sampling.sample("", share=0.1, actor=CHECKER), ValueError)
    refused(
        store,
        lambda: sampling.sample("legacy-2025", share=0.1, fields=["nope"], actor=CHECKER),
        ValueError,
    )
    refused(
        store,
        lambda: sampling.sample("legacy-2025", share=0.1, fields=[], actor=CHECKER),
        ValueError,
    )
    refused(
        store, lambda: sampling.sample("legacy-2025", share=0.1, seed=1.5, actor=CHECKER), TypeError
    )

    def check(customer_id: str, checks: Any, batch_id: str = batch.id) -> Callable[[], object]:
        return lambda: sampling.record_check(batch_id, customer_id, checks, actor=CHECKER)

    refused(store, check(ids[0], {**ok, "industry": True}), ValueError)  # not in the batch
    refused(store, check(ids[0], {"name": True}), ValueError)  # fields missing
    refused(store, check(ids[0], {**ok, "name": 1}), TypeError)
    refused(store, check(ids[0], {**ok, "name": (True,)}), TypeError)
    refused(store, check(ids[0], {**ok, "name": (True, "x" * 2001)}), ValueError)
    refused(store, check(ids[0], {}), ValueError)
    refused(store, check(ids[0], "name"), TypeError)
    refused(
        store, check(ids[0], [FieldResult("name", True), FieldResult("name", False)]), ValueError
    )
    refused(store, check("00000000-0000-7000-8000-000000000000", ok), NotSampled)
    refused(store, check(ids[0], ok, batch_id="no-such-batch"), NotFound)
    refused(store, lambda: sampling.read(batch.id, "c-404", actor=CHECKER), NotSampled)
    refused(store, lambda: sampling.batch("no-such-batch", actor=CHECKER), NotFound)
    refused(store, lambda: sampling.report("no-such-batch", actor=CHECKER), NotFound)
    refused(store, lambda: sampling.records(batch.id, state="done", actor=CHECKER), ValueError)
    refused(store, lambda: sampling.records(batch.id, limit=0, actor=CHECKER), ValueError)

    record_pattern(registry, batch, ids[:3] + ids[:1])  # ids[3] still pending
    refused(store, lambda: sampling.decide(batch.id, threshold=0.5, actor=CHECKER), InvalidState)
    registry.sampling.record_check(batch.id, ids[3], ok, actor=CHECKER)
    for threshold, error in [(1.5, ValueError), (-1, ValueError), (True, TypeError)]:
        refused(
            store,
            lambda t=threshold: sampling.decide(batch.id, threshold=t, actor=CHECKER),
            error,
        )
    for floor, error in [
        (1.5, ValueError),
        (-0.1, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ]:
        refused(
            store,
            lambda f=floor: sampling.decide(
                batch.id, threshold=0.5, min_field_accuracy=f, actor=CHECKER
            ),
            error,
        )
    sampling.decide(batch.id, threshold=0.5, actor=CHECKER)
    refused(store, lambda: sampling.decide(batch.id, threshold=0.5, actor=CHECKER), InvalidState)
    refused(store, check(ids[0], ok), InvalidState)  # a decided batch takes no checks


# ------------------------------------------------------------------------------- paging


@functools.cache
def paged() -> tuple[Registry, str, dict[str, str]]:
    """A batch of the large import with every third sampled record checked."""
    registry, _ = large()
    batch = registry.sampling.sample(
        "big-import", share=0.02, seed=99, fields=FIELDS, actor=CHECKER
    )
    states: dict[str, str] = {}
    for number, record in enumerate(every(registry, batch.id)):
        if number % 3 == 0:
            registry.sampling.record_check(
                batch.id, record.customer_id, dict.fromkeys(FIELDS, True), actor=OFFICER
            )
            states[record.customer_id] = "checked"
        else:
            states[record.customer_id] = "pending"
    return registry, batch.id, states


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(1, 40),
    state=st.sampled_from([None, "pending", "checked"]),
    start=st.integers(0, 120),
)
def test_paging_records_matches_brute_force(limit: int, state: str | None, start: int) -> None:
    registry, batch_id, states = paged()
    expected = sorted(c for c, s in states.items() if state is None or s == state)
    after = None if start == 0 else sorted(states)[min(start, len(states)) - 1]
    expected = [c for c in expected if after is None or c > after]
    found: list[str] = []
    while True:
        page = registry.sampling.records(
            batch_id, actor=CHECKER, state=state, after=after, limit=limit
        )
        assert len(page) <= limit
        assert all(state is None or r.state == state for r in page)
        found += [r.customer_id for r in page]
        if len(page) < limit:
            break
        after = page[-1].customer_id
    assert found == expected


@functools.cache
def listed() -> tuple[Registry, Store]:
    """The large import's registry with a second, small import and batches of both."""
    registry, store = large()
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="custrec-sampling-"))
    run_import(registry, write_csv(folder / "small.csv", 20, seed=5, code="S"), "small-import")
    for seed in range(4):
        registry.sampling.sample("big-import", share=0.01, seed=seed, actor=CHECKER)
        registry.sampling.sample("small-import", share=0.5, seed=seed, actor=CHECKER)
    return registry, store


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(1, 6),
    import_id=st.sampled_from([None, "big-import", "small-import", "no-batches"]),
)
def test_paging_batches_matches_brute_force(limit: int, import_id: str | None) -> None:
    registry, store = listed()
    with store.transaction(readonly=True) as session:
        rows = session.documents.list("sampling", limit=100_000)
    expected = [r.id for r in rows if import_id is None or r.tag == import_id]
    found: list[str] = []
    after = None
    while True:
        page = registry.sampling.batches(
            actor=CHECKER, import_id=import_id, after=after, limit=limit
        )
        assert all(import_id is None or b.import_id == import_id for b in page)
        found += [b.id for b in page]
        if len(page) < limit:
            break
        after = page[-1].id
    assert found == expected == sorted(expected)


def test_the_report_is_a_value(store: Store, tmp_path: Path) -> None:
    registry, batch, _ids = small_batch(store, tmp_path)
    report = registry.sampling.report(batch.id, actor=CHECKER)
    assert isinstance(report, BatchReport)
    with pytest.raises(AttributeError):
        report.records_checked = 3  # type: ignore[misc]
