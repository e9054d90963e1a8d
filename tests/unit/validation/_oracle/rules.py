"""Validation rules and composable rule sets.

A :class:`Rule` checks one record type and yields :class:`~custrec.model.issues.Issue` objects; a
:class:`RuleSet` runs many rules and applies severity overrides. Rule sets are immutable: every
method returns a new set.

Write your own rule with the :func:`rule` decorator:

>>> from custrec.model.records import Contact, Customer, CustomerKind
>>> @rule("vip_needs_owner", Customer, codes=("vip.owner_required",))
... def vip_needs_owner(customer, ctx):
...     if "VIP" in customer.tags and not customer.owner:
...         yield ctx.issue("owner", "vip.owner_required", "VIP customers need an owner")
>>> rules = DEFAULT_RULES.with_rules(vip_needs_owner).with_severity("uscc.checksum", "warning")
>>> c = Customer(kind=CustomerKind.INDIVIDUAL, name="Li", tags=("VIP",),
...              contacts=[Contact(phones=["+8613800138000"])])
>>> sorted(rules.check(c).codes)
['vip.owner_required']
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, Final, TypeGuard

import attrs

from custrec._checks import require_aware
from custrec._text import INVALID_CHARACTER_MESSAGE, has_invalid_character
from custrec.errors import InvalidFormat
from custrec.model.issues import Issue, Severity, ValidationReport, join_path
from custrec.model.records import (
    Contact,
    Customer,
    CustomerKind,
    Gender,
    IdentifierScheme,
    Interaction,
    Milestones,
    Money,
    Transaction,
)
from custrec.validation import currency

from . import email as email_format
from . import phone as phone_format
from . import ric, uscc
from .structure import field_types

__all__ = [
    "DEFAULT_RULES",
    "LENGTH_LIMITS",
    "Rule",
    "RuleContext",
    "RuleSet",
    "rule",
]

CheckFunction = Callable[[Any, "RuleContext"], Iterable[Issue]]


@attrs.frozen(kw_only=True)
class RuleContext:
    """What a rule may know besides the record: the instant of validation and the phone region.

    ``as_of`` is the "now" against which "not in the future" is judged (injected, so validation is
    deterministic). ``unreadable`` holds the paths of raw values that could not be structured (see
    :func:`custrec.model.serialization.structure_partially`): the record holds a default or
    :data:`~custrec.model.serialization.UNREADABLE` there, so a rule must not conclude from it that
    a value is missing (:meth:`unreadable_within`). Issues a rule reports at or under such a path
    are dropped: structuring has already reported it.
    """

    as_of: datetime
    region: str = "CN"
    unreadable: frozenset[str] = frozenset()

    @property
    def today(self) -> date:
        """The latest calendar date anywhere at ``as_of`` (at UTC+14; changed with the rules)."""
        return (self.as_of.astimezone(UTC) + timedelta(hours=14)).date()

    def unreadable_within(self, path: str) -> bool:
        """Whether the value at ``path``, or a part of it, could not be read.

        >>> ctx = RuleContext(as_of=datetime.now(UTC), unreadable=frozenset({"contacts[0].phones"}))
        >>> ctx.unreadable_within("contacts[0]"), ctx.unreadable_within("contacts[1]")
        (True, False)
        """
        return any(_within(unreadable, path) for unreadable in self.unreadable)

    def issue(
        self, path: str, code: str, message: str, severity: Severity = Severity.ERROR
    ) -> Issue:
        """Build an issue (a shortcut for rule authors)."""
        return Issue(path=path, code=code, message=message, severity=severity)


@attrs.frozen
class Rule:
    """A named check of one record type.

    ``check(record, ctx)`` yields issues; ``codes`` lists the codes it can emit (documentation, and
    the names :meth:`RuleSet.with_severity` expects).
    """

    name: str
    applies_to: type
    check: CheckFunction = attrs.field(repr=False)
    codes: tuple[str, ...] = ()

    def __call__(self, record: Any, ctx: RuleContext) -> Iterator[Issue]:
        if isinstance(record, self.applies_to):
            yield from self.check(record, ctx)


def rule(
    name: str, applies_to: type, *, codes: Iterable[str] = ()
) -> Callable[[CheckFunction], Rule]:
    """Decorate a check function ``(record, ctx) -> Iterable[Issue]`` into a :class:`Rule`."""
    if not name:
        raise ValueError("a rule needs a name")
    if not isinstance(applies_to, type):
        raise TypeError("applies_to must be a record class")

    def wrap(func: CheckFunction) -> Rule:
        return Rule(name, applies_to, func, tuple(codes))

    return wrap


def _severity(value: Severity | str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ValueError(f"unknown severity {value!r}; use error, warning or info") from None


@attrs.frozen
class RuleSet:
    """An ordered, immutable collection of rules with per-code severity overrides."""

    rules: tuple[Rule, ...] = ()
    severities: Mapping[str, Severity] = attrs.field(factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the rules, in order."""
        return tuple(r.name for r in self.rules)

    def with_rules(self, *rules: Rule) -> RuleSet:
        """Return a set with ``rules`` added (a rule with the same name is replaced)."""
        for r in rules:
            if not isinstance(r, Rule):
                raise TypeError("with_rules() takes Rule objects (see custrec.validation.rule)")
        new_names = {r.name for r in rules}
        kept = tuple(r for r in self.rules if r.name not in new_names)
        return attrs.evolve(self, rules=kept + rules)

    def without(self, *names: str) -> RuleSet:
        """Return a set without the named rules; unknown names raise ``KeyError``."""
        unknown = set(names) - set(self.names)
        if unknown:
            raise KeyError(f"no such rule: {', '.join(sorted(unknown))}")
        return attrs.evolve(self, rules=tuple(r for r in self.rules if r.name not in names))

    def with_severity(self, code: str, severity: Severity | str) -> RuleSet:
        """Return a set in which issues with ``code`` take ``severity`` (e.g. downgrade to warning).

        This is how a deployment accepts pilot-era credit codes that fail GB 32100's check:
        ``rules.with_severity("uscc.checksum", "warning")``.
        """
        merged = dict(self.severities)
        merged[code] = _severity(severity)
        return attrs.evolve(self, severities=merged)

    def check(
        self,
        record: Any,
        *,
        as_of: datetime | None = None,
        region: str = "CN",
        unreadable: Iterable[str] = (),
    ) -> ValidationReport:
        """Run every applicable rule on ``record`` and return the report.

        ``unreadable`` names the paths whose raw values could not be structured (they were
        reported then); issues at or under them are left out (see :class:`RuleContext`).
        """
        now = require_aware(as_of, "as_of") if as_of is not None else datetime.now(UTC)
        ctx = RuleContext(as_of=now, region=region, unreadable=frozenset(unreadable))
        issues: list[Issue] = []
        for r in self.rules:
            issues.extend(r(record, ctx))
        if ctx.unreadable:
            issues = [
                i for i in issues if not any(_within(i.path, base) for base in ctx.unreadable)
            ]
        return ValidationReport(issues).with_severities(self.severities)


