"""Intake normalises a customer's name once for its blocking and its search keys: the keys it
indexes are exactly those of the public functions, each normalising the name itself."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.matching import blocking_keys, strong_keys
from custrec.matching.keys import name_key
from custrec.matching.names import name_keys
from custrec.model.custom import CustomFieldSet
from custrec.model.records import Address, Contact, Customer, CustomerKind
from custrec.services._custom import search_keys
from custrec.services._records import match_keys

FIELDS = CustomFieldSet()
pieces = st.sampled_from(
    [
        "张",
        "伟",
        "欧阳",
        "娜娜",
        "Wei",
        "ZHANG,",
        " ",
        "-",
        "华为技术",
        "有限公司",
        "（深圳）",
        "北京",
        "(HK)",
        "Co., Ltd.",
        "股份",
        "客户12",
        "Ａ",
        "",
        "·",
    ]
)
names = st.lists(pieces, max_size=5).map("".join) | st.text(max_size=8)
customers = st.builds(
    Customer,
    kind=st.sampled_from(CustomerKind),
    name=names,
    registered_name=st.none() | names,
    contacts=st.lists(st.builds(Contact, phones=st.lists(st.sampled_from(["+8613800138000"]))))
    | st.just(()),
    addresses=st.lists(
        st.builds(
            Address,
            city=st.none() | st.sampled_from(["北京", "上海", "Shenzhen", ""]),
            street=st.none() | names,
        ),
        max_size=3,
    ),
)


@given(customer=customers)
@settings(max_examples=300)
def test_intake_match_keys_are_the_public_functions_keys(customer: Customer) -> None:
    expected = strong_keys(customer) | blocking_keys(customer) | search_keys(customer, FIELDS)
    assert match_keys(customer, blocking=True, fields=FIELDS) == expected
    assert match_keys(customer, blocking=False, fields=FIELDS) == (
        strong_keys(customer) | search_keys(customer, FIELDS)
    )


@given(customer=customers)
@settings(max_examples=100)
def test_the_blocking_name_key_and_the_search_keys_are_unchanged(customer: Customer) -> None:
    name_keys_found = name_keys(customer.kind.value, customer.name) if customer.name else set()
    assert {k for k in search_keys(customer, FIELDS) if k in name_keys_found} == set(
        name_keys_found
    )
    key = name_key(customer)
    assert (("blk.name", key) in blocking_keys(customer)) == bool(key)
