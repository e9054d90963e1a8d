"""Access control: the default role matrix, written out literally, and the policy's edges."""

from __future__ import annotations

import pytest

from custrec.errors import AccessDenied, CustrecError
from custrec.model.records import Customer, CustomerKind
from custrec.security import (
    DEFAULT_GRANTS,
    AccessDecision,
    Action,
    Actor,
    Grant,
    Resource,
    RoleBasedPolicy,
    Scope,
    require,
)

# The actor is always u1 of team "east". Resources:
OWN = Resource(customer_id="c-own", owner="u1", team="east")
TEAM = Resource(customer_id="c-team", owner="u2", team="east")
FOREIGN = Resource(customer_id="c-foreign", owner="u3", team="west")

# Cells: "ok" (allowed, clear), "masked" (allowed, masked), otherwise the denial reason.
# Columns: own customer, team customer, foreign customer.
MATRIX = """
staff               create      ok                   not_owner            not_owner
staff               read        masked               not_owner            not_owner
staff               update      ok                   not_owner            not_owner
staff               grade       ok                   not_owner            not_owner
staff               consent     ok                   not_owner            not_owner
staff               unmask      permission_required  permission_required  permission_required
staff               export      permission_required  permission_required  permission_required
staff               erase       permission_required  permission_required  permission_required
staff               audit_read  no_role              no_role              no_role
staff               manage_keys no_role              no_role              no_role
staff               retention   no_role              no_role              no_role
staff               sync        no_role              no_role              no_role
staff               define_fields no_role              no_role              no_role
staff               compliance  no_role              no_role              no_role

manager             create      ok                   ok                   not_in_team
manager             read        masked               masked               not_in_team
manager             update      ok                   ok                   not_in_team
manager             grade       ok                   ok                   not_in_team
manager             consent     ok                   ok                   not_in_team
manager             unmask      permission_required  permission_required  permission_required
manager             export      permission_required  permission_required  permission_required
manager             erase       permission_required  permission_required  permission_required
manager             audit_read  no_role              no_role              no_role
manager             manage_keys no_role              no_role              no_role
manager             retention   no_role              no_role              no_role
manager             sync        no_role              no_role              no_role
manager             define_fields no_role              no_role              no_role
manager             compliance  no_role              no_role              no_role

admin               create      ok                   ok                   ok
admin               read        masked               masked               masked
admin               update      ok                   ok                   ok
admin               grade       ok                   ok                   ok
admin               consent     ok                   ok                   ok
admin               unmask      permission_required  permission_required  permission_required
admin               export      permission_required  permission_required  permission_required
admin               erase       permission_required  permission_required  permission_required
admin               audit_read  no_role              no_role              no_role
admin               manage_keys ok                   ok                   ok
admin               retention   ok                   ok                   ok
admin               sync        ok                   ok                   ok
admin               define_fields ok                   ok                   ok
admin               compliance  ok                   ok                   ok

auditor             create      no_role              no_role              no_role
auditor             read        masked               masked               masked
auditor             update      no_role              no_role              no_role
auditor             grade       no_role              no_role              no_role
auditor             consent     no_role              no_role              no_role
auditor             unmask      permission_required  permission_required  permission_required
auditor             export      permission_required  permission_required  permission_required
auditor             erase       permission_required  permission_required  permission_required
auditor             audit_read  ok                   ok                   ok
auditor             manage_keys no_role              no_role              no_role
auditor             retention   no_role              no_role              no_role
auditor             sync        no_role              no_role              no_role
auditor             define_fields no_role              no_role              no_role
auditor             compliance  no_role              no_role              no_role

staff+unmask        create      ok                   not_owner            not_owner
staff+unmask        read        ok                   not_owner            not_owner
staff+unmask        update      ok                   not_owner            not_owner
staff+unmask        grade       ok                   not_owner            not_owner
staff+unmask        consent     ok                   not_owner            not_owner
staff+unmask        unmask      ok                   not_owner            not_owner
staff+unmask        export      permission_required  permission_required  permission_required
staff+unmask        erase       permission_required  permission_required  permission_required
staff+unmask        audit_read  no_role              no_role              no_role
staff+unmask        manage_keys no_role              no_role              no_role
staff+unmask        retention   no_role              no_role              no_role
staff+unmask        sync        no_role              no_role              no_role
staff+unmask        define_fields no_role              no_role              no_role
staff+unmask        compliance  no_role              no_role              no_role

staff+export        read        masked               not_owner            not_owner
staff+export        unmask      permission_required  permission_required  permission_required
staff+export        export      masked               not_owner            not_owner
staff+unmask+export export      ok                   not_owner            not_owner
staff+erase         erase       ok                   not_owner            not_owner
staff+erase         update      ok                   not_owner            not_owner

manager+unmask      read        ok                   ok                   not_in_team
manager+unmask      unmask      ok                   ok                   not_in_team
manager+export      export      masked               masked               not_in_team
manager+erase       erase       ok                   ok                   not_in_team

admin+unmask        read        ok                   ok                   ok
admin+unmask        unmask      ok                   ok                   ok
admin+unmask        erase       permission_required  permission_required  permission_required
admin+export        export      masked               masked               masked
admin+unmask+export export      ok                   ok                   ok
admin+erase         erase       ok                   ok                   ok

auditor+unmask      read        masked               masked               masked
auditor+unmask      unmask      no_scope             no_scope             no_scope
auditor+export      export      no_scope             no_scope             no_scope
auditor+erase       erase       no_scope             no_scope             no_scope

staff+manager       update      ok                   ok                   not_in_team
staff+auditor       read        masked               masked               masked
staff+auditor       update      ok                   not_owner            not_owner
staff+auditor+unmask read       ok                   masked               masked
staff+auditor+unmask unmask     ok                   not_owner            not_owner

unmask              read        no_role              no_role              no_role
unmask              unmask      no_scope             no_scope             no_scope
erase               erase       no_scope             no_scope             no_scope

superuser           create      no_role              no_role              no_role
superuser           read        no_role              no_role              no_role
superuser           update      no_role              no_role              no_role
superuser           grade       no_role              no_role              no_role
superuser           consent     no_role              no_role              no_role
superuser           unmask      permission_required  permission_required  permission_required
superuser           export      permission_required  permission_required  permission_required
superuser           erase       permission_required  permission_required  permission_required
superuser           audit_read  no_role              no_role              no_role
superuser           manage_keys no_role              no_role              no_role
superuser           retention   no_role              no_role              no_role
superuser           sync        no_role              no_role              no_role
superuser           define_fields no_role              no_role              no_role
superuser           compliance  no_role              no_role              no_role

-                   create      no_role              no_role              no_role
-                   read        no_role              no_role              no_role
-                   unmask      permission_required  permission_required  permission_required
-                   audit_read  no_role              no_role              no_role
sync                sync        ok                   ok                   ok
sync                read        no_role              no_role              no_role
compliance          compliance  ok                   ok                   ok
compliance          read        masked               masked               masked
compliance          audit_read  ok                   ok                   ok
compliance          update      no_role              no_role              no_role
compliance          export      permission_required  permission_required  permission_required
"""


