"""A bulk intake's refused duplicates are audited as a single intake's are.

``intake_many`` (and the import's presealed write) does not raise for a duplicate: it reports
the item's position in ``BulkResult.duplicates`` with the ids of the customers holding the
phone, e-mail or identifier, stored or created earlier in the same run. Those ids become known
to the actor, so each refused item leaves the entries a refused ``intake`` leaves: one for the
refusal (``customer.duplicate``, outcome ``refused``, the kinds of key, never a value) and one
per customer it names, in the order of the items, after the batch's creations (a refusal may
name a customer created earlier in the same batch).
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.services._presealed import intake_presealed, presealer

ADMIN = Actor(id="admin", roles={"admin", "unmask"})
AUDITOR = Actor(id="auditor", roles={"auditor"})
PHONE = "13800138000"
OTHER_PHONE = "13900139000"
EMAIL = "wang@example.com"


@pytest.fixture(params=["memory", "sqlite"])
def registry(request: pytest.FixtureRequest, tmp_path: object) -> Registry:
    if request.param == "memory":
        return Registry(MemoryStore(), keyring=KeyRing.generate())
    return Registry(SQLiteStore(f"{tmp_path}/c.sqlite"), keyring=KeyRing.generate())


def _refusals(registry: Registry) -> list[tuple[str, str | None, tuple[str, ...], str]]:
    return [
        (e.actor_id, e.customer_id, tuple(e.fields), e.outcome)
        for e in registry.audit.trail(actor=AUDITOR, limit=500)
        if e.action == "customer.duplicate"
    ]


def _person(name: str, phone: str, email: str | None = None) -> dict[str, object]:
    contact: dict[str, object] = {"phones": [phone]}
    if email is not None:
        contact["emails"] = [email]
    return {"kind": "individual", "name": name, "contacts": [contact]}


def test_each_refused_item_of_intake_many_is_audited_with_the_customers_it_names(
    registry: Registry,
) -> None:
    held = registry.customers.intake(_person("甲", PHONE, EMAIL), actor=ADMIN)
    result = registry.customers.intake_many(
        [
            _person("乙", PHONE, EMAIL),  # the stored customer's phone and e-mail
            _person("丙", OTHER_PHONE),  # new
            _person("丁", OTHER_PHONE),  # the phone of the item before
        ],
        actor=ADMIN,
    )
    assert len(result.added) == 1
    first_of_run = result.added[0]
    assert result.duplicates == {0: (held.id,), 2: (first_of_run,)}
    assert _refusals(registry) == [
        ("admin", None, ("email", "phone"), "refused"),
        ("admin", held.id, ("email", "phone"), "refused"),
        ("admin", None, ("phone",), "refused"),
        ("admin", first_of_run, ("phone",), "refused"),
    ]
    assert registry.audit.verify(actor=AUDITOR).ok
    trail = repr(registry.audit.trail(actor=AUDITOR, limit=500))
    assert PHONE not in trail and OTHER_PHONE not in trail and EMAIL not in trail
    # the customer created in the run is in the log before the refusal that names it
    about_it = [
        e.action
        for e in registry.audit.trail(actor=AUDITOR, limit=500)
        if e.customer_id == first_of_run
    ]
    assert about_it == ["customer.create", "customer.duplicate"]


def test_a_bulk_intake_without_duplicates_leaves_no_refusal(registry: Registry) -> None:
    result = registry.customers.intake_many(
        [_person("乙", PHONE), _person("丙", OTHER_PHONE)], actor=ADMIN
    )
    assert len(result.added) == 2 and not result.duplicates
    assert _refusals(registry) == []


def test_a_presealed_item_refused_at_the_write_is_audited(registry: Registry) -> None:
    # sealed in a worker, then someone stores the same phone before the writer takes it in
    sealer = presealer(registry.customers, actor=ADMIN)
    assert sealer is not None
    prepared = registry.customers.prepare(_person("乙", PHONE), actor=ADMIN)
    assert prepared.record is not None
    item = sealer.seal(attrs.evolve(prepared.record, id="c-1"), datetime(2026, 3, 1, tzinfo=UTC))
    held = registry.customers.intake(_person("甲", PHONE), actor=ADMIN)
    result = intake_presealed(registry.customers, [item], actor=ADMIN, reason="import x")
    assert result.added == () and result.duplicates == {0: (held.id,)}
    assert _refusals(registry) == [
        ("admin", None, ("phone",), "refused"),
        ("admin", held.id, ("phone",), "refused"),
    ]
    assert registry.audit.verify(actor=AUDITOR).ok
