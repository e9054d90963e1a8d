"""Batched identity lookups (``registry.customers.identify``), and the same for an import,
which also keeps the blind-index tokens it computed for the chunk's write."""

from __future__ import annotations

from collections.abc import Iterable

from custrec.matching import StrongKey
from custrec.security import Action, Actor, Resource
from custrec.services._records import Records, service_parts
from custrec.services.context import Context, check_actor
from custrec.services.results import IdentifyResult

__all__ = ["identify", "identify_for_import"]


def identify(
    context: Context,
    records: Records,
    keys: Iterable[StrongKey],
    *,
    actor: Actor,
    ids: Iterable[str] = (),
    looked_up: dict[StrongKey, tuple[str, ...]] | None = None,
) -> IdentifyResult:
    """``registry.customers.identify`` (see there); ``looked_up``, when given, receives each
    key's blind-index tokens (an import hands them on to its write, ``intake_presealed``)."""
    actor = check_actor(actor)
    lookup_keys = context.codec.lookup_keys
    tokens: dict[str, StrongKey] = {}
    for key in keys:
        found = lookup_keys(key)
        if looked_up is not None:
            looked_up[key] = found
        for token in found:
            tokens[token] = key
    wanted = list(dict.fromkeys(ids))
    now = context.now()
    holders: dict[StrongKey, set[str]] = {}
    kinds_of: dict[str, set[str]] = {}
    existing: set[str] = set()
    with context.read_unit() as unit:
        if tokens:
            for token, posted in unit.session.customers.lookup_many(tokens).items():
                holders.setdefault(tokens[token], set()).update(posted)
        named = {i for held in holders.values() for i in held}
        rows = unit.session.customers.get_many(sorted(named | set(wanted)))
        visible = {row.id for row, _ in records.readable(actor, rows)}
        existing = {
            row.id
            for row in rows
            if row.id in wanted
            and context.policy.decide(actor, Action.READ, Resource.of(row)).allowed
        }
        for key, held in holders.items():
            for customer_id in held & visible:
                kinds_of.setdefault(customer_id, set()).add(key[0])
        unit.audit(
            actor,
            "customer.identify",
            at=now,
            fields=sorted({key[0] for key in tokens.values()}),
            reason=f"{len(set(tokens.values()))} keys, {len(wanted)} ids",
        )
        for customer_id in sorted(set(kinds_of) | existing):
            named_by = set(kinds_of.get(customer_id, ()))
            if customer_id in existing:
                named_by.add("id")
            unit.audit(
                actor,
                "customer.identify",
                at=now,
                customer_id=customer_id,
                fields=sorted(named_by),
            )
        unit.commit()
    return IdentifyResult(
        holders={
            key: tuple(sorted(found & visible)) for key, found in holders.items() if found & visible
        },
        existing=frozenset(existing),
    )


def identify_for_import(
    service: object,
    keys: Iterable[StrongKey],
    *,
    actor: Actor,
    ids: Iterable[str],
    looked_up: dict[StrongKey, tuple[str, ...]],
) -> IdentifyResult:
    """:func:`identify` for ``service`` (``registry.customers``), filling ``looked_up``."""
    context, records = service_parts(service)
    return identify(context, records, keys, actor=actor, ids=ids, looked_up=looked_up)
