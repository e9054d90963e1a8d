"""Records of processing: a machine-readable map of what custrec holds and why.

:func:`processing_map` derives the map from the declarations alone (it never reads a
customer): the record types and their personal fields with data category, sensitivity and how
custrec protects each (walked from the attrs classes, nested records included), the custom
fields, the purposes with the lawful bases each can rest on in each jurisdiction, the retention
schedule, and the third parties data is disclosed to. It is the raw material of a record of
processing activities (GDPR Art. 30) and of a PIPL personal-information inventory.

>>> from custrec.consent import PURPOSES, Jurisdiction
>>> from custrec.model.custom import CustomFieldSet
>>> found = processing_map(purposes=PURPOSES, retention=None, custom_fields=CustomFieldSet(),
...                        recipients=(), jurisdiction=Jurisdiction.PIPL)
>>> phones = found.field("customer", "contacts[].phones")
>>> phones.category.value, phones.encrypted, phones.blind_indexed, phones.masked
('contact', True, True, True)
>>> found.purpose("third_party").requires_separate_consent
True
>>> found.to_json()["schema"], ProcessingMap.from_json(found.to_json()) == found
(1, True)
>>> found.to_fideslang().categories[0].data_categories
('user.name',)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import attrs
import cattrs

from custrec._checks import non_empty_text, optional, require_aware, storable_text
from custrec.compliance._probe import LookupKeys, indexed_paths, masked_paths
from custrec.compliance.recipients import Recipient
from custrec.compliance.taxonomy import (
    FidesCategory,
    FideslangMapping,
    FidesUse,
    field_categories,
    purpose_use,
)
from custrec.consent import (
    PROFILES,
    ContactChannel,
    Jurisdiction,
    JurisdictionProfile,
    LawfulBasis,
    Purpose,
    PurposeCatalogue,
)
from custrec.errors import SchemaError
from custrec.matching import blocking_keys, strong_keys
from custrec.matching.names import name_keys
from custrec.model.custom import CustomField, CustomFieldSet, FieldType
from custrec.model.records import (
    Customer,
    CustomerKind,
    DataCategory,
    LifecycleStage,
    RecordState,
    Sensitivity,
    personal_fields,
)
from custrec.model.serialization import DOCUMENT_TYPES, make_converter
from custrec.retention import (
    LegalHold,
    RetentionAction,
    RetentionSchedule,
    RetentionTrigger,
    Selector,
)
from custrec.workflow import Case, Task

__all__ = [
    "DOCUMENT_TYPE",
    "RECORD_TYPES",
    "SCHEMA_VERSION",
    "BasisEntry",
    "Controller",
    "CustomFieldEntry",
    "CustomFieldsEntry",
    "FieldEntry",
    "FieldLabel",
    "FloorEntry",
    "HoldEntry",
    "JurisdictionEntry",
    "LookupKeys",
    "ProcessingMap",
    "PurposeEntry",
    "RecipientEntry",
    "RecordTypeEntry",
    "RetentionEntry",
    "RuleEntry",
    "SelectorEntry",
    "default_lookup_keys",
    "processing_map",
]

DOCUMENT_TYPE: Final = "custrec.processing_map"
"""The ``type`` of the document :meth:`ProcessingMap.to_json` writes."""
SCHEMA_VERSION: Final = 1
"""The shape of that document; bumped (with a reader for the old shape) when it changes."""

RECORD_TYPES: Final[Mapping[str, type]] = MappingProxyType(
    {**DOCUMENT_TYPES, "case": Case, "task": Task}
)
"""The record types custrec stores, by the name the map gives them: customers (with their
contacts, addresses, identifiers and grades), transactions, interactions, cases and tasks."""


# ------------------------------------------------------------------------------ controller


@attrs.frozen(kw_only=True)
class Controller:
    """The company the records are kept for (the personal information handler, PIPL Art. 73;
    the controller, GDPR Art. 4(7)): its name and privacy contact, the country it is
    established in (ISO 3166 code: a recipient elsewhere is a cross-border transfer), its
    representative (PIPL Art. 53, GDPR Art. 27) and the person in charge of personal
    information protection or data protection officer (PIPL Art. 52, GDPR Art. 37).
    Company data only: never a customer's."""

    name: str = attrs.field(validator=[non_empty_text(), storable_text()])
    contact: str = attrs.field(validator=[non_empty_text(), storable_text()])
    country: str | None = attrs.field(default=None, validator=optional(non_empty_text()))
    representative: str | None = attrs.field(default=None, validator=optional(storable_text()))
    protection_officer: str | None = attrs.field(default=None, validator=optional(storable_text()))


