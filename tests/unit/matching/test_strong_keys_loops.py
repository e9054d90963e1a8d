"""strong_keys reads each contact's phones and e-mails in plain loops: the keys are those the
generator form gave, for any values a record may hold (text, blank text, text subclasses,
values of other types, contacts and identifiers of the wrong type)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.matching.keys import identifier_key, strong_keys
from custrec.model.records import Contact, Customer, CustomerKind, Identifier


class Text(str):
    pass


def _generator_form(customer: Customer) -> frozenset[tuple[str, str]]:
    """strong_keys as it was written before."""
    keys: set[tuple[str, str]] = set()
    for contact in customer.contacts:
        if not isinstance(contact, Contact):
            continue
        keys.update(("phone", p) for p in contact.phones if isinstance(p, str) and p)
        keys.update(("email", e.casefold()) for e in contact.emails if isinstance(e, str) and e)
    for ident in customer.identifiers:
        if isinstance(ident, Identifier) and isinstance(ident.value, str) and ident.value:
            keys.add(identifier_key(ident))
    return frozenset(keys)


values = st.one_of(
    st.sampled_from(["+8613800138000", "", " ", "Li@Example.COM", "ß@x.cn"]),
    st.text(max_size=6),
    st.text(min_size=1, max_size=4).map(Text),
    st.sampled_from([None, 5, b"x"]),
)
contacts = st.one_of(
    st.builds(
        Contact,
        phones=st.lists(values, max_size=3).map(tuple),
        emails=st.lists(values, max_size=3).map(tuple),
    ),
    st.sampled_from([None, "x", 3]),
)
identifiers = st.one_of(
    st.builds(
        Identifier,
        scheme=st.sampled_from(["CN-RIC", "CN-USCC", "PASSPORT", "EXTERNAL", "OTHER"]),
        value=values,
        system=st.sampled_from([None, "crm"]),
    ),
    st.sampled_from([None, "x"]),
)


@settings(max_examples=400, deadline=None)
@given(found=st.lists(contacts, max_size=3), idents=st.lists(identifiers, max_size=3))
def test_the_keys_are_those_of_the_generator_form(found: list[Any], idents: list[Any]) -> None:
    customer = Customer(kind=CustomerKind.INDIVIDUAL, name="x")
    object.__setattr__(customer, "contacts", tuple(found))  # any value, as a caller could set it
    object.__setattr__(customer, "identifiers", tuple(idents))
    assert strong_keys(customer) == _generator_form(customer)