def _within(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or lies under it (``contacts[0].name`` under ``contacts``)."""
    if not base or path == base:
        return True
    return path.startswith(base) and path[len(base)] in ".["


# ---------------------------------------------------------------------------- type checking


def _type_issues(value: Any, tp: Any, path: str) -> Iterator[Issue]:
    """Check a value against a field annotation; used for records built in code."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (UnionType, typing.Union):
        if value is None and NoneType in args:
            return
        non_none = [a for a in args if a is not NoneType]
        yield from _type_issues(value, non_none[0], path)
        return
    if origin is tuple:
        if not isinstance(value, tuple):
            yield Issue(path=path, code="type", message="expected a tuple")
            return
        for index, item in enumerate(value):
            yield from _type_issues(item, args[0], f"{path}[{index}]")
        return
    if value is None:
        yield Issue(path=path, code="required", message="a value is required")
        return
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, tp):
            yield Issue(path=path, code="type", message=f"expected a {tp.__name__}")
            return
        hints = field_types(tp)
        for field in attrs.fields(tp):
            yield from _type_issues(
                getattr(value, field.name), hints[field.name], join_path(path, field.name)
            )
        return
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if not isinstance(value, tp):
            names = ", ".join(repr(m.value) for m in tp)
            yield Issue(path=path, code="enum", message=f"expected one of {names}")
        return
    if tp is datetime:
        if not isinstance(value, datetime):
            yield Issue(path=path, code="type", message="expected a date-time")
        elif value.tzinfo is None or value.utcoffset() is None:
            yield Issue(path=path, code="datetime.naive", message="date-time has no time zone")
        return
    if tp is date:
        if not isinstance(value, date) or isinstance(value, datetime):
            yield Issue(path=path, code="type", message="expected a date")
        return
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            yield Issue(path=path, code="type", message="expected a whole number")
        return
    if tp is Decimal:
        if not isinstance(value, Decimal) or not value.is_finite():
            yield Issue(path=path, code="type", message="expected a finite decimal number")
        return
    if isinstance(tp, type) and not isinstance(value, tp):
        yield Issue(path=path, code="type", message=f"expected {tp.__name__}")


