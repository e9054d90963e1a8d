"""The :class:`Actor` every registry call names."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Final

import attrs

from custrec._text import has_invalid_character

__all__ = ["Actor"]


def _roles(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    if value is None:
        return frozenset()
    if not isinstance(value, Iterable):
        raise TypeError("Actor.roles must be a string or an iterable of strings")
    return frozenset(str(role) for role in value)


RESERVED_PREFIX: Final = "custrec:"
"""Actor ids starting with this belong to custrec's own principals (the retention job)."""


def _non_empty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Actor.{attribute.name} must be a non-empty string")
    if has_invalid_character(value):
        raise ValueError(f"Actor.{attribute.name} must not hold a lone surrogate or NUL")


def _actor_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _non_empty(instance, attribute, value)
    folded = unicodedata.normalize("NFKC", value).strip().casefold()
    if folded.startswith(RESERVED_PREFIX) or folded == RESERVED_PREFIX[:-1]:
        raise ValueError(
            f"Actor ids starting with {RESERVED_PREFIX!r} (in any case or width, with any "
            "surrounding space) are reserved for custrec's own principals (they mark what the "
            "retention job did)"
        )


def _team(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or has_invalid_character(value)):
        raise ValueError("Actor.team must be a string without a lone surrogate or NUL")


@attrs.frozen(kw_only=True)
class Actor:
    """A member of staff, a service or a job acting on customer data.

    ``id`` is a staff or service id (it appears in the audit log), ``roles`` the roles granted
    (``"staff"``, ``"manager"``, ``"admin"``, ``"auditor"``, ...), ``team`` the team the actor
    belongs to. Ids and teams are text without lone surrogates or NUL characters; ids starting
    with ``custrec:`` are reserved (``ValueError``).

    >>> Actor(id="u-7", roles={"staff"}, team="east").roles
    frozenset({'staff'})
    """

    id: str = attrs.field(validator=_actor_id)
    roles: frozenset[str] = attrs.field(factory=frozenset, converter=_roles)
    team: str | None = attrs.field(default=None, validator=_team)

    def has_role(self, role: str) -> bool:
        """Tell whether the actor holds ``role``."""
        return role in self.roles
