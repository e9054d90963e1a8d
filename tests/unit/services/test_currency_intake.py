"""Every way a currency comes in takes the same check (custrec.validation.currency): the
registry's transactions and customers, parse_customer, the import and grading. A new-user test
stored ``RMB``, ``US$`` and ``ABC`` as currencies, which grading then took for other currencies
than ``CNY``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.errors import ValidationFailed
from custrec.validation import parse_customer
from custrec.validation.currency import CODES

ADMIN = Actor(id="admin", roles={"admin", "unmask", "erase"})
NOW = datetime(2025, 7, 1, tzinfo=UTC)
WHEN = (NOW - timedelta(days=3)).isoformat()
REFUSED = [
    ("RMB", "not an ISO 4217 code: use CNY"),
    ("人民币", "not an ISO 4217 code: use CNY"),
    ("rmb", "not an ISO 4217 code: use CNY"),
    ("US$", "not an ISO 4217 code: use USD"),
    ("cny", "use upper case: CNY"),
    ("ABC", "not an ISO 4217 currency code (such as CNY)"),
    ("XXX", "XXX means no currency: name the currency of the amount"),
]


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore(), keyring=KeyRing.generate(), clock=lambda: NOW)


def customer(registry: Registry) -> str:
    data = {"kind": "individual", "name": "张三", "contacts": [{"wechat": "wx1"}]}
    return registry.customers.intake(data, actor=ADMIN).id


@pytest.mark.parametrize(("code", "message"), REFUSED)
def test_record_transaction_refuses_a_currency_that_is_not_an_accepted_code(
    registry: Registry, code: str, message: str
) -> None:
    owner = customer(registry)
    with pytest.raises(ValidationFailed) as caught:
        registry.activities.record_transaction(
            {
                "customer_id": owner,
                "occurred_at": WHEN,
                "amount": {"amount": "100", "currency": code},
            },
            actor=ADMIN,
        )
    issues = [(i.path, i.code, i.message) for i in caught.value.report.errors]
    assert issues == [("amount.currency", "currency.invalid", message)]
    assert registry.activities.list(owner, actor=ADMIN) == []


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.sampled_from(sorted(CODES)))
def test_record_transaction_stores_every_accepted_code_as_given(
    registry: Registry, code: str
) -> None:
    owner = customer(registry)
    stored = registry.activities.record_transaction(
        {"customer_id": owner, "occurred_at": WHEN, "amount": {"amount": "100", "currency": code}},
        actor=ADMIN,
    )
    assert stored.amount is not None and stored.amount.currency == code


def contract(code: str) -> dict[str, object]:
    return {
        "kind": "individual",
        "name": "张三",
        "contacts": [{"wechat": "wx1"}],
        "milestones": {"contract_amount": {"amount": "5", "currency": code}},
    }


@pytest.mark.parametrize(("code", "message"), REFUSED)
def test_parse_customer_reports_a_contract_amount_in_no_accepted_currency(
    code: str, message: str
) -> None:
    result = parse_customer(contract(code))
    assert not result.report.ok
    assert result.record is None
    issues = [(i.path, i.code, i.message) for i in result.report.errors]
    assert issues == [("milestones.contract_amount.currency", "currency.invalid", message)]


@pytest.mark.parametrize(("code", "message"), REFUSED)
def test_intake_refuses_and_stores_nothing(registry: Registry, code: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        registry.customers.intake(contract(code), actor=ADMIN)
    assert [i.message for i in caught.value.report.errors] == [message]
    assert [c for page in registry.customers.batches(actor=ADMIN) for c in page] == []


@pytest.mark.parametrize("code", ["CNY", "USD", "CLF", "XAU"])
def test_parse_customer_keeps_an_accepted_code(code: str) -> None:
    result = parse_customer(contract(code))
    assert result.report.ok
    assert result.record is not None
    money = result.record.milestones.contract_amount
    assert money is not None and money.currency == code
