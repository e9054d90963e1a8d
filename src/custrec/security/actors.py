"""The :class:`Actor` every registry call names."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["Actor"]


def _roles(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    if value is None:
        return frozenset()
    if not isinstance(value, Iterable):
        raise TypeError("Actor.roles must be a string or an iterable of strings")
    return frozenset(str(role) for role in value)


def _non_empty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Actor.{attribute.name} must be a non-empty string")


@attrs.frozen(kw_only=True)
class Actor:
    """A member of staff, a service or a job acting on customer data.

    ``id`` is a staff or service id (it appears in the audit log), ``roles`` the roles granted
    (``"staff"``, ``"manager"``, ``"admin"``, ``"auditor"``, ...), ``team`` the team the actor
    belongs to.

    >>> Actor(id="u-7", roles={"staff"}, team="east").roles
    frozenset({'staff'})
    """

    id: str = attrs.field(validator=_non_empty)
    roles: frozenset[str] = attrs.field(factory=frozenset, converter=_roles)
    team: str | None = None

    def has_role(self, role: str) -> bool:
        """Tell whether the actor holds ``role``."""
        return role in self.roles
