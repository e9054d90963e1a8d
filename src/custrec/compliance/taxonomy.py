"""custrec's data categories and purposes mapped to the fideslang taxonomy.

`fideslang <https://github.com/ethyca/fideslang>`_ (Ethyca's Fides language) publishes a
taxonomy of data categories (``user.contact.email``) and data uses (``marketing.advertising``)
that privacy tools read. The keys used here are taken from its default taxonomy (the files
``data_files/data_categories.csv`` and ``data_files/data_uses.csv``), and only keys present
since fideslang 2.0.0 and not deprecated since, so that every fideslang version reads them.
The mapping itself is custrec's.

A built-in personal field is mapped by the class that declares it and its name (the table
:data:`FIELD_CATEGORIES`); any other personal field (a custom field, a field added later) by
its :class:`~custrec.model.records.DataCategory`; what neither fits gets :data:`FALLBACK_CATEGORY`.
A purpose is mapped by its code (:data:`PURPOSE_USES`), else by its flags, else to
:data:`FALLBACK_USE`. Every answer says how it was reached (:class:`FidesMatch`) and why, so a
fallback is never silent:

>>> from custrec.model.records import DataCategory, Sensitivity
>>> field_categories("Contact", "phones", DataCategory.CONTACT, Sensitivity.PERSONAL)[:2]
(('user.contact.phone_number',), <FidesMatch.EXACT: 'exact'>)
>>> field_categories("Customer", "member_no", DataCategory.IDENTIFIER, Sensitivity.PERSONAL)[:2]
(('user.unique_id',), <FidesMatch.DERIVED: 'derived'>)
>>> from custrec.consent import PURPOSES
>>> purpose_use(PURPOSES["sensitive"])[:2]
('collect', <FidesMatch.FALLBACK: 'fallback'>)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from custrec.consent import ContactChannel, Purpose
from custrec.model.records import DataCategory, IdentifierScheme, Sensitivity

__all__ = [
    "CATEGORY_DEFAULTS",
    "FALLBACK_CATEGORY",
    "FALLBACK_USE",
    "FIELD_CATEGORIES",
    "MAPPING_TYPE",
    "PURPOSE_USES",
    "SCHEMA_VERSION",
    "TAXONOMY_SOURCE",
    "FidesCategory",
    "FidesMatch",
    "FidesUse",
    "FideslangMapping",
    "field_categories",
    "purpose_use",
]

TAXONOMY_SOURCE: Final = (
    "fideslang default taxonomy (github.com/ethyca/fideslang, data_files/data_categories.csv "
    "and data_uses.csv): keys present since 2.0.0"
)
"""Where the keys come from, as the map states it."""

FALLBACK_CATEGORY: Final = "user"
"""The fideslang category of a personal field nothing narrower fits: "data related to the
user", the root of every personal category."""

FALLBACK_USE: Final = "collect"
"""The fideslang use of a purpose nothing fits: "collects or stores data in order to use it for
another purpose which has not yet been expressly defined"."""


class FidesMatch(enum.StrEnum):
    """How a fideslang key was chosen.

    ``exact``: the table names this field or purpose. ``derived``: from the field's data
    category or the purpose's flags (review it). ``fallback``: nothing fits; the stated
    fallback key (:data:`FALLBACK_CATEGORY`, :data:`FALLBACK_USE`) stands in.
    """

    EXACT = "exact"
    DERIVED = "derived"
    FALLBACK = "fallback"


_RIC = "user.government_id.national_identification_number"
_PASSPORT = "user.government_id.passport_number"

