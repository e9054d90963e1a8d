"""An erasure's reason stays in the audit log after the customer's data is gone, so it must not
repeat the customer's own personal data: a reason naming their name, phone, e-mail, WeChat id
or identifier is refused before anything is erased."""

from __future__ import annotations

from typing import Any

import pytest

from custrec import Actor, Registry
from custrec.errors import Erased
from custrec.services.privacy import subject_in_reason

DPO = Actor(id="dpo", roles={"admin", "erase", "unmask"})
PERSON: dict[str, Any] = {
    "kind": "individual",
    "name": "张三丰",
    "contacts": [
        {"phones": ["13800138000"], "emails": ["Zhang.San@Example.com"], "wechat": "zsf_1990"}
    ],
    "identifiers": [{"scheme": "EXTERNAL", "system": "crm", "value": "C-20931"}],
}


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("张三丰 asked by phone", "name"),
        ("request from 138 0013 8000", "phone"),
        ("request from +86 138-0013-8000", "phone"),
        ("mail from zhang.san@example.com", "email"),
        ("wechat ZSF_1990 asked", "wechat"),
        ("crm record c-20931", "identifier"),
    ],
)
def test_a_reason_naming_the_customer_is_refused_and_nothing_is_erased(
    registry: Registry, reason: str, kind: str
) -> None:
    customer = registry.customers.intake(PERSON, actor=DPO)
    with pytest.raises(ValueError, match=f"names their {kind}") as caught:
        registry.privacy.erase(customer.id, actor=DPO, reason=reason)
    assert "138" not in str(caught.value) and "张三丰" not in str(caught.value)
    assert registry.customers.get(customer.id, actor=DPO).name == "张三丰"  # still there


def test_a_reason_without_the_customers_data_erases(registry: Registry) -> None:
    customer = registry.customers.intake(PERSON, actor=DPO)
    receipt = registry.privacy.erase(
        customer.id, actor=DPO, reason="PIPL art. 47 request, ticket 2026-0042"
    )
    assert receipt.customer_id == customer.id
    with pytest.raises(Erased):
        registry.customers.get(customer.id, actor=DPO)


def test_short_or_unrelated_numbers_are_not_taken_for_a_phone(registry: Registry) -> None:
    customer = registry.customers.intake(PERSON, actor=DPO)
    record = registry.customers.get(customer.id, actor=DPO)
    assert subject_in_reason("ticket 8000, order 138", record) == []
    assert subject_in_reason("张三 called", record) == []  # another, shorter name
    assert subject_in_reason("00138000", record) == []  # seven digits of it, not the number


def someone(registry: Registry, name: str, phone: str = "13800138000", **contact: Any) -> Any:
    made = registry.customers.intake(
        {"kind": "individual", "name": name, "contacts": [{"phones": [phone], **contact}]},
        actor=DPO,
        allow_duplicates=True,
    )
    return registry.customers.get(made.id, actor=DPO)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Li", "client asked for deletion under PIPL art. 47"),
        ("An", "customer request, handled by legal team; anonymise"),
        ("Ed", "requested by customer; confirmed"),
        ("张三丰", "retention r-1|contract_end|anonymise|2026-01-15T00:00:00Z"),
    ],
)
def test_ordinary_words_and_dates_are_not_taken_for_the_customer(
    registry: Registry, name: str, reason: str
) -> None:
    assert subject_in_reason(reason, someone(registry, name)) == []


def test_a_date_and_time_is_not_taken_for_a_phone(registry: Registry) -> None:
    customer = someone(registry, "Anna Schmidt", phone="+1 202 601 1500")
    assert subject_in_reason("request received 2026-03-02 09:30, ticket 88231", customer) == []
    assert subject_in_reason("call back on (202) 601-1500", customer) == ["phone"]


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("来电 １３８００１３８０００", "phone"),  # full-width digits
        ("from 138/0013/8000", "phone"),
        ("from 138–0013–8000", "phone"),  # en dashes
        ("from 138\u22120013\u22128000", "phone"),  # minus signs
        ("from 138ー0013ー8000", "phone"),  # katakana long vowel marks, as IMEs type them
        ("from 138\uff700013\uff708000", "phone"),  # half-width prolonged sound marks
        ("ANNA  SCHMIDT asked", "name"),  # other case, two spaces
        ("Ａｎｎａ Ｓｃｈｍｉｄｔ asked", "name"),  # full-width letters
        ("mail from anna.s＠example.com", "email"),  # full-width at sign
    ],
)
def test_other_writings_of_the_customers_data_are_found(
    registry: Registry, reason: str, kind: str
) -> None:
    customer = someone(registry, "Anna Schmidt", emails=["anna.s@example.com"])
    assert kind in subject_in_reason(reason, customer)
