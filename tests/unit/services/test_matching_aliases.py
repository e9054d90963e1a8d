"""Consent calls on a merged id act on the surviving customer."""

from __future__ import annotations

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.consent import CaptureChannel

ADMIN = Actor(id="admin", roles={"admin", "unmask"})


def person(phone: str) -> dict[str, object]:
    return {"kind": "individual", "name": "张三", "contacts": [{"phones": [phone]}]}


def test_consent_given_to_a_merged_id_belongs_to_the_survivor() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    survivor = registry.customers.intake(person("13800138001"), actor=ADMIN)
    merged = registry.customers.intake(person("13800138002"), actor=ADMIN)
    registry.matching.merge(survivor.id, [merged.id], actor=ADMIN, reason="duplicate")

    event = registry.consent.grant(
        merged.id, "marketing.sms", actor=ADMIN, channel=CaptureChannel.WEB_FORM
    )
    assert registry.consent.may_use(survivor.id, "marketing.sms", actor=ADMIN).allowed
    assert registry.consent.may_use(merged.id, "marketing.sms", actor=ADMIN).allowed
    ledger = registry.consent.ledger(merged.id, actor=ADMIN)
    assert ledger.customer_id == survivor.id
    assert [e.id for e in ledger.events] == [event.id]


def test_the_quality_report_counts_only_customers_with_consent_events_as_having_a_ledger() -> None:
    registry = Registry(MemoryStore(), keyring=KeyRing.generate())
    a = registry.customers.intake(person("13800138001"), actor=ADMIN)
    registry.customers.intake(person("13800138002"), actor=ADMIN)
    registry.consent.grant(a.id, "marketing.sms", actor=ADMIN, channel=CaptureChannel.APP)
    report = registry.quality.report(actor=ADMIN, duplicates=False)
    assert report.total == 2 and report.consent_ledgers == 1
    sms = next(c for c in report.consent if c.purpose == "marketing.sms")
    assert (sms.allowed, sms.total) == (1, 2)
