"""A disclosure that an error ends half-way is recorded as ``stopped``, never ``complete``: the
customers sent before stay recorded, the rest were never decided, and the audit says so (an
export that cannot write: test_disclosures.py)."""

from __future__ import annotations

from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.compliance.disclosures import DISCLOSURE_STATUSES

DPO = Actor(id="dpo", roles={"admin", "unmask", "export"})
AUDITOR = Actor(id="aud", roles={"auditor"})


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"王{n}明",
        "contacts": [{"phones": [f"1390013{n:04d}"]}],
    }


@pytest.fixture
def company(registry: Registry) -> Registry:
    registry.disclosures.register_recipient(
        "sf-cn", name="SF", contact="privacy@sf.example", contract="DPA-1", country="CN", actor=DPO
    )
    return registry


def consenting(company: Registry, n: int) -> list[str]:
    ids = []
    for i in range(n):
        c = company.customers.intake(person(i), actor=DPO)
        company.consent.grant(c.id, "third_party", actor=DPO, channel="app")
        ids.append(c.id)
    return ids


def closing_entries(company: Registry) -> list[tuple[str, str]]:
    return [
        (e.action, e.outcome)
        for e in company.audit.trail(actor=AUDITOR, limit=1000)
        if e.action.startswith("disclosure.") and e.action != "disclosure.start"
    ]


class Full(OSError):
    """What a full disk raises."""


def test_a_run_left_by_a_failed_delivery_is_stopped_with_what_it_sent(company: Registry) -> None:
    first, second, third = consenting(company, 3)
    sent: list[str] = []

    def deliver(record: Any) -> None:
        if record.customer_id == second:
            raise Full(28, "No space left on device")
        sent.append(record.customer_id)

    run = company.disclosures.start(recipient="sf-cn", purpose="third_party", actor=DPO)

    def send_all() -> None:
        with run:
            for customer_id in (first, second, third):
                run.send(customer_id, deliver=deliver)

    with pytest.raises(Full):
        send_all()
    assert sent == [first]
    stored = company.disclosures.disclosure(run.disclosure.id, actor=DPO)
    assert (stored.status, stored.disclosed, stored.excluded) == ("stopped", 1, 0)
    assert stored.status in DISCLOSURE_STATUSES
    assert closing_entries(company) == [("disclosure.stop", "failed")]
    register = company.disclosures.customers(run.disclosure.id, actor=DPO)
    assert [entry.customer_id for entry in register] == [first]


def test_a_run_that_ends_normally_is_complete(company: Registry) -> None:
    [only] = consenting(company, 1)
    with company.disclosures.start(recipient="sf-cn", purpose="third_party", actor=DPO) as run:
        run.send(only)
    stored = company.disclosures.disclosure(run.disclosure.id, actor=DPO)
    assert (stored.status, stored.disclosed) == ("complete", 1)
    assert closing_entries(company) == [("disclosure.complete", "ok")]
