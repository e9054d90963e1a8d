"""Personal-information incidents (PIPL art. 57) through the public API: the record and its
moves, the affected customers read from the audit log (a hand-built scenario and a brute force
over generated histories), the notification list masked and unmasked, notices and reports
tracked and audited, bad input refused with nothing written, erased and merged customers."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry, SQLiteStore
from custrec.compliance import IncidentStatus
from custrec.compliance.incidents import ACCESS_ACTIONS, categories_of
from custrec.errors import (
    AccessDenied,
    Erased,
    InvalidState,
    InvalidTransition,
    NotFound,
    PlaintextStorageWarning,
)
from custrec.model.records import DataCategory
from custrec.storage import Store
from custrec.testing import TickingClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAFF = Actor(id="u-7", roles={"staff", "unmask", "export"})  # the staff member involved
OTHER = Actor(id="u-8", roles={"staff"})  # masked reads of their own customers
DPO = Actor(id="dpo", roles={"admin", "unmask", "erase", "auditor"})  # may unmask anyone
OFFICER = Actor(id="cmp", roles={"compliance"})  # compliance right, masked reads only
CLERK = Actor(id="clerk", roles={"staff"})  # no compliance right

IDENTITY, CONTACT, IDENTIFIER, LOCATION, COMMUNICATION = (
    DataCategory.IDENTITY,
    DataCategory.CONTACT,
    DataCategory.IDENTIFIER,
    DataCategory.LOCATION,
    DataCategory.COMMUNICATION,
)


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"王{n}明",
        "contacts": [{"phones": [f"1390013{n:04d}"]}],
        **extra,
    }


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock(T0)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "crm.sqlite")
    yield s
    s.close()


@pytest.fixture
def registry(store: Store, clock: TickingClock) -> Registry:
    return Registry(store, keyring=KeyRing.generate(), clock=clock)


def snapshot(store: Store) -> tuple[Any, ...]:
    """Everything an incident call could write: the audit log, incidents and their links."""
    with store.transaction(readonly=True) as s:
        audit = s.audit.read(limit=1_000_000)
        incidents = s.documents.list("incident", limit=1_000_000)
        links = [s.documents.links("incident", d.id, limit=1_000_000) for d in incidents]
    return audit, incidents, links


def actions_of(store: Store) -> list[str]:
    with store.transaction(readonly=True) as s:
        return [e.action for e in s.audit.read(limit=1_000_000)]


# ------------------------------------------------------------------------ the scenario


@pytest.fixture
def scenario(registry: Registry, clock: TickingClock) -> dict[str, Any]:
    """The staff member u-7 (who may unmask and export) reads customers A, B and C in the
    clear inside the window, exports A, changes B's e-mail and C's stage; D is read only
    before and after the window; u-8 reads its own F masked inside the window."""
    a = registry.customers.intake(
        person(
            1,
            contacts=[{"phones": ["13900130001"], "emails": ["w1@example.cn"]}],
            addresses=[{"city": "上海", "street": "南京路1号"}],
            notes="prefers calls after 6pm",
        ),
        actor=STAFF,
    )
    b = registry.customers.intake(person(2), actor=STAFF)
    c = registry.customers.intake(
        person(
            3,
            identifiers=[{"scheme": "CN-RIC", "value": "11010519491231002X"}],
            addresses=[{"city": "北京", "street": "长安街3号"}],
        ),
        actor=STAFF,
    )
    d = registry.customers.intake(person(4), actor=STAFF)
    f = registry.customers.intake(person(6), actor=OTHER)
    registry.customers.get(d.id, actor=STAFF)  # before the window
    start = clock.advance(minutes=1)
    for customer in (a, b, c):
        registry.customers.get(customer.id, actor=STAFF)
    registry.privacy.export_subject(a.id, actor=STAFF)
    registry.customers.update(
        b.id,
        {"contacts": [{"phones": ["13900130002"], "emails": ["w2@example.cn"]}]},
        actor=STAFF,
        reason="customer gave an e-mail",
    )
    registry.customers.update(c.id, {"stage": "prospect"}, actor=STAFF, reason="first call")
    shown = registry.customers.get(f.id, actor=OTHER)  # masked: nothing personal shown
    assert shown.name == "王**"
    end = clock()
    clock.advance(minutes=1)
    registry.customers.get(d.id, actor=STAFF)  # after the window
    found = registry.incidents.open(
        title="Laptop of a sales rep stolen",
        description="CRM session open on the laptop",
        discovered_at=clock(),
        window_start=start,
        window_end=end,
        categories=["contact", "identity"],
        actors=["u-7"],
        actor=OFFICER,
    )
    return {"a": a, "b": b, "c": c, "d": d, "f": f, "incident": found}


def test_the_affected_customers_and_categories_are_read_from_the_audit_log(
    registry: Registry, scenario: dict[str, Any], store: Store
) -> None:
    a, b, c = scenario["a"], scenario["b"], scenario["c"]
    incident = registry.incidents.assess(scenario["incident"].id, actor=OFFICER)

    assessment = incident.assessment
    assert assessment is not None
    assert (assessment.affected, assessment.entries) == (3, 5)
    assert assessment.actors == ("u-7",)
    assert assessment.categories == (IDENTITY, CONTACT, IDENTIFIER, LOCATION, COMMUNICATION)
    assert (incident.pending, incident.notified, incident.unreachable) == (3, 0, 0)
    found = {x.customer_id: x for x in registry.incidents.affected(incident.id, actor=OFFICER)}
    assert set(found) == {a.id, b.id, c.id}  # not D (outside), not F (a masked read)
    assert found[a.id].categories == (IDENTITY, CONTACT, LOCATION, COMMUNICATION)
    assert found[b.id].categories == (IDENTITY, CONTACT)
    assert found[c.id].categories == (IDENTITY, CONTACT, IDENTIFIER, LOCATION)
    summary = {
        cid: [(e.actor_id, e.action, e.count, e.categories) for e in x.exposures]
        for cid, x in found.items()
    }
    assert summary == {
        a.id: [
            ("u-7", "customer.export", 1, (IDENTITY, CONTACT, LOCATION, COMMUNICATION)),
            ("u-7", "customer.unmask", 1, (IDENTITY, CONTACT, LOCATION, COMMUNICATION)),
        ],
        b.id: [
            ("u-7", "customer.unmask", 1, (IDENTITY, CONTACT)),
            ("u-7", "customer.update", 1, (CONTACT,)),
        ],
        c.id: [("u-7", "customer.unmask", 1, (IDENTITY, CONTACT, IDENTIFIER, LOCATION))],
    }
    assert all(x.state == "pending" and not x.erased for x in found.values())
    window = scenario["incident"]
    for x in found.values():
        for e in x.exposures:
            assert window.window_start <= e.first_at <= e.last_at <= window.window_end
    assert "incident.assess" in actions_of(store)


def test_a_masked_read_affects_no_one_even_when_its_actor_is_involved(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    incident = registry.incidents.assess(scenario["incident"].id, actor=OFFICER, actors=["u-8"])
    assert incident.assessment is not None
    assert (incident.assessment.affected, incident.assessment.entries) == (0, 0)
    assert registry.incidents.affected(incident.id, actor=OFFICER) == []


def test_assessing_again_replaces_the_result_and_keeps_the_notices(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    a, b, c = scenario["a"], scenario["b"], scenario["c"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)
    registry.incidents.record_notice(incident_id, b.id, channel="sms", actor=OFFICER)

    again = registry.incidents.assess(incident_id, actor=OFFICER, actions=["customer.export"])

    assert again.assessment is not None and again.assessment.actions == ("customer.export",)
    assert [x.customer_id for x in registry.incidents.affected(incident_id, actor=OFFICER)] == [
        a.id
    ]
    dropped = registry.incidents.affected(incident_id, actor=OFFICER, state="dropped")
    assert sorted(x.customer_id for x in dropped) == sorted([b.id, c.id])
    assert [n.channel for n in next(x for x in dropped if x.customer_id == b.id).notices] == ["sms"]
    with pytest.raises(InvalidState, match="no longer affected"):
        registry.incidents.record_notice(incident_id, c.id, channel="sms", actor=OFFICER)

    third = registry.incidents.assess(incident_id, actor=OFFICER)  # everyone back
    assert (third.pending, third.notified) == (2, 1)
    back = {x.customer_id: x for x in registry.incidents.affected(incident_id, actor=OFFICER)}
    assert back[b.id].state == "notified" and len(back[b.id].notices) == 1


# ------------------------------------------------------------------- the brute force

ADMINS = {
    "a1": Actor(id="a1", roles={"admin", "unmask", "export"}),
    "a2": Actor(id="a2", roles={"admin", "export"}),  # masked reads and exports
    "a3": Actor(id="a3", roles={"admin", "unmask"}),  # exports refused
}
LEAF = {
    "name": {IDENTITY},
    "phones": {CONTACT},
    "emails": {CONTACT},
    "wechat": {CONTACT},
    "street": {LOCATION},
    "district": {LOCATION},
    "postal_code": {LOCATION},
    "notes": {COMMUNICATION},
    "value": {IDENTIFIER},
    "custom": {DataCategory.CUSTOM},
}
WHOLE = {"contacts": {IDENTITY, CONTACT}, "addresses": {LOCATION}, "identifiers": {IDENTIFIER}}


def brute_categories(fields: tuple[str, ...]) -> set[DataCategory]:
    """Categories by the last name in a path (a whole contact, address or identifier by its
    list): written apart from categories_of, for the paths these histories produce."""
    found: set[DataCategory] = set()
    for path in fields:
        last = re.sub(r"\[\d+\]", "", path).split(".")[-1]
        found |= LEAF.get(last, set())
        if re.fullmatch(r"[a-z_]+(\[\d+\])?", path):
            found |= WHOLE.get(path.split("[")[0], set())
    return found


def run(registry: Registry, who: str, op: str, customer_id: str, n: int) -> None:
    actor = ADMINS[who]
    try:
        if op == "read":
            registry.customers.get(customer_id, actor=actor)
        elif op == "export":
            registry.privacy.export_subject(customer_id, actor=actor)
        elif op == "rename":
            registry.customers.update(customer_id, {"name": f"李{n}"}, actor=actor, reason="r")
        elif op == "stage":
            stage = ("prospect", "active")[n % 2]
            registry.customers.update(customer_id, {"stage": stage}, actor=actor, reason="r")
        elif op == "phone":
            contacts = [{"phones": [f"1380013{n:04d}"]}]
            registry.customers.update(customer_id, {"contacts": contacts}, actor=actor, reason="r")
        else:
            registry.customers.update(customer_id, {"notes": f"n{n}"}, actor=actor, reason="r")
    except AccessDenied:
        pass  # a refused export: audited as denied.export, which exposes nothing


PRODUCED = [
    "customer.read",
    "customer.unmask",
    "customer.export",
    "customer.update",
    "customer.merge",
]
OPS = st.lists(
    st.tuples(
        st.sampled_from(sorted(ADMINS)),
        st.sampled_from(["read", "export", "rename", "stage", "phone", "notes"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the audit log a few entries at a time, so that its paging is exercised."""
    monkeypatch.setattr("custrec.services.incidents._SCAN_PAGE", 3)


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    ops=OPS,
    start=st.integers(0, 60),
    length=st.integers(0, 60),
    actors=st.one_of(st.none(), st.sets(st.sampled_from(sorted(ADMINS)), min_size=1)),
    actions=st.one_of(st.none(), st.sets(st.sampled_from(PRODUCED), min_size=1)),
    page=st.integers(1, 3),
)
def test_assess_matches_a_brute_force_over_the_whole_log(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    ops: list[tuple[str, str, int]],
    start: int,
    length: int,
    actors: set[str] | None,
    actions: set[str] | None,
    page: int,
) -> None:
    store: Store = (
        MemoryStore()
        if backend == "memory"
        else SQLiteStore(tmp_path_factory.mktemp("brute") / "crm.sqlite")
    )
    try:
        check_against_brute_force(store, ops, start, length, actors, actions, page)
    finally:
        store.close()