def rows() -> list[tuple[str, str, str, str]]:
    parsed = []
    for line in MATRIX.strip().splitlines():
        if not line.strip():
            continue
        roles, action, *cells = line.split()
        assert len(cells) == 3, line
        for resource, cell in zip(("own", "team", "foreign"), cells, strict=True):
            parsed.append((roles, action, resource, cell))
    return parsed


RESOURCES = {"own": OWN, "team": TEAM, "foreign": FOREIGN}


def actor_with(roles: str) -> Actor:
    held = frozenset() if roles == "-" else frozenset(roles.split("+"))
    return Actor(id="u1", roles=held, team="east")


def expected_decision(cell: str) -> AccessDecision:
    if cell == "ok":
        return AccessDecision(True, "granted", masked=False)
    if cell == "masked":
        return AccessDecision(True, "granted", masked=True)
    return AccessDecision(False, cell, masked=False)


def test_matrix_covers_every_default_role_and_action() -> None:
    covered = {(roles, action) for roles, action, _, _ in rows()}
    for role in ("staff", "manager", "admin", "auditor", "superuser"):
        for action in Action:
            assert (role, action.value) in covered, (role, action)
    assert set(DEFAULT_GRANTS) == {
        "staff",
        "manager",
        "admin",
        "auditor",
        "unmask",
        "export",
        "erase",
        "sync",
        "compliance",
    }


@pytest.mark.parametrize(("roles", "action", "resource", "cell"), rows())
def test_role_matrix(roles: str, action: str, resource: str, cell: str) -> None:
    policy = RoleBasedPolicy()
    decision = policy.decide(actor_with(roles), Action(action), RESOURCES[resource])
    assert decision == expected_decision(cell)


def test_non_customer_actions_and_create() -> None:
    policy = RoleBasedPolicy()
    auditor = Actor(id="a1", roles={"auditor"})
    assert policy.decide(auditor, "audit_read", Resource()).allowed
    staff = Actor(id="u1", roles={"staff"}, team="east")
    assert policy.decide(staff, "create", Resource(owner="u1")).allowed
    assert policy.decide(staff, "create", Resource()).reason == "not_owner"  # unassigned


