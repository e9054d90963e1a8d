"""What :mod:`custrec.validation` defines itself: :func:`validate`, :func:`parse_customer`, the
normalisers and :class:`ParseResult` (re-exported there; see its docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import phonenumbers

from custrec._checks import require_aware
from custrec._text import clean, compact
from custrec.errors import InvalidFormat
from custrec.model.custom import CustomFieldSet
from custrec.model.issues import Issue, ValidationReport
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomValues,
    Identifier,
    IdentifierScheme,
)
from custrec.model.serialization import _structure_partially, make_converter
from custrec.validation import email, phone, ric, uscc
from custrec.validation.rules import (
    _NORMALISED_EMAILS,
    DEFAULT_RULES,
    RuleContext,
    RuleSet,
    _clean,
)

__all__ = [
    "ParseResult",
    "normalize_customer",
    "normalize_identifier",
    "parse_customer",
    "validate",
]


_CONVERTER = make_converter()
_NO_ISSUES: Final = ValidationReport(())


def _merged(first: ValidationReport, *others: ValidationReport) -> ValidationReport:
    """``first.merged(*others)``, without a new report when only one of them has issues
    (reports are immutable: the one with the issues is the merged report)."""
    found = [r for r in (first, *others) if r.issues]
    if not found:
        return first
    if len(found) == 1:
        return found[0]
    return first.merged(*others)


def validate(
    record: Any,
    rules: RuleSet | None = None,
    *,
    as_of: datetime | None = None,
    region: str = "CN",
    fields: CustomFieldSet | None = None,
) -> ValidationReport:
    """Check a record (``Customer``, ``Transaction`` or ``Interaction``) and report every issue.

    ``rules`` defaults to :data:`DEFAULT_RULES`; ``as_of`` (timezone-aware, default now) is the
    instant against which "not in the future" is judged. With ``fields`` (the custom-field
    definitions, ``registry.fields.current()``) a customer's custom values are checked too
    (required, type, length, range, option, unknown field; paths ``custom.<name>``); without,
    they are not. Never raises on a bad record; raises ``ValueError`` for a naive ``as_of``.
    """
    report = (rules or DEFAULT_RULES).check(record, as_of=as_of, region=region)
    if fields is not None and isinstance(record, Customer):
        report = report.merged(ValidationReport(_custom_fields(fields).validate(record.custom)))
    return report


def _custom_fields(fields: object) -> CustomFieldSet:
    if not isinstance(fields, CustomFieldSet):
        raise TypeError("fields must be a custrec.model.custom.CustomFieldSet")
    return fields


def _coerced_custom(data: object, fields: CustomFieldSet) -> tuple[object, ValidationReport]:
    """``data`` with its custom values converted as their definitions say (text to numbers,
    dates, options), and the issues of those that could not be."""
    if not (type(data) is dict or isinstance(data, Mapping)) or data.get("custom") is None:
        return data, _NO_ISSUES
    raw = data["custom"]
    if not isinstance(raw, Mapping):
        issue = Issue(path="custom", code="type", message="expected an object of custom values")
        return data, ValidationReport((issue,))
    plain: Mapping[str, object]
    try:
        plain = _CONVERTER.structure(raw, CustomValues)
    except (TypeError, ValueError):
        plain = raw  # untagged raw input: every value goes through coerce as it is
    values, issues = fields.coerce(plain)
    return {**data, "custom": values}, ValidationReport(issues)


@attrs.frozen
class ParseResult:
    """The outcome of :func:`parse_customer`: ``record`` is ``None`` unless ``report.ok``."""

    record: Customer | None
    report: ValidationReport

    @property
    def ok(self) -> bool:
        """Shortcut for ``report.ok``."""
        return self.report.ok


def _context(as_of: datetime | None, region: str) -> RuleContext:
    """The context :meth:`RuleSet.check` gives the rules (nothing unreadable); the last one
    made for a given ``as_of`` is made once (a batch parses every record at one instant, and
    a context never changes)."""
    if as_of is None:
        return RuleContext(as_of=datetime.now(UTC), region=region)
    last = _last_context
    if last is not None and last[0] is as_of and last[1] == region:
        return last[2]
    made = RuleContext(as_of=require_aware(as_of, "as_of"), region=region)
    _remember_context((as_of, region, made))
    return made


_last_context: tuple[datetime, str, RuleContext] | None = None


def _remember_context(entry: tuple[datetime, str, RuleContext]) -> None:
    global _last_context  # one tuple, replaced whole: safe without a lock
    _last_context = entry


def _check_region(region: str) -> None:
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("region must be an ISO 3166 alpha-2 code known to phonenumbers")


def _normalize_phone(raw: str, region: str) -> str:
    try:
        return phone.normalize(raw, region)
    except (InvalidFormat, ValueError):
        return compact(raw, strip=" -().")


def _normalize_email(raw: str) -> str:
    try:
        return email.normalize(raw)
    except InvalidFormat:
        return clean(raw)


def normalize_identifier(ident: Identifier) -> Identifier:
    """Return ``ident`` with its scheme and value normalised (15-digit RICs become 18)."""
    if not isinstance(ident.value, str):
        return ident
    scheme, value = _normalized_identifier(ident.scheme, ident.value)
    return attrs.evolve(ident, scheme=scheme, value=value)


_SCHEMES: dict[str, str] = {}  # scheme text as given (a plain str) -> clean(it).upper()


def _scheme(scheme: str) -> str:
    """``clean(scheme).upper()``, kept for up to 1,024 plain strings (a batch's identifiers
    name a handful of schemes)."""
    if type(scheme) is str:
        known = _SCHEMES.get(scheme)
        if known is None:
            known = clean(scheme).upper()
            if len(_SCHEMES) >= 1024:
                _SCHEMES.clear()
            _SCHEMES[scheme] = known
        return known
    return clean(scheme).upper()


def _normalized_identifier(scheme: Any, value: str) -> tuple[Any, str]:
    """The scheme and value :func:`normalize_identifier` gives an identifier."""
    scheme = _scheme(scheme) if isinstance(scheme, str) else scheme
    if scheme == IdentifierScheme.USCC:
        value = uscc.compact(value)
    elif scheme == IdentifierScheme.RIC:
        value = ric.compact(value)
        if len(value) == 15 and ric.is_valid(value):
            value = ric.to_18(value)
    elif scheme == IdentifierScheme.PASSPORT:
        value = compact(value).upper()
    else:
        value = clean(value)
    return scheme, value


def _dedupe(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def normalize_customer(customer: Customer, *, region: str = "CN") -> Customer:
    """Return ``customer`` with phones in E.164, e-mails, identifiers and tags normalised.

    Values that cannot be normalised are kept (compacted) so that validation can report them;
    values of the wrong type are kept as they are, in place. Exact repeats of a tag, interest or
    need are dropped.
    """
    return _without_repeats(_normalized(customer, region))


def _without_repeats(customer: Customer) -> Customer:
    return attrs.evolve(
        customer,
        tags=_dedupe(customer.tags),
        product_interests=_dedupe(customer.product_interests),
        needs=_dedupe(customer.needs),
    )


def _normalized_contact(contact: Contact, region: str) -> Contact:
    phones = tuple(_normalize_phone(p, region) if isinstance(p, str) else p for p in contact.phones)
    emails = tuple(_normalize_email(e) if isinstance(e, str) else e for e in contact.emails)
    return attrs.evolve(contact, phones=phones, emails=emails)


def _normalized(customer: Customer, region: str) -> Customer:
    """Normalise phones, e-mails, countries and identifiers in place (indices are kept)."""
    contacts = tuple(
        _normalized_contact(contact, region) if isinstance(contact, Contact) else contact
        for contact in customer.contacts
    )
    addresses = tuple(
        attrs.evolve(address, country=address.country.upper())
        if isinstance(address, Address) and isinstance(address.country, str)
        else address
        for address in customer.addresses
    )
    identifiers = tuple(
        normalize_identifier(i) if isinstance(i, Identifier) else i for i in customer.identifiers
    )
    return attrs.evolve(customer, contacts=contacts, addresses=addresses, identifiers=identifiers)


class _Normaliser:
    """What :func:`_normalized` does to a structured record, done to the keyword arguments each
    contact, address and identifier is built from: every record is built once, with its final
    values. Remembers the ASCII e-mail addresses it normalised (they are valid: see
    ``rules._NORMALISED_EMAILS``) and the E.164 forms of the phone numbers it normalised
    (valid in ``region``: see ``phone._e164``)."""

    __slots__ = ("emails", "phones", "region")

    def __init__(self, region: str) -> None:
        self.region = region
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def hooks(self) -> dict[type, Callable[[dict[str, Any]], None]]:
        """The ``finish`` hooks of :func:`_structure_partially` (a new dict: the normaliser
        keeps no reference to its own bound methods, so that no reference cycle is left for
        the garbage collector to find after every parse)."""
        return {Contact: self.contact, Address: self.address, Identifier: self.identifier}

    def contact(self, kwargs: dict[str, Any]) -> None:
        # A field left out has its default, an empty tuple: nothing to normalise.
        # list comprehensions, not generators: one or two values a contact
        phones = kwargs.get("phones")
        if phones:
            number = self.phone
            kwargs["phones"] = tuple([number(p) if isinstance(p, str) else p for p in phones])
        emails = kwargs.get("emails")
        if emails:
            email = self.email
            kwargs["emails"] = tuple([email(e) if isinstance(e, str) else e for e in emails])

    def phone(self, raw: str) -> str:
        """:func:`_normalize_phone`, remembering a number normalised to E.164."""
        try:
            normalised = phone.normalize(raw, self.region)
        except (InvalidFormat, ValueError):
            return compact(raw, strip=" -().")
        self.phones.add(normalised)
        return normalised

    def email(self, raw: str) -> str:
        try:
            normalised = email.normalize(raw)
        except InvalidFormat:
            return clean(raw)
        if normalised.isascii():
            # Normalising ASCII again gives it back, valid. An IDN domain written in punycode
            # comes back in Unicode (x@xn--qcka1pmcc.com): only ASCII results skip the check.
            self.emails.add(normalised)
        return normalised

    @staticmethod
    def address(kwargs: dict[str, Any]) -> None:
        country = kwargs.get("country")  # left out: the default, "CN", is upper case
        if isinstance(country, str):
            kwargs["country"] = country.upper()

    @staticmethod
    def identifier(kwargs: dict[str, Any]) -> None:
        # scheme and value have no default: they are always given (maybe UNREADABLE)
        value = kwargs["value"]
        if isinstance(value, str):
            kwargs["scheme"], kwargs["value"] = _normalized_identifier(kwargs["scheme"], value)


def _unique(values: tuple[str, ...]) -> bool:
    """Whether no value of ``values`` repeats (none can among fewer than two)."""
    return len(values) < 2 or len(set(values)) == len(values)


def _final(customer: Customer) -> Customer:
    """:func:`_without_repeats`, building a new record only if something repeats."""
    if _unique(customer.tags) and _unique(customer.product_interests) and _unique(customer.needs):
        return customer
    return _without_repeats(customer)


def parse_customer(
    data: object,
    *,
    region: str = "CN",
    rules: RuleSet | None = None,
    as_of: datetime | None = None,
    fields: CustomFieldSet | None = None,
) -> ParseResult:
    """Normalise and validate a raw mapping into a :class:`~custrec.model.records.Customer`.

    Strings are NFKC-normalised and trimmed, phones turned into E.164 (``region`` is the default
    region for national numbers), e-mails and identifiers normalised; then every rule runs. The
    report covers structure problems (``type``, ``enum``, ``required``, ``unknown_field``,
    ``datetime.naive``, ``text.invalid_character``), formats and rules together, each at its
    path in ``data``: a field that cannot be structured is reported once and the rules still
    check every other field (see :func:`~custrec.model.serialization.structure_partially`). Never
    raises on bad data: ``record`` is ``None`` when the report holds an error, and whenever a
    value could not be structured (even if its issue was downgraded). Raises ``ValueError`` only
    for a bad ``region`` or a naive ``as_of``. With ``fields`` (the custom-field definitions)
    custom values are converted as their definitions say (``"12.50"`` for a decimal field,
    ``"是"`` for a boolean one) and checked as :func:`validate` checks them.
    """
    _check_region(region)
    ruleset = rules or DEFAULT_RULES
    normaliser = _Normaliser(region)
    custom_report = _NO_ISSUES
    if fields is not None:
        data, custom_report = _coerced_custom(data, _custom_fields(fields))
    # Structured and normalised at once: the record is the one ``_normalized`` would return.
    normalised, structure_report, unreadable = _structure_partially(
        dict(data) if type(data) is dict or isinstance(data, Mapping) else data,
        Customer,
        finish=normaliser.hooks(),
    )
    structure_report = structure_report.with_severities(ruleset.severities)
    if normalised is None:
        return ParseResult(None, structure_report)
    # Repeated tags are dropped only after validation, so that every path names the element of
    # ``data`` it is about.
    if (
        ruleset.rules is DEFAULT_RULES.rules
        and not unreadable
        and not structure_report.issues
        and type(normalised) is Customer
        and _clean(
            normalised,
            _context(as_of, region),
            structured=True,
            emails=normaliser.emails,
            phones=normaliser.phones,
        )
    ):
        checked = _NO_ISSUES  # the default rules, fused (see validation/_fused.py)
    else:
        token = _NORMALISED_EMAILS.set(normaliser.emails)
        try:
            checked = ruleset.check(normalised, as_of=as_of, region=region, unreadable=unreadable)
        finally:
            _NORMALISED_EMAILS.reset(token)
    report = _merged(structure_report, checked)
    if fields is not None:
        custom_issues = fields.validate(normalised.custom)
        extra = ValidationReport(custom_issues) if custom_issues else _NO_ISSUES
        report = _merged(custom_report, report, extra)
    if unreadable or not report.ok:
        return ParseResult(None, report)
    return ParseResult(_final(normalised), report)