def _check_types(record: Any, ctx: RuleContext) -> Iterator[Issue]:
    cls = type(record)
    hints = field_types(cls)
    for field in attrs.fields(cls):
        yield from _type_issues(getattr(record, field.name), hints[field.name], field.name)


# ------------------------------------------------------------------------------ default rules


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _contacts(customer: Customer) -> Iterator[tuple[int, Contact]]:
    for index, contact in enumerate(customer.contacts):
        if isinstance(contact, Contact):
            yield index, contact


def _strings(values: object) -> Iterator[tuple[int, str]]:
    if isinstance(values, tuple):
        for index, value in enumerate(values):
            if isinstance(value, str):
                yield index, value


def _given(values: object) -> bool:
    """Whether a tuple holds any value that is not blank (of any type: it may be unreadable)."""
    return isinstance(values, tuple) and any(not _blank(value) for value in values)


def _may_have(c: Customer, ctx: RuleContext, fields: tuple[str, ...]) -> bool:
    """Whether some contact has one of ``fields``, or may have: an entry or one of those fields
    could not be read (its type is wrong, or it could not be structured)."""
    if not isinstance(c.contacts, tuple):
        return True  # the type rule reports it
    for index, contact in enumerate(c.contacts):
        if not isinstance(contact, Contact):
            if contact is not None:
                return True
            continue
        for name in fields:
            value = getattr(contact, name)
            if _given(value) if isinstance(value, tuple) else not _blank(value):
                return True
            if ctx.unreadable_within(f"contacts[{index}].{name}"):
                return True
    return False


