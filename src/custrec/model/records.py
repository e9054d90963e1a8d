"""Customer record types.

Every record is a frozen attrs class (``@attrs.frozen(kw_only=True)``); change one with
:func:`attrs.evolve`. Money is :class:`Money` (a ``Decimal`` with an ISO 4217 currency), instants
are timezone-aware UTC ``datetime`` objects, calendar dates are ``date`` objects, and ids are
time-ordered strings from :func:`custrec.model.ids.new_id`.

Personal fields are declared once, in attrs field metadata made by :func:`personal`: whether a
field holds personal data, its :class:`DataCategory` and its :class:`Sensitivity`. Every other layer
(encryption, masking, export, erasure, audit) reads that declaration through
:func:`personal_fields`, and ``repr()`` never shows a personal value:

>>> c = Customer(kind=CustomerKind.INDIVIDUAL, name="张三", id="c-1")
>>> "张三" in repr(c)
False
>>> [f.path for f in personal_fields(Contact)]
['name', 'phones', 'emails', 'wechat']

Constructors do not validate: build records freely, then call
:func:`custrec.validation.validate`, which reports every problem with its field path.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Literal, TypeAlias

import attrs

from custrec.model.ids import new_id

__all__ = [
    "PERSONAL_KEY",
    "Address",
    "AddressKind",
    "Contact",
    "CustomValue",
    "CustomValues",
    "Customer",
    "CustomerCategory",
    "CustomerKind",
    "DataCategory",
    "DimensionGrade",
    "EmployeeBand",
    "Gender",
    "Identifier",
    "IdentifierScheme",
    "Intent",
    "Interaction",
    "InteractionKind",
    "KindName",
    "LifecycleStage",
    "Milestones",
    "Money",
    "PersonalField",
    "PersonalInfo",
    "RecordState",
    "RevenueBand",
    "Sensitivity",
    "StageName",
    "StateName",
    "Transaction",
    "VerificationStatus",
    "personal",
    "personal_fields",
]

PERSONAL_KEY: Final = "custrec.personal"
"""The attrs metadata key under which :func:`personal` stores a :class:`PersonalInfo`."""


class DataCategory(enum.StrEnum):
    """What kind of personal information a field holds (for notices, exports and retention)."""

    IDENTITY = "identity"  # names, gender, birth date
    CONTACT = "contact"  # phones, e-mails, messaging handles
    IDENTIFIER = "identifier"  # ID card, passport, credit codes, external ids
    LOCATION = "location"  # street addresses, postal codes
    FINANCIAL = "financial"  # amounts tied to a person
    COMMUNICATION = "communication"  # free-text notes and interaction summaries
    CUSTOM = "custom"  # custom-field values: each field's definition names its own category


class Sensitivity(enum.StrEnum):
    """How harmful disclosure would be.

    ``SENSITIVE`` follows PIPL Art. 28 (identity documents, financial accounts, minors' data, ...):
    it needs separate consent and stricter handling.
    """

    PERSONAL = "personal"
    SENSITIVE = "sensitive"


@attrs.frozen
class PersonalInfo:
    """The personal-data declaration attached to an attrs field."""

    category: DataCategory
    sensitivity: Sensitivity = Sensitivity.PERSONAL


@attrs.frozen
class PersonalField:
    """A personal field found by :func:`personal_fields`.

    ``path`` uses ``[]`` for "every element" (``"contacts[].phones"``); ``record_type`` is the attrs
    class that declares the field.
    """

    path: str
    name: str
    record_type: type
    category: DataCategory
    sensitivity: Sensitivity


def _redacted_repr(value: object) -> str:
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return f"<{len(value)} redacted>"
    return "<redacted>"


def personal(
    *,
    category: DataCategory,
    sensitivity: Sensitivity = Sensitivity.PERSONAL,
    default: Any = attrs.NOTHING,
    factory: Any = None,
    converter: Any = None,
) -> Any:
    """Declare an attrs field that holds personal data.

    The value is hidden from ``repr()``; :func:`personal_fields` lists the field with its category
    and sensitivity.
    """
    metadata = {PERSONAL_KEY: PersonalInfo(category, sensitivity)}
    if factory is not None:
        return attrs.field(
            factory=factory, converter=converter, repr=_redacted_repr, metadata=metadata
        )
    return attrs.field(default=default, converter=converter, repr=_redacted_repr, metadata=metadata)


def _tuple(value: Iterable[Any] | None) -> tuple[Any, ...]:
    """Convert any iterable (a list from JSON, a generator) to a tuple; ``None`` to ``()``."""
    if type(value) is tuple:  # most values, as built by the structurer: tuple() of it is it
        return value
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        return (value,)
    return tuple(value)


# --------------------------------------------------------------------------------------- enums


class CustomerKind(enum.StrEnum):
    """Whether a customer is a natural person or an organisation."""

    INDIVIDUAL = "individual"
    ORGANIZATION = "organization"


KindName = Literal["individual", "organization"]
"""The values of :class:`CustomerKind` as a literal type: a misspelt facet fails type checking."""


class LifecycleStage(enum.StrEnum):
    """Where a customer stands in the relationship, from first lead to archive.

    The stage is the sales and service view. Whether the record is still in active use is its
    :class:`RecordState`, kept apart: archiving a lead leaves it a lead.
    """

    LEAD = "lead"
    PROSPECT = "prospect"
    NEW = "new"
    ACTIVE = "active"
    DORMANT = "dormant"
    CHURNED = "churned"
    ARCHIVED = "archived"


StageName = Literal["lead", "prospect", "new", "active", "dormant", "churned", "archived"]
"""The values of :class:`LifecycleStage` as a literal type."""


class RecordState(enum.StrEnum):
    """Where a record stands in its retention life, beside its lifecycle stage.

    ``live``: in active use. ``archived``: out of active use but kept (a retention ``archive``
    action, or an update). ``restricted``: processing restricted to storage and security (a
    retention ``restrict`` action or a restriction recorded in the consent ledger; PIPL Art. 47
    para. 2, GDPR Art. 18). Erased and merged records are not customers any more and have no
    state here (storage marks their rows ``erased`` and ``merged``).
    """

    LIVE = "live"
    ARCHIVED = "archived"
    RESTRICTED = "restricted"


StateName = Literal["live", "archived", "restricted"]
"""The values of :class:`RecordState` as a literal type."""


class CustomerCategory(enum.StrEnum):
    """The customer's nature: government, key account, ordinary company, individual, partner."""

    GOVERNMENT = "government"
    KEY_ACCOUNT = "key_account"
    COMPANY = "company"
    INDIVIDUAL = "individual"
    PARTNER = "partner"


class Intent(enum.StrEnum):
    """How strong the customer's purchase intent is."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Gender(enum.StrEnum):
    """Gender as recorded by the customer (the resident ID encodes only male/female)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class EmployeeBand(enum.StrEnum):
    """Organisation size by head count."""

    MICRO = "1-9"
    SMALL = "10-49"
    MEDIUM = "50-249"
    LARGE = "250-999"
    ENTERPRISE = "1000+"


class RevenueBand(enum.StrEnum):
    """Organisation size by yearly revenue, in CNY."""

    UNDER_1M = "<1M"
    FROM_1M = "1M-10M"
    FROM_10M = "10M-100M"
    FROM_100M = "100M-1B"
    OVER_1B = "1B+"


class VerificationStatus(enum.StrEnum):
    """Whether the record's data has been checked (intake review, periodic re-verification)."""

    UNVERIFIED = "unverified"
    PENDING_REVIEW = "pending_review"
    VERIFIED = "verified"
    REJECTED = "rejected"


class AddressKind(enum.StrEnum):
    """What an address is used for."""

    REGISTERED = "registered"
    OFFICE = "office"
    BILLING = "billing"
    SHIPPING = "shipping"
    HOME = "home"
    OTHER = "other"


class InteractionKind(enum.StrEnum):
    """Follow-ups and service contacts."""

    CALL = "call"
    VISIT = "visit"
    EMAIL = "email"
    MESSAGE = "message"
    MEETING = "meeting"
    COMPLAINT = "complaint"
    SERVICE_REQUEST = "service_request"
    SURVEY = "survey"
    OTHER = "other"


class IdentifierScheme(enum.StrEnum):
    """Well-known identifier schemes. ``Identifier.scheme`` also accepts any other string."""

    USCC = "CN-USCC"  # unified social credit code, GB 32100-2015
    RIC = "CN-RIC"  # resident identity card number, GB 11643-1999
    PASSPORT = "PASSPORT"
    EXTERNAL = "EXTERNAL"  # an id in another system; ``Identifier.system`` names the system


# ------------------------------------------------------------------------------- value objects


@attrs.frozen(kw_only=True)
class Money:
    """An amount of money: a ``Decimal`` and an ISO 4217 currency code (default ``CNY``)."""

    amount: Decimal
    currency: str = "CNY"


@attrs.frozen(kw_only=True)
class Identifier:
    """An identifier of the customer in some scheme (``CN-USCC``, ``CN-RIC``, ``PASSPORT``, ...).

    For ``EXTERNAL`` ids (the customer's id in a legacy CRM, an ERP, a shop), ``system`` names the
    other system. Strong identifiers are used for exact lookup and duplicate detection.
    """

    scheme: str
    value: str = personal(category=DataCategory.IDENTIFIER, sensitivity=Sensitivity.SENSITIVE)
    system: str | None = None


@attrs.frozen(kw_only=True)
class Contact:
    """A person to reach: the customer themselves, or someone at an organisation."""

    name: str | None = personal(category=DataCategory.IDENTITY, default=None)
    title: str | None = None
    phones: tuple[str, ...] = personal(
        category=DataCategory.CONTACT, factory=tuple, converter=_tuple
    )
    emails: tuple[str, ...] = personal(
        category=DataCategory.CONTACT, factory=tuple, converter=_tuple
    )
    wechat: str | None = personal(category=DataCategory.CONTACT, default=None)
    primary: bool = False


@attrs.frozen(kw_only=True)
class Address:
    """A postal address. ``country`` is an ISO 3166-1 alpha-2 code.

    Province and city are not personal on their own (they drive regional reports); the district,
    street and postal code are.
    """

    kind: AddressKind = AddressKind.OFFICE
    country: str = "CN"
    province: str | None = None
    city: str | None = None
    district: str | None = personal(category=DataCategory.LOCATION, default=None)
    street: str | None = personal(category=DataCategory.LOCATION, default=None)
    postal_code: str | None = personal(category=DataCategory.LOCATION, default=None)


@attrs.frozen(kw_only=True)
class Milestones:
    """Key dates and figures of the relationship."""

    contract_signed_on: date | None = None
    contract_amount: Money | None = None
    first_payment_on: date | None = None
    service_expires_on: date | None = None
    satisfaction: int | None = None  # 1 (very dissatisfied) to 5 (very satisfied)


CustomValue: TypeAlias = str | int | Decimal | bool | date | tuple[str, ...]
"""A custom field's value: text, an integer, a decimal, a truth value, a calendar date, or
the options chosen of a multi-choice field (see :mod:`custrec.model.custom`)."""


def _custom_value(name: str, value: object) -> CustomValue:
    if isinstance(value, bool | int | Decimal | str):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError(
        f"custom field {name!r}: a value is text, int, Decimal, bool, date or a sequence of "
        f"text, not {type(value).__name__}"
    )


class CustomValues(Mapping[str, CustomValue]):
    """The values of a customer's custom fields, by field name: an immutable mapping.

    Built from a mapping or ``(name, value)`` pairs; names are non-empty text, values a
    :data:`CustomValue` (a list of text becomes a tuple; ``TypeError`` for anything else, a
    float included: use ``Decimal``). Whether a value is valid for its field is for
    :func:`custrec.validation.validate` with the field definitions to say. Its ``repr()`` names
    the fields only, never a value (some custom fields hold personal data).

    >>> values = CustomValues({"member_no": "M-1", "budget": Decimal("12.5")})
    >>> values["budget"], sorted(values), repr(values)
    (Decimal('12.5'), ['budget', 'member_no'], 'CustomValues(<budget, member_no>)')
    """

    __slots__ = ("_values",)

    def __init__(
        self, values: Mapping[str, object] | Iterable[tuple[str, object]] | None = None
    ) -> None:
        pairs = values.items() if isinstance(values, Mapping) else (values or ())
        found: dict[str, CustomValue] = {}
        for name, value in pairs:
            if not isinstance(name, str) or not name:
                raise TypeError("custom field names are non-empty text")
            found[name] = _custom_value(name, value)
        self._values = dict(sorted(found.items()))

    def __getitem__(self, name: str) -> CustomValue:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CustomValues):
            return self._values == other._values
        if isinstance(other, Mapping):
            return self._values == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"CustomValues(<{', '.join(self._values)}>)"

    def replace(self, **changes: object) -> CustomValues:
        """A copy with some values replaced (or added); a value of ``None`` removes the field."""
        merged: dict[str, object] = dict(self._values)
        for name, value in changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return CustomValues(merged)