# ---------------------------------------------------------------------------------- fields


@attrs.frozen(kw_only=True)
class FieldEntry:
    """One declared personal field of a record type, and how custrec treats it.

    ``path`` is the field's place in the record (``contacts[].phones``: the phones of every
    contact); ``declared_in`` the class that declares it. ``encrypted``: sealed under the
    customer's own data key (the registry has a keyring), so erasing the customer shreds it.
    ``indexed``: its value feeds the registry's exact look-up index (identifiers, name search,
    duplicate blocking); ``blind_indexed``: as keyed HMAC tokens (encrypted registries), so the
    index holds no value. ``masked``: shown masked to anyone without the ``unmask`` right.
    """

    path: str
    declared_in: str
    category: DataCategory
    sensitivity: Sensitivity
    encrypted: bool
    indexed: bool
    blind_indexed: bool
    masked: bool


@attrs.frozen(kw_only=True)
class RecordTypeEntry:
    """A record type (``customer``, ``transaction``, ...) and its declared personal fields."""

    name: str
    description: str
    fields: tuple[FieldEntry, ...]


@attrs.frozen(kw_only=True)
class FieldLabel:
    """A custom field's label in one language."""

    language: str
    text: str


@attrs.frozen(kw_only=True)
class CustomFieldEntry:
    """One custom field defined at run time (``path`` is ``custom.<name>``).

    ``category`` and ``sensitivity`` are ``None`` for a field that is not personal. Every
    custom value is sealed with the customer's others (``encrypted``); a personal one is also
    ``masked`` and may be ``indexed`` (exact look-up); a ``filterable`` one is a facet, kept in
    the clear in the facet index. A ``removed`` field takes no new values, but the stored ones
    are kept until retention erases the customer.
    """

    name: str
    path: str
    type: FieldType
    personal: bool
    category: DataCategory | None
    sensitivity: Sensitivity | None
    removed: bool
    encrypted: bool
    indexed: bool
    blind_indexed: bool
    masked: bool
    filterable: bool
    labels: tuple[FieldLabel, ...] = ()


@attrs.frozen(kw_only=True)
class CustomFieldsEntry:
    """The custom-field definitions the map was made with (their set's ``version``)."""

    version: int
    fields: tuple[CustomFieldEntry, ...]


# -------------------------------------------------------------------------------- purposes


@attrs.frozen(kw_only=True)
class JurisdictionEntry:
    """A jurisdiction's rules as configured: the lawful bases it offers, the age from which a
    subject consents alone, and the age below which all of a subject's data is sensitive
    (PIPL Art. 28: 14; ``None`` where there is no such rule)."""

    jurisdiction: Jurisdiction
    consent_age: int
    sensitive_minor_age: int | None
    bases: tuple[LawfulBasis, ...]
    legal_reference: str


@attrs.frozen(kw_only=True)
class BasisEntry:
    """A lawful basis a purpose can rest on in one jurisdiction, and when custrec's consent
    decisions accept it. ``objectionable``: the subject's objection stops processing on it."""

    jurisdiction: Jurisdiction
    basis: LawfulBasis
    reference: str
    condition: str
    objectionable: bool


@attrs.frozen(kw_only=True)
class PurposeEntry:
    """A purpose of the catalogue with its flags and the lawful bases it can rest on.

    ``bases`` lists consent (separate consent when ``requires_separate_consent``) and, for a
    purpose necessary for the service, the contract basis. Another statutory basis (a legal
    duty, an emergency) is asserted by the caller when deciding and is not declared per
    purpose, so it is not listed.
    """

    code: str
    title: str
    requires_separate_consent: bool
    necessary_for_service: bool
    storage_only: bool
    is_profiling: bool
    is_marketing: bool
    channel: ContactChannel | None
    legal_reference: str
    bases: tuple[BasisEntry, ...]

    def to_purpose(self) -> Purpose:
        """The :class:`~custrec.consent.Purpose` the entry describes."""
        return Purpose(
            code=self.code,
            title=self.title,
            requires_separate_consent=self.requires_separate_consent,
            necessary_for_service=self.necessary_for_service,
            storage_only=self.storage_only,
            is_profiling=self.is_profiling,
            is_marketing=self.is_marketing,
            channel=self.channel,
            legal_reference=self.legal_reference,
        )


