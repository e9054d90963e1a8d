"""Property: for ANY event sequence, decide() equals a brute-force replay of the events in force.

The reference below is written independently of the ledger's fold: for each question it scans
every event again, finds "the latest" event of a kind by an explicit precedence key, and applies
the rules in the documented order. Instants come from a coarse grid with microsecond neighbours,
so ties and boundaries are frequent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.consent import (
    PURPOSES,
    CaptureChannel,
    ConsentEvent,
    ConsentLedger,
    EventKind,
    GivenBy,
    GuardianEvidence,
    GuardianRelation,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    NoticeHistory,
    NoticeVersion,
    SubjectFacts,
)

CID = "c-1"
BASE = datetime(2026, 4, 29, 16, 0, tzinfo=UTC)  # 2026-04-30 00:00 in China
US = timedelta(microseconds=1)
OFFSETS = [
    timedelta(0),
    US,
    2 * US,
    timedelta(hours=12),
    timedelta(days=1) - US,
    timedelta(days=1),
    timedelta(days=1) + US,
    timedelta(days=2),
    timedelta(days=3),
]
INSTANTS = [BASE + o for o in OFFSETS]
CODES = ["analytics", "profiling", "service", "storage", "third_party"]
QUERY_CODES = ["analytics", "analytics", "profiling", *CODES]  # weighted towards shared codes
KINDS = [
    *[EventKind.GRANT] * 4,
    *[EventKind.WITHDRAW] * 2,
    EventKind.OBJECT,
    EventKind.RESTRICT,
    EventKind.LIFT_RESTRICTION,
]
BASES = [*[None] * 16, LawfulBasis.CONSENT, *[LawfulBasis.CONTRACT] * 2, *LawfulBasis]
NORMAL = [c for c in CODES if not PURPOSES[c].requires_separate_consent]
SEPARATE = [c for c in CODES if PURPOSES[c].requires_separate_consent]
HASHES = {"v1": "h1", "v2": "h2", "v3": "h3"}
GUARDIAN = GuardianEvidence(guardian_ref="g-1", relation=GuardianRelation.LEGAL_GUARDIAN)

RANK = {
    EventKind.GRANT: 0,
    EventKind.LIFT_RESTRICTION: 0,
    EventKind.WITHDRAW: 1,
    EventKind.OBJECT: 1,
    EventKind.RESTRICT: 1,
}


@st.composite
def events(draw: st.DrawFn) -> ConsentEvent:
    kind = draw(st.sampled_from(KINDS))
    if kind is EventKind.GRANT:
        purposes = draw(
            st.one_of(
                st.sampled_from(SEPARATE).map(lambda c: (c,)),
                st.lists(st.sampled_from(NORMAL), min_size=1, max_size=2, unique=True).map(tuple),
            )
        )
    elif kind in (EventKind.WITHDRAW, EventKind.OBJECT):
        purposes = tuple(
            draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=2, unique=True))
        )
    else:
        purposes = ()
    effective_from = draw(st.sampled_from(INSTANTS))
    captured = effective_from - draw(st.sampled_from([0 * US, 0 * US, US, timedelta(hours=12)]))
    effective_to = None
    if kind in (EventKind.GRANT, EventKind.RESTRICT) and draw(st.booleans()):
        effective_to = effective_from + draw(st.sampled_from(OFFSETS[1:]))
    version = draw(st.sampled_from([None, "v1", "v1", "v2", "v3"]))
    notice_hash = None
    if version is not None:
        notice_hash = draw(st.sampled_from([None, HASHES[version], HASHES[version], "forged"]))
    guardian = draw(st.sampled_from([None, GUARDIAN]))
    return ConsentEvent(
        customer_id=CID,
        kind=kind,
        purposes=purposes,
        channel=CaptureChannel.APP,
        captured_at=captured,
        effective_from=effective_from,
        effective_to=effective_to,
        notice_version=version,
        notice_hash=notice_hash,
        given_by=GivenBy.SUBJECT if guardian is None else GivenBy.GUARDIAN,
        guardian=guardian,
    )


@st.composite
def subjects(draw: st.DrawFn) -> SubjectFacts | None:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return None
    # 14th birthday (China time) at BASE + 1 day, at BASE, or long ago
    birth = draw(st.sampled_from([None, date(2012, 5, 1), date(2012, 5, 1), date(2012, 4, 30)]))
    if choice in (1, 2):
        return SubjectFacts(birth_date=birth)
    age = draw(st.integers(13, 16))
    birth = draw(st.sampled_from([None, date(2026 - age, 4, 30), date(2026 - age, 5, 1)]))
    return SubjectFacts(
        jurisdiction=Jurisdiction.GDPR,
        birth_date=birth,
        profile=JurisdictionProfile.gdpr(consent_age=draw(st.integers(13, 16))),
    )


@st.composite
def histories(draw: st.DrawFn) -> NoticeHistory | None:
    """None, or v1 (in effect before every event) and up to two later versions."""
    if draw(st.integers(0, 3)) == 0:
        return None
    later = sorted(draw(st.lists(st.sampled_from(INSTANTS), max_size=2, unique=True)))
    starts = [BASE - timedelta(days=1), *later]
    return NoticeHistory(
        NoticeVersion(
            version=f"v{i + 1}",
            content_hash=HASHES[f"v{i + 1}"],
            effective_from=start,
            material=draw(st.booleans()),
        )
        for i, start in enumerate(starts)
    )


# ------------------------------------------------------------------------ the reference


def nth_birthday(birth: date, n: int) -> date:
    try:
        return birth.replace(year=birth.year + n)
    except ValueError:  # 29 February in a common year: the birthday is 1 March
        return date(birth.year + n, 3, 1)


def ref_age(subject: SubjectFacts, at: datetime) -> int | None:
    if subject.birth_date is None:
        return None
    day = (at.astimezone(UTC) + subject.effective_profile.utc_offset).date()
    return sum(1 for n in range(1, 120) if nth_birthday(subject.birth_date, n) <= day)


def key(evs: list[ConsentEvent], e: ConsentEvent) -> tuple[object, ...]:
    return (e.effective_from, RANK[e.kind], e.captured_at, evs.index(e))


def ref_latest(
    evs: list[ConsentEvent], at: datetime, wanted: set[EventKind], code: str | None
) -> ConsentEvent | None:
    found = None
    for e in evs:
        relevant = e.effective_from <= at and e.kind in wanted
        if (
            relevant
            and (code is None or code in e.purposes)
            and (found is None or key(evs, e) > key(evs, found))
        ):
            found = e
    return found


def ref_objected(evs: list[ConsentEvent], at: datetime, code: str) -> bool:
    in_force = [e for e in evs if e.effective_from <= at and code in e.purposes]
    objections = [e for e in in_force if e.kind is EventKind.OBJECT]
    grants = [e for e in in_force if e.kind is EventKind.GRANT]
    return any(all(key(evs, g) < key(evs, o) for g in grants) for o in objections)


def ref_notice_ok(history: NoticeHistory, grant: ConsentEvent, at: datetime) -> bool:
    material = [v for v in history.versions if v.material and v.effective_from <= at]
    if not material:
        return True
    baseline = max(material, key=lambda v: v.effective_from)
    mine = [v for v in history.versions if v.version == grant.notice_version]
    if not mine:
        return False
    if grant.notice_hash is not None and grant.notice_hash != mine[0].content_hash:
        return False
    return mine[0].effective_from >= baseline.effective_from


def reference(
    evs: list[ConsentEvent],
    code: str,
    at: datetime,
    subject: SubjectFacts | None,
    basis: LawfulBasis | None,
    notices: NoticeHistory | None,
) -> tuple[bool, str]:
    spec = PURPOSES[code]
    facts = subject or SubjectFacts()
    profile = facts.effective_profile
    if basis is not None and basis not in profile.bases:
        return False, "basis_not_available"
    r = ref_latest(evs, at, {EventKind.RESTRICT, EventKind.LIFT_RESTRICTION}, None)
    if (
        r is not None
        and r.kind is EventKind.RESTRICT
        and (r.effective_to is None or at < r.effective_to)
        and not spec.storage_only
    ):
        return False, "restricted"
    objected = ref_objected(evs, at, code)
    if basis not in (None, LawfulBasis.CONSENT, LawfulBasis.CONTRACT):
        stoppable = basis in (LawfulBasis.PUBLIC_TASK, LawfulBasis.LEGITIMATE_INTERESTS)
        return (False, "objected") if stoppable and objected else (True, "lawful_basis")
    if basis is LawfulBasis.CONTRACT and spec.necessary_for_service:
        return True, "contract_necessity"
    if objected:
        return False, "objected"
    last = ref_latest(evs, at, {EventKind.GRANT, EventKind.WITHDRAW}, code)
    if last is None:
        return (
            False,
            "separate_consent_required" if spec.requires_separate_consent else "no_consent",
        )
    if last.kind is EventKind.WITHDRAW:
        return False, "withdrawn"
    if last.effective_to is not None and at >= last.effective_to:
        return False, "expired"
    age = ref_age(facts, last.captured_at)
    if last.given_by is GivenBy.SUBJECT and age is not None and age < profile.consent_age:
        return False, "guardian_required"
    if notices is not None and not ref_notice_ok(notices, last, at):
        return False, "reconsent_required"
    return True, "granted"


QUERY_INSTANTS = sorted({t + d for t in INSTANTS for d in (-US, timedelta(0), US)})


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[ConsentEvent], str, datetime]:
    """Events, a purpose they mostly name, and an instant mostly on one of their boundaries."""
    evs = draw(st.lists(events(), min_size=draw(st.sampled_from([0, 1, 1, 3])), max_size=12))
    named = sorted({c for e in evs for c in e.purposes})
    code = draw(st.sampled_from(named)) if named and draw(st.integers(0, 3)) else None
    if code is None:
        code = draw(st.sampled_from(QUERY_CODES))
    relevant = [e for e in evs if code in e.purposes or not e.purposes] or evs
    edges = sorted({t for e in relevant for t in (e.effective_from, e.effective_to) if t})
    at = None
    if edges and draw(st.integers(0, 2)):
        shift = draw(st.sampled_from([-US, 0 * US, 0 * US, US, timedelta(hours=12)]))
        at = draw(st.sampled_from(edges)) + shift
    if at is None:
        at = draw(st.sampled_from(QUERY_INSTANTS))
    return evs, code, at


@settings(max_examples=600, deadline=None)
@given(
    scenario=scenarios(),
    subject=subjects(),
    basis=st.sampled_from(BASES),
    notices=histories(),
)
def test_decide_equals_a_brute_force_replay(
    scenario: tuple[list[ConsentEvent], str, datetime],
    subject: SubjectFacts | None,
    basis: LawfulBasis | None,
    notices: NoticeHistory | None,
) -> None:
    evs, code, at = scenario
    ledger = ConsentLedger(CID, evs)
    decision = ledger.decide(code, as_of=at, subject=subject, basis=basis, notices=notices)
    assert (decision.allowed, decision.reason.value) == reference(
        evs, code, at, subject, basis, notices
    )
    assert (
        ledger.decide_all(as_of=at, subject=subject, basis=basis, notices=notices)[code] == decision
    )


@settings(max_examples=200, deadline=None)
@given(evs=st.lists(events(), max_size=12), future=events(), at=st.sampled_from(QUERY_INSTANTS))
def test_appending_never_rewrites_the_past(
    evs: list[ConsentEvent], future: ConsentEvent, at: datetime
) -> None:
    ledger = ConsentLedger(CID, evs)
    longer = ledger.append(future)
    if future.effective_from > at:
        assert longer.decide_all(as_of=at) == ledger.decide_all(as_of=at)


@settings(max_examples=400, deadline=None)
@given(scenario=scenarios(), days=st.sampled_from([0.5, 1, 2, 3]))
def test_expiring_within_equals_a_brute_force_scan(
    scenario: tuple[list[ConsentEvent], str, datetime], days: float
) -> None:
    evs, _, at = scenario
    horizon = at + timedelta(days=days)
    expected: dict[str, list[str]] = {}
    for code in CODES:
        g = ref_latest(evs, at, {EventKind.GRANT, EventKind.WITHDRAW}, code)
        if g is None or g.kind is not EventKind.GRANT or g.effective_to is None:
            continue
        if not at < g.effective_to <= horizon or ref_objected(evs, at, code):
            continue
        then = ref_latest(evs, g.effective_to, {EventKind.GRANT, EventKind.WITHDRAW}, code)
        if then is g and not ref_objected(evs, g.effective_to, code):
            expected.setdefault(g.id, []).append(code)
    found = ConsentLedger(CID, evs).expiring_within(days, as_of=at)
    assert len({e.event_id for e in found}) == len(found)  # once each
    assert {e.event_id: sorted(e.purposes) for e in found} == {
        k: sorted(v) for k, v in expected.items()
    }
    assert [e.expires_at for e in found] == sorted(e.expires_at for e in found)