def test_manager_without_team_and_unowned_customers() -> None:
    policy = RoleBasedPolicy()
    lone = Actor(id="m1", roles={"manager"})
    assert policy.decide(lone, "update", Resource(customer_id="c", owner=None, team=None)) == (
        AccessDecision(False, "not_in_team")
    )
    assert policy.decide(lone, "update", Resource(customer_id="c", owner="m1")).allowed
    staff = Actor(id="u1", roles={"staff"})
    assert not policy.decide(staff, "read", Resource(customer_id="c")).allowed


def test_resource_of_a_customer() -> None:
    customer = Customer(id="c-9", kind=CustomerKind.INDIVIDUAL, name="x", owner="u1", team="east")
    assert Resource.of(customer) == Resource(customer_id="c-9", owner="u1", team="east")


def test_require_raises_access_denied_without_personal_data() -> None:
    policy = RoleBasedPolicy()
    staff = Actor(id="u1", roles={"staff"}, team="east")
    assert require(policy, staff, "update", OWN).allowed
    with pytest.raises(AccessDenied) as info:
        require(policy, staff, Action.UPDATE, FOREIGN)
    message = str(info.value)
    assert message == "actor u1 may not update customer c-foreign (not_owner)"
    assert isinstance(info.value, CustrecError) and isinstance(info.value, PermissionError)
    with pytest.raises(AccessDenied, match="may not audit_read \\(no_role\\)"):
        require(policy, staff, "audit_read", Resource())


def test_custom_grant_table() -> None:
    grants = {
        **DEFAULT_GRANTS,
        "dpo": (
            Grant(action=Action.READ, scope=Scope.ALL),
            Grant(action=Action.UNMASK, scope=Scope.ALL),
            Grant(action=Action.EXPORT, scope=Scope.ALL),
            Grant(action=Action.ERASE, scope=Scope.ALL),
        ),
    }
    policy = RoleBasedPolicy(grants)
    dpo = Actor(id="d1", roles={"dpo"})
    assert policy.decide(dpo, "read", FOREIGN) == AccessDecision(True, "granted", False)
    assert policy.decide(dpo, "erase", FOREIGN).allowed
    assert policy.decide(dpo, "update", FOREIGN).reason == "no_role"
    assert "dpo" in policy.grants


def test_grant_and_policy_validation() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Grant(action=Action.READ)
    with pytest.raises(ValueError, match="exactly one"):
        Grant(action=Action.READ, scope=Scope.ALL, within=Action.UPDATE)
    with pytest.raises(ValueError, match="its own action"):
        Grant(action=Action.UNMASK, within=Action.UNMASK)
    with pytest.raises(ValueError, match="fly"):
        Grant(action="fly", scope=Scope.ALL)
    assert Grant(action="read", scope="own") == Grant(action=Action.READ, scope=Scope.OWN)
    with pytest.raises(ValueError, match="which no role grants with a scope"):
        RoleBasedPolicy({"x": (Grant(action=Action.ERASE, within=Action.UPDATE),)})
    with pytest.raises(TypeError):
        RoleBasedPolicy({"x": ("read",)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="role names"):
        RoleBasedPolicy({"": ()})
    policy = RoleBasedPolicy()
    with pytest.raises(ValueError, match="fly"):
        policy.decide(Actor(id="u1"), "fly", OWN)
    with pytest.raises(TypeError):
        policy.decide("u1", "read", OWN)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        policy.decide(Actor(id="u1"), "read", {"owner": "u1"})  # type: ignore[arg-type]
    assert "staff" in repr(policy)


@pytest.mark.parametrize(
    ("roles", "action", "scope"),
    [
        ("staff", "read", "own"),
        ("manager", "read", "team"),
        ("admin", "read", "all"),
        ("auditor", "read", "all"),  # masked reads count
        ("staff+manager", "update", "team"),
        ("staff+unmask", "unmask", "own"),  # within the unmasked read
        ("auditor+unmask", "unmask", None),  # a masked read scopes nothing
        ("sync", "read", None),
        ("-", "read", None),
    ],
)
def test_the_widest_scope_is_the_reach_decide_allows(
    roles: str, action: str, scope: str | None
) -> None:
    policy = RoleBasedPolicy()
    actor = actor_with(roles)
    found = policy.widest_scope(actor, action)
    assert (found.value if found is not None else None) == scope
    allowed = {
        name
        for name, resource in RESOURCES.items()
        if policy.decide(actor, action, resource).allowed
    }
    reach = {None: set(), "own": {"own"}, "team": {"own", "team"}, "all": set(RESOURCES)}
    assert allowed == reach[scope]