def check_against_brute_force(
    store: Store,
    ops: list[tuple[str, str, int]],
    start: int,
    length: int,
    actors: set[str] | None,
    actions: set[str] | None,
    page: int,
) -> None:
    clock = TickingClock(T0)
    registry = Registry(store, keyring=KeyRing.generate(), clock=clock)
    ids = [
        registry.customers.intake(
            person(n, addresses=[{"city": "上海", "street": f"路{n}号"}]), actor=ADMINS["a1"]
        ).id
        for n in range(3)
    ]
    base = clock.now
    for step, (who, op, target) in enumerate(ops):
        run(registry, who, op, ids[target], step)
    span = int((clock.now - base).total_seconds())  # whole seconds: bounds fall on entries
    window_start = base + timedelta(seconds=start % (span + 1))
    window_end = min(window_start + timedelta(seconds=length), clock.now)
    incident = registry.incidents.open(
        title="generated",
        discovered_at=clock.now,
        window_start=window_start,
        window_end=window_end,
        actor=OFFICER,
    )

    expected: dict[str, dict[tuple[str, str], list[Any]]] = {}
    entries = 0
    with store.transaction(readonly=True) as session:
        log = session.audit.read(limit=1_000_000)
    for e in log:
        if not (window_start <= e.at <= window_end) or e.customer_id is None:
            continue
        if e.outcome != "ok" or e.action not in (actions or ACCESS_ACTIONS):
            continue
        if actors is not None and e.actor_id not in actors:
            continue
        categories = brute_categories(e.fields)
        assert categories == set(categories_of(e.fields))
        if not categories:
            continue
        entries += 1
        tally = expected.setdefault(e.customer_id, {}).setdefault(
            (e.actor_id, e.action), [0, e.at, e.at, set()]
        )
        tally[0] += 1
        tally[1], tally[2] = min(tally[1], e.at), max(tally[2], e.at)
        tally[3] |= categories

    assessed = registry.incidents.assess(incident.id, actor=OFFICER, actors=actors, actions=actions)

    got: dict[str, dict[tuple[str, str], list[Any]]] = {}
    after = None
    while True:
        batch = registry.incidents.affected(incident.id, actor=OFFICER, after=after, limit=page)
        for x in batch:
            assert x.customer_id not in got
            got[x.customer_id] = {
                (e.actor_id, e.action): [e.count, e.first_at, e.last_at, set(e.categories)]
                for e in x.exposures
            }
            assert set(x.categories) == set().union(*(e.categories for e in x.exposures))
        if len(batch) < page:
            break
        after = batch[-1].customer_id
    assert got == expected
    assert assessed.assessment is not None
    assert (assessed.assessment.affected, assessed.assessment.entries) == (len(expected), entries)
    assert assessed.pending == len(expected)


