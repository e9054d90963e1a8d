"""Match keys: the strong identifiers that decide identity, and the blocking keys that propose.

A *strong key* is ``(kind, normalised value)`` of an identifier that names one customer on its own:
an E.164 phone, a case-folded e-mail, a unified social credit code, a resident id, a passport, or
an external id qualified by its system. Two records sharing one are the same customer (unless a
government identifier of the same scheme conflicts, see :mod:`custrec.matching.scoring`).

A *blocking key* is ``(kind, value)`` that only brings records together for scoring: the name
(person name in any token order, organisation name without legal form or region), the street
address within its city, and for organisations the first characters of the name within a city
(which survives a typo later in the name). The registry stores both kinds as blind-index tokens,
so matching works on an encrypted store; blocking keys reveal which records share a name or an
address to whoever reads the store's index (see docs/matching.md, "What blocking keys reveal").

Every function expects a normalised record (:func:`custrec.validation.parse_customer`).

>>> from custrec.model.records import Customer, CustomerKind, Contact
>>> c = Customer(kind=CustomerKind.INDIVIDUAL, name="Zhang Wei",
...              contacts=(Contact(phones=("+8613800138000",)),))
>>> sorted(strong_keys(c))
[('phone', '+8613800138000')]
>>> sorted(blocking_keys(c))
[('blk.name', 'p:wei zhang')]
"""

from __future__ import annotations

from typing import Final

from custrec.matching.normalize import (
    OrgName,
    PersonName,
    address_key,
    fold,
    org_name,
    person_name,
)
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    IdentifierScheme,
)

__all__ = [
    "BLOCKING_KINDS",
    "GOVERNMENT_KINDS",
    "MatchKey",
    "StrongKey",
    "address_keys",
    "blocking_keys",
    "identifier_key",
    "strong_keys",
]

StrongKey = tuple[str, str]
"""``(kind, normalised value)``, for example ``("phone", "+8613800138000")``."""

MatchKey = tuple[str, str]
"""``(kind, value)`` of a blocking key, for example ``("blk.name", "p:wei zhang")``."""

GOVERNMENT_KINDS: Final = frozenset({"uscc", "ric", "passport"})
"""Strong-key kinds issued by a state: two different values of one kind mean two customers."""

BLOCKING_KINDS: Final = ("blk.name", "blk.addr", "blk.orgcity")
"""Every kind :func:`blocking_keys` produces."""

_SCHEME_KINDS: Final = {
    IdentifierScheme.USCC.value: "uscc",
    IdentifierScheme.RIC.value: "ric",
    IdentifierScheme.PASSPORT.value: "passport",
}
_MAX_ADDRESSES: Final = 3
_ORG_PREFIX: Final = 2


def strong_keys(customer: Customer) -> frozenset[StrongKey]:
    """Return the strong identifiers of a (normalised) customer.

    E-mails are compared case-insensitively; external ids are qualified by their system
    (``("external", "legacy-crm:42")``).
    """
    keys: set[StrongKey] = set()
    add = keys.add  # loops, not generators: one or two values a contact
    for contact in customer.contacts:
        if not isinstance(contact, Contact):
            continue
        for phone in contact.phones:
            if isinstance(phone, str) and phone:
                add(("phone", phone))
        for email in contact.emails:
            if isinstance(email, str) and email:
                add(("email", email.casefold()))
    for ident in customer.identifiers:
        if isinstance(ident, Identifier) and isinstance(ident.value, str) and ident.value:
            add(identifier_key(ident))
    return frozenset(keys)


def identifier_key(ident: Identifier) -> StrongKey:
    """Return the strong key of one (normalised) identifier."""
    if ident.scheme == IdentifierScheme.EXTERNAL:
        return ("external", f"{ident.system or ''}:{ident.value}")
    kind = _SCHEME_KINDS.get(str(ident.scheme))
    if kind is not None:
        return (kind, ident.value.upper())
    return (f"id.{ident.scheme}", ident.value)


def name_key(customer: Customer) -> str:
    """Return the order- and form-independent name of a customer, prefixed by its kind.

    People: :func:`~custrec.matching.normalize.person_name` (``"p:wei zhang"``); organisations:
    the name's core without legal form or region (``"o:华为技术"``). Empty if nothing is left.
    """
    return _name_key(customer, None)


def _normalised_name(customer: Customer) -> PersonName | OrgName:
    """What :func:`name_key` makes of the customer's name: its ``org_name`` for an
    organisation, else its ``person_name`` (a name that is not text counts as empty)."""
    name = customer.name if isinstance(customer.name, str) else ""
    if customer.kind == CustomerKind.ORGANIZATION:
        return org_name(name)
    return person_name(name)


def _name_key(customer: Customer, normalised: PersonName | OrgName | None) -> str:
    if normalised is None:
        normalised = _normalised_name(customer)
    if isinstance(normalised, OrgName):
        core = normalised.core
        return f"o:{core}" if core else ""
    key = normalised.key
    return f"p:{key}" if key else ""


def address_keys(customer: Customer) -> tuple[str, ...]:
    """Return the distinct street-in-city keys of a customer's addresses (at most three).

    The district is left out (it is often missing or spelt differently); an address without a
    street gives no key.
    """
    keys: list[str] = []
    for address in customer.addresses:
        if not isinstance(address, Address) or not isinstance(address.street, str):
            continue
        street = address_key(address.street)
        if not street:
            continue
        key = f"{fold(address.city or '')}|{street}"
        if key not in keys:
            keys.append(key)
        if len(keys) == _MAX_ADDRESSES:
            break
    return tuple(keys)


def cities(customer: Customer) -> frozenset[str]:
    """Return the folded cities of a customer's addresses."""
    return frozenset(
        fold(a.city)
        for a in customer.addresses
        if isinstance(a, Address) and a.city and fold(a.city)
    )


def blocking_keys(customer: Customer) -> frozenset[MatchKey]:
    """Return the blocking keys of a (normalised) customer.

    ``blk.name``: :func:`name_key`; ``blk.addr``: each of :func:`address_keys`; ``blk.orgcity``
    (organisations): the first two characters of the name's core with each city, so that a typo
    later in the name still meets the original.
    """
    return _blocking_keys_of(customer, None)


def _blocking_keys_of(
    customer: Customer, normalised: PersonName | OrgName | None
) -> frozenset[MatchKey]:
    """:func:`blocking_keys`, given :func:`_normalised_name` of the customer when the caller
    has it already."""
    keys: set[MatchKey] = set()
    name = _name_key(customer, normalised)
    if name:
        keys.add(("blk.name", name))
    keys.update(("blk.addr", key) for key in address_keys(customer))
    if customer.kind == CustomerKind.ORGANIZATION and len(name) >= 2 + _ORG_PREFIX:
        prefix = name[2 : 2 + _ORG_PREFIX]
        keys.update(("blk.orgcity", f"{prefix}|{city}") for city in cities(customer))
    return frozenset(keys)
