"""Records of processing: the map derived from the declarations, its JSON, and the fideslang
mapping pinned by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from custrec.compliance import Controller, ProcessingMap, Recipient, processing_map
from custrec.compliance.processing import RECORD_TYPES
from custrec.compliance.taxonomy import (
    FALLBACK_CATEGORY,
    FALLBACK_USE,
    FidesMatch,
    field_categories,
    purpose_use,
)
from custrec.consent import (
    PURPOSES,
    ContactChannel,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    Purpose,
)
from custrec.errors import SchemaError
from custrec.model.custom import CustomField, CustomFieldSet
from custrec.model.records import (
    CustomerKind,
    DataCategory,
    Money,
    Sensitivity,
    personal,
    personal_fields,
)
from custrec.retention import (
    LegalHold,
    Period,
    RetentionAction,
    RetentionRule,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
    StatutoryFloor,
)

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))

# Every built-in personal field, written out by hand: the map must list exactly these, each
# once, with these fideslang categories.
RIC = "user.government_id.national_identification_number"
PASSPORT = "user.government_id.passport_number"
PRIVATE = "user.content.private"
EXPECTED_CATEGORIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("customer", "name"): ("user.name",),
    ("customer", "registered_name"): ("user.name",),
    ("customer", "gender"): ("user.demographic.gender",),
    ("customer", "birth_date"): ("user.demographic.date_of_birth",),
    ("customer", "legal_representative"): ("user.name",),
    ("customer", "identifiers[].value"): (RIC, PASSPORT, "user.government_id", "user.unique_id"),
    ("customer", "contacts[].name"): ("user.name",),
    ("customer", "contacts[].phones"): ("user.contact.phone_number",),
    ("customer", "contacts[].emails"): ("user.contact.email",),
    ("customer", "contacts[].wechat"): ("user.contact",),
    ("customer", "addresses[].district"): ("user.contact.address",),
    ("customer", "addresses[].street"): ("user.contact.address.street",),
    ("customer", "addresses[].postal_code"): ("user.contact.address.postal_code",),
    ("customer", "notes"): (PRIVATE,),
    ("customer", "grades[].explanation"): ("user.financial",),
    ("customer", "custom"): ("user",),
    ("interaction", "summary"): (PRIVATE,),
    ("case", "subject"): (PRIVATE,),
    ("case", "description"): (PRIVATE,),
    ("task", "note"): (PRIVATE,),
}
# The customer fields whose value feeds the look-up index (identifiers, name search, blocking).
EXPECTED_INDEXED = {
    "name",
    "registered_name",
    "identifiers[].value",
    "contacts[].phones",
    "contacts[].emails",
    "addresses[].street",
}
EXPECTED_USES = {
    "service": "essential.service",
    "storage": "essential.service.security",
    "marketing.email": "marketing.communications.email",
    "marketing.sms": "marketing.communications.sms",
    "marketing.phone": "marketing.communications",
    "profiling": "marketing.advertising.profiling",
    "analytics": "analytics",
    "third_party": "third_party_sharing",
    "cross_border": "third_party_sharing",
    "public_disclosure": "third_party_sharing",
    "sensitive": "collect",
    "public_images": "collect",
}

MEMBER_NO = CustomField(
    name="member_no",
    type="text",
    personal=True,
    category="identifier",
    indexed=True,
    labels={"en": "Member number", "zh": "会员编号"},
)
TIER = CustomField(name="tier", type="enum", options=("silver", "gold"), filterable=True)
SF = Recipient(
    id="sf-express",
    name="SF Express",
    contact="privacy@sf.example",
    contract="DPA-2026-014",
    country="CN",
    registered_at=AT,
)
ACME = Controller(name="ACME Trading", contact="dpo@acme.example", country="CN")


def build(**changes: Any) -> ProcessingMap:
    arguments: dict[str, Any] = {
        "purposes": PURPOSES,
        "retention": None,
        "custom_fields": CustomFieldSet(),
        "recipients": (),
        "jurisdiction": Jurisdiction.PIPL,
    }
    arguments.update(changes)
    return processing_map(**arguments)


def categories(found: ProcessingMap) -> dict[tuple[str, str], tuple[str, ...]]:
    mapped = found.to_fideslang().categories
    pairs = [(c.record, c.path) for c in mapped]
    assert len(pairs) == len(set(pairs)), "a field is mapped twice"
    return {(c.record, c.path): c.data_categories for c in mapped}


# ------------------------------------------------------------------------------ the fields


def test_every_built_in_personal_field_appears_once_with_its_fideslang_category() -> None:
    assert categories(build()) == EXPECTED_CATEGORIES


def test_the_map_lists_exactly_the_declared_personal_fields() -> None:
    declared = {
        (name, f.path): (f.category, f.sensitivity)
        for name, cls in RECORD_TYPES.items()
        for f in personal_fields(cls)
    }
    found = build()
    listed = {
        (r.name, f.path): (f.category, f.sensitivity) for r in found.records for f in r.fields
    }
    assert listed == declared
    assert set(listed) == set(EXPECTED_CATEGORIES)
    assert [r.name for r in found.records] == [
        "customer",
        "transaction",
        "interaction",
        "case",
        "task",
    ]
    assert found.record("transaction").fields == ()


def test_sensitivity_and_categories_come_from_the_declarations() -> None:
    found = build()
    value = found.field("customer", "identifiers[].value")
    assert (value.category, value.sensitivity, value.declared_in) == (
        DataCategory.IDENTIFIER,
        Sensitivity.SENSITIVE,
        "Identifier",
    )
    phones = found.field("customer", "contacts[].phones")
    assert (phones.category, phones.sensitivity, phones.declared_in) == (
        DataCategory.CONTACT,
        Sensitivity.PERSONAL,
        "Contact",
    )


def test_flags_say_how_the_registry_treats_each_field() -> None:
    found = build()
    customer = found.record("customer").fields
    assert {f.path for f in customer if f.indexed} == EXPECTED_INDEXED
    assert {f.path for f in customer if f.blind_indexed} == EXPECTED_INDEXED
    every = [f for r in found.records for f in r.fields]
    assert all(f.masked and f.encrypted for f in every)
    assert not any(f.indexed for r in found.records if r.name != "customer" for f in r.fields)


def test_a_registry_without_a_keyring_encrypts_nothing_and_indexes_in_the_clear() -> None:
    found = build(encrypted=False, custom_fields=CustomFieldSet().define(MEMBER_NO))
    every = [f for r in found.records for f in r.fields]
    assert not any(f.encrypted or f.blind_indexed for f in every)
    assert {f.path for f in found.record("customer").fields if f.indexed} == EXPECTED_INDEXED
    (member,) = found.custom_fields.fields
    assert (member.indexed, member.blind_indexed, member.encrypted) == (True, False, False)
    assert found.encrypted is False


def test_indexed_follows_the_look_up_keys_given() -> None:
    nothing = build(lookup_keys=lambda customer: ())
    assert not any(f.indexed for f in nothing.record("customer").fields)
    phones_only = build(lookup_keys=lambda c: [p for contact in c.contacts for p in contact.phones])
    assert [f.path for f in phones_only.record("customer").fields if f.indexed] == [
        "contacts[].phones"
    ]


@attrs.frozen(kw_only=True)
class Card:
    """A loyalty card."""

    number: str = personal(category=DataCategory.IDENTIFIER)
    points: int = personal(category=DataCategory.FINANCIAL, default=0)


@attrs.frozen(kw_only=True)
class Loyalty:
    """A loyalty membership of one customer."""

    customer_id: str
    cards: tuple[Card, ...] = ()
    since: date | None = personal(category=DataCategory.IDENTITY, default=None)


@attrs.frozen(kw_only=True)
class Odd:
    """A record with a personal field of a type the map cannot try."""

    paid: Money | None = personal(category=DataCategory.FINANCIAL, default=None)


def test_a_record_type_of_ones_own_is_walked_like_the_built_in_ones() -> None:
    found = build(record_types={"loyalty": Loyalty})
    (loyalty,) = found.records
    assert (loyalty.name, loyalty.description) == (
        "loyalty",
        "A loyalty membership of one customer.",
    )
    assert [(f.path, f.declared_in, f.masked, f.indexed) for f in loyalty.fields] == [
        ("cards[].number", "Card", True, False),
        ("cards[].points", "Card", True, False),
        ("since", "Loyalty", True, False),
    ]
    mapped = {c.path: (c.data_categories, c.match) for c in found.to_fideslang().categories}
    assert mapped == {
        "cards[].number": (("user.unique_id",), FidesMatch.DERIVED),
        "cards[].points": (("user.financial",), FidesMatch.DERIVED),
        "since": ((FALLBACK_CATEGORY,), FidesMatch.FALLBACK),
    }


def test_a_personal_field_that_cannot_be_tried_is_refused_not_guessed() -> None:
    with pytest.raises(TypeError, match="paid"):
        build(record_types={"odd": Odd})


# --------------------------------------------------------------------------- custom fields


def test_a_personal_custom_field_adds_an_entry() -> None:
    before = categories(build())
    fields = CustomFieldSet().define(MEMBER_NO)
    after = categories(build(custom_fields=fields))
    assert after == {**before, ("customer", "custom.member_no"): ("user.unique_id",)}
    mapped = {c.path: c for c in build(custom_fields=fields).to_fideslang().categories}
    assert mapped["custom.member_no"].match is FidesMatch.DERIVED
    assert "review" in mapped["custom.member_no"].note


def test_a_field_that_is_not_personal_adds_no_fideslang_entry_but_is_listed() -> None:
    found = build(custom_fields=CustomFieldSet().define(TIER))
    assert categories(found) == EXPECTED_CATEGORIES
    (tier,) = found.custom_fields.fields
    assert (tier.personal, tier.category, tier.sensitivity) == (False, None, None)
    assert (tier.filterable, tier.masked, tier.indexed) == (True, False, False)


def test_custom_fields_say_how_they_are_treated_removed_ones_included() -> None:
    fields = (
        CustomFieldSet()
        .define(MEMBER_NO)
        .define(TIER)
        .define(
            CustomField(
                name="id_no",
                type="text",
                personal=True,
                category="identifier",
                sensitivity="sensitive",
            )
        )
        .remove("id_no")
    )
    found = build(custom_fields=fields)
    assert found.custom_fields.version == 4
    by_name = {f.name: f for f in found.custom_fields.fields}
    assert list(by_name) == ["id_no", "member_no", "tier"]
    member = by_name["member_no"]
    assert (member.path, member.personal, member.category, member.sensitivity) == (
        "custom.member_no",
        True,
        DataCategory.IDENTIFIER,
        Sensitivity.PERSONAL,
    )
    assert (member.indexed, member.blind_indexed, member.masked, member.removed) == (
        True,
        True,
        True,
        False,
    )
    assert [(label.language, label.text) for label in member.labels] == [
        ("en", "Member number"),
        ("zh", "会员编号"),
    ]
    gone = by_name["id_no"]
    assert (gone.removed, gone.masked, gone.sensitivity) == (True, True, Sensitivity.SENSITIVE)
    mapped = categories(found)
    assert mapped[("customer", "custom.id_no")] == ("user.government_id",)


def test_fields_known_only_by_category_get_its_key_or_the_stated_fallback() -> None:
    cases = {
        DataCategory.CONTACT: ("user.contact",),
        DataCategory.LOCATION: ("user.contact.address",),
        DataCategory.FINANCIAL: ("user.financial",),
        DataCategory.COMMUNICATION: (PRIVATE,),
    }
    for category, expected in cases.items():
        keys, match, _ = field_categories("CustomField", "x", category, Sensitivity.PERSONAL)
        assert (keys, match) == (expected, FidesMatch.DERIVED), category
    keys, match, note = field_categories(
        "CustomField", "nickname", DataCategory.IDENTITY, Sensitivity.PERSONAL
    )
    assert (keys, match) == ((FALLBACK_CATEGORY,), FidesMatch.FALLBACK)
    assert "identity" in note
    fields = CustomFieldSet().define(
        CustomField(name="nickname", type="text", personal=True, category="identity")
    )
    mapping = build(custom_fields=fields).to_fideslang()
    fallbacks = {(e.record, e.path) for e in mapping.categories if e.match is FidesMatch.FALLBACK}
    assert fallbacks == {("customer", "custom"), ("customer", "custom.nickname")}


# -------------------------------------------------------------------------------- purposes


def test_a_purpose_that_requires_separate_consent_says_so() -> None:
    found = build()
    third = found.purpose("third_party")
    assert third.requires_separate_consent is True
    (consent,) = third.bases
    assert (consent.basis, consent.jurisdiction, consent.reference) == (
        LawfulBasis.CONSENT,
        Jurisdiction.PIPL,
        "PIPL Art. 13(1)",
    )
    assert "separate consent" in consent.condition and consent.objectionable
    assert "PIPL Art. 23" in third.legal_reference
    separate = {p.code for p in found.purposes if p.requires_separate_consent}
    assert separate == {
        "third_party",
        "cross_border",
        "public_disclosure",
        "sensitive",
        "public_images",
    }
    assert "separate" not in found.purpose("marketing.sms").bases[0].condition


def test_bases_are_listed_per_jurisdiction() -> None:
    gdpr13 = JurisdictionProfile.gdpr(consent_age=13)
    found = build(jurisdiction=[Jurisdiction.PIPL, gdpr13])
    service = found.purpose("service").bases
    assert [(b.jurisdiction, b.basis, b.reference) for b in service] == [
        (Jurisdiction.PIPL, LawfulBasis.CONSENT, "PIPL Art. 13(1)"),
        (Jurisdiction.PIPL, LawfulBasis.CONTRACT, "PIPL Art. 13(2)"),
        (Jurisdiction.GDPR, LawfulBasis.CONSENT, "GDPR Art. 6(1)(a)"),
        (Jurisdiction.GDPR, LawfulBasis.CONTRACT, "GDPR Art. 6(1)(b)"),
    ]
    assert not service[1].objectionable
    assert [b.basis for b in found.purpose("marketing.email").bases] == [LawfulBasis.CONSENT] * 2
    pipl, gdpr = found.jurisdictions
    assert (pipl.consent_age, pipl.sensitive_minor_age) == (14, 14)
    assert LawfulBasis.LEGITIMATE_INTERESTS not in pipl.bases
    assert (gdpr.consent_age, gdpr.sensitive_minor_age) == (13, None)
    assert LawfulBasis.LEGITIMATE_INTERESTS in gdpr.bases
    assert [p.code for p in found.purposes] == list(PURPOSES)


def test_each_purpose_has_a_fideslang_use_and_fallbacks_are_stated() -> None:
    mapping = build().to_fideslang()
    assert {u.purpose: u.data_use for u in mapping.uses} == EXPECTED_USES
    fallback = {u.purpose for u in mapping.uses if u.match is FidesMatch.FALLBACK}
    assert fallback == {"sensitive", "public_images"}
    assert all(u.note for u in mapping.uses if u.match is FidesMatch.FALLBACK)
    assert {
        (type(e).__name__, getattr(e, "path", getattr(e, "purpose", "")))
        for e in mapping.fallbacks()
    } == {("FidesCategory", "custom"), ("FidesUse", "sensitive"), ("FidesUse", "public_images")}


def test_purposes_of_ones_own_are_mapped_by_their_flags_else_to_the_fallback() -> None:
    cases = [
        (
            Purpose(
                code="loyalty.wechat",
                title="WeChat offers",
                is_marketing=True,
                channel=ContactChannel.MESSAGING,
            ),
            "marketing.communications",
        ),
        (
            Purpose(
                code="newsletter",
                title="Newsletter",
                is_marketing=True,
                channel=ContactChannel.EMAIL,
            ),
            "marketing.communications.email",
        ),
        (
            Purpose(code="delivery", title="Delivery", necessary_for_service=True),
            "essential.service",
        ),
        (Purpose(code="archive", title="Archive", storage_only=True), "essential.service.security"),
        (
            Purpose(code="scoring", title="Scoring", is_profiling=True),
            "marketing.advertising.profiling",
        ),
    ]
    for purpose, expected in cases:
        assert purpose_use(purpose)[:2] == (expected, FidesMatch.DERIVED), purpose.code
    odd = Purpose(code="research", title="Academic research")
    assert purpose_use(odd)[:2] == (FALLBACK_USE, FidesMatch.FALLBACK)
    found = build(purposes=PURPOSES.extended(odd))
    (research,) = [u for u in found.to_fideslang().uses if u.purpose == "research"]
    assert (research.data_use, research.match) == ("collect", FidesMatch.FALLBACK)
    with pytest.raises(TypeError, match="Purpose"):
        purpose_use("research")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- retention


def schedule() -> RetentionSchedule:
    return RetentionSchedule(
        [
            RetentionRule(
                code="leads",
                applies_to=Selector(kinds=[CustomerKind.INDIVIDUAL]),
                trigger=RetentionTrigger.LAST_ACTIVITY,
                period=Period(years=2),
                action=RetentionAction.DESTROY,
                legal_reference="PIPL Art. 19",
            ),
            RetentionRule(
                code="vip",
                applies_to=Selector(customer_ids=["c-secret-1", "c-secret-2"]),
                trigger=RetentionTrigger.CONTRACT_END,
                period=Period(months=6),
                action=RetentionAction.ARCHIVE,
                categories=[DataCategory.CONTACT],
            ),
        ],
        floors=[
            StatutoryFloor(
                code="accounting",
                records="transaction records",
                trigger=RetentionTrigger.LAST_TRANSACTION,
                period=Period(years=10),
                legal_reference="Accounting Archives Measures Art. 14",
            )
        ],
        holds=[
            LegalHold(reason="matter 2026-17", placed_at=AT, customer_ids=["c-secret-3"]),
        ],
        tz=CST,
    )


def test_retention_is_data_and_words_and_never_names_a_customer() -> None:
    found = build(retention=schedule())
    retention = found.retention
    assert retention is not None
    assert retention.time_zone == "UTC+08:00"
    leads, vip = retention.rules
    assert (leads.trigger, leads.period, leads.action) == (
        RetentionTrigger.LAST_ACTIVITY,
        "P2Y",
        RetentionAction.DESTROY,
    )
    assert leads.summary == (
        "all personal data of individuals: destroyed 2 years after last activity (PIPL Art. 19)"
    )
    assert (vip.applies_to.named_customers, vip.categories) == (2, (DataCategory.CONTACT,))
    assert (
        vip.summary
        == "contact data of 2 named customers: archived 6 months after end of the contract"
    )
    (floor,) = retention.floors
    assert (floor.period, floor.records) == ("P10Y", "transaction records")
    assert floor.summary.startswith("transaction records of all customers: kept at least 10 years")
    (hold,) = retention.holds
    assert (hold.reason, hold.placed_at, hold.lifted_at) == ("matter 2026-17", AT, None)
    assert hold.applies_to.named_customers == 1
    assert "c-secret" not in json.dumps(found.to_json())
    assert build().retention is None


# ------------------------------------------------------------------------------ recipients


def test_recipients_and_the_controller_are_listed_with_cross_border_transfers() -> None:
    hk = Recipient(
        id="hk-cloud",
        name="HK Cloud",
        contact="dpo@hk.example",
        contract="DPA-7",
        country="HK",
        registered_at=AT,
    )
    unknown = Recipient(
        id="acme-ads", name="Ads", contact="a@ads.example", contract="C-1", registered_at=AT
    )
    found = build(recipients=[hk, SF, unknown], controller=ACME)
    assert [(r.id, r.cross_border) for r in found.recipients] == [
        ("acme-ads", None),
        ("hk-cloud", True),
        ("sf-express", False),
    ]
    assert found.controller == ACME
    assert [(r.id, r.cross_border) for r in build(recipients=[hk]).recipients] == [
        ("hk-cloud", None)
    ]
    mapping = found.to_fideslang()
    assert mapping.international_transfers and mapping.system == "ACME Trading"


# ------------------------------------------------------------------------------------ JSON


def test_json_round_trips_and_is_stable() -> None:
    found = build(
        custom_fields=CustomFieldSet().define(MEMBER_NO).define(TIER),
        retention=schedule(),
        recipients=[SF],
        controller=ACME,
        jurisdiction=[Jurisdiction.PIPL, Jurisdiction.GDPR],
        as_of=AT,
    )
    data = found.to_json()
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data
    assert ProcessingMap.from_json(json.loads(text)) == found
    assert (data["type"], data["schema"], data["as_of"]) == (
        "custrec.processing_map",
        1,
        "2026-03-01T09:00:00+00:00",
    )
    assert list(data) == [
        "type",
        "schema",
        "as_of",
        "controller",
        "encrypted",
        "jurisdictions",
        "records",
        "custom_fields",
        "purposes",
        "retention",
        "recipients",
    ]
    again = build(
        custom_fields=CustomFieldSet().define(MEMBER_NO).define(TIER),
        retention=schedule(),
        recipients=[SF],
        controller=ACME,
        jurisdiction=[Jurisdiction.PIPL, Jurisdiction.GDPR],
        as_of=AT,
    )
    assert json.dumps(again.to_json(), ensure_ascii=False) == text
    phones = data["records"][0]["fields"][7]
    assert phones == {
        "path": "contacts[].phones",
        "declared_in": "Contact",
        "category": "contact",
        "sensitivity": "personal",
        "encrypted": True,
        "indexed": True,
        "blind_indexed": True,
        "masked": True,
    }
    mapping = found.to_fideslang()
    for document in (mapping.to_json(), mapping.to_manifest()):
        assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "custrec.custom_fields"}, "not a custrec.processing_map document"),
        ({"schema": 2}, "schema version is not 1"),
        ({"extra": 1}, "extra"),
        ({"encrypted": "yes"}, "encrypted"),
        ({"records": [{"name": "customer"}]}, "records"),
    ],
)
def test_anything_but_a_map_is_refused_with_a_schema_error(
    change: dict[str, Any], message: str
) -> None:
    data = {**build().to_json(), **change}
    with pytest.raises(SchemaError, match=message):
        ProcessingMap.from_json(data)


def test_a_document_missing_a_key_is_refused() -> None:
    data = build().to_json()
    del data["purposes"]
    with pytest.raises(SchemaError, match="purposes"):
        ProcessingMap.from_json(data)
    with pytest.raises(SchemaError):
        ProcessingMap.from_json([])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ fideslang


def test_the_manifest_nests_fields_and_declares_each_purpose() -> None:
    found = build(
        custom_fields=CustomFieldSet().define(MEMBER_NO), recipients=[SF], controller=ACME
    )
    manifest = found.to_fideslang().to_manifest()
    (dataset,) = manifest["dataset"]
    collections = {c["name"]: c["fields"] for c in dataset["collections"]}
    assert list(collections) == ["customer", "interaction", "case", "task"]
    contacts = next(f for f in collections["customer"] if f["name"] == "contacts")
    assert [(f["name"], f["data_categories"]) for f in contacts["fields"]] == [
        ("name", ["user.name"]),
        ("phones", ["user.contact.phone_number"]),
        ("emails", ["user.contact.email"]),
        ("wechat", ["user.contact"]),
    ]
    custom = next(f for f in collections["customer"] if f["name"] == "custom")
    assert custom["description"].startswith("fallback:")
    assert [f["name"] for f in custom["fields"]] == ["member_no"]
    (system,) = manifest["system"]
    assert (system["fides_key"], system["name"], system["uses_profiling"]) == (
        "custrec",
        "ACME Trading",
        True,
    )
    assert system["does_international_transfers"] is False
    declarations = {d["data_use"]: d for d in system["privacy_declarations"]}
    assert len(system["privacy_declarations"]) == len(PURPOSES)
    assert declarations["third_party_sharing"]["third_parties"] == "SF Express"
    assert "third_parties" not in declarations["essential.service"]
    assert "user.contact.phone_number" in declarations["essential.service"]["data_categories"]


def test_the_mapping_json_states_its_source_and_fallbacks() -> None:
    data = build().to_fideslang().to_json()
    assert (data["type"], data["schema"]) == ("custrec.fideslang_mapping", 1)
    assert data["fallbacks"] == {"data_category": "user", "data_use": "collect"}
    assert "ethyca/fideslang" in data["source"]
    assert len(data["categories"]) == len(EXPECTED_CATEGORIES)
    assert len(data["uses"]) == len(PURPOSES)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"purposes": list(PURPOSES.values())}, TypeError, "PurposeCatalogue"),
        ({"retention": []}, TypeError, "RetentionSchedule"),
        ({"custom_fields": None}, TypeError, "CustomFieldSet"),
        ({"recipients": [SF, SF]}, ValueError, "given twice"),
        ({"recipients": [SF.to_json()]}, TypeError, "Recipient"),
        ({"recipients": SF}, TypeError, "iterable"),
        ({"jurisdiction": "ccpa"}, ValueError, "pipl, gdpr"),
        ({"jurisdiction": [Jurisdiction.PIPL, "pipl"]}, ValueError, "given twice"),
        ({"jurisdiction": []}, ValueError, "no jurisdiction"),
        ({"jurisdiction": 1}, TypeError, "jurisdiction"),
        ({"controller": "ACME"}, TypeError, "Controller"),
        ({"as_of": datetime(2026, 3, 1)}, ValueError, "as_of"),
        ({"lookup_keys": "phones"}, TypeError, "callable"),
        ({"record_types": {"customer": dict}}, TypeError, "attrs record classes"),
    ],
)
def test_bad_arguments_raise_typed_errors(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build(**change)


def test_a_controller_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="name must not be blank"):
        Controller(name=" ", contact="dpo@acme.example")
    with pytest.raises(TypeError, match="contact"):
        Controller(name="ACME", contact=None)  # type: ignore[arg-type]