_NO_CUSTOM_VALUES: Final = CustomValues()


def _no_custom_values() -> CustomValues:
    """The custom values of a customer without any: one shared instance (it never changes)."""
    return _NO_CUSTOM_VALUES


def _custom_values(value: object) -> CustomValues:
    if type(value) is CustomValues or isinstance(value, CustomValues):
        return value
    if value is None:
        return _NO_CUSTOM_VALUES
    if isinstance(value, Mapping):
        return CustomValues(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return CustomValues(list(value))
    raise TypeError("custom values are a mapping of field names to values")


@attrs.frozen(kw_only=True)
class DimensionGrade:
    """A customer's grade in one named dimension (``value_tier``, ``stars``, ``rfm_segment``,
    ``churn_risk``, ``pareto``, or the user's own), as a grading policy set it.

    ``explanation`` is the policy's reasons (amounts and counts about the customer: personal,
    encrypted at rest and masked like other financial data).
    """

    dimension: str
    label: str
    policy_id: str
    graded_at: datetime
    explanation: str | None = personal(category=DataCategory.FINANCIAL, default=None)


# ------------------------------------------------------------------------------------ records


@attrs.frozen(kw_only=True)
class Customer:
    """A customer: an individual or an organisation, with contacts and relationship facts.

    ``id`` is a time-ordered string assigned at construction; ``version`` is assigned by storage
    (0 for a record never stored, 1 after the first write, +1 per update). Individuals may carry
    ``gender`` and ``birth_date``; organisations ``industry``, size bands, ``founded_on`` and
    ``legal_representative``. ``grade`` is the primary grade label set by a grading policy,
    ``grades`` the grade in each further named dimension (:class:`DimensionGrade`, one per
    dimension, by dimension name); ``custom`` the values of the custom fields defined at run
    time (:class:`CustomValues`; see :mod:`custrec.model.custom`). ``state`` says whether the
    record is live, archived or restricted (see :class:`RecordState`).
    """

    id: str = attrs.field(factory=new_id)
    version: int = 0
    kind: CustomerKind
    name: str = personal(category=DataCategory.IDENTITY)
    registered_name: str | None = personal(category=DataCategory.IDENTITY, default=None)
    # individuals
    gender: Gender | None = personal(category=DataCategory.IDENTITY, default=None)
    birth_date: date | None = personal(category=DataCategory.IDENTITY, default=None)
    # organisations
    industry: str | None = None
    employee_band: EmployeeBand | None = None
    revenue_band: RevenueBand | None = None
    founded_on: date | None = None
    legal_representative: str | None = personal(category=DataCategory.IDENTITY, default=None)
    # identification and reachability
    identifiers: tuple[Identifier, ...] = attrs.field(factory=tuple, converter=_tuple)
    contacts: tuple[Contact, ...] = attrs.field(factory=tuple, converter=_tuple)
    addresses: tuple[Address, ...] = attrs.field(factory=tuple, converter=_tuple)
    # relationship
    category: CustomerCategory | None = None
    stage: LifecycleStage = LifecycleStage.LEAD
    state: RecordState = RecordState.LIVE
    intent: Intent | None = None
    product_interests: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple)
    needs: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple)
    tags: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple)
    notes: str | None = personal(category=DataCategory.COMMUNICATION, default=None)
    owner: str | None = None  # staff id of the account owner
    team: str | None = None
    source: str | None = None  # acquisition channel: exhibition, referral, website, ...
    grade: str | None = None
    grades: tuple[DimensionGrade, ...] = attrs.field(factory=tuple, converter=_tuple)
    custom: CustomValues = personal(
        category=DataCategory.CUSTOM, factory=_no_custom_values, converter=_custom_values
    )
    milestones: Milestones = attrs.field(factory=Milestones)
    # bookkeeping
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_verified_at: datetime | None = None
    last_contacted_at: datetime | None = None  # the latest interaction (a lifecycle rule)
    verification: VerificationStatus = VerificationStatus.UNVERIFIED

    def grade_in(self, dimension: str) -> DimensionGrade | None:
        """The grade in ``dimension``, or ``None`` when the customer has none there."""
        for found in self.grades:
            if found.dimension == dimension:
                return found
        return None