# ------------------------------------------------------------------ notification list


def test_the_notification_list_is_masked_unless_the_reader_may_unmask(
    registry: Registry, scenario: dict[str, Any], store: Store
) -> None:
    a = scenario["a"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)

    masked = registry.incidents.notification_list(incident_id, actor=OFFICER)
    clear = registry.incidents.notification_list(incident_id, actor=DPO)

    assert [e.customer_id for e in masked] == [e.customer_id for e in clear]
    assert all(e.masked for e in masked) and not any(e.masked for e in clear)
    mine = {e.customer_id: e for e in clear}[a.id]
    assert [(c.kind, c.path, c.value) for c in mine.channels] == [
        ("phone", "contacts[0].phones", "+8613900130001"),
        ("email", "contacts[0].emails", "w1@example.cn"),
        ("address", "addresses[0]", "上海 南京路1号"),
    ]
    hidden = {e.customer_id: e for e in masked}[a.id]
    assert [c.value for c in hidden.channels] == ["+86139****0001", "w*@example.cn", "上海 *****"]
    assert "+8613900130001" not in repr(mine) and "w1@example.cn" not in repr(mine)
    assert mine.reachable and mine.reason is None
    with store.transaction(readonly=True) as s:
        reads = [
            (e.actor_id, e.action, e.fields)
            for e in s.audit.read(customer_id=a.id, limit=1000)
            if e.reason == f"incident {incident_id}"
        ]
    assert reads == [
        ("cmp", "customer.read", ()),
        (
            "dpo",
            "customer.unmask",
            ("contacts[0].phones", "contacts[0].emails", "addresses[0].street"),
        ),
    ]


