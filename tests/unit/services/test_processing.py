"""registry.processing: the records-of-processing map of a registry, authorised, audited, and
free of customer data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from custrec import Actor, KeyRing, Registry
from custrec.compliance import Controller, processing_map
from custrec.consent import PURPOSES, Jurisdiction
from custrec.errors import AccessDenied
from custrec.matching import MatchConfig
from custrec.model.custom import CustomField
from custrec.retention import (
    LegalHold,
    Period,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
)
from custrec.services import Records
from custrec.services.processing import ProcessingService

from .conftest import MakeRegistry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = Actor(id="admin-1", roles={"admin", "unmask"})
AUDITOR = Actor(id="aud-1", roles={"auditor"})
OFFICER = Actor(id="dpo-1", roles={"compliance"})
CLERK = Actor(id="clerk-1", roles={"staff"})
ACME = Controller(name="ACME Trading", contact="dpo@acme.example", country="CN")

# Values only customers hold: none may appear in the map.
SECRETS = (
    "王秘密",
    "13900139123",
    "hidden@example.cn",
    "11010519491231002X",
    "密码路99号",
    "M-SECRET-7",
    "call after 6pm",
)


def processing(registry: Registry) -> ProcessingService:
    """``registry.processing`` once the registry wires it; until then, the same service."""
    wired = getattr(registry, "processing", None)
    if isinstance(wired, ProcessingService):
        return wired
    context = registry._context
    return ProcessingService(context, Records(context))


def fill(registry: Registry) -> str:
    registry.fields.define(
        CustomField(
            name="member_no", type="text", personal=True, category="identifier", indexed=True
        ),
        actor=ADMIN,
        reason="loyalty programme",
    )
    customer = registry.customers.intake(
        {
            "kind": "individual",
            "name": SECRETS[0],
            "contacts": [{"phones": [SECRETS[1]], "emails": [SECRETS[2]]}],
            "identifiers": [{"scheme": "CN-RIC", "value": SECRETS[3]}],
            "addresses": [{"city": "北京", "street": SECRETS[4]}],
            "custom": {"member_no": SECRETS[5]},
            "notes": SECRETS[6],
        },
        actor=ADMIN,
    )
    registry.disclosures.register_recipient(
        "sf-express",
        name="SF Express",
        contact="privacy@sf.example",
        contract="DPA-2026-014",
        country="HK",
        actor=ADMIN,
    )
    return customer.id


def test_the_map_holds_what_the_registry_is_configured_with(make: MakeRegistry) -> None:
    rule = RetentionRule(
        code="leads",
        trigger=RetentionTrigger.LAST_ACTIVITY,
        period=Period(years=2),
        action=RetentionAction.DESTROY,
    )
    registry = make(retention=RetentionSchedule([rule]), jurisdiction=Jurisdiction.GDPR)
    fill(registry)
    found = processing(registry).processing_map(actor=AUDITOR, controller=ACME)
    assert found.as_of is not None and found.as_of >= T0
    assert found.controller == ACME and found.encrypted
    assert [j.jurisdiction for j in found.jurisdictions] == [Jurisdiction.GDPR]
    assert [f.name for f in found.custom_fields.fields] == ["member_no"]
    assert found.custom_fields.version == 1
    assert [(r.id, r.cross_border) for r in found.recipients] == [("sf-express", True)]
    assert found.retention is not None and [r.code for r in found.retention.rules] == ["leads"]
    assert [p.code for p in found.purposes] == list(PURPOSES)
    assert ("customer", "custom.member_no") in {
        (c.record, c.path) for c in found.to_fideslang().categories
    }


def test_the_flags_are_the_registry_s_own(make: MakeRegistry) -> None:
    registry = make()
    found = processing(registry).processing_map(actor=AUDITOR)
    pure = processing_map(
        purposes=PURPOSES,
        retention=None,
        custom_fields=registry.fields.current(),
        recipients=(),
        jurisdiction=Jurisdiction.PIPL,
        as_of=found.as_of,
    )
    assert found == pure  # the default look-up keys are those of a registry with blocking keys
    indexed = {f.path for f in found.record("customer").fields if f.blind_indexed}
    assert "addresses[].street" in indexed and "contacts[].phones" in indexed
    without_blocking = make(matching=MatchConfig(blocking=False))
    found = processing(without_blocking).processing_map(actor=AUDITOR)
    indexed = {f.path for f in found.record("customer").fields if f.indexed}
    assert "addresses[].street" not in indexed  # only blocking keys use the street
    assert {"name", "registered_name", "contacts[].phones"} <= indexed


class TestPlaintext:
    @pytest.fixture
    def keyring(self) -> KeyRing | None:
        return None

    def test_a_registry_without_a_keyring_says_nothing_is_encrypted(
        self, registry: Registry
    ) -> None:
        found = processing(registry).processing_map(actor=AUDITOR)
        fields = [f for r in found.records for f in r.fields]
        assert not found.encrypted
        assert not any(f.encrypted or f.blind_indexed for f in fields)
        assert any(f.indexed for f in fields)


def test_the_map_holds_no_customer_data(registry: Registry) -> None:
    customer_id = fill(registry)
    found = processing(registry).processing_map(actor=ADMIN, controller=ACME)
    mapping = found.to_fideslang()
    for document in (found.to_json(), mapping.to_json(), mapping.to_manifest()):
        text = json.dumps(document, ensure_ascii=False)
        assert customer_id not in text
        for secret in SECRETS:
            assert secret not in text


def test_a_legal_hold_s_customers_are_counted_not_named(make: MakeRegistry) -> None:
    hold = LegalHold(reason="matter 17", placed_at=T0, customer_ids=["c-held-1"])
    registry = make(retention=RetentionSchedule([], holds=[hold]))
    found = processing(registry).processing_map(actor=AUDITOR)
    assert found.retention is not None
    assert found.retention.holds[0].applies_to.named_customers == 1
    assert "c-held-1" not in json.dumps(found.to_json())


@pytest.mark.parametrize("actor", [AUDITOR, ADMIN, OFFICER], ids=lambda a: a.id)
def test_auditors_admins_and_compliance_officers_may_read_it_and_it_is_audited(
    registry: Registry, actor: Actor
) -> None:
    processing(registry).processing_map(actor=actor)
    (entry,) = [e for e in registry.audit.trail(actor=AUDITOR) if e.action == "processing.map"]
    assert (entry.actor_id, entry.customer_id) == (actor.id, None)
    assert entry.reason == "custom fields version 0, 0 recipients"


def test_staff_may_not_read_it_and_the_refusal_is_audited(registry: Registry) -> None:
    with pytest.raises(AccessDenied, match="audit_read"):
        processing(registry).processing_map(actor=CLERK)
    actions = [e.action for e in registry.audit.trail(actor=AUDITOR)]
    assert "denied.audit_read" in actions and "processing.map" not in actions


def test_bad_arguments_raise_typed_errors(registry: Registry) -> None:
    service = processing(registry)
    with pytest.raises(TypeError, match="actor"):
        service.processing_map(actor="admin-1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Controller"):
        service.processing_map(actor=AUDITOR, controller="ACME")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        ProcessingService(registry._context, Records(registry._context), recipients=[])  # type: ignore[arg-type]


def test_recipients_are_read_through_the_hook_given(registry: Registry) -> None:
    fill(registry)
    seen: list[object] = []

    def none(unit: object) -> list[object]:
        seen.append(unit)
        return []

    context = registry._context
    service = ProcessingService(context, Records(context), recipients=none)  # type: ignore[arg-type]
    assert service.processing_map(actor=AUDITOR).recipients == ()
    assert len(seen) == 1