# ------------------------------------------------------------------------------- retention


@attrs.frozen(kw_only=True)
class SelectorEntry:
    """Which customers a rule, floor or hold applies to. Customers named by id are counted
    (``named_customers``), never listed; ``text`` says it in words."""

    kinds: tuple[CustomerKind, ...] = ()
    stages: tuple[LifecycleStage, ...] = ()
    states: tuple[RecordState, ...] = ()
    named_customers: int = 0
    text: str = "all customers"


@attrs.frozen(kw_only=True)
class RuleEntry:
    """A retention rule: after ``period`` (ISO 8601, ``P3Y``) from ``trigger``, ``action``
    happens to ``data`` (the ``categories``; empty: all personal data). ``summary`` is one
    sentence for a notice."""

    code: str
    data: str
    categories: tuple[DataCategory, ...]
    applies_to: SelectorEntry
    trigger: RetentionTrigger
    period: str
    action: RetentionAction
    legal_reference: str
    summary: str


@attrs.frozen(kw_only=True)
class FloorEntry:
    """A statutory floor: ``records`` are kept at least ``period`` from ``trigger``."""

    code: str
    records: str
    categories: tuple[DataCategory, ...]
    applies_to: SelectorEntry
    trigger: RetentionTrigger
    period: str
    legal_reference: str
    summary: str


@attrs.frozen(kw_only=True)
class HoldEntry:
    """A legal hold (in place while ``lifted_at`` is ``None``): nothing it covers is
    anonymised or destroyed. ``reason`` cites a matter, never a person."""

    reason: str
    placed_at: datetime
    lifted_at: datetime | None
    applies_to: SelectorEntry


@attrs.frozen(kw_only=True)
class RetentionEntry:
    """The retention schedule: its calendar (``time_zone``), rules, floors and holds."""

    time_zone: str
    rules: tuple[RuleEntry, ...]
    floors: tuple[FloorEntry, ...]
    holds: tuple[HoldEntry, ...]


# ------------------------------------------------------------------------------ recipients


@attrs.frozen(kw_only=True)
class RecipientEntry:
    """A third party customer data is disclosed to (see
    :class:`~custrec.compliance.Recipient`). ``cross_border``: its country differs from the
    controller's (``None`` when either is unknown)."""

    id: str
    name: str
    contact: str
    contract: str
    country: str | None
    note: str | None
    registered_at: datetime
    version: int
    cross_border: bool | None


# --------------------------------------------------------------------------------- the map


_converter = make_converter()


