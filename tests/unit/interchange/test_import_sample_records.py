"""The import's sample as masked records, read through the registry and audited (issue 22)."""

from __future__ import annotations

from typing import Any

import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.interchange import ImportMapping, ImportPolicy, plan_import
from custrec.interchange.report_sample import SampleRecords, render_sample, sample_records

IMPORTER = Actor(id="importer", roles={"admin"})
CHECKER = Actor(id="checker", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
MAPPING = ImportMapping.from_dict(
    {
        "defaults": {"kind": "individual"},
        "columns": {
            "名称": "name",
            "手机": "contacts[0].phones[0]",
            "邮箱": "contacts[0].emails[0]",
        },
    }
)
PHONES = [f"1380013{n:04d}" for n in range(8)]
ROWS = [
    {"名称": f"欧阳建{n}", "手机": phone, "邮箱": f"ouyang{n}@example.com"}
    for n, phone in enumerate(PHONES)
]


def imported(registry: Registry, *, dry_run: bool = False) -> Any:
    policy = ImportPolicy(sample_share=0.5, sample_seed=3)
    return plan_import(
        ROWS, MAPPING, registry, actor=IMPORTER, import_id="t1", policy=policy, dry_run=dry_run
    )


def test_the_sample_is_read_masked_and_audited() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    report = imported(registry)
    assert len(report.sample_ids) == 4

    sample = sample_records(registry, report, actor=CHECKER)  # may unmask: masked all the same

    assert [c.id for c in sample.records] == list(report.sample_ids)
    assert (sample.missing, sample.denied, sample.more) == ((), (), 0)
    text = render_sample(sample)
    shown = repr(sample.records) + text
    for row in ROWS:
        assert row["手机"] not in shown and row["邮箱"] not in shown and row["名称"] not in shown
    assert all("*" in c.name for c in sample.records)
    assert text.splitlines()[0].split() == [
        "id",
        "kind",
        "name",
        "stage",
        "phone",
        "e-mail",
        "city",
    ]
    reads = [
        e
        for e in registry.audit.trail(actor=AUDITOR, actor_id="checker", limit=1000)
        if e.action.startswith("customer.")
    ]
    assert sorted(e.customer_id for e in reads) == sorted(report.sample_ids)
    assert {e.action for e in reads} == {"customer.read"}  # masked reads, not unmasks
    assert {e.reason for e in reads} == {"import t1: sample check"}


def test_limits_dry_runs_and_refusals() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    planned = imported(registry, dry_run=True)
    assert sample_records(registry, planned, actor=CHECKER) == SampleRecords(
        missing=planned.sample_ids
    )
    report = imported(registry)
    first = sample_records(registry, report, actor=CHECKER, limit=1)
    assert len(first.records) == 1 and first.more == 3
    assert "... and 3 more in the sample" in render_sample(first)
    nobody = sample_records(registry, report, actor=Actor(id="x", roles={"staff"}))
    assert nobody.records == () and nobody.denied == report.sample_ids
    assert "not readable by this actor" in render_sample(nobody)
    with pytest.raises(ValueError, match="limit"):
        sample_records(registry, report, actor=CHECKER, limit=-1)
    with pytest.raises(TypeError):
        sample_records(registry, report.to_dict(), actor=CHECKER)  # type: ignore[arg-type]


def test_a_record_shown_in_the_clear_is_masked_before_it_is_returned() -> None:
    """What a custom access policy shows in the clear (its choice) is still returned masked."""
    from custrec.interchange.report_sample import _masked_view

    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    report = imported(registry)
    clear = registry.customers.get(report.sample_ids[0], actor=CHECKER)
    assert "*" not in clear.name
    masked = _masked_view(clear, registry)
    assert "*" in masked.name and "*" in masked.contacts[0].phones[0]
    assert _masked_view(masked, registry) is masked  # a masked record is left as it is
