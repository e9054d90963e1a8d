"""Disclosures to third parties: recipients, separate consent at the instant of sending, the
register per recipient and per customer, the subject export, merges and erasure."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custrec import Actor, KeyRing, MemoryStore, Registry
from custrec.compliance import Disclose
from custrec.compliance.disclosures import check_fields, project
from custrec.consent import CaptureChannel, GuardianEvidence, GuardianRelation, LawfulBasis
from custrec.errors import AccessDenied, InvalidState, UnknownPurpose, UnknownRecipient
from custrec.interchange import export_customers
from custrec.testing import TickingClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DPO = Actor(id="dpo", roles={"admin", "unmask", "export", "erase"})
CLERK = Actor(id="clerk", roles={"staff", "export"})
AUDITOR = Actor(id="aud", roles={"auditor"})
APP = CaptureChannel.APP


def person(n: int) -> dict[str, Any]:
    return {
        "kind": "individual",
        "name": f"王{n}明",
        "contacts": [{"phones": [f"1390013{n:04d}"], "emails": [f"w{n}@example.cn"]}],
        "addresses": [{"city": "上海", "street": f"南京路{n}号"}],
        "notes": "call after 6pm",
    }


@pytest.fixture
def company(registry: Registry) -> Registry:
    registry.disclosures.register_recipient(
        "sf-logistics",
        name="SF Logistics Ltd",
        contact="privacy@sf.example",
        contract="DPA-2026-014",
        country="CN",
        actor=DPO,
    )
    return registry


def audit_actions(registry: Registry) -> list[str]:
    return [e.action for e in registry.audit.trail(actor=AUDITOR, limit=10_000)]


def test_an_export_to_a_third_party_sends_only_customers_who_gave_separate_consent(
    company: Registry,
) -> None:
    yes = company.customers.intake(person(1), actor=DPO)
    no = company.customers.intake(person(2), actor=DPO)
    company.consent.grant(yes.id, "third_party", actor=DPO, channel=APP)
    out = io.StringIO()

    result = export_customers(
        company,
        out,
        actor=DPO,
        disclose=Disclose(
            recipient="sf-logistics", purpose="third_party", fields=("name", "contacts[].phones")
        ),
    )

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["data"]["id"] for line in lines] == [yes.id]
    assert lines[0]["data"] == {
        "id": yes.id,
        "name": "王1明",
        "contacts": [{"phones": ["+8613900130001"]}],
    }
    assert result.exported == 1
    assert result.excluded == {"separate_consent_required": 1}
    disclosure = result.disclosure
    assert disclosure is not None
    assert (disclosure.status, disclosure.disclosed, disclosure.excluded) == ("complete", 1, 1)
    assert disclosure.reasons == {"separate_consent_required": 1}
    assert disclosure.fields == ("name", "contacts[].phones")
    assert (disclosure.purpose, disclosure.basis) == ("third_party", LawfulBasis.CONSENT)
    assert disclosure.channel == "export"
    assert [c.customer_id for c in company.disclosures.customers(disclosure.id, actor=DPO)] == [
        yes.id
    ]
    left_out = company.disclosures.customers(disclosure.id, actor=DPO, disclosed=False)
    assert [(c.customer_id, c.reason) for c in left_out] == [(no.id, "separate_consent_required")]


def test_consent_is_decided_at_the_instant_each_customer_is_sent(
    company: Registry, clock: TickingClock
) -> None:
    first = company.customers.intake(person(1), actor=DPO)
    second = company.customers.intake(person(2), actor=DPO)
    for c in (first, second):
        company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    run = company.disclosures.start(recipient="sf-logistics", purpose="third_party", actor=DPO)
    assert run.send(first.id).customer_id == first.id
    company.consent.withdraw(second.id, "third_party", actor=DPO, channel=APP)
    left = run.send(second.id)
    assert (left.customer_id, getattr(left, "reason", None)) == (second.id, "withdrawn")
    done = run.finish()
    assert (done.disclosed, done.excluded, done.reasons) == (1, 1, {"withdrawn": 1})


def test_the_disclosure_is_recorded_in_the_same_unit_as_the_audited_read(
    company: Registry,
) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="third_party", actor=DPO, fields=["name"]
    )
    [sent] = result.records
    assert dict(sent.record) == {"id": c.id, "name": "王1明"}
    entries = [e for e in company.audit.trail(actor=AUDITOR) if e.action == "customer.disclose"]
    assert [(e.customer_id, e.fields, e.reason, e.outcome) for e in entries] == [
        (c.id, ("name",), "sf-logistics", "ok")
    ]
    assert "disclosure.start" in audit_actions(company)
    assert "disclosure.complete" in audit_actions(company)


def test_a_customers_disclosures_are_in_their_subject_export_with_the_recipients_contact(
    company: Registry,
) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    other = company.customers.intake(person(2), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id, other.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    exported = company.privacy.export_subject(c.id, actor=DPO).to_dict()
    [entry] = exported["disclosures"]
    assert entry["disclosure_id"] == result.disclosure.id
    assert entry["recipient_name"] == "SF Logistics Ltd"
    assert entry["recipient_contact"] == "privacy@sf.example"
    assert (entry["purpose"], entry["basis"], entry["disclosed"]) == (
        "third_party",
        "consent",
        True,
    )
    # the customer who was left out was not disclosed: nothing in their export
    assert company.privacy.export_subject(other.id, actor=DPO).to_dict()["disclosures"] == []
    [mine] = company.disclosures.of_customer(other.id, actor=DPO)
    assert (mine.disclosed, mine.reason) == (False, "separate_consent_required")


def test_disclosures_are_listed_per_recipient_in_id_order(company: Registry) -> None:
    company.disclosures.register_recipient(
        "acme-analytics",
        name="Acme",
        contact="dpo@acme.example",
        contract="C-1",
        country="CN",
        actor=DPO,
    )
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    made = []
    for recipient in ("sf-logistics", "acme-analytics", "sf-logistics"):
        made.append(
            company.disclosures.disclose(
                [c.id], recipient=recipient, purpose="third_party", actor=DPO
            ).disclosure
        )
    sf = company.disclosures.disclosures(actor=DPO, recipient="sf-logistics")
    assert [d.id for d in sf] == [made[0].id, made[2].id]
    page = company.disclosures.disclosures(actor=DPO, limit=2)
    rest = company.disclosures.disclosures(actor=DPO, after=page[-1].id)
    assert [d.id for d in page + rest] == [d.id for d in made]
    assert len(company.disclosures.of_customer(c.id, actor=DPO)) == 3


def test_an_unknown_basis_is_refused_with_the_bases_there_are(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    with pytest.raises(ValueError, match=r"basis must be one of consent, contract, .*emergency"):
        company.disclosures.disclose(
            [c.id], recipient="sf-logistics", purpose="third_party", basis="magic", actor=DPO
        )
    assert "disclosure.start" not in audit_actions(company)


def test_another_lawful_basis_is_decided_by_the_ledger(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    # no consent at all: the contract basis covers a purpose necessary for the service only
    with pytest.raises(ValueError, match="reference"):  # another basis names its ground
        company.disclosures.disclose(
            [c.id], recipient="sf-logistics", purpose="service", basis="contract", actor=DPO
        )
    result = company.disclosures.disclose(
        [c.id],
        recipient="sf-logistics",
        purpose="service",
        basis=LawfulBasis.CONTRACT,
        reference="delivery contract, order 42",
        actor=DPO,
    )
    assert [r.customer_id for r in result.records] == [c.id]
    assert result.disclosure.basis is LawfulBasis.CONTRACT
    assert result.disclosure.reference == "delivery contract, order 42"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"recipient": "nobody"}, UnknownRecipient),
        ({"recipient": "Bad Id"}, UnknownRecipient),
        ({"purpose": "no.such.purpose"}, UnknownPurpose),
        ({"purpose": "marketing.email"}, ValueError),  # no separate consent: not for disclosure
        ({"basis": "telepathy"}, ValueError),
        ({"fields": ["name", "contacts[].fax"]}, ValueError),
        ({"fields": "name"}, TypeError),
    ],
)
def test_bad_disclosures_are_refused_before_anything_is_written(
    company: Registry, change: dict[str, Any], error: type[Exception]
) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    before = audit_actions(company)
    arguments: dict[str, Any] = {"recipient": "sf-logistics", "purpose": "third_party"} | change
    with pytest.raises(error):
        company.disclosures.disclose([c.id], actor=DPO, **arguments)
    out = io.StringIO()
    with pytest.raises(error):
        export_customers(company, out, actor=DPO, disclose=Disclose(**arguments))
    assert out.getvalue() == ""
    after = audit_actions(company)
    assert after[: len(before)] == before
    assert "disclosure.start" not in after[len(before) :]
    assert company.disclosures.disclosures(actor=DPO) == []


def test_an_export_file_is_not_created_when_the_disclosure_is_refused(
    company: Registry, tmp_path: Any
) -> None:
    path = tmp_path / "out.jsonl"
    with pytest.raises(UnknownRecipient):
        export_customers(
            company, path, actor=DPO, disclose=Disclose(recipient="x", purpose="third_party")
        )
    assert not path.exists()


def test_rights(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=CLERK)
    company.consent.grant(c.id, "third_party", actor=CLERK, channel=APP)
    with pytest.raises(AccessDenied):  # opening a disclosure needs the compliance right
        company.disclosures.disclose(
            [c.id], recipient="sf-logistics", purpose="third_party", actor=CLERK
        )
    with pytest.raises(AccessDenied):
        company.disclosures.register_recipient(
            "x", name="X", contact="x@x.example", contract="c", actor=CLERK
        )
    officer = Actor(id="dpo2", roles={"compliance"})  # compliance right, no export right
    result = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="third_party", actor=officer
    )
    assert result.records == ()
    assert [(e.customer_id, e.reason) for e in result.excluded] == [(c.id, "denied")]


def test_a_masked_discloser_sends_masked_values_and_says_so(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    sender = Actor(id="ops", roles={"admin", "export"})  # no unmask permission
    refused = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="third_party", actor=sender, fields=["name"]
    )
    assert refused.records == ()
    assert [(e.customer_id, e.reason) for e in refused.excluded] == [(c.id, "masked")]
    [sent] = company.disclosures.disclose(
        [c.id],
        recipient="sf-logistics",
        purpose="third_party",
        actor=sender,
        fields=["name"],
        allow_masked=True,
    ).records
    assert sent.masked
    assert sent.record["name"] != "王1明"
    entries = company.disclosures.of_customer(c.id, actor=DPO)
    assert [(e.disclosed, e.masked, e.reason) for e in entries] == [
        (False, False, "masked"),
        (True, True, None),
    ]


def test_recipients_are_versioned_and_checked(company: Registry) -> None:
    with pytest.raises(InvalidState):
        company.disclosures.register_recipient(
            "sf-logistics", name="again", contact="a", contract="b", actor=DPO
        )
    with pytest.raises(ValueError, match="name"):
        company.disclosures.register_recipient(
            "ok-id", name="", contact="a", contract="b", actor=DPO
        )
    changed = company.disclosures.update_recipient(
        "sf-logistics", actor=DPO, contract="DPA-2027-001"
    )
    assert (changed.contract, changed.version) == ("DPA-2027-001", 2)
    assert company.disclosures.recipient("sf-logistics", actor=DPO) == changed
    with pytest.raises(TypeError):
        company.disclosures.update_recipient("sf-logistics", actor=DPO, colour="red")
    with pytest.raises(UnknownRecipient):
        company.disclosures.update_recipient("nobody", actor=DPO, note="x")
    assert [r.id for r in company.disclosures.recipients(actor=DPO)] == ["sf-logistics"]


def test_a_merge_moves_disclosures_to_the_survivor_readable_under_its_key(
    company: Registry,
) -> None:
    keep = company.customers.intake(person(1), actor=DPO)
    gone = company.customers.intake(person(2), actor=DPO)
    company.consent.grant(gone.id, "third_party", actor=DPO, channel=APP)
    company.disclosures.disclose(
        [gone.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    company.matching.merge(keep.id, [gone.id], actor=DPO, reason="same person")
    [entry] = company.disclosures.of_customer(keep.id, actor=DPO)
    assert (entry.customer_id, entry.disclosed) == (keep.id, True)
    assert company.privacy.export_subject(keep.id, actor=DPO).to_dict()["disclosures"]


def test_erasure_keeps_the_register_but_shreds_the_customers_entry(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    company.privacy.erase(c.id, actor=DPO, reason="request")
    kept = company.disclosures.disclosure(result.disclosure.id, actor=DPO)
    assert (kept.disclosed, kept.status) == (1, "complete")
    [entry] = company.disclosures.customers(result.disclosure.id, actor=DPO)
    assert entry.customer_id == c.id and not entry.masked  # the register survives erasure


def test_a_disclosure_that_stops_half_way_still_lists_what_it_sent(company: Registry) -> None:
    ids = [company.customers.intake(person(n), actor=DPO).id for n in range(3)]
    for customer_id in ids:
        company.consent.grant(customer_id, "third_party", actor=DPO, channel=APP)

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            if self.tell() > 0:
                raise OSError("disk full")
            return super().write(text)

    with pytest.raises(OSError, match="disk full"):
        export_customers(
            company,
            Broken(),
            actor=DPO,
            disclose=Disclose(recipient="sf-logistics", purpose="third_party"),
        )
    [disclosure] = company.disclosures.disclosures(actor=DPO)
    # the first line went out; the second write failed inside its customer's unit of work, so
    # nothing about that customer was recorded: the register holds exactly what was sent
    assert disclosure.disclosed == 1
    assert disclosure.status == "stopped"  # not complete: the rest were never decided
    [sent] = company.disclosures.customers(disclosure.id, actor=DPO)
    assert sent.customer_id == ids[0]
    # the failed hand-over is audited (the record was in the clear in this process), as failed
    outcomes = [
        e.outcome
        for e in company.audit.trail(actor=AUDITOR, limit=10_000)
        if e.action == "customer.disclose"
    ]
    assert outcomes == ["ok", "failed"]
    assert "disclosure.stop" in audit_actions(company)
    assert "disclosure.complete" not in audit_actions(company)


# ------------------------------------------------------------------------ field projection

PATHS = ["name", "notes", "contacts[].phones", "contacts[].emails", "addresses[].city", "tags"]


@given(st.lists(st.sampled_from(PATHS), unique=True))
def test_projection_keeps_exactly_the_named_fields(paths: list[str]) -> None:
    record = {
        "id": "c",
        "name": "n",
        "notes": "x",
        "tags": ["a"],
        "contacts": [{"phones": ["1"], "emails": ["e"], "wechat": "w"}, {"phones": []}],
        "addresses": [{"city": "c", "street": "s"}],
    }
    if not paths:
        with pytest.raises(ValueError, match="at least one field"):
            check_fields(paths)
        assert project(record, check_fields(None)) == record
        return
    projected = project(record, check_fields(paths))
    expected: dict[str, Any] = {"id": "c"}
    for top in ("name", "notes", "tags"):
        if top in paths:
            expected[top] = record[top]
    contact_keys = [p.split(".")[1] for p in paths if p.startswith("contacts")]
    if contact_keys:
        expected["contacts"] = [
            {k: v for k, v in c.items() if k in contact_keys} for c in record["contacts"]
        ]
    if "addresses[].city" in paths:
        expected["addresses"] = [{"city": "c"}]
    assert projected == expected


@given(st.text(max_size=30))
def test_unknown_field_paths_are_refused(path: str) -> None:
    known = {"name", "kind", "contacts", "contacts[].phones", "custom.level"}
    if path in known:
        return
    try:
        checked = check_fields([path])
    except ValueError:
        return
    assert checked == (path,)
    assert not path.startswith("contacts[].fax")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=15)
@given(consents=st.lists(st.sampled_from(["none", "grant", "withdrawn"]), max_size=8))
def test_who_is_sent_equals_the_consent_ledgers_answer(consents: list[str]) -> None:
    registry = Registry(
        MemoryStore(), keyring=KeyRing.generate(), clock=TickingClock(T0, step=timedelta(0))
    )
    registry.disclosures.register_recipient(
        "r", name="R", contact="r@r.example", contract="c", country="CN", actor=DPO
    )
    expected = []
    ids = []
    for n, state in enumerate(consents):
        c = registry.customers.intake(person(n), actor=DPO)
        ids.append(c.id)
        if state != "none":
            registry.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
        if state == "withdrawn":
            registry.consent.withdraw(c.id, "third_party", actor=DPO, channel=APP)
        if state == "grant":
            expected.append(c.id)
    if not ids:
        with pytest.raises(ValueError, match="at least one customer"):
            registry.disclosures.disclose(ids, recipient="r", purpose="third_party", actor=DPO)
        return
    result = registry.disclosures.disclose(ids, recipient="r", purpose="third_party", actor=DPO)
    assert [r.customer_id for r in result.records] == expected
    assert sorted(e.customer_id for e in result.excluded) == sorted(set(ids) - set(expected))
    listed = registry.disclosures.customers(result.disclosure.id, actor=DPO, limit=3)
    seen = [c.customer_id for c in listed]
    while len(listed) == 3:
        listed = registry.disclosures.customers(
            result.disclosure.id, actor=DPO, limit=3, after=seen[-1]
        )
        seen += [c.customer_id for c in listed]
    assert seen == sorted(expected)


def test_the_subject_export_lists_other_compliance_entries_about_the_customer(
    company: Registry, clock: TickingClock
) -> None:
    rep = Actor(id="u-7", roles={"staff", "unmask"})
    officer = Actor(id="dpo-1", roles={"compliance"})
    c = company.customers.intake(person(1), actor=rep)
    start = clock.now
    clock.advance(minutes=1)
    company.customers.get(c.id, actor=rep)
    clock.advance(minutes=1)
    incident = company.incidents.open(
        title="laptop",
        discovered_at=clock.now,
        window_start=start,
        window_end=clock.now,
        actors=["u-7"],
        actor=officer,
    )
    company.incidents.assess(incident.id, actor=officer)
    company.incidents.record_notice(incident.id, c.id, channel="sms", actor=officer)
    exported = company.privacy.export_subject(c.id, actor=DPO).to_dict()
    [entry] = exported["compliance"]
    assert (entry["kind"], entry["document_id"], entry["state"]) == (
        "incident",
        incident.id,
        "notified",
    )
    assert entry["data"] is not None
    masked = Actor(id="m", roles={"admin", "export"})  # may export, not unmask
    [hidden] = company.privacy.export_subject(c.id, actor=masked).to_dict()["compliance"]
    assert hidden["data"] is None


def resident(n: int) -> dict[str, Any]:
    return {**person(n), "identifiers": [{"scheme": "CN-RIC", "value": "11010519491231002X"}]}


def test_a_transfer_abroad_needs_the_separate_consent_to_cross_border_too(
    company: Registry,
) -> None:
    company.disclosures.register_recipient(
        "us-cloud",
        name="US Cloud",
        contact="p@us.example",
        contract="DPA-9",
        country="US",
        actor=DPO,
    )
    only_third = company.customers.intake(person(1), actor=DPO)
    both = company.customers.intake(person(2), actor=DPO)
    for c in (only_third, both):
        company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    company.consent.grant(both.id, "cross_border", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [only_third.id, both.id], recipient="us-cloud", purpose="third_party", actor=DPO
    )
    assert [r.customer_id for r in result.records] == [both.id]
    assert [(e.customer_id, e.reason) for e in result.excluded] == [
        (only_third.id, "cross_border:separate_consent_required")
    ]
    assert result.disclosure.cross_border
    # the courier at home (country CN, the registry's region) needs no cross-border consent
    home = company.disclosures.disclose(
        [only_third.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    assert not home.disclosure.cross_border and len(home.records) == 1
    [entry] = [e for e in company.disclosures.of_customer(both.id, actor=DPO) if e.disclosed]
    assert (entry.recipient_name, entry.recipient_country) == ("US Cloud", "US")


def test_sensitive_information_needs_the_separate_consent_to_sensitive_too(
    company: Registry,
) -> None:
    with_id = company.customers.intake(resident(1), actor=DPO)
    without_id = company.customers.intake(person(2), actor=DPO)
    for c in (with_id, without_id):
        company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [with_id.id, without_id.id],
        recipient="sf-logistics",
        purpose="third_party",
        fields=["name", "identifiers"],
        actor=DPO,
    )
    # a resident id number is sensitive (PIPL art. 28): sent only with that consent too
    assert [r.customer_id for r in result.records] == [without_id.id]
    assert [e.reason for e in result.excluded] == ["sensitive:separate_consent_required"]
    company.consent.grant(with_id.id, "sensitive", actor=DPO, channel=APP)
    again = company.disclosures.disclose(
        [with_id.id],
        recipient="sf-logistics",
        purpose="third_party",
        fields=["name", "identifiers"],
        actor=DPO,
    )
    assert [r.customer_id for r in again.records] == [with_id.id]
    # the name alone is not sensitive: no further consent needed
    name_only = company.disclosures.disclose(
        [without_id.id], recipient="sf-logistics", purpose="third_party", fields=["name"], actor=DPO
    )
    assert len(name_only.records) == 1


@pytest.mark.parametrize(
    ("basis", "sent"),
    [
        (LawfulBasis.PUBLIC_INFORMATION, False),  # art. 27: not against an explicit refusal
        (LawfulBasis.CONTRACT, False),
        (LawfulBasis.LEGAL_OBLIGATION, True),  # the law compels it: a refusal does not stop it
    ],
)
def test_a_withdrawal_stops_a_disclosure_on_every_basis_the_law_does_not_compel(
    company: Registry, basis: LawfulBasis, sent: bool
) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "service", actor=DPO, channel=APP)
    company.consent.withdraw(c.id, "service", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id],
        recipient="sf-logistics",
        purpose="service",
        basis=basis,
        reference="court order 2026-17" if sent else "order 42",
        actor=DPO,
    )
    assert (len(result.records) == 1) is sent


def test_a_malformed_id_anywhere_in_the_list_writes_nothing(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    before = audit_actions(company)
    for bad in (["bad\x00id"], ["\ud800"], [""], [c.id, c.id]):
        with pytest.raises(ValueError, match="customer id"):
            company.disclosures.disclose(
                [c.id, *bad], recipient="sf-logistics", purpose="third_party", actor=DPO
            )
    assert company.disclosures.disclosures(actor=DPO) == []
    assert company.disclosures.of_customer(c.id, actor=DPO) == []
    assert "customer.disclose" not in audit_actions(company)[len(before) :]


def test_a_run_sends_each_customer_once_and_finishes_as_a_context_manager(
    company: Registry,
) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    with company.disclosures.start(
        recipient="sf-logistics", purpose="third_party", actor=DPO
    ) as run:
        run.send(c.id)
        with pytest.raises(InvalidState):
            run.send(c.id)
    assert run.disclosure.status == "complete"
    assert run.disclosure.disclosed == 1
    with pytest.raises(InvalidState):
        run.send(c.id)


def test_an_unchanged_recipient_is_not_written_again(company: Registry) -> None:
    before = audit_actions(company)
    same = company.disclosures.update_recipient("sf-logistics", actor=DPO, name="SF Logistics Ltd")
    assert same.version == 1
    assert "recipient.update" not in audit_actions(company)[len(before) :]
    with pytest.raises(ValueError, match="ISO 3166"):
        company.disclosures.update_recipient("sf-logistics", actor=DPO, country="China")
    with pytest.raises(ValueError, match="at most 200"):
        company.disclosures.update_recipient("sf-logistics", actor=DPO, name="x" * 201)


def test_an_erased_customers_entry_says_so(company: Registry) -> None:
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    company.privacy.erase(c.id, actor=DPO, reason="request")
    [entry] = company.disclosures.customers(result.disclosure.id, actor=DPO)
    assert entry.erased and entry.recipient_id == "sf-logistics"


def test_a_recipient_of_unknown_country_is_treated_as_abroad(company: Registry) -> None:
    company.disclosures.register_recipient(
        "somewhere", name="Somewhere", contact="p@x.example", contract="C-2", actor=DPO
    )
    c = company.customers.intake(person(1), actor=DPO)
    company.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [c.id], recipient="somewhere", purpose="third_party", actor=DPO
    )
    assert result.disclosure.cross_border
    assert [e.reason for e in result.excluded] == ["cross_border:separate_consent_required"]


def test_another_separate_consent_purpose_does_not_stand_in_for_third_party(
    company: Registry,
) -> None:
    c = company.customers.intake(resident(1), actor=DPO)
    company.consent.grant(c.id, "sensitive", actor=DPO, channel=APP)  # not third_party
    result = company.disclosures.disclose(
        [c.id], recipient="sf-logistics", purpose="sensitive", actor=DPO
    )
    assert result.records == ()
    assert [e.reason for e in result.excluded] == ["third_party:separate_consent_required"]


def test_everything_of_a_child_under_14_is_sensitive(company: Registry) -> None:
    child = company.customers.intake({**person(1), "birth_date": "2016-05-01"}, actor=DPO)
    company.consent.grant(
        child.id,
        "third_party",
        actor=DPO,
        channel=APP,
        guardian=GuardianEvidence(guardian_ref="g-1", relation=GuardianRelation.PARENT),
    )
    result = company.disclosures.disclose(
        [child.id], recipient="sf-logistics", purpose="third_party", fields=["name"], actor=DPO
    )
    assert [e.reason for e in result.excluded] == ["sensitive:separate_consent_required"]


def test_a_catalogue_without_the_further_purposes_fails_closed(
    make: Any, clock: TickingClock
) -> None:
    from custrec.consent import PURPOSES

    registry = make(purposes=PURPOSES.without("cross_border", "sensitive"))
    registry.disclosures.register_recipient(
        "us", name="US", contact="p@us.example", contract="C", country="US", actor=DPO
    )
    c = registry.customers.intake(resident(1), actor=DPO)
    registry.consent.grant(c.id, "third_party", actor=DPO, channel=APP)
    result = registry.disclosures.disclose([c.id], recipient="us", purpose="third_party", actor=DPO)
    assert [e.reason for e in result.excluded] == ["cross_border:unknown_purpose"]


def test_an_alias_after_its_survivor_is_left_out_and_the_run_still_finishes(
    company: Registry,
) -> None:
    keep = company.customers.intake(person(1), actor=DPO)
    gone = company.customers.intake(person(2), actor=DPO)
    company.consent.grant(keep.id, "third_party", actor=DPO, channel=APP)
    company.matching.merge(keep.id, [gone.id], actor=DPO, reason="same person")
    result = company.disclosures.disclose(
        [keep.id, gone.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    assert [r.customer_id for r in result.records] == [keep.id]
    assert [(e.customer_id, e.reason) for e in result.excluded] == [(gone.id, "duplicate")]
    assert result.disclosure.status == "complete"


def test_a_merge_keeps_the_disclosed_entry_when_both_customers_were_in_one_disclosure(
    company: Registry,
) -> None:
    sent = company.customers.intake(person(1), actor=DPO)
    left = company.customers.intake(person(2), actor=DPO)
    company.consent.grant(sent.id, "third_party", actor=DPO, channel=APP)
    result = company.disclosures.disclose(
        [sent.id, left.id], recipient="sf-logistics", purpose="third_party", actor=DPO
    )
    company.matching.merge(left.id, [sent.id], actor=DPO, reason="same person")
    [entry] = company.disclosures.of_customer(left.id, actor=DPO)
    assert (entry.disclosure_id, entry.disclosed) == (result.disclosure.id, True)
    assert [
        c.customer_id for c in company.disclosures.customers(result.disclosure.id, actor=DPO)
    ] == [left.id]
