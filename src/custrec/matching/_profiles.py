"""A customer's match profile and match keys in one pass, from a record or its stored document.

Batch clustering needs, for every stored customer, :func:`~custrec.matching.profile` and
:func:`~custrec.matching.strong_keys` | :func:`~custrec.matching.blocking_keys`. Computed
separately they normalise the name and the addresses twice (an organisation's name is split by
:func:`~custrec.matching.normalize.org_name` twice). :func:`profile_and_keys` computes each once;
:func:`document_profile` does the same from the unstructured document a store holds (the
``data`` of :meth:`custrec.services._records.Records.document`), without building a
:class:`~custrec.model.records.Customer` first, and gives ``None`` for any document not in the
expected shape (the caller then structures it and uses :func:`profile_and_keys`). Both give
exactly what the separate functions give (tests/unit/matching/test_profiles.py checks it on
random records).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from custrec.matching.keys import MatchKey, StrongKey, blocking_keys, strong_keys
from custrec.matching.levels import MatchProfile
from custrec.matching.normalize import address_key, fold, org_name, person_name
from custrec.matching.scoring import profile
from custrec.model.records import Customer, CustomerKind, Gender

__all__ = ["document_profile", "profile_and_keys"]

_MAX_ADDRESSES: Final = 3
_ORG_PREFIX: Final = 2
_SCHEME_KINDS: Final = {"CN-USCC": "uscc", "CN-RIC": "ric", "PASSPORT": "passport"}
_ORGANIZATION: Final = "organization"
_KINDS: Final = frozenset(k.value for k in CustomerKind)
_GENDERS: Final = frozenset(g.value for g in Gender)
_FOLD_CACHE: Final[dict[str, str]] = {}  # cities: few distinct values, folded once
_FOLD_CACHE_MAX: Final = 4096


def profile_and_keys(customer: Customer) -> tuple[MatchProfile, frozenset[MatchKey]]:
    """``(profile(customer), strong_keys(customer) | blocking_keys(customer))``."""
    found = document_profile(_document(customer))
    if found is None:  # a record built by hand with values of unexpected types
        return profile(customer), strong_keys(customer) | blocking_keys(customer)
    return found


def _document(customer: Customer) -> dict[str, Any]:
    """The few fields :func:`document_profile` reads, as a stored document holds them."""
    return {
        "id": customer.id,
        "kind": str(customer.kind),
        "name": customer.name,
        "gender": None if customer.gender is None else str(customer.gender),
        "birth_date": customer.birth_date,
        "identifiers": [
            {"scheme": i.scheme, "value": i.value, "system": i.system} for i in customer.identifiers
        ]
        if all(hasattr(i, "scheme") for i in customer.identifiers)
        else None,
        "contacts": [{"phones": c.phones, "emails": c.emails} for c in customer.contacts]
        if all(hasattr(c, "phones") for c in customer.contacts)
        else None,
        "addresses": [{"city": a.city, "street": a.street} for a in customer.addresses]
        if all(hasattr(a, "street") for a in customer.addresses)
        else None,
    }


def _folded(text: str) -> str:
    hit = _FOLD_CACHE.get(text)
    if hit is None:
        hit = fold(text)
        if len(_FOLD_CACHE) >= _FOLD_CACHE_MAX:
            _FOLD_CACHE.clear()
        _FOLD_CACHE[text] = hit
    return hit


def _str_or_none(value: object) -> bool:
    return value is None or type(value) is str


def document_profile(data: Mapping[str, Any]) -> tuple[MatchProfile, frozenset[MatchKey]] | None:
    """The profile and match keys of a customer from its unstructured document, or ``None``
    when a value is not of the type a stored, normalised customer has."""
    cid, kind, name = data.get("id"), data.get("kind"), data.get("name")
    gender, born = data.get("gender"), data.get("birth_date")
    identifiers = data.get("identifiers")
    contacts, addresses = data.get("contacts"), data.get("addresses")
    if (
        type(cid) is not str
        or type(kind) is not str
        or type(name) is not str
        or kind not in _KINDS
        or (gender is not None and (type(gender) is not str or gender not in _GENDERS))
        or type(identifiers) is not list
        or type(contacts) is not list
        or type(addresses) is not list
    ):
        return None
    birth: date | None
    if born is None or type(born) is date:
        birth = born
    elif type(born) is str:
        try:
            birth = date.fromisoformat(born)
        except ValueError:
            return None
    else:
        return None

    strong: set[StrongKey] = set()
    for contact in contacts:
        if type(contact) is not dict:
            return None
        phones, emails = contact.get("phones", ()), contact.get("emails", ())
        if type(phones) not in (list, tuple) or type(emails) not in (list, tuple):
            return None
        for phone in phones:
            if type(phone) is not str:
                return None
            if phone:
                strong.add(("phone", phone))
        for email in emails:
            if type(email) is not str:
                return None
            if email:
                strong.add(("email", email.casefold()))
    for ident in identifiers:
        if type(ident) is not dict:
            return None
        scheme, value, system = ident.get("scheme"), ident.get("value"), ident.get("system")
        if not isinstance(scheme, str) or not _str_or_none(system) or type(value) is not str:
            return None
        if not value:
            continue
        scheme = str(scheme)
        if scheme == "EXTERNAL":
            strong.add(("external", f"{system or ''}:{value}"))
        elif scheme in _SCHEME_KINDS:
            strong.add((_SCHEME_KINDS[scheme], value.upper()))
        else:
            strong.add((f"id.{scheme}", value))

    streets: list[str] = []
    cities: set[str] = set()
    for address in addresses:
        if type(address) is not dict:
            return None
        city, street = address.get("city"), address.get("street")
        if not _str_or_none(city) or not _str_or_none(street):
            return None
        if city:
            folded_city = _folded(city)
            if folded_city:
                cities.add(folded_city)
        if street is None or len(streets) == _MAX_ADDRESSES:
            continue
        street_key = address_key(street)
        if street_key:
            key = f"{_folded(city or '')}|{street_key}"
            if key not in streets:
                streets.append(key)

    region = None
    if kind == _ORGANIZATION:
        split = org_name(name)
        region = split.region
        key = f"o:{split.core}" if split.core else ""
    else:
        person = person_name(name).key
        key = f"p:{person}" if person else ""
    found = MatchProfile(
        id=cid,
        kind=kind,
        name=key[2:],
        region=region,
        addresses=tuple(streets),
        cities=frozenset(cities),
        birth_date=birth,
        sex=gender if gender not in (None, "unknown") else None,
        strong=frozenset(strong),
    )
    keys: set[MatchKey] = set(strong)
    if key:
        keys.add(("blk.name", key))
    keys.update(("blk.addr", street) for street in streets)
    if kind == _ORGANIZATION and len(key) >= 2 + _ORG_PREFIX:
        prefix = key[2 : 2 + _ORG_PREFIX]
        keys.update(("blk.orgcity", f"{prefix}|{city}") for city in cities)
    return found, frozenset(keys)
