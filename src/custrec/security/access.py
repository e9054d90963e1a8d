"""Access control: may this actor do this to this customer, and must the data be masked?

An :class:`AccessPolicy` turns ``(actor, action, resource)`` into an :class:`AccessDecision`
with a stable reason code. :class:`RoleBasedPolicy` reads a table of :class:`Grant`\\ s per role;
its default (:data:`DEFAULT_GRANTS`):

- ``staff``: create, read, update, grade and record consent for the customers they own;
- ``manager``: the same for their team's customers (and their own);
- ``admin``: the same for every customer, key management and retention;
- ``auditor``: reads the audit log, and reads every customer masked, changes nothing;
- ``unmask``, ``export``, ``erase``: permission roles. They grant their action only within the
  scope the actor's other roles give for ``read`` (unmask, export) or ``update`` (erase), and
  masked-only reads (the auditor's) give no such scope.

Reads and exports are masked unless the actor may also unmask that customer. Unknown roles
grant nothing; anything not granted is denied.

>>> from custrec.security.actors import Actor
>>> policy = RoleBasedPolicy()
>>> alice = Actor(id="u-1", roles={"staff", "unmask"}, team="east")
>>> policy.decide(alice, Action.READ, Resource(customer_id="c-1", owner="u-1", team="east"))
AccessDecision(allowed=True, reason='granted', masked=False)
>>> policy.decide(alice, "update", Resource(customer_id="c-2", owner="u-2", team="east"))
AccessDecision(allowed=False, reason='not_owner', masked=False)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Final, Protocol, runtime_checkable

import attrs

from custrec.errors import AccessDenied
from custrec.security.actors import Actor

__all__ = [
    "DEFAULT_GRANTS",
    "PERMISSION_ACTIONS",
    "AccessDecision",
    "AccessPolicy",
    "Action",
    "Grant",
    "Resource",
    "RoleBasedPolicy",
    "Scope",
    "ScopedPolicy",
    "require",
]


class Action(enum.StrEnum):
    """What an actor wants to do."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    GRADE = "grade"
    CONSENT = "consent"  # record consent events
    UNMASK = "unmask"  # see personal values in the clear
    EXPORT = "export"  # data portability / access requests
    ERASE = "erase"  # crypto-shred a customer
    AUDIT_READ = "audit_read"
    MANAGE_KEYS = "manage_keys"  # rotate master and index keys, re-wrap, re-index
    RETENTION = "retention"  # plan and carry out retention schedules (archive ... destroy)
    SYNC = "sync"  # follow the change feed (ids, kinds and field paths; no values)
    DEFINE_FIELDS = "define_fields"  # define, change and remove custom fields
    COMPLIANCE = "compliance"  # recipients, disclosure registers, incidents, sampling audits


PERMISSION_ACTIONS: Final = frozenset({Action.UNMASK, Action.EXPORT, Action.ERASE})
"""Actions that need a dedicated permission role on top of a data role."""


class Scope(enum.StrEnum):
    """Which customers a grant covers."""

    OWN = "own"  # resource.owner == actor.id
    TEAM = "team"  # own, or resource.team == actor.team
    ALL = "all"


@attrs.frozen(kw_only=True)
class Resource:
    """What an action is applied to: a customer's id and its owner and team facets.

    Leave ``customer_id`` ``None`` for actions on no customer (``audit_read``) and for
    ``create`` (give the owner and team the new customer will have).
    """

    customer_id: str | None = None
    owner: str | None = None
    team: str | None = None

    @classmethod
    def of(cls, record: object) -> Resource:
        """Build a resource from anything with ``id``, ``owner`` and ``team`` (a ``Customer``,
        a stored row)."""
        return cls(
            customer_id=getattr(record, "id", None),
            owner=getattr(record, "owner", None),
            team=getattr(record, "team", None),
        )


@attrs.frozen
class AccessDecision:
    """The outcome: ``allowed``, a stable ``reason`` code, and whether data must be ``masked``.

    Reasons: ``granted``; ``no_role`` (no role grants the action), ``permission_required`` (the
    action needs a permission role the actor lacks), ``not_owner``, ``not_in_team`` (out of
    scope), ``no_scope`` (a permission role without a data role to scope it).
    """

    allowed: bool
    reason: str
    masked: bool = False


