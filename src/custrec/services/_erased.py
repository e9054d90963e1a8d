"""The register of erased subjects, read: which blind-index tokens it holds.

The register (document kind :data:`REGISTER`, one document per token of an erased customer's
phone, e-mail or identifier, see :mod:`custrec.services.privacy`) is empty in most stores, and
an import asks it about every row it creates. So a look-up first asks whether the register
holds anything at all (one query reading at most one document); only when it does are the
tokens looked up, 500 a statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from custrec.matching.keys import MatchKey
from custrec.security import Action, Actor, Resource
from custrec.services.context import Unit

__all__ = ["REGISTER", "_ErasedMeanwhile", "erased_in", "held_tokens", "register_empty"]

REGISTER: Final = "erased_subject"
"""The document kind of the register of erased subjects."""


def register_empty(unit: Unit) -> bool:
    """Whether the register of erased subjects holds no document, as ``unit`` reads it."""
    return not unit.session.documents.list(REGISTER, limit=1)


def held_tokens(unit: Unit, tokens: Iterable[str]) -> set[str]:
    """The ``tokens`` the register holds, as ``unit`` reads it (ask :func:`register_empty`
    first: this reads the register, a statement per 500 tokens)."""
    return {row.id for row in unit.session.documents.get_many(REGISTER, tokens)}


class _ErasedMeanwhile(Exception):
    """Raised by a bulk write asked to refuse erased subjects (an import's) when the register
    holds a strong key of an item: nothing was written; ask the register again
    (``registry.privacy.erased_keys``) and leave those items out."""


def erased_in(unit: Unit, actor: Actor, tokens: Mapping[MatchKey, tuple[str, ...]]) -> bool:
    """Whether the register of erased subjects holds one of ``tokens`` (each strong key's
    look-up tokens), as ``registry.privacy.erased_keys`` answers ``actor``: nothing for one
    without the right to create. Read in the write's own unit, after its key look-up (see
    :func:`custrec.services._presealed.intake_presealed`)."""
    if not tokens or not unit.context.policy.decide(actor, Action.CREATE, Resource()).allowed:
        return False
    if register_empty(unit):
        return False
    return bool(held_tokens(unit, (t for looked_up in tokens.values() for t in looked_up)))