FIELD_CATEGORIES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # Customer
        "Customer.name": ("user.name",),
        "Customer.registered_name": ("user.name",),
        "Customer.gender": ("user.demographic.gender",),
        "Customer.birth_date": ("user.demographic.date_of_birth",),
        "Customer.legal_representative": ("user.name",),
        "Customer.notes": ("user.content.private",),
        # nested records
        "Identifier.value": (_RIC, _PASSPORT, "user.government_id", "user.unique_id"),
        "Contact.name": ("user.name",),
        "Contact.phones": ("user.contact.phone_number",),
        "Contact.emails": ("user.contact.email",),
        "Contact.wechat": ("user.contact",),
        "Address.district": ("user.contact.address",),
        "Address.street": ("user.contact.address.street",),
        "Address.postal_code": ("user.contact.address.postal_code",),
        "DimensionGrade.explanation": ("user.financial",),
        # activities, cases and tasks
        "Interaction.summary": ("user.content.private",),
        "Case.subject": ("user.content.private",),
        "Case.description": ("user.content.private",),
        "Task.note": ("user.content.private",),
    }
)
"""The fideslang categories of each built-in personal field, by ``"<declaring class>.<field>"``.

An identifier's value takes its category from its scheme (``CN-RIC``: a national
identification number, ``PASSPORT``: a passport number, ``CN-USCC``: ``user.government_id``,
``EXTERNAL`` and any other: ``user.unique_id``), so it lists every one it may have."""

_IDENTIFIER_NOTE: Final = (
    f"by scheme: {IdentifierScheme.RIC.value} {_RIC}; {IdentifierScheme.PASSPORT.value} "
    f"{_PASSPORT}; {IdentifierScheme.USCC.value} user.government_id (a state-issued code); "
    f"{IdentifierScheme.EXTERNAL.value} and other schemes user.unique_id"
)

_NOTES: Final = {
    "Identifier.value": _IDENTIFIER_NOTE,
    "Contact.wechat": "a messaging handle: fideslang has no narrower contact key",
    "Address.district": "part of an address below the city: no narrower fideslang key",
    "DimensionGrade.explanation": "a grade's reasons: amounts and counts of purchases",
}

CATEGORY_DEFAULTS: Final[Mapping[DataCategory, str]] = MappingProxyType(
    {
        DataCategory.CONTACT: "user.contact",
        DataCategory.LOCATION: "user.contact.address",
        DataCategory.FINANCIAL: "user.financial",
        DataCategory.COMMUNICATION: "user.content.private",
    }
)
"""The fideslang category of a field known only by its data category. ``identifier`` gives
``user.government_id`` when the field is sensitive and ``user.unique_id`` otherwise;
``identity`` (names, gender and birth dates are different fideslang keys) and ``custom`` fall
back to :data:`FALLBACK_CATEGORY`."""


def field_categories(
    declared_in: str, name: str, category: DataCategory, sensitivity: Sensitivity
) -> tuple[tuple[str, ...], FidesMatch, str]:
    """The fideslang categories of a personal field, how they were chosen, and why (a note;
    empty for an exact match that needs none).

    ``declared_in`` is the name of the class that declares the field (``"Contact"``; a custom
    field's is ``"Customer"``), ``name`` the field's name.
    """
    key = f"{declared_in}.{name}"
    found = FIELD_CATEGORIES.get(key)
    if found is not None:
        return found, FidesMatch.EXACT, _NOTES.get(key, "")
    if category is DataCategory.IDENTIFIER:
        sensitive = sensitivity is Sensitivity.SENSITIVE
        chosen = "user.government_id" if sensitive else "user.unique_id"
        kind = "sensitive" if sensitive else "not sensitive"
        return (chosen,), FidesMatch.DERIVED, f"an identifier, {kind}: review"
    default = CATEGORY_DEFAULTS.get(category)
    if default is not None:
        return (default,), FidesMatch.DERIVED, f"from its data category {category.value}: review"
    if category is DataCategory.CUSTOM:
        note = "holds the custom-field values; each personal custom field is mapped on its own"
    else:
        note = f"no fideslang category fits the data category {category.value}: choose one"
    return (FALLBACK_CATEGORY,), FidesMatch.FALLBACK, note