def test_a_later_assessment_sees_an_unmasked_notification_list(
    registry: Registry, scenario: dict[str, Any], clock: TickingClock
) -> None:
    first = scenario["incident"]
    registry.incidents.assess(first.id, actor=OFFICER)
    start = clock()
    registry.incidents.notification_list(first.id, actor=DPO)
    second = registry.incidents.open(
        title="DPO laptop",
        discovered_at=clock(),
        window_start=start,
        window_end=clock.now,
        actors=["dpo"],
        actor=OFFICER,
    )
    assessed = registry.incidents.assess(second.id, actor=OFFICER)
    assert assessed.assessment is not None
    assert assessed.assessment.categories == (CONTACT, LOCATION)


# ------------------------------------------------------------------ notices and reports


def test_notices_and_reports_are_tracked_and_audited(
    registry: Registry, scenario: dict[str, Any], store: Store, clock: TickingClock
) -> None:
    a = scenario["a"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)
    sent = clock()

    notified = registry.incidents.record_notice(
        incident_id, a.id, channel="email", actor=OFFICER, sent_at=sent, reference="msg-1"
    )

    assert notified.state == "notified"
    assert [(n.channel, n.sent_at, n.by, n.reference) for n in notified.notices] == [
        ("email", sent, "cmp", "msg-1")
    ]
    again = registry.incidents.record_notice(incident_id, a.id, channel="post", actor=OFFICER)
    assert [n.channel for n in again.notices] == ["email", "post"]
    listed = {
        e.customer_id: e for e in registry.incidents.notification_list(incident_id, actor=OFFICER)
    }
    assert [n.channel for n in listed[a.id].notices] == ["email", "post"]
    assert [
        x.customer_id
        for x in registry.incidents.affected(incident_id, actor=OFFICER, state="notified")
    ] == [a.id]

    registry.incidents.move(incident_id, "contained", actor=OFFICER, reason="wiped remotely")
    with pytest.raises(InvalidState, match="authority"):
        registry.incidents.move(incident_id, "notified", actor=OFFICER, reason="done")
    reported = registry.incidents.report_to_authority(
        incident_id, authority="Shanghai CAC", actor=OFFICER, reference="SH-2026-7"
    )
    assert [(r.authority, r.reference, r.by) for r in reported.reports] == [
        ("Shanghai CAC", "SH-2026-7", "cmp")
    ]
    done = registry.incidents.move(
        incident_id, IncidentStatus.NOTIFIED, actor=OFFICER, reason="customers and authority told"
    )
    assert done.status is IncidentStatus.NOTIFIED
    assert [(h.status, h.by) for h in done.history] == [
        (IncidentStatus.CONTAINED, "cmp"),
        (IncidentStatus.NOTIFIED, "cmp"),
    ]
    assert (done.notified, done.pending) == (1, 2)
    assert [i.id for i in registry.incidents.incidents(actor=OFFICER, status="notified")] == [
        incident_id
    ]
    assert registry.incidents.incidents(actor=OFFICER, status="open") == []
    with store.transaction(readonly=True) as s:
        mine = [
            (e.action, e.customer_id)
            for e in s.audit.read(limit=1_000_000)
            if e.action.startswith("incident.") and e.action != "incident.affected"
        ]
    assert mine == [
        ("incident.open", None),
        ("incident.assess", None),
        ("incident.notice", a.id),
        ("incident.notice", a.id),
        ("incident.notification_list", None),
        ("incident.move", None),
        ("incident.report", None),
        ("incident.move", None),
    ]
    closed = registry.incidents.move(incident_id, "closed", actor=OFFICER, reason="handled")
    assert closed.status is IncidentStatus.CLOSED
    with pytest.raises(InvalidState, match="closed"):
        registry.incidents.record_notice(incident_id, a.id, channel="sms", actor=OFFICER)
    with pytest.raises(InvalidState, match="closed"):
        registry.incidents.assess(incident_id, actor=OFFICER)