@rule("required", Customer, codes=("required", "contact.channel_required"))
def _required(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    if _blank(c.name):
        yield ctx.issue("name", "required", "the customer name is required")
    if c.kind == CustomerKind.ORGANIZATION:
        if _blank(c.industry):
            yield ctx.issue("industry", "required", "organisations need an industry")
        if not _may_have(c, ctx, ("name",)):
            yield ctx.issue("contacts", "required", "organisations need a named contact person")
    has_channel = _may_have(c, ctx, ("phones", "emails", "wechat"))
    if not has_channel:
        yield ctx.issue(
            "contacts",
            "contact.channel_required",
            "at least one phone, e-mail or WeChat id is required",
        )


LENGTH_LIMITS: Final[Mapping[str, int]] = {
    "name": 200,
    "registered_name": 200,
    "industry": 100,
    "legal_representative": 100,
    "notes": 5000,
    "owner": 64,
    "team": 64,
    "source": 100,
    "grade": 32,
    "product_interests[]": 100,
    "needs[]": 200,
    "tags[]": 50,
    "contacts[].name": 100,
    "contacts[].title": 100,
    "contacts[].wechat": 64,
    "addresses[].province": 50,
    "addresses[].city": 50,
    "addresses[].district": 50,
    "addresses[].street": 300,
    "addresses[].postal_code": 20,
    "identifiers[].value": 64,
    "identifiers[].system": 64,
}
"""Maximum lengths (in characters) per field path; ``[]`` means every element."""


def _values_at(record: object, path: str, prefix: str = "") -> Iterator[tuple[str, object]]:
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head[:-2] if many else head
    value = getattr(record, name, None)
    here = join_path(prefix, name)
    items: Iterable[tuple[str, object]]
    if many:
        items = (
            ((f"{here}[{i}]", v) for i, v in enumerate(value)) if isinstance(value, tuple) else ()
        )
    else:
        items = ((here, value),)
    for item_path, item in items:
        if rest:
            yield from _values_at(item, rest, item_path)
        else:
            yield item_path, item


@rule("lengths", Customer, codes=("too_long",))
def _lengths(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    for path, limit in LENGTH_LIMITS.items():
        for where, value in _values_at(c, path):
            if isinstance(value, str) and len(value) > limit:
                yield ctx.issue(where, "too_long", f"longer than {limit} characters")


def _format_issue(path: str, exc: InvalidFormat) -> Issue:
    return Issue(path=path, code=exc.code, message=exc.message)


@rule(
    "formats",
    Customer,
    codes=(
        "phone.invalid",
        "email.invalid",
        "uscc.length",
        "uscc.format",
        "uscc.checksum",
        "ric.length",
        "ric.format",
        "ric.birth_date",
        "ric.checksum",
        "identifier.system_required",
        "country.invalid",
        "postal_code.invalid",
    ),
)
def _formats(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    for i, contact in _contacts(c):
        for j, phone in _strings(contact.phones):
            if not phone_format.is_valid(phone, ctx.region):
                yield ctx.issue(f"contacts[{i}].phones[{j}]", "phone.invalid", "not a valid phone")
        for j, mail in _strings(contact.emails):
            if not email_format.is_valid(mail):
                yield ctx.issue(f"contacts[{i}].emails[{j}]", "email.invalid", "not a valid e-mail")
    for i, ident in enumerate(c.identifiers):
        path = f"identifiers[{i}]"
        value = getattr(ident, "value", None)
        if not isinstance(value, str):
            continue
        scheme = getattr(ident, "scheme", None)
        try:
            if scheme == IdentifierScheme.USCC:
                uscc.validate(value)
            elif scheme == IdentifierScheme.RIC:
                ric.validate(value, today=ctx.today)
        except InvalidFormat as exc:
            yield _format_issue(f"{path}.value", exc)
        if scheme == IdentifierScheme.EXTERNAL and _blank(getattr(ident, "system", None)):
            yield ctx.issue(
                f"{path}.system",
                "identifier.system_required",
                "external ids must name the system they come from",
            )
    for i, address in enumerate(c.addresses):
        country = getattr(address, "country", None)
        if isinstance(country, str) and not (
            len(country) == 2 and country.isascii() and country.isalpha() and country.isupper()
        ):
            yield ctx.issue(
                f"addresses[{i}].country", "country.invalid", "expected an ISO 3166 alpha-2 code"
            )
        postal = getattr(address, "postal_code", None)
        if (
            country == "CN"
            and isinstance(postal, str)
            and not (len(postal) == 6 and postal.isascii() and postal.isdigit())
        ):
            yield ctx.issue(
                f"addresses[{i}].postal_code",
                "postal_code.invalid",
                "Chinese postal codes have six digits",
            )


@rule("duplicates", Customer, codes=("phone.duplicate", "email.duplicate", "identifier.duplicate"))
def _duplicates(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    seen_phones: set[str] = set()
    seen_emails: set[str] = set()
    for i, contact in _contacts(c):
        for j, phone in _strings(contact.phones):
            key = _phone_key(phone, ctx.region)
            if key in seen_phones:
                yield ctx.issue(
                    f"contacts[{i}].phones[{j}]", "phone.duplicate", "this phone is listed twice"
                )
            seen_phones.add(key)
        for j, address in _strings(contact.emails):
            email_key = address.casefold()
            if email_key in seen_emails:
                yield ctx.issue(
                    f"contacts[{i}].emails[{j}]", "email.duplicate", "this e-mail is listed twice"
                )
            seen_emails.add(email_key)
    seen_ids: set[tuple[object, object, object]] = set()
    for i, ident in enumerate(c.identifiers):
        id_key = (
            getattr(ident, "scheme", None),
            getattr(ident, "system", None),
            _ident_value(ident),
        )
        if id_key in seen_ids:
            yield ctx.issue(
                f"identifiers[{i}]", "identifier.duplicate", "this identifier is listed twice"
            )
        seen_ids.add(id_key)


def _ident_value(ident: object) -> object:
    value = getattr(ident, "value", None)
    return value.upper() if isinstance(value, str) else value


def _phone_key(phone: str, region: str) -> str:
    try:
        return phone_format.normalize(phone, region)
    except (InvalidFormat, ValueError):
        return phone


_DATES_NOT_IN_FUTURE: Final = (
    "birth_date",
    "founded_on",
    "milestones.contract_signed_on",
    "milestones.first_payment_on",
    "created_at",
    "last_verified_at",
    "last_contacted_at",
)


def _day_only(value: object) -> TypeGuard[date]:
    return isinstance(value, date) and not isinstance(value, datetime)


def _future(value: object, ctx: RuleContext) -> bool:
    if isinstance(value, datetime):
        return value.tzinfo is not None and value.utcoffset() is not None and value > ctx.as_of
    if isinstance(value, date):
        return value > ctx.today
    return False


@rule("dates", Customer, codes=("date.future",))
def _dates(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    for path in _DATES_NOT_IN_FUTURE:
        for where, value in _values_at(c, path):
            if _future(value, ctx):
                yield ctx.issue(where, "date.future", "this date lies in the future")


def _satisfaction_issue(path: str, value: object) -> Iterator[Issue]:
    if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= 5:
        yield Issue(path=path, code="satisfaction.range", message="satisfaction must be 1 to 5")


def _money_issues(path: str, money: object, *, allow_negative: bool) -> Iterator[Issue]:
    if not isinstance(money, Money):
        return
    wrong = currency.problem(money.currency)  # the code list is data, tested in test_currency
    if wrong is not None:
        yield Issue(path=f"{path}.currency", code="currency.invalid", message=wrong)
    amount = money.amount
    if not allow_negative and isinstance(amount, Decimal) and amount.is_finite() and amount < 0:
        yield Issue(path=f"{path}.amount", code="amount.negative", message="must not be negative")


@rule(
    "cross_field",
    Customer,
    codes=(
        "ric.birth_date_mismatch",
        "ric.sex_mismatch",
        "amount.negative",
        "currency.invalid",
        "satisfaction.range",
        "milestones.order",
        "kind.field_mismatch",
    ),
)
def _cross_field(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    if c.kind == CustomerKind.INDIVIDUAL:
        for i, ident in enumerate(c.identifiers):
            if getattr(ident, "scheme", None) != IdentifierScheme.RIC:
                continue
            value = getattr(ident, "value", None)
            if not isinstance(value, str) or not ric.is_valid(value, today=ctx.today):
                continue
            if (
                isinstance(c.birth_date, date)
                and ric.birth_date(value, today=ctx.today) != c.birth_date
            ):
                yield ctx.issue(
                    f"identifiers[{i}].value",
                    "ric.birth_date_mismatch",
                    "the ID number's birth date differs from the record's birth date",
                )
            if (
                c.gender in (Gender.MALE, Gender.FEMALE)
                and ric.sex(value, today=ctx.today) != c.gender
            ):
                yield ctx.issue(
                    f"identifiers[{i}].value",
                    "ric.sex_mismatch",
                    "the ID number's sex differs from the record's gender",
                )
    elif c.kind == CustomerKind.ORGANIZATION:  # not for a kind that is missing or wrong
        for name in ("gender", "birth_date"):
            if getattr(c, name) is not None:
                yield ctx.issue(
                    name,
                    "kind.field_mismatch",
                    "only individuals have this field",
                    Severity.WARNING,
                )
    m = c.milestones
    if isinstance(m, Milestones):
        yield from _money_issues(
            "milestones.contract_amount", m.contract_amount, allow_negative=False
        )
        yield from _satisfaction_issue("milestones.satisfaction", m.satisfaction)
        signed, paid = m.contract_signed_on, m.first_payment_on
        # days only: a date-time there (a type issue of its own) may not compare with a date
        if _day_only(signed) and _day_only(paid) and paid < signed:
            yield ctx.issue(
                "milestones.first_payment_on",
                "milestones.order",
                "first payment precedes the contract signature",
                Severity.WARNING,
            )


@rule("transaction", Transaction, codes=("date.future", "currency.invalid", "required"))
def _transaction(t: Transaction, ctx: RuleContext) -> Iterator[Issue]:
    if _blank(t.customer_id):
        yield ctx.issue("customer_id", "required", "a transaction belongs to a customer")
    if _future(t.occurred_at, ctx):
        yield ctx.issue("occurred_at", "date.future", "this date lies in the future")
    yield from _money_issues("amount", t.amount, allow_negative=True)


@rule(
    "interaction",
    Interaction,
    codes=("date.future", "satisfaction.range", "interaction.next_action_order", "required"),
)
def _interaction(i: Interaction, ctx: RuleContext) -> Iterator[Issue]:
    if _blank(i.customer_id):
        yield ctx.issue("customer_id", "required", "an interaction belongs to a customer")
    if _future(i.occurred_at, ctx):
        yield ctx.issue("occurred_at", "date.future", "this date lies in the future")
    yield from _satisfaction_issue("satisfaction", i.satisfaction)
    happened, nxt = i.occurred_at, i.next_action_at
    if (
        isinstance(happened, datetime)
        and isinstance(nxt, datetime)
        and happened.tzinfo is not None
        and nxt.tzinfo is not None
        and nxt <= happened
    ):
        yield ctx.issue(
            "next_action_at",
            "interaction.next_action_order",
            "the next action must come after the interaction",
        )


_RECORD_FIELDS: dict[type, tuple[str, ...]] = {}


def _record_fields(cls: type) -> tuple[str, ...]:
    """The attrs field names of ``cls`` (none for any other type), cached."""
    names = _RECORD_FIELDS.get(cls)
    if names is None:
        names = _RECORD_FIELDS[cls] = (
            tuple(f.name for f in attrs.fields(cls)) if attrs.has(cls) else ()
        )
    return names


def _any_invalid_text(record: object) -> bool:
    """Whether any string in ``record`` (in nested records and tuples too) cannot be stored.

    The common case, nothing wrong, is checked in one pass without building paths. Values of
    other types (a list where a tuple belongs, ...) are not entered: the type rule reports them.
    """
    strings: list[str] = []
    stack: list[object] = [record]
    while stack:
        value = stack.pop()
        cls = type(value)
        if cls is str:
            strings.append(typing.cast(str, value))
        elif cls is tuple:
            stack.extend(typing.cast(tuple[object, ...], value))
        elif value is not None:
            names = _record_fields(cls)
            if names:
                for name in names:
                    stack.append(getattr(value, name))
            elif isinstance(value, str):  # a str subclass, such as an enum member
                strings.append(value)
    return has_invalid_character("".join(strings))


def _text_issues(record: object) -> Iterator[Issue]:
    """Report, in field order, every string in ``record`` that cannot be stored."""
    stack: list[tuple[str, object]] = [("", record)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if has_invalid_character(value):
                yield Issue(
                    path=path, code="text.invalid_character", message=INVALID_CHARACTER_MESSAGE
                )
        elif isinstance(value, tuple):
            stack.extend(reversed([(f"{path}[{i}]", item) for i, item in enumerate(value)]))
        else:
            names = _record_fields(type(value))
            stack.extend((join_path(path, name), getattr(value, name)) for name in reversed(names))


@rule("text", object, codes=("text.invalid_character",))
def _text(record: object, ctx: RuleContext) -> Iterator[Issue]:
    """Every string of a record, nested ones included, must be storable: no lone surrogate (as
    ``surrogateescape`` decoding leaves for undecodable bytes) and no NUL character."""
    if _record_fields(type(record)) and _any_invalid_text(record):
        yield from _text_issues(record)


def _types_rule(cls: type) -> Rule:
    return Rule(
        f"types.{cls.__name__.lower()}",
        cls,
        _check_types,
        ("type", "enum", "required", "datetime.naive"),
    )


DEFAULT_RULES: Final = RuleSet(
    (
        _types_rule(Customer),
        _types_rule(Transaction),
        _types_rule(Interaction),
        _text,
        _required,
        _lengths,
        _formats,
        _duplicates,
        _dates,
        _cross_field,
        _transaction,
        _interaction,
    )
)
"""The rules :func:`custrec.validation.validate` runs unless told otherwise."""