@attrs.frozen(kw_only=True)
class Transaction:
    """A purchase (or refund, with a negative amount) by a customer."""

    id: str = attrs.field(factory=new_id)
    customer_id: str
    occurred_at: datetime
    amount: Money
    product: str | None = None
    category: str | None = None
    channel: str | None = None
    reference: str | None = None  # order or invoice number in the source system


@attrs.frozen(kw_only=True)
class Interaction:
    """A follow-up or service contact: a call, visit, complaint, survey, ..."""

    id: str = attrs.field(factory=new_id)
    customer_id: str
    kind: InteractionKind
    occurred_at: datetime
    staff_id: str | None = None
    summary: str | None = personal(category=DataCategory.COMMUNICATION, default=None)
    outcome: str | None = None
    next_action_at: datetime | None = None
    satisfaction: int | None = None  # 1-5


# ----------------------------------------------------------------------- metadata inspection

_ITERABLE_ORIGINS = (tuple, list, frozenset, set)


def _nested_record_type(tp: Any) -> tuple[type | None, bool]:
    """Return (attrs class, is_sequence) for a field type such as ``tuple[Contact, ...]``."""
    import typing

    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in _ITERABLE_ORIGINS and args:
        inner = args[0]
        return (inner if attrs.has(inner) else None), True
    if args:  # Optional[X] / X | None
        for arg in args:
            if isinstance(arg, type) and attrs.has(arg):
                return arg, False
        return None, False
    if isinstance(tp, type) and attrs.has(tp):
        return tp, False
    return None, False


def _walk(cls: type, prefix: str) -> Iterator[PersonalField]:
    for field in attrs.fields(attrs.resolve_types(cls)):
        info = field.metadata.get(PERSONAL_KEY)
        path = f"{prefix}{field.name}"
        if isinstance(info, PersonalInfo):
            yield PersonalField(
                path=path,
                name=field.name,
                record_type=cls,
                category=info.category,
                sensitivity=info.sensitivity,
            )
            continue
        nested, many = _nested_record_type(field.type)
        if nested is not None:
            yield from _walk(nested, f"{path}[]." if many else f"{path}.")


def personal_fields(record_type: type) -> tuple[PersonalField, ...]:
    """List the personal fields of an attrs record type, nested records included.

    Raises ``TypeError`` if ``record_type`` is not an attrs class.
    """
    if not (isinstance(record_type, type) and attrs.has(record_type)):
        raise TypeError("personal_fields() needs an attrs record class")
    return _personal_fields(record_type)


@functools.cache
def _personal_fields(record_type: type) -> tuple[PersonalField, ...]:
    # a class's fields never change: every audited read asks for the customer's (0.3 ms each)
    return tuple(_walk(record_type, ""))