# --------------------------------------------------------------- bad input, refusals


def _open(registry: Registry, now: datetime, **changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "title": "t",
        "discovered_at": now,
        "window_start": now - timedelta(hours=1),
        "window_end": now,
        "actor": OFFICER,
    }
    return registry.incidents.open(**{**arguments, **changes})


Call = Callable[[Registry, dict[str, Any], datetime], Any]
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _move(to: str, reason: str = "x") -> Call:
    return lambda r, s, now: r.incidents.move(s["incident"].id, to, actor=OFFICER, reason=reason)


def _notice(who: str = "a", **options: Any) -> Call:
    def call(r: Registry, s: dict[str, Any], now: datetime) -> Any:
        given = {"channel": "sms", **{k: v(now) if callable(v) else v for k, v in options.items()}}
        return r.incidents.record_notice(s["incident"].id, s[who].id, actor=OFFICER, **given)

    return call


def _report(**options: Any) -> Call:
    def call(r: Registry, s: dict[str, Any], now: datetime) -> Any:
        given = {
            "authority": "CAC",
            **{k: v(now) if callable(v) else v for k, v in options.items()},
        }
        return r.incidents.report_to_authority(s["incident"].id, actor=OFFICER, **given)

    return call


def _assess(**options: Any) -> Call:
    return lambda r, s, now: r.incidents.assess(s["incident"].id, actor=OFFICER, **options)


