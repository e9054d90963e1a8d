"""Survivorship: which value a merged customer keeps, field by field.

Records are built by hand; instants are days after ``T0``. The property tests at the end draw
small groups of customers from tiny value pools, so shared phones, e-mails differing only in case,
repeated identifiers and timestamp ties are frequent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching.survivorship import (
    DEFAULT_RULES,
    FIXED_FIELDS,
    FieldChoice,
    MergeOutcome,
    Strategy,
    SurvivorshipRules,
    merge_records,
)
from custrec.model.records import (
    Address,
    AddressKind,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    IdentifierScheme,
    LifecycleStage,
    Milestones,
    Money,
    VerificationStatus,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
VERIFIED = VerificationStatus.VERIFIED
ORG = CustomerKind.ORGANIZATION

# Fields a merge with an identical copy may still change: UNION tidies the survivor's own
# duplicates (same-person contacts, repeated identifiers/addresses/tags, a second primary contact).
TIDIED_BY_UNION = {"contacts", "identifiers", "addresses", "tags", "product_interests", "needs"}


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def org(customer_id: str, **changes: Any) -> Customer:
    changes.setdefault("name", "Acme")
    return Customer(id=customer_id, kind=ORG, **changes)


def merged(survivor: Customer, *others: Customer, **kw: Any) -> Customer:
    return merge_records(survivor, others, **kw).record


# ------------------------------------------------------------------------------- strategies


def test_survivor_keeps_the_survivors_value_even_when_empty() -> None:
    s = org("s", owner=None, team="east", updated_at=day(0))
    o = org("o", owner="u-2", team="west", updated_at=day(9))
    outcome = merge_records(s, [o])
    assert (outcome.record.owner, outcome.record.team) == (None, "east")
    assert outcome.choice("owner") == FieldChoice(
        field="owner", strategy=Strategy.SURVIVOR, source_ids=("s",), changed=False
    )


def test_most_recent_takes_the_newest_non_empty_value() -> None:
    s = org("s", industry="retail", updated_at=day(1))
    newer = org("new", industry="wholesale", updated_at=day(5))
    newest_but_empty = org("empty", industry="  ", updated_at=day(9))
    outcome = merge_records(s, [newer, newest_but_empty])
    assert outcome.record.industry == "wholesale"
    assert outcome.choice("industry").source_ids == ("new",)
    assert outcome.choice("industry").changed


def test_most_recent_falls_back_to_created_at_and_treats_none_as_oldest() -> None:
    s = org("s", industry="retail", created_at=day(3))
    o = org("o", industry="wholesale", created_at=day(2))
    assert merged(s, o).industry == "retail"
    undated = org("u", industry="mining")
    assert merged(undated, o).industry == "wholesale"


def test_most_recent_tie_goes_to_the_survivor_then_to_the_order_of_others() -> None:
    s = org("s", industry="retail", updated_at=day(1))
    a = org("a", industry="wholesale", updated_at=day(1))
    b = org("b", industry="mining", updated_at=day(1))
    assert merged(s, a, b).industry == "retail"
    assert merged(org("s"), a, b).industry == "wholesale"


def test_no_record_has_a_value_keeps_the_survivors_empty_value() -> None:
    s = org("s", industry="", updated_at=day(0))
    o = org("o", industry=None, updated_at=day(1))
    outcome = merge_records(s, [o])
    assert outcome.record.industry == ""
    assert outcome.choice("industry").source_ids == ("s",)
    assert not outcome.choice("industry").changed


def test_most_complete_takes_the_longest_stripped_string() -> None:
    s = org("s", notes="short note", updated_at=day(9))
    padded = org("p", notes="    tiny      ", updated_at=day(5))
    longer = org("l", notes="a much longer note", updated_at=day(1))
    outcome = merge_records(s, [padded, longer])
    assert outcome.record.notes == "a much longer note"
    assert outcome.choice("notes").strategy is Strategy.MOST_COMPLETE
    assert outcome.choice("notes").source_ids == ("l",)


def test_most_complete_tie_goes_to_the_most_recent() -> None:
    s = org("s", notes="abc", updated_at=day(1))
    o = org("o", notes="xyz", updated_at=day(2))
    assert merged(s, o).notes == "xyz"


def test_most_complete_counts_fields_set_in_nested_records() -> None:
    two = Milestones(contract_signed_on=date(2023, 5, 1), satisfaction=4)
    one = Milestones(contract_amount=Money(amount=Decimal(1)))
    s = org("s", milestones=one, updated_at=day(9))
    o = org("o", milestones=two, updated_at=day(1))
    assert merged(s, o).milestones == two
    assert merged(s, org("e", updated_at=day(20))).milestones == one  # an empty Milestones loses


def test_verified_first_prefers_an_older_verified_name_over_a_newer_unverified_one() -> None:
    s = org("s", name="Acme Newest Spelling", updated_at=day(9))
    checked = org(
        "v", name="Acme Ltd", updated_at=day(1), verification=VERIFIED, last_verified_at=day(1)
    )
    outcome = merge_records(s, [checked])
    assert outcome.record.name == "Acme Ltd"
    assert outcome.choice("name") == FieldChoice(
        field="name", strategy=Strategy.VERIFIED_FIRST, source_ids=("v",), changed=True
    )


def test_verified_first_prefers_the_most_recently_verified() -> None:
    early = org("a", name="A", verification=VERIFIED, last_verified_at=day(1), updated_at=day(9))
    late = org("b", name="B", verification=VERIFIED, last_verified_at=day(5), updated_at=day(2))
    rejected = org(
        "c",
        name="C",
        verification=VerificationStatus.REJECTED,
        last_verified_at=day(8),
        updated_at=day(8),
    )
    assert merged(early, late, rejected).name == "B"


def test_verified_first_falls_back_to_most_recent() -> None:
    s = org("s", name="Old", updated_at=day(1), verification=VerificationStatus.PENDING_REVIEW)
    o = org("o", name="New", updated_at=day(2))
    assert merged(s, o).name == "New"


def test_union_keeps_every_distinct_element_survivor_first() -> None:
    s = org("s", tags=("vip", "b2b"), needs=("erp",))
    a = org("a", tags=("export", "vip"), updated_at=day(9))
    b = org("b", tags=("b2b", "risk"), needs=("crm", "erp"))
    outcome = merge_records(s, [a, b])
    assert outcome.record.tags == ("vip", "b2b", "export", "risk")
    assert outcome.record.needs == ("erp", "crm")
    assert outcome.choice("tags").source_ids == ("s", "a", "b")
    assert outcome.choice("needs").source_ids == ("s", "b")


# -------------------------------------------------------------------------------- contacts


def all_phones(record: Customer) -> list[str]:
    return [p for c in record.contacts for p in c.phones]


def all_emails(record: Customer) -> list[str]:
    return [e for c in record.contacts for e in c.emails]


def test_contact_union_keeps_every_phone_and_email_across_three_records() -> None:
    s = org("s", contacts=[Contact(name="王芳", phones=("13800000001",), primary=True)])
    a = org(
        "a",
        contacts=[
            Contact(name="王芳", phones=("13800000002",), emails=("wf@acme.cn",), title="CFO"),
            Contact(name="李雷", emails=("ll@acme.cn",), primary=True),
        ],
    )
    b = org(
        "b",
        contacts=[
            Contact(phones=("13800000002", "13800000003"), emails=("WF@ACME.CN",), wechat="wf88"),
            Contact(name="韩梅梅", phones=("13900000009",)),
        ],
    )
    record = merged(s, a, b)
    wang, li, han = record.contacts
    assert wang.name == "王芳" and wang.title == "CFO" and wang.wechat == "wf88"
    assert wang.phones == ("13800000001", "13800000002", "13800000003")
    assert wang.emails == ("wf@acme.cn",)  # the same address in another case is not repeated
    assert li.emails == ("ll@acme.cn",) and han.phones == ("13900000009",)
    assert [c.primary for c in record.contacts] == [True, False, False]


def test_contacts_sharing_a_phone_in_another_format_are_one_person() -> None:
    s = org("s", contacts=[Contact(phones=("138-0013-8000",))])
    o = org("o", contacts=[Contact(name="赵六", phones=("138 0013 8000", "13900139000"))])
    (contact,) = merged(s, o).contacts
    assert contact.name == "赵六"
    assert contact.phones == ("138-0013-8000", "13900139000")


def test_same_person_links_are_transitive() -> None:
    s = org("s", contacts=[Contact(phones=("1",)), Contact(emails=("x@y.cn",))])
    o = org("o", contacts=[Contact(phones=("1",), emails=("x@y.cn",))])
    (contact,) = merged(s, o).contacts
    assert contact.phones == ("1",) and contact.emails == ("x@y.cn",)


def test_different_people_stay_apart() -> None:
    s = org("s", contacts=[Contact(name="A", phones=("1",), emails=("a@x.cn",))])
    o = org("o", contacts=[Contact(name="B", phones=("2",), emails=("b@x.cn",))])
    assert [c.name for c in merged(s, o).contacts] == ["A", "B"]


def test_a_conflicting_wechat_is_kept_on_a_separate_contact() -> None:
    s = org("s", contacts=[Contact(name="A", phones=("1",), wechat="wa")])
    o = org("o", contacts=[Contact(name="A", phones=("2",), wechat="wb")])
    contacts = merged(s, o).contacts
    assert [c.wechat for c in contacts] == ["wa", "wb"]
    assert [c.phones for c in contacts] == [("1",), ("2",)]


def test_at_most_one_primary_contact_the_first() -> None:
    s = org("s", contacts=[Contact(name="A"), Contact(name="B", primary=True)])
    o = org("o", contacts=[Contact(name="A", primary=True), Contact(name="C", primary=True)])
    assert [(c.name, c.primary) for c in merged(s, o).contacts] == [
        ("A", True),
        ("B", False),
        ("C", False),
    ]


# ---------------------------------------------------------------- identifiers and addresses


def test_identifiers_are_deduplicated_by_scheme_system_and_upper_cased_value() -> None:
    uscc = Identifier(scheme=IdentifierScheme.USCC, value="91110000600037341L")
    s = org("s", identifiers=[uscc])
    o = org(
        "o",
        identifiers=[
            Identifier(scheme=IdentifierScheme.USCC, value="91110000600037341l "),
            Identifier(scheme=IdentifierScheme.EXTERNAL, system="erp", value="C-1"),
            Identifier(scheme=IdentifierScheme.EXTERNAL, system="shop", value="C-1"),
        ],
    )
    identifiers = merged(s, o).identifiers
    assert identifiers[0] is uscc
    assert [(i.scheme, i.system) for i in identifiers] == [
        (IdentifierScheme.USCC, None),
        (IdentifierScheme.EXTERNAL, "erp"),
        (IdentifierScheme.EXTERNAL, "shop"),
    ]


def test_addresses_are_deduplicated_after_whitespace_folding() -> None:
    office = Address(province="北京", city="北京", street="长安街 1号")
    s = org("s", addresses=[office])
    other_office = Address(province="上海", city="上海", street="南京路2号")
    o = org(
        "o",
        addresses=[
            Address(province=" 北京", city="北京", street="长安街  1号 "),
            other_office,
            Address(kind=AddressKind.BILLING, province="北京", city="北京", street="长安街 1号"),
        ],
    )
    addresses = merged(s, o).addresses
    assert addresses[:2] == (office, other_office)  # a second office address is not lost
    assert [a.kind for a in addresses] == [AddressKind.OFFICE, AddressKind.OFFICE, "billing"]


# ----------------------------------------------------------------------------- fixed fields


def test_created_at_is_the_earliest_and_bookkeeping_stays_the_survivors() -> None:
    s = org("s", version=7, created_at=day(5), updated_at=day(6))
    a = org("a", version=2, created_at=None, updated_at=day(9))
    b = org("b", version=3, created_at=day(1), updated_at=day(2))
    outcome = merge_records(s, [a, b])
    record = outcome.record
    assert (record.id, record.version, record.updated_at) == ("s", 7, day(6))
    assert record.created_at == day(1)
    assert outcome.choice("created_at") == FieldChoice(
        field="created_at", strategy=None, source_ids=("b",), changed=True
    )
    assert outcome.choice("id").strategy is None


def test_verification_comes_from_the_most_recently_verified_record() -> None:
    s = org("s", verification=VERIFIED, last_verified_at=day(1))
    a = org("a", verification=VERIFIED, last_verified_at=day(4))
    b = org("b", verification=VerificationStatus.REJECTED, last_verified_at=day(8))
    outcome = merge_records(s, [a, b])
    assert (outcome.record.verification, outcome.record.last_verified_at) == (VERIFIED, day(4))
    assert outcome.changed_fields == ("last_verified_at",)
    assert outcome.choice("verification").source_ids == ("a",)


def test_verification_of_the_survivor_is_kept_when_none_is_verified() -> None:
    s = org("s", verification=VerificationStatus.PENDING_REVIEW)
    o = org("o", verification=VerificationStatus.REJECTED, last_verified_at=day(3))
    record = merged(s, o)
    assert (record.verification, record.last_verified_at) == (
        VerificationStatus.PENDING_REVIEW,
        None,
    )


def test_verification_is_taken_when_only_another_record_is_verified() -> None:
    s = org("s")
    o = org("o", verification=VERIFIED, last_verified_at=day(3))
    assert merge_records(s, [o]).changed_fields == ("last_verified_at", "verification")


# ------------------------------------------------------------------------------------- rules


def test_default_rules() -> None:
    assert DEFAULT_RULES.default is Strategy.MOST_RECENT
    assert DEFAULT_RULES.strategy_for("name") is Strategy.VERIFIED_FIRST
    assert DEFAULT_RULES.strategy_for("contacts") is Strategy.UNION
    assert DEFAULT_RULES.strategy_for("milestones") is Strategy.MOST_COMPLETE
    assert DEFAULT_RULES.strategy_for("stage") is Strategy.SURVIVOR
    assert DEFAULT_RULES.strategy_for("industry") is Strategy.MOST_RECENT


def test_custom_rules_are_honoured() -> None:
    rules = SurvivorshipRules(
        default=Strategy.SURVIVOR, fields={"industry": "survivor", "stage": Strategy.MOST_RECENT}
    )
    s = org("s", industry="retail", founded_on=None, tags=("a",), updated_at=day(1))
    o = org(
        "o",
        industry="mining",
        founded_on=date(2001, 1, 1),
        stage=LifecycleStage.ACTIVE,
        tags=("b",),
        updated_at=day(2),
    )
    outcome = merge_records(s, [o], rules=rules)
    assert outcome.record.industry == "retail"
    assert outcome.record.founded_on is None and outcome.record.tags == ("a",)
    assert outcome.record.stage is LifecycleStage.ACTIVE
    assert outcome.changed_fields == ("stage",)


def test_rules_are_frozen_and_hashable() -> None:
    source = {"industry": Strategy.SURVIVOR}
    rules = SurvivorshipRules(fields=source)
    source["notes"] = Strategy.SURVIVOR
    assert dict(rules.fields) == {"industry": Strategy.SURVIVOR}
    with pytest.raises(TypeError):
        rules.fields["notes"] = Strategy.SURVIVOR  # type: ignore[index]
    assert rules == SurvivorshipRules(fields={"industry": "survivor"})
    assert isinstance(hash(rules), int)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fields": {"nickname": Strategy.SURVIVOR}}, "nickname"),
        ({"fields": {"created_at": Strategy.SURVIVOR}}, "created_at"),
        ({"fields": {"verification": Strategy.MOST_RECENT}}, "verification"),
        ({"fields": {"industry": Strategy.UNION}}, "industry"),
        ({"default": Strategy.UNION}, "UNION"),
        ({"fields": {"industry": "newest"}}, "newest"),
    ],
)
def test_bad_rules_raise_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SurvivorshipRules(**kwargs)


def test_union_default_is_fine_when_every_scalar_field_is_named() -> None:
    names = (f.name for f in attrs.fields(Customer))
    scalars = [n for n in names if n not in FIXED_FIELDS and n not in TIDIED_BY_UNION]
    rules = SurvivorshipRules(default=Strategy.UNION, fields=dict.fromkeys(scalars, "survivor"))
    assert rules.strategy_for("tags") is Strategy.UNION


def test_strategy_for_rejects_fixed_and_unknown_fields() -> None:
    with pytest.raises(ValueError, match="id"):
        DEFAULT_RULES.strategy_for("id")
    with pytest.raises(ValueError, match="nickname"):
        DEFAULT_RULES.strategy_for("nickname")


# -------------------------------------------------------------------------------- bad input

SECRET = "张三丰 13800138000"


@pytest.mark.parametrize(
    ("others", "message"),
    [
        ([], "empty"),
        ([org("a", name=SECRET), org("a", name=SECRET)], "repeats"),
        ([org("s", name=SECRET)], "survivor"),
        ([Customer(id="p", kind=CustomerKind.INDIVIDUAL, name=SECRET)], "individual"),
    ],
)
def test_bad_inputs_raise_value_error_without_personal_values(
    others: list[Customer], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        merge_records(org("s", name=SECRET), others)
    assert SECRET not in str(info.value)


def test_non_customers_raise_type_error() -> None:
    with pytest.raises(TypeError):
        merge_records(org("s"), org("o"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        merge_records(org("s"), [{"id": "o"}])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------- outcome


def test_outcome_lists_every_field_once_and_shows_no_personal_value() -> None:
    s = org("s", name=SECRET, contacts=[Contact(phones=("13800138000",))])
    o = org("o", name="Other Name", updated_at=day(1), contacts=[Contact(phones=("13900139000",))])
    outcome = merge_records(s, [o])
    assert isinstance(outcome, MergeOutcome)
    assert [c.field for c in outcome.choices] == [f.name for f in attrs.fields(Customer)]
    assert outcome.changed_fields == ("name", "contacts")
    text = repr(outcome)
    assert all(v not in text for v in ("张三丰", "13800138000", "13900139000", "Other Name"))
    with pytest.raises(KeyError):
        outcome.choice("nickname")


def test_a_tidy_record_merged_with_its_copy_changes_nothing() -> None:
    s = org(
        "s",
        contacts=[
            Contact(name="A", phones=("1",), primary=True),
            Contact(name="B", emails=("b@x",)),
        ],
        identifiers=[Identifier(scheme="EXTERNAL", system="erp", value="C-1")],
        addresses=[Address(city="北京")],
        tags=("vip",),
        notes="note",
        verification=VERIFIED,
        last_verified_at=day(1),
        created_at=day(0),
        updated_at=day(2),
    )
    outcome = merge_records(s, [attrs.evolve(s, id="copy")])
    assert outcome.changed_fields == ()
    assert outcome.record == s


def test_merge_is_pure() -> None:
    s = org("s", tags=("a",), created_at=day(3))
    o = org("o", tags=("b",), created_at=day(1))
    before = (attrs.asdict(s), attrs.asdict(o))
    first = merge_records(s, [o])
    assert first == merge_records(s, [o])
    assert (attrs.asdict(s), attrs.asdict(o)) == before


# --------------------------------------------------------------------------------- property

PHONES = ["13800000001", "138 0000 0001", "13800000002", "+8613800000003", ""]
EMAILS = ["a@x.cn", "A@X.CN", "b@x.cn", " c@y.cn"]
NAMES = [None, "", "张三", " 张三 ", "李四"]
TAGS = ["vip", "b2b", "export", "Vip"]
INSTANTS = [None, day(0), day(0), day(1), day(2)]


def phone_key(value: str) -> str:
    return "".join(ch for ch in value if ch not in " -().")


contacts_st = st.builds(
    Contact,
    name=st.sampled_from(NAMES),
    title=st.sampled_from([None, "CEO", ""]),
    phones=st.lists(st.sampled_from(PHONES), max_size=3),
    emails=st.lists(st.sampled_from(EMAILS), max_size=2),
    wechat=st.sampled_from([None, "", "w1", "w2"]),
    primary=st.booleans(),
)
identifiers_st = st.builds(
    Identifier,
    scheme=st.sampled_from(["CN-USCC", "cn-uscc", "EXTERNAL"]),
    value=st.sampled_from(["91110000X", "91110000x", "C-1"]),
    system=st.sampled_from([None, "erp"]),
)
addresses_st = st.builds(
    Address,
    kind=st.sampled_from(AddressKind),
    city=st.sampled_from([None, "北京", " 北京"]),
    street=st.sampled_from([None, "长安街1号", "南京路2号"]),
)


@st.composite
def customer_groups(draw: st.DrawFn) -> list[Customer]:
    """A survivor and one to three others of the same kind, with distinct ids."""
    kind = draw(st.sampled_from(CustomerKind))
    size = draw(st.integers(2, 4))
    group = []
    for n in range(size):
        group.append(
            Customer(
                id=f"c-{n}",
                kind=kind,
                name=draw(st.sampled_from(["Acme", "Acme Ltd", " "])),
                industry=draw(st.sampled_from([None, "retail", "mining"])),
                identifiers=draw(st.lists(identifiers_st, max_size=3)),
                contacts=draw(st.lists(contacts_st, max_size=3)),
                addresses=draw(st.lists(addresses_st, max_size=2)),
                tags=draw(st.lists(st.sampled_from(TAGS), max_size=3)),
                notes=draw(st.sampled_from([None, "", "note", "longer note"])),
                owner=draw(st.sampled_from([None, "u-1", "u-2"])),
                milestones=Milestones(
                    satisfaction=draw(st.sampled_from([None, 3, 5])),
                    contract_signed_on=draw(st.sampled_from([None, date(2023, 1, 1)])),
                ),
                created_at=draw(st.sampled_from(INSTANTS)),
                updated_at=draw(st.sampled_from(INSTANTS)),
                last_verified_at=draw(st.sampled_from(INSTANTS)),
                verification=draw(st.sampled_from(VerificationStatus)),
            )
        )
    return group


def channels(record: Customer) -> set[tuple[str, str]]:
    found = {("phone", phone_key(p)) for c in record.contacts for p in c.phones if phone_key(p)}
    found |= {("email", e.strip().casefold()) for c in record.contacts for e in c.emails}
    found |= {("wechat", c.wechat) for c in record.contacts if c.wechat}
    found |= {
        ("id", f"{i.scheme.upper()}|{i.system}|{i.value.upper()}") for i in record.identifiers
    }
    found |= {("tag", t) for t in record.tags}
    return found


@given(customer_groups())
def test_merging_never_loses_a_channel_identifier_or_tag(group: list[Customer]) -> None:
    survivor, *others = group
    outcome = merge_records(survivor, others)
    kept = channels(outcome.record)
    for record in group:
        assert channels(record) <= kept
    assert sum(c.primary for c in outcome.record.contacts) <= 1
    ids = {r.id for r in group}
    assert all(c.source_ids and set(c.source_ids) <= ids for c in outcome.choices)


@given(customer_groups())
def test_merging_with_an_identical_copy_changes_nothing_but_tidied_unions(
    group: list[Customer],
) -> None:
    survivor = group[0]
    copy = attrs.evolve(survivor, id="copy")
    outcome = merge_records(survivor, [copy])
    assert set(outcome.changed_fields) <= TIDIED_BY_UNION
    tidy = outcome.record  # a merged record is already tidy: merging it again changes nothing
    again = merge_records(tidy, [attrs.evolve(tidy, id="copy")])
    assert again.changed_fields == ()
    assert again.record == tidy
