"""Merging an import row into the stored customer it matches (``on_match="update"``): the
list-merging helpers of :func:`~custrec.interchange.plan.merge_changes`, and whether a stored
customer was read in the clear."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from custrec.model.records import Address, Contact, Customer, Identifier, IdentifierScheme
from custrec.storage.codec import StrongKey, strong_keys

__all__ = [
    "dedupe",
    "dedupe_folded",
    "merge_addresses",
    "merge_contacts",
    "merge_identifiers",
    "overlay",
    "readable",
]


def readable(customer: Customer, keys: frozenset[StrongKey]) -> bool:
    """Whether ``customer`` was returned in the clear (not masked).

    A key the row was matched on is in the clear record; failing that, genuine stored phones
    (E.164) and credit or resident id numbers never hold ``*`` while masked ones always do.
    """
    if keys & strong_keys(customer):
        return True
    probes = [p for c in customer.contacts for p in c.phones]
    probes.extend(
        i.value
        for i in customer.identifiers
        if i.scheme in (IdentifierScheme.USCC, IdentifierScheme.RIC)
    )
    return bool(probes) and all("*" not in p for p in probes)


def dedupe(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def dedupe_folded(values: Iterable[str]) -> tuple[str, ...]:
    """Values without repeats, compared case-insensitively (e-mails); the first spelling wins."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.casefold(), value)
    return tuple(seen.values())


def merge_contacts(current: Sequence[Contact], new: Sequence[Contact]) -> tuple[Contact, ...]:
    merged = list(current)
    for contact in new:
        index = next(
            (
                i
                for i, old in enumerate(merged)
                if set(old.phones) & set(contact.phones)
                or {e.casefold() for e in old.emails} & {e.casefold() for e in contact.emails}
                or (contact.name is not None and old.name == contact.name)
            ),
            None,
        )
        if index is None:
            merged.append(contact)
            continue
        old = merged[index]
        merged[index] = attrs.evolve(
            old,
            name=contact.name or old.name,
            title=contact.title or old.title,
            wechat=contact.wechat or old.wechat,
            phones=dedupe((*old.phones, *contact.phones)),
            emails=dedupe_folded((*old.emails, *contact.emails)),
            primary=old.primary or contact.primary,
        )
    return tuple(merged)


def merge_identifiers(
    current: Sequence[Identifier], new: Sequence[Identifier]
) -> tuple[Identifier, ...]:
    merged = list(current)
    for ident in new:
        index = next(
            (
                i
                for i, old in enumerate(merged)
                if (old.scheme, old.system) == (ident.scheme, ident.system)
            ),
            None,
        )
        if index is None:
            merged.append(ident)
        else:
            merged[index] = ident
    return tuple(merged)


def overlay(old: Any, new: Any) -> Any:
    """``old`` with every field ``new`` sets (not ``None``) taken from ``new``."""
    changes = {
        field.name: getattr(new, field.name)
        for field in attrs.fields(type(new))
        if getattr(new, field.name) is not None and getattr(new, field.name) != field.default
    }
    return attrs.evolve(old, **changes)


def merge_addresses(current: Sequence[Address], new: Sequence[Address]) -> tuple[Address, ...]:
    merged = list(current)
    for address in new:
        index = next((i for i, old in enumerate(merged) if old.kind == address.kind), None)
        if index is None:
            merged.append(address)
        else:
            merged[index] = overlay(merged[index], address)
    return tuple(merged)