BAD: dict[str, tuple[type[Exception], Call]] = {
    "window in the future": (ValueError, lambda r, s, now: _open(r, now, window_end=now + DAY)),
    "window ends before it starts": (
        ValueError,
        lambda r, s, now: _open(r, now, window_start=now, window_end=now - HOUR),
    ),
    "discovered in the future": (
        ValueError,
        lambda r, s, now: _open(r, now, discovered_at=now + HOUR),
    ),
    "naive window": (
        ValueError,
        lambda r, s, now: _open(r, now, window_start=datetime(2026, 1, 1)),
    ),
    "a date for an instant": (TypeError, lambda r, s, now: _open(r, now, discovered_at=now.date())),
    "unknown category": (ValueError, lambda r, s, now: _open(r, now, categories=["health"])),
    "one string of categories": (TypeError, lambda r, s, now: _open(r, now, categories="contact")),
    "blank title": (ValueError, lambda r, s, now: _open(r, now, title="  ")),
    "title too long": (ValueError, lambda r, s, now: _open(r, now, title="t" * 201)),
    "description too long": (
        ValueError,
        lambda r, s, now: _open(r, now, description="d" * 10_001),
    ),
    "blank actor id": (ValueError, lambda r, s, now: _open(r, now, actors=["u-7", " "])),
    "not an actor": (TypeError, lambda r, s, now: _open(r, now, actor="cmp")),
    "unknown status": (ValueError, _move("archived")),
    "transition not allowed": (InvalidTransition, _move("notified")),
    "move without a reason": (ValueError, _move("contained", reason=" ")),
    "unknown incident": (
        NotFound,
        lambda r, s, now: r.incidents.move("nope", "contained", actor=OFFICER, reason="x"),
    ),
    "unknown action": (ValueError, _assess(actions=["customer.peek"])),
    "no actions": (ValueError, _assess(actions=[])),
    "no actors": (ValueError, _assess(actors=[])),
    "unknown channel": (ValueError, _notice(channel="pigeon")),
    "channel too long": (ValueError, _notice(channel="s" * 51)),
    "notice reference too long": (ValueError, _notice(reference="r" * 201)),
    "notice in the future": (ValueError, _notice(sent_at=lambda now: now + DAY)),
    "notice before discovery": (ValueError, _notice(sent_at=lambda now: now - DAY)),
    "customer not affected": (NotFound, _notice("d")),
    "blank authority": (ValueError, _report(authority=" ")),
    "authority too long": (ValueError, _report(authority="a" * 201)),
    "report reference too long": (ValueError, _report(reference="r" * 201)),
    "report in the future": (ValueError, _report(sent_at=lambda now: now + HOUR)),
    "unknown state": (
        ValueError,
        lambda r, s, now: r.incidents.affected(s["incident"].id, actor=OFFICER, state="done"),
    ),
    "zero limit": (
        ValueError,
        lambda r, s, now: r.incidents.notification_list(s["incident"].id, actor=OFFICER, limit=0),
    ),
    "unknown status filter": (
        ValueError,
        lambda r, s, now: r.incidents.incidents(actor=OFFICER, status="gone"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_raises_a_typed_error_and_writes_nothing(
    registry: Registry, scenario: dict[str, Any], store: Store, clock: TickingClock, case: str
) -> None:
    registry.incidents.assess(scenario["incident"].id, actor=OFFICER)
    error, call = BAD[case]
    now = clock()
    before = snapshot(store)
    with pytest.raises(error):
        call(registry, scenario, now)
    assert snapshot(store) == before


def test_free_text_is_bounded_and_the_limits_are_allowed(
    registry: Registry, scenario: dict[str, Any], clock: TickingClock
) -> None:
    now = clock()
    incident = _open(registry, now, title="t" * 200, description="d" * 10_000)
    assert (len(incident.title), len(incident.description)) == (200, 10_000)
    with pytest.raises(ValueError, match="title must be at most 200 characters"):
        _open(registry, now, title="t" * 201)
    registry.incidents.report_to_authority(
        incident.id, authority="a" * 200, reference="r" * 200, actor=OFFICER
    )
    for channel, message in (("s" * 51, "at most 50"), ("13900130001", "unknown notice channel")):
        with pytest.raises(ValueError, match=message) as raised:
            _notice(channel=channel)(registry, scenario, now)
        assert channel not in str(raised.value)  # a phone number given by mistake


PERSONAL = "张伟 13800138000"  # what a caller may type into the wrong argument

UNKNOWN_VALUES: dict[str, tuple[str, Call]] = {
    # the argument, then the call; the message names the argument and the allowed values
    "categories": (
        "identity, contact",
        lambda r, s, now: _open(r, now, categories=["contact", PERSONAL]),
    ),
    "status": (
        "open, contained",
        lambda r, s, now: r.incidents.incidents(actor=OFFICER, status=PERSONAL),
    ),
    "to": ("open, contained", _move(PERSONAL)),
    "state": (
        "pending, notified",
        lambda r, s, now: r.incidents.affected(s["incident"].id, actor=OFFICER, state=PERSONAL),
    ),
    "actions": ("customer.read, customer.unmask", _assess(actions=["customer.read", PERSONAL])),
}


@pytest.mark.parametrize("argument", sorted(UNKNOWN_VALUES))
def test_an_unknown_value_is_named_by_its_argument_never_repeated(
    registry: Registry, scenario: dict[str, Any], clock: TickingClock, argument: str
) -> None:
    allowed, call = UNKNOWN_VALUES[argument]
    with pytest.raises(ValueError, match=f"^{argument} must ") as raised:
        call(registry, scenario, clock())
    message = str(raised.value)
    assert allowed in message
    for part in (PERSONAL, "张伟", "13800138000"):
        assert part not in message and part not in repr(raised.value.args)


def test_a_discovery_before_the_window_starts_is_allowed(
    registry: Registry, clock: TickingClock
) -> None:
    now = clock()  # a stolen password reported at once, used by someone an hour later
    incident = _open(registry, now - 2 * HOUR, window_start=now - HOUR, window_end=now)
    assert incident.discovered_at < incident.window_start


def test_a_refusal_writes_only_its_denial(
    registry: Registry, scenario: dict[str, Any], store: Store, clock: TickingClock
) -> None:
    incident_id = scenario["incident"].id
    now = clock()
    for call, denied in (
        (lambda: _open(registry, now, actor=CLERK), "denied.compliance"),
        (lambda: registry.incidents.assess(incident_id, actor=CLERK), "denied.compliance"),
        (
            lambda: registry.incidents.assess(incident_id, actor=Actor(id="adm", roles={"admin"})),
            "denied.audit_read",
        ),
        (lambda: registry.incidents.affected(incident_id, actor=CLERK), "denied.compliance"),
    ):
        audit, incidents, links = snapshot(store)
        with pytest.raises(AccessDenied):
            call()
        after = snapshot(store)
        assert after[1:] == (incidents, links)
        assert [e.action for e in after[0][len(audit) :]] == [denied]


# ---------------------------------------------------------------- erased and merged


def test_an_erased_customer_is_listed_as_unreachable(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    a, b = scenario["a"], scenario["b"]
    incident_id = scenario["incident"].id
    registry.privacy.erase(b.id, actor=DPO, reason="subject asked")  # before the assessment
    assessed = registry.incidents.assess(incident_id, actor=OFFICER)
    assert (assessed.pending, assessed.unreachable) == (2, 1)
    registry.privacy.erase(a.id, actor=DPO, reason="subject asked")  # after it

    found = {x.customer_id: x for x in registry.incidents.affected(incident_id, actor=OFFICER)}
    for gone in (a.id, b.id):
        assert found[gone].erased
        assert (found[gone].categories, found[gone].exposures) == ((), ())
        assert found[gone].state == "unreachable"
    listed = {
        e.customer_id: e for e in registry.incidents.notification_list(incident_id, actor=DPO)
    }
    assert (listed[a.id].reason, listed[b.id].reason) == ("erased", "erased")
    assert not listed[a.id].reachable and listed[a.id].channels == ()
    for gone in (a.id, b.id):
        with pytest.raises(Erased):
            registry.incidents.record_notice(incident_id, gone, channel="sms", actor=OFFICER)
    again = registry.incidents.assess(incident_id, actor=OFFICER)
    assert (again.pending, again.unreachable) == (1, 2)


def test_a_customer_erased_after_the_assessment_is_unreachable_not_pending(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    a, b, c = scenario["a"], scenario["b"], scenario["c"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)
    registry.incidents.record_notice(incident_id, c.id, channel="sms", actor=OFFICER)
    receipt = registry.privacy.erase(a.id, actor=DPO, reason="subject asked")
    assert ("incidents", "1 now unreachable") in [(x.target, x.action) for x in receipt.actions]
    registry.privacy.erase(c.id, actor=DPO, reason="subject asked")  # told before: stays told

    incident = registry.incidents.incident(incident_id, actor=OFFICER)
    assert (incident.pending, incident.notified, incident.unreachable) == (1, 1, 1)
    unreachable = registry.incidents.affected(incident_id, actor=OFFICER, state="unreachable")
    assert [x.customer_id for x in unreachable] == [a.id]
    listed = registry.incidents.notification_list(incident_id, actor=OFFICER)
    assert {e.customer_id: (e.state, e.reason) for e in listed} == {
        a.id: ("unreachable", "erased"),
        b.id: ("pending", None),
        c.id: ("notified", "erased"),
    }
    with pytest.raises(Erased):
        registry.incidents.record_notice(incident_id, a.id, channel="sms", actor=OFFICER)
    # the loop of docs/incidents.md: notify those still pending
    for entry in registry.incidents.notification_list(incident_id, actor=OFFICER):
        if entry.state == "pending":
            registry.incidents.record_notice(
                incident_id, entry.customer_id, channel="sms", actor=OFFICER
            )
    registry.incidents.move(incident_id, "contained", actor=OFFICER, reason="revoked")
    registry.incidents.report_to_authority(incident_id, authority="CAC", actor=OFFICER)
    done = registry.incidents.move(incident_id, "notified", actor=OFFICER, reason="told")
    assert (done.pending, done.notified, done.unreachable) == (0, 2, 1)
    assert [x.customer_id for x in registry.incidents.affected(incident_id, actor=OFFICER)] == (
        sorted([a.id, b.id, c.id])
    )


def test_assessing_again_keeps_an_erased_customer_who_was_told_notified(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    a = scenario["a"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)
    registry.incidents.record_notice(incident_id, a.id, channel="sms", actor=OFFICER)
    registry.privacy.erase(a.id, actor=DPO, reason="subject asked")
    again = registry.incidents.assess(incident_id, actor=OFFICER)
    assert (again.pending, again.notified, again.unreachable) == (2, 1, 0)


def test_replaying_erasures_makes_a_restored_pending_customer_unreachable(
    registry: Registry, scenario: dict[str, Any], store: Store
) -> None:
    a = scenario["a"]
    incident_id = scenario["incident"].id
    registry.incidents.assess(incident_id, actor=OFFICER)
    registry.privacy.erase(a.id, actor=DPO, reason="subject asked")
    with store.transaction() as s:  # what a restore of the data from before the erasure leaves
        link = s.documents.get_link("incident", incident_id, a.id)
        s.documents.update_link(attrs.evolve(link, state="pending"), expected_version=link.version)
        s.commit()
    assert registry.incidents.incident(incident_id, actor=OFFICER).pending == 3
    registry.privacy.replay_erasures(actor=Actor(id="keys", roles={"admin"}))
    incident = registry.incidents.incident(incident_id, actor=OFFICER)
    assert (incident.pending, incident.unreachable) == (2, 1)


def test_a_merged_customer_counts_for_the_survivor(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    a, c, d = scenario["a"], scenario["c"], scenario["d"]
    incident_id = scenario["incident"].id
    registry.matching.merge(d.id, [c.id], actor=DPO, reason="same person")  # before
    registry.incidents.assess(incident_id, actor=OFFICER)
    registry.matching.merge(d.id, [a.id], actor=DPO, reason="same person")  # after

    found = {x.customer_id: x for x in registry.incidents.affected(incident_id, actor=OFFICER)}
    assert set(found) == {scenario["b"].id, d.id}
    assert found[d.id].categories == (IDENTITY, CONTACT, IDENTIFIER, LOCATION)  # moved: D kept C's
    notice = registry.incidents.record_notice(incident_id, c.id, channel="sms", actor=OFFICER)
    assert notice.customer_id == d.id


def test_an_incident_without_a_keyring_works_the_same(clock: TickingClock) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextStorageWarning)
        registry = Registry(MemoryStore(), clock=clock)
    c = registry.customers.intake(person(1), actor=STAFF)
    start = clock()
    registry.customers.get(c.id, actor=STAFF)
    incident = registry.incidents.open(
        title="t", discovered_at=clock(), window_start=start, window_end=clock.now, actor=OFFICER
    )
    assert registry.incidents.assess(incident.id, actor=OFFICER).pending == 1
    assert (
        registry.incidents.record_notice(incident.id, c.id, channel="phone", actor=OFFICER).state
        == "notified"
    )
    assert registry.incidents.incident(incident.id, actor=OFFICER).notified == 1


def test_reprs_hold_no_description_or_channel_value(
    registry: Registry, scenario: dict[str, Any]
) -> None:
    incident = registry.incidents.incident(scenario["incident"].id, actor=OFFICER)
    assert "CRM session" not in repr(incident)
    assert incident.description == "CRM session open on the laptop"