PURPOSE_USES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "service": ("essential.service", ""),
        "storage": ("essential.service.security", "storing the records and keeping them secure"),
        "marketing.email": ("marketing.communications.email", ""),
        "marketing.sms": ("marketing.communications.sms", ""),
        "marketing.phone": (
            "marketing.communications",
            "fideslang has no telephone marketing key",
        ),
        "profiling": (
            "marketing.advertising.profiling",
            "grading and RFM segments: audience profiles",
        ),
        "analytics": ("analytics", ""),
        "third_party": ("third_party_sharing", ""),
        "cross_border": (
            "third_party_sharing",
            "fideslang has no cross-border use: a manifest's system marks "
            "does_international_transfers when a recipient is abroad",
        ),
        "public_disclosure": ("third_party_sharing", "disclosure to the public"),
    }
)
"""The fideslang data use of each built-in purpose with one, by code, with a note. The
built-in ``sensitive`` and ``public_images`` purposes name a kind of data or its source, not a
use: they fall back to :data:`FALLBACK_USE`."""

_FALLBACK_NOTES: Final = {
    "sensitive": "names a kind of data, not a use: record the use it serves",
    "public_images": "names where the data comes from, not a use: record the use it serves",
}

_CHANNEL_USES: Final = {
    ContactChannel.EMAIL: "marketing.communications.email",
    ContactChannel.SMS: "marketing.communications.sms",
}


def purpose_use(purpose: Purpose) -> tuple[str, FidesMatch, str]:
    """The fideslang data use of a purpose, how it was chosen, and why (a note).

    By code first (:data:`PURPOSE_USES`), then by flags: ``storage_only``
    (``essential.service.security``), ``necessary_for_service`` (``essential.service``),
    ``is_marketing`` (by channel: e-mail and SMS have keys of their own, others
    ``marketing.communications``), ``is_profiling`` (``marketing.advertising.profiling``);
    otherwise :data:`FALLBACK_USE`.
    """
    if not isinstance(purpose, Purpose):
        raise TypeError(f"expected a Purpose, not {type(purpose).__name__}")
    known = PURPOSE_USES.get(purpose.code)
    if known is not None:
        return known[0], FidesMatch.EXACT, known[1]
    if purpose.storage_only:
        return "essential.service.security", FidesMatch.DERIVED, "a storage-only purpose"
    if purpose.necessary_for_service:
        return "essential.service", FidesMatch.DERIVED, "necessary for the service"
    if purpose.is_marketing:
        use = _CHANNEL_USES.get(purpose.channel) if purpose.channel else None
        channel = purpose.channel.value if purpose.channel else "no channel"
        return use or "marketing.communications", FidesMatch.DERIVED, f"marketing ({channel})"
    if purpose.is_profiling:
        return "marketing.advertising.profiling", FidesMatch.DERIVED, "a profiling purpose"
    note = _FALLBACK_NOTES.get(purpose.code, "no fideslang use fits this purpose: choose one")
    return FALLBACK_USE, FidesMatch.FALLBACK, note


# ---------------------------------------------------------------------------------- values

MAPPING_TYPE: Final = "custrec.fideslang_mapping"
"""The ``type`` of the document :meth:`FideslangMapping.to_json` writes."""
SCHEMA_VERSION: Final = 1
"""The shape of that document; bumped when it changes."""
_DATASET_KEY: Final = "custrec"


@attrs.frozen(kw_only=True)
class FidesCategory:
    """The fideslang data categories of one personal field of a record type.

    ``path`` is the field's path in the record (``contacts[].phones``; a custom field's is
    ``custom.<name>``); ``note`` says why when ``match`` is not ``exact`` (or when an exact
    mapping needs a word, as an identifier's does).
    """

    record: str
    path: str
    data_categories: tuple[str, ...]
    match: FidesMatch
    note: str = ""


@attrs.frozen(kw_only=True)
class FidesUse:
    """The fideslang data use of one purpose (``purpose`` is its code)."""

    purpose: str
    title: str
    data_use: str
    match: FidesMatch
    note: str = ""


def _nest(fields: list[tuple[list[str], FidesCategory]]) -> list[dict[str, Any]]:
    """Dataset fields nested by path (``contacts[].phones`` is ``phones`` inside ``contacts``)."""
    out: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for parts, entry in fields:
        name = parts[0].removesuffix("[]")
        node = by_name.get(name)
        if node is None:
            node = by_name[name] = {"name": name}
            out.append(node)
        if len(parts) == 1:
            node["data_categories"] = list(entry.data_categories)
            if entry.note:
                node["description"] = f"{entry.match.value}: {entry.note}"
        else:
            node.setdefault("_children", []).append((parts[1:], entry))
    for node in out:
        children = node.pop("_children", None)
        if children:
            node["fields"] = _nest(children)
    return out