@attrs.frozen(kw_only=True)
class Grant:
    """One line of a role's grant table.

    Exactly one of ``scope`` (the customers covered) and ``within`` (borrow the scope of the
    actor's unmasked grants for that other action) must be set. ``masked=True`` makes a read
    grant masked-only: it never lifts masking and never scopes a ``within`` grant.
    """

    action: Action = attrs.field(converter=Action)
    scope: Scope | None = attrs.field(default=None, converter=attrs.converters.optional(Scope))
    within: Action | None = attrs.field(default=None, converter=attrs.converters.optional(Action))
    masked: bool = False

    def __attrs_post_init__(self) -> None:
        if (self.scope is None) == (self.within is None):
            raise ValueError("a Grant needs exactly one of scope= and within=")
        if self.within is self.action:
            raise ValueError("a Grant cannot be scoped within its own action")


def _data_grants(scope: Scope) -> tuple[Grant, ...]:
    actions = (Action.CREATE, Action.READ, Action.UPDATE, Action.GRADE, Action.CONSENT)
    return tuple(Grant(action=action, scope=scope) for action in actions)


DEFAULT_GRANTS: Final[Mapping[str, tuple[Grant, ...]]] = {
    "staff": _data_grants(Scope.OWN),
    "manager": _data_grants(Scope.TEAM),
    "admin": (
        *_data_grants(Scope.ALL),
        Grant(action=Action.MANAGE_KEYS, scope=Scope.ALL),
        Grant(action=Action.RETENTION, scope=Scope.ALL),
        Grant(action=Action.SYNC, scope=Scope.ALL),
        Grant(action=Action.DEFINE_FIELDS, scope=Scope.ALL),
        Grant(action=Action.COMPLIANCE, scope=Scope.ALL),
    ),
    "compliance": (
        Grant(action=Action.READ, scope=Scope.ALL, masked=True),
        Grant(action=Action.AUDIT_READ, scope=Scope.ALL),
        Grant(action=Action.COMPLIANCE, scope=Scope.ALL),
    ),
    "sync": (Grant(action=Action.SYNC, scope=Scope.ALL),),
    "auditor": (
        Grant(action=Action.READ, scope=Scope.ALL, masked=True),
        Grant(action=Action.AUDIT_READ, scope=Scope.ALL),
    ),
    "unmask": (Grant(action=Action.UNMASK, within=Action.READ),),
    "export": (Grant(action=Action.EXPORT, within=Action.READ),),
    "erase": (Grant(action=Action.ERASE, within=Action.UPDATE),),
}
"""The default grant table of :class:`RoleBasedPolicy`."""


class AccessPolicy(Protocol):
    """Decides whether an actor may perform an action on a resource."""

    def decide(self, actor: Actor, action: Action, resource: Resource) -> AccessDecision:
        """Return the decision; never raise for a denial."""
        ...


@runtime_checkable
class ScopedPolicy(AccessPolicy, Protocol):
    """An access policy that can also say how far an actor's right reaches.

    Optional: lists of many items (the due lists of cases and tasks) ask ``widest_scope`` to
    read only the items the actor may see, instead of reading everyone's and asking
    :meth:`decide` about each. The answer must never be narrower than what ``decide`` allows
    (``own``: at most the items whose owner is the actor; ``team``: also those of the actor's
    team; ``all``; ``None``: none). :meth:`decide` still judges every item a list returns.

    Reports (``registry.reports``) count in the store exactly the customers the scope of
    ``read`` reaches, without asking :meth:`decide` per customer: a policy whose ``decide``
    refuses reads inside that scope (by state, by time, by customer) must not implement
    ``widest_scope``; the reports then decide customer by customer (slower, same answers).
    """

    def widest_scope(self, actor: Actor, action: Action | str) -> Scope | None:
        """The widest scope of ``action`` the actor holds, or ``None``."""
        ...


def _in_scope(scope: Scope, actor: Actor, resource: Resource) -> bool:
    if scope is Scope.ALL:
        return True
    if resource.owner is not None and resource.owner == actor.id:
        return True
    return scope is Scope.TEAM and actor.team is not None and resource.team == actor.team


_SCOPE_REASON: Final = {Scope.OWN: "not_owner", Scope.TEAM: "not_in_team"}
_WIDTH: Final = {Scope.OWN: 0, Scope.TEAM: 1, Scope.ALL: 2}


