"""The register of erased subjects, read: which blind-index tokens it holds.

The register (document kind :data:`REGISTER`, one document per token of an erased customer's
phone, e-mail or identifier, see :mod:`custrec.services.privacy`) is empty in most stores, and
an import asks it about every row it creates. So a look-up first asks whether the register
holds anything at all (one query reading at most one document); only when it does are the
tokens looked up, 500 a statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from custrec.services.context import Unit

__all__ = ["REGISTER", "held_tokens", "register_empty"]

REGISTER: Final = "erased_subject"
"""The document kind of the register of erased subjects."""


def register_empty(unit: Unit) -> bool:
    """Whether the register of erased subjects holds no document, as ``unit`` reads it."""
    return not unit.session.documents.list(REGISTER, limit=1)


def held_tokens(unit: Unit, tokens: Iterable[str]) -> set[str]:
    """The ``tokens`` the register holds, as ``unit`` reads it (ask :func:`register_empty`
    first: this reads the register, a statement per 500 tokens)."""
    return {row.id for row in unit.session.documents.get_many(REGISTER, tokens)}