@attrs.frozen(kw_only=True)
class FideslangMapping:
    """Every personal field and every purpose of a processing map in fideslang's terms.

    ``system`` names the system in a fideslang manifest (the controller's name when the map
    has one), ``recipients`` the third parties data is shared with, ``international_transfers``
    whether one of them is abroad, ``uses_profiling`` whether a purpose is profiling.
    """

    categories: tuple[FidesCategory, ...]
    uses: tuple[FidesUse, ...]
    system: str = "custrec"
    recipients: tuple[str, ...] = ()
    international_transfers: bool = False
    uses_profiling: bool = False

    def fallbacks(self) -> tuple[FidesCategory | FidesUse, ...]:
        """The fields and purposes mapped to a fallback key: the ones to review first."""
        entries: list[FidesCategory | FidesUse] = [*self.categories, *self.uses]
        return tuple(e for e in entries if e.match is FidesMatch.FALLBACK)

    def to_json(self) -> dict[str, Any]:
        """The mapping as JSON-able data: ``type``, ``schema``, ``source`` (where the keys come
        from), ``fallbacks`` (the fallback keys), ``categories`` and ``uses`` (one object per
        field and per purpose, with ``match`` and ``note``)."""
        return {
            "type": MAPPING_TYPE,
            "schema": SCHEMA_VERSION,
            "source": TAXONOMY_SOURCE,
            "fallbacks": {"data_category": FALLBACK_CATEGORY, "data_use": FALLBACK_USE},
            "categories": [
                {
                    "record": c.record,
                    "path": c.path,
                    "data_categories": list(c.data_categories),
                    "match": c.match.value,
                    "note": c.note,
                }
                for c in self.categories
            ],
            "uses": [
                {
                    "purpose": u.purpose,
                    "title": u.title,
                    "data_use": u.data_use,
                    "match": u.match.value,
                    "note": u.note,
                }
                for u in self.uses
            ],
        }

    def to_manifest(self) -> dict[str, Any]:
        """A fideslang manifest (JSON-able; write it as YAML or JSON for Fides tools): one
        ``dataset`` with a collection per record type and its personal fields nested by path,
        and one ``system`` with a privacy declaration per purpose.

        custrec does not record which fields each purpose uses, so every declaration names
        every category of the dataset: narrow them in your own manifest where you know more.
        """
        records: dict[str, list[tuple[list[str], FidesCategory]]] = {}
        for entry in self.categories:
            records.setdefault(entry.record, []).append((entry.path.split("."), entry))
        collections = [{"name": name, "fields": _nest(found)} for name, found in records.items()]
        every = sorted({key for c in self.categories for key in c.data_categories})
        declarations = []
        for use in self.uses:
            declaration: dict[str, Any] = {
                "name": use.title,
                "data_use": use.data_use,
                "data_categories": every,
                "data_subjects": ["customer"],
                "dataset_references": [_DATASET_KEY],
            }
            if use.data_use.startswith("third_party_sharing") and self.recipients:
                declaration["data_shared_with_third_parties"] = True
                declaration["third_parties"] = "; ".join(self.recipients)
            declarations.append(declaration)
        return {
            "dataset": [
                {
                    "fides_key": _DATASET_KEY,
                    "name": "custrec customer records",
                    "description": "Personal fields of the records custrec keeps",
                    "collections": collections,
                }
            ],
            "system": [
                {
                    "fides_key": _DATASET_KEY,
                    "name": self.system,
                    "description": "Customer records kept with custrec",
                    "system_type": "Service",
                    "dataset_references": [_DATASET_KEY],
                    "processes_personal_data": True,
                    "uses_profiling": self.uses_profiling,
                    "does_international_transfers": self.international_transfers,
                    "privacy_declarations": declarations,
                }
            ],
        }