class RoleBasedPolicy:
    """An :class:`AccessPolicy` driven by a table of grants per role name.

    ``grants`` maps role names to their :class:`Grant`\\ s; it replaces :data:`DEFAULT_GRANTS`
    entirely (extend it with ``{**DEFAULT_GRANTS, "dpo": (...)}``). Raises ``ValueError`` for a
    ``within`` grant whose base action is itself only granted ``within`` another.
    """

    __slots__ = ("_grants", "_permission_actions")

    def __init__(self, grants: Mapping[str, Iterable[Grant]] | None = None) -> None:
        table = DEFAULT_GRANTS if grants is None else grants
        if not isinstance(table, Mapping):
            raise TypeError("grants must map role names to Grant objects")
        checked: dict[str, tuple[Grant, ...]] = {}
        for role, role_grants in table.items():
            if not isinstance(role, str) or not role:
                raise ValueError("role names must be non-empty strings")
            items = tuple(role_grants)
            if not all(isinstance(grant, Grant) for grant in items):
                raise TypeError(f"grants of role {role!r} must be Grant objects")
            checked[role] = items
        scoped = {g.action for items in checked.values() for g in items if g.scope is not None}
        for items in checked.values():
            for grant in items:
                if grant.within is not None and grant.within not in scoped:
                    raise ValueError(
                        f"{grant.action} is granted within {grant.within}, "
                        "which no role grants with a scope"
                    )
        self._grants = checked
        self._permission_actions = PERMISSION_ACTIONS | {
            g.action for items in checked.values() for g in items if g.within is not None
        }

    @property
    def grants(self) -> Mapping[str, tuple[Grant, ...]]:
        """The grant table in use."""
        return dict(self._grants)

    def __repr__(self) -> str:
        return f"RoleBasedPolicy(roles={sorted(self._grants)!r})"

    def _held(self, actor: Actor, action: Action) -> list[Grant]:
        return [
            grant
            for role in sorted(actor.roles)
            for grant in self._grants.get(role, ())
            if grant.action is action
        ]

    def _check(self, actor: Actor, action: Action, resource: Resource) -> AccessDecision:
        held = self._held(actor, action)
        if not held:
            reason = "permission_required" if action in self._permission_actions else "no_role"
            return AccessDecision(False, reason)
        widest: Scope | None = None
        unmasked = False
        allowed = False
        for grant in held:
            if grant.scope is not None:
                scopes = [(grant.scope, grant.masked)]
            else:
                base = self._held(actor, grant.within) if grant.within is not None else []
                scopes = [(b.scope, False) for b in base if b.scope is not None and not b.masked]
            for scope, masked in scopes:
                if widest is None or _WIDTH[scope] > _WIDTH[widest]:
                    widest = scope
                if _in_scope(scope, actor, resource):
                    allowed = True
                    unmasked = unmasked or not masked
        if not allowed:
            reason = "no_scope" if widest is None else _SCOPE_REASON.get(widest, "no_scope")
            return AccessDecision(False, reason)
        return AccessDecision(True, "granted", masked=not unmasked)

    def widest_scope(self, actor: Actor, action: Action | str) -> Scope | None:
        """The widest scope in which ``actor`` may perform ``action`` (masked reads count),
        ``None`` when nowhere: lists use it to read only what the actor may see (an actor with
        ``own`` scope, only the items assigned to them). See :class:`ScopedPolicy`."""
        if not isinstance(actor, Actor):
            raise TypeError("actor must be a custrec.security.Actor")
        widest: Scope | None = None
        for grant in self._held(actor, Action(action)):
            if grant.scope is not None:
                scopes = [grant.scope]
            else:
                base = self._held(actor, grant.within) if grant.within is not None else []
                scopes = [b.scope for b in base if b.scope is not None and not b.masked]
            for scope in scopes:
                if widest is None or _WIDTH[scope] > _WIDTH[widest]:
                    widest = scope
        return widest

    def decide(self, actor: Actor, action: Action | str, resource: Resource) -> AccessDecision:
        """Decide; ``action`` may be an :class:`Action` or its value.

        Raises ``TypeError`` for a non-:class:`Actor` or non-:class:`Resource` and ``ValueError``
        for an unknown action; a denial is a decision, not an exception.
        """
        if not isinstance(actor, Actor):
            raise TypeError("actor must be a custrec.security.Actor")
        if not isinstance(resource, Resource):
            raise TypeError("resource must be a custrec.security.Resource")
        what = Action(action)
        decision = self._check(actor, what, resource)
        if not decision.allowed:
            return decision
        if what in (Action.READ, Action.EXPORT):
            can_unmask = self._check(actor, Action.UNMASK, resource)
            return AccessDecision(True, "granted", masked=decision.masked or not can_unmask.allowed)
        return AccessDecision(True, "granted", masked=False)


def require(
    policy: AccessPolicy, actor: Actor, action: Action | str, resource: Resource
) -> AccessDecision:
    """Return the policy's decision if it allows the action; raise ``AccessDenied`` if not.

    The message names the actor id, the action, the customer id and the reason code; never
    personal data.
    """
    what = Action(action)
    decision = policy.decide(actor, what, resource)
    if not decision.allowed:
        target = f" customer {resource.customer_id}" if resource.customer_id is not None else ""
        raise AccessDenied(f"actor {actor.id} may not {what.value}{target} ({decision.reason})")
    return decision