@attrs.frozen(kw_only=True)
class ProcessingMap:
    """What custrec holds, why, for how long and for whom: see :func:`processing_map`.

    ``as_of``: when the map was made (``None`` when not stated); ``encrypted``: whether the
    registry encrypts personal data (has a keyring). Everything else is derived from the
    declarations; the map holds no customer data.
    """

    as_of: datetime | None
    controller: Controller | None
    encrypted: bool
    jurisdictions: tuple[JurisdictionEntry, ...]
    records: tuple[RecordTypeEntry, ...]
    custom_fields: CustomFieldsEntry
    purposes: tuple[PurposeEntry, ...]
    retention: RetentionEntry | None
    recipients: tuple[RecipientEntry, ...]

    def record(self, name: str) -> RecordTypeEntry:
        """The record type ``name`` (``KeyError`` when the map has none)."""
        for entry in self.records:
            if entry.name == name:
                return entry
        raise KeyError(f"no record type {name!r} in the map")

    def field(self, record: str, path: str) -> FieldEntry:
        """The personal field at ``path`` of record type ``record`` (``KeyError`` if none)."""
        for entry in self.record(record).fields:
            if entry.path == path:
                return entry
        raise KeyError(f"no personal field {path!r} in record type {record!r}")

    def purpose(self, code: str) -> PurposeEntry:
        """The purpose ``code`` (``KeyError`` when the map has none)."""
        for entry in self.purposes:
            if entry.code == code:
                return entry
        raise KeyError(f"no purpose {code!r} in the map")

    def to_json(self) -> dict[str, Any]:
        """The map as JSON-able data (``json.dumps`` takes it as is): ``type``
        (:data:`DOCUMENT_TYPE`), ``schema`` (:data:`SCHEMA_VERSION`), then every attribute by
        its name, enums as their values, instants in ISO 8601, tuples as lists, in a fixed
        order. docs/records-of-processing.md describes the shape."""
        return {"type": DOCUMENT_TYPE, "schema": SCHEMA_VERSION, **_converter.unstructure(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessingMap:
        """The map :meth:`to_json` wrote (after ``json.loads`` too). Anything else (another
        type or schema, unknown or missing keys, values of the wrong type) raises
        :class:`~custrec.errors.SchemaError` saying what is wrong."""
        if not isinstance(data, Mapping) or data.get("type") != DOCUMENT_TYPE:
            raise SchemaError(f"processing map: not a {DOCUMENT_TYPE} document")
        if data.get("schema") != SCHEMA_VERSION:
            raise SchemaError(f"processing map: schema version is not {SCHEMA_VERSION}")
        body = {k: v for k, v in data.items() if k not in ("type", "schema")}
        try:
            return _converter.structure(body, cls)
        except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
            detail = (
                "; ".join(cattrs.transform_error(exc))
                if isinstance(exc, cattrs.BaseValidationError)
                else str(exc)
            )
            raise SchemaError(f"processing map: {detail}") from None

    def to_fideslang(self) -> FideslangMapping:
        """Every personal field (built-in and custom, removed ones too) and every purpose in
        the fideslang taxonomy's terms (see :mod:`custrec.compliance.taxonomy`)."""
        categories: list[FidesCategory] = []
        for record in self.records:
            for field in record.fields:
                name = field.path.rsplit(".", 1)[-1]
                keys, match, note = field_categories(
                    field.declared_in, name, field.category, field.sensitivity
                )
                categories.append(
                    FidesCategory(
                        record=record.name,
                        path=field.path,
                        data_categories=keys,
                        match=match,
                        note=note,
                    )
                )
        for custom in self.custom_fields.fields:
            if custom.category is None or custom.sensitivity is None:
                continue  # not personal
            keys, match, note = field_categories(
                "CustomField", custom.name, custom.category, custom.sensitivity
            )
            categories.append(
                FidesCategory(
                    record="customer",
                    path=custom.path,
                    data_categories=keys,
                    match=match,
                    note=note,
                )
            )
        uses = []
        for purpose in self.purposes:
            use, match, note = purpose_use(purpose.to_purpose())
            uses.append(
                FidesUse(
                    purpose=purpose.code, title=purpose.title, data_use=use, match=match, note=note
                )
            )
        return FideslangMapping(
            categories=tuple(categories),
            uses=tuple(uses),
            system=self.controller.name if self.controller else "custrec",
            recipients=tuple(r.name for r in self.recipients),
            international_transfers=any(r.cross_border for r in self.recipients),
            uses_profiling=any(p.is_profiling for p in self.purposes),
        )


# ------------------------------------------------------------------------------- building


def default_lookup_keys(customer: Customer) -> frozenset[tuple[str, str]]:
    """The look-up keys of a customer in a registry that keeps blocking keys: its strong
    identifiers, blocking keys, and the name-search keys of its name and registered name.
    (``registry.processing`` asks the registry's own index instead.)"""
    found: set[tuple[str, str]] = set(strong_keys(customer)) | set(blocking_keys(customer))
    for name in (customer.name, customer.registered_name):
        if name:
            found |= name_keys(customer.kind.value, name)
    return frozenset(found)


def _description(cls: type) -> str:
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0].strip()


def _record_entry(name: str, cls: type, *, encrypted: bool, lookup: LookupKeys) -> RecordTypeEntry:
    declared = personal_fields(cls)
    masked = masked_paths(cls, declared)
    indexed = indexed_paths(cls, declared, lookup) if cls is Customer else frozenset()
    return RecordTypeEntry(
        name=name,
        description=_description(cls),
        fields=tuple(
            FieldEntry(
                path=f.path,
                declared_in=f.record_type.__name__,
                category=f.category,
                sensitivity=f.sensitivity,
                encrypted=encrypted,
                indexed=f.path in indexed,
                blind_indexed=encrypted and f.path in indexed,
                masked=f.path in masked,
            )
            for f in declared
        ),
    )


def _custom_entry(field: CustomField, *, removed: bool, encrypted: bool) -> CustomFieldEntry:
    indexed = field.indexed and not removed
    return CustomFieldEntry(
        name=field.name,
        path=f"custom.{field.name}",
        type=field.type,
        personal=field.personal,
        category=field.category if field.personal else None,
        sensitivity=field.sensitivity if field.personal else None,
        removed=removed,
        encrypted=encrypted,
        indexed=indexed,
        blind_indexed=encrypted and indexed,
        masked=field.personal,
        filterable=field.filterable and not removed,
        labels=tuple(FieldLabel(language=k, text=v) for k, v in field.labels),
    )


def _custom_fields(fields: CustomFieldSet, *, encrypted: bool) -> CustomFieldsEntry:
    entries = [_custom_entry(f, removed=False, encrypted=encrypted) for f in fields.fields]
    entries += [_custom_entry(f, removed=True, encrypted=encrypted) for f in fields.removed]
    return CustomFieldsEntry(
        version=fields.version, fields=tuple(sorted(entries, key=lambda e: e.name))
    )


_ARTICLES: Final = {
    (Jurisdiction.PIPL, LawfulBasis.CONSENT): "PIPL Art. 13(1)",
    (Jurisdiction.PIPL, LawfulBasis.CONTRACT): "PIPL Art. 13(2)",
    (Jurisdiction.GDPR, LawfulBasis.CONSENT): "GDPR Art. 6(1)(a)",
    (Jurisdiction.GDPR, LawfulBasis.CONTRACT): "GDPR Art. 6(1)(b)",
}


def _bases(purpose: Purpose, profiles: tuple[JurisdictionProfile, ...]) -> tuple[BasisEntry, ...]:
    found: list[BasisEntry] = []
    for profile in profiles:
        where = profile.jurisdiction
        consent = (
            "a grant naming this purpose alone (separate consent), in force"
            if purpose.requires_separate_consent
            else "a grant of this purpose in force (not withdrawn, objected to or expired)"
        )
        found.append(
            BasisEntry(
                jurisdiction=where,
                basis=LawfulBasis.CONSENT,
                reference=_ARTICLES[where, LawfulBasis.CONSENT],
                condition=consent,
                objectionable=LawfulBasis.CONSENT.objectionable,
            )
        )
        if purpose.necessary_for_service and profile.allows(LawfulBasis.CONTRACT):
            found.append(
                BasisEntry(
                    jurisdiction=where,
                    basis=LawfulBasis.CONTRACT,
                    reference=_ARTICLES[where, LawfulBasis.CONTRACT],
                    condition="asserted by the caller: necessary for the contracted service",
                    objectionable=LawfulBasis.CONTRACT.objectionable,
                )
            )
    return tuple(found)


def _purpose_entry(purpose: Purpose, profiles: tuple[JurisdictionProfile, ...]) -> PurposeEntry:
    return PurposeEntry(
        code=purpose.code,
        title=purpose.title,
        requires_separate_consent=purpose.requires_separate_consent,
        necessary_for_service=purpose.necessary_for_service,
        storage_only=purpose.storage_only,
        is_profiling=purpose.is_profiling,
        is_marketing=purpose.is_marketing,
        channel=purpose.channel,
        legal_reference=purpose.legal_reference,
        bases=_bases(purpose, profiles),
    )


def _selector(selector: Selector | None, named: tuple[str, ...] = ()) -> SelectorEntry:
    selector = selector or Selector()
    count = len(set(selector.customer_ids) | set(named))
    text = attrs.evolve(selector, customer_ids=()).describe()
    if count:
        named_text = f"{count} named customer{'' if count == 1 else 's'}"
        text = named_text if text == "all customers" else f"{text}, {named_text}"
    return SelectorEntry(
        kinds=selector.kinds,
        stages=selector.stages,
        states=selector.states,
        named_customers=count,
        text=text,
    )


def _reference(text: str) -> str:
    return f" ({text})" if text else ""


def _retention_entry(schedule: RetentionSchedule) -> RetentionEntry:
    rules = tuple(
        RuleEntry(
            code=rule.code,
            data=rule.data,
            categories=rule.categories,
            applies_to=(who := _selector(rule.applies_to)),
            trigger=rule.trigger,
            period=rule.period.iso,
            action=rule.action,
            legal_reference=rule.legal_reference,
            summary=f"{rule.data} of {who.text}: {rule.action.label} {rule.period} after "
            f"{rule.trigger.label}{_reference(rule.legal_reference)}",
        )
        for rule in schedule.rules
    )
    floors = tuple(
        FloorEntry(
            code=floor.code,
            records=floor.records,
            categories=floor.categories,
            applies_to=(who := _selector(floor.applies_to)),
            trigger=floor.trigger,
            period=floor.period.iso,
            legal_reference=floor.legal_reference,
            summary=f"{floor.records} of {who.text}: kept at least {floor.period} after "
            f"{floor.trigger.label}{_reference(floor.legal_reference)}",
        )
        for floor in schedule.floors
    )
    return RetentionEntry(
        time_zone=str(schedule.tz),
        rules=rules,
        floors=floors,
        holds=tuple(_hold_entry(hold) for hold in schedule.holds),
    )


def _hold_entry(hold: LegalHold) -> HoldEntry:
    if hold.applies_to is None:
        applies_to = _selector(Selector(customer_ids=hold.customer_ids))
    else:
        applies_to = _selector(hold.applies_to, hold.customer_ids)
    return HoldEntry(
        reason=hold.reason,
        placed_at=hold.placed_at,
        lifted_at=hold.lifted_at,
        applies_to=applies_to,
    )


def _recipient_entry(recipient: Recipient, controller: Controller | None) -> RecipientEntry:
    home = controller.country if controller else None
    there = recipient.country
    cross = None if home is None or there is None else home.casefold() != there.casefold()
    return RecipientEntry(
        id=recipient.id,
        name=recipient.name,
        contact=recipient.contact,
        contract=recipient.contract,
        country=recipient.country,
        note=recipient.note,
        registered_at=recipient.registered_at,
        version=recipient.version,
        cross_border=cross,
    )


def _profiles(
    jurisdiction: object,
) -> tuple[JurisdictionProfile, ...]:
    """One profile per jurisdiction: a profile as given, a jurisdiction's default one."""
    given: Iterable[object]
    if isinstance(jurisdiction, str | JurisdictionProfile):
        given = (jurisdiction,)
    elif isinstance(jurisdiction, Iterable):
        given = tuple(jurisdiction)
    else:
        raise TypeError("jurisdiction must be a Jurisdiction, a JurisdictionProfile, or several")
    found: dict[Jurisdiction, JurisdictionProfile] = {}
    for item in given:
        if isinstance(item, JurisdictionProfile):
            profile = item
        elif isinstance(item, str):
            try:
                profile = PROFILES[Jurisdiction(item)]
            except ValueError:
                names = ", ".join(j.value for j in Jurisdiction)
                raise ValueError(f"jurisdiction must be one of {names}") from None
        else:
            raise TypeError(
                f"jurisdiction must be a Jurisdiction or a JurisdictionProfile, "
                f"not {type(item).__name__}"
            )
        if profile.jurisdiction in found:
            raise ValueError(f"jurisdiction {profile.jurisdiction.value} is given twice")
        found[profile.jurisdiction] = profile
    if not found:
        raise ValueError("jurisdiction names no jurisdiction")
    return tuple(found.values())


def _jurisdiction_entry(profile: JurisdictionProfile) -> JurisdictionEntry:
    return JurisdictionEntry(
        jurisdiction=profile.jurisdiction,
        consent_age=profile.consent_age,
        sensitive_minor_age=profile.sensitive_minor_age,
        bases=tuple(b for b in LawfulBasis if b in profile.bases),
        legal_reference=profile.legal_reference,
    )


def _recipients(recipients: object, controller: Controller | None) -> tuple[RecipientEntry, ...]:
    if isinstance(recipients, str | bytes) or not isinstance(recipients, Iterable):
        raise TypeError("recipients must be an iterable of custrec.compliance.Recipient")
    found: dict[str, RecipientEntry] = {}
    for recipient in recipients:
        if not isinstance(recipient, Recipient):
            raise TypeError(f"recipients must be Recipient objects, not {type(recipient).__name__}")
        if recipient.id in found:
            raise ValueError(f"recipient {recipient.id!r} is given twice")
        found[recipient.id] = _recipient_entry(recipient, controller)
    return tuple(sorted(found.values(), key=lambda r: r.id))


def processing_map(
    *,
    purposes: PurposeCatalogue,
    retention: RetentionSchedule | None,
    custom_fields: CustomFieldSet,
    recipients: Iterable[Recipient],
    jurisdiction: Jurisdiction | JurisdictionProfile | Iterable[Jurisdiction | JurisdictionProfile],
    controller: Controller | None = None,
    as_of: datetime | None = None,
    encrypted: bool = True,
    lookup_keys: LookupKeys | None = None,
    record_types: Mapping[str, type] = RECORD_TYPES,
) -> ProcessingMap:
    """The processing map of these declarations, built without a store or any customer.

    Record types (default :data:`RECORD_TYPES`) list their personal fields as declared
    (:func:`~custrec.model.records.personal_fields`, nested records included). How each is
    treated is found by trying it: ``masked`` when :func:`~custrec.security.mask_record`
    masks it, ``indexed`` when it changes a customer's ``lookup_keys`` (default
    :func:`default_lookup_keys`), ``encrypted`` as ``encrypted`` says (a registry with a
    keyring). Custom fields (current and removed) come from ``custom_fields``; purposes from
    the catalogue, with their lawful bases in each ``jurisdiction`` (a
    :class:`~custrec.consent.Jurisdiction` takes its default profile; give a
    :class:`~custrec.consent.JurisdictionProfile` for another age of consent, or several);
    ``retention`` may be ``None`` (no schedule). ``TypeError``/``ValueError`` for arguments
    of the wrong type or value (a recipient or jurisdiction given twice, a naive ``as_of``).
    """
    if not isinstance(purposes, PurposeCatalogue):
        raise TypeError("purposes must be a custrec.consent.PurposeCatalogue")
    if retention is not None and not isinstance(retention, RetentionSchedule):
        raise TypeError("retention must be a custrec.retention.RetentionSchedule or None")
    if not isinstance(custom_fields, CustomFieldSet):
        raise TypeError("custom_fields must be a custrec.model.custom.CustomFieldSet")
    if controller is not None and not isinstance(controller, Controller):
        raise TypeError("controller must be a custrec.compliance.Controller or None")
    if as_of is not None:
        as_of = require_aware(as_of, "as_of")
    if not isinstance(record_types, Mapping) or not all(
        isinstance(cls, type) and attrs.has(cls) for cls in record_types.values()
    ):
        raise TypeError("record_types must map names to attrs record classes")
    lookup = default_lookup_keys if lookup_keys is None else lookup_keys
    if not callable(lookup):
        raise TypeError("lookup_keys must be callable (a customer to its look-up keys)")
    profiles = _profiles(jurisdiction)
    encrypted = bool(encrypted)
    return ProcessingMap(
        as_of=as_of,
        controller=controller,
        encrypted=encrypted,
        jurisdictions=tuple(_jurisdiction_entry(p) for p in profiles),
        records=tuple(
            _record_entry(name, cls, encrypted=encrypted, lookup=lookup)
            for name, cls in record_types.items()
        ),
        custom_fields=_custom_fields(custom_fields, encrypted=encrypted),
        purposes=tuple(_purpose_entry(p, profiles) for p in purposes.values()),
        retention=None if retention is None else _retention_entry(retention),
        recipients=_recipients(recipients, controller),
    )
