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

import importlib
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeGuard

import attrs

from custrec._checks import require_aware
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
from custrec.model.serialization import field_types
from custrec.validation import email as email_format
from custrec.validation import phone as phone_format
from custrec.validation import ric, uscc
from custrec.validation._compiled import (
    _any_invalid_text,
    _fields_ok,
    _record_fields,
    _text_issues,
    _type_issues,
)
from custrec.validation._fused import customer_clean
from custrec.validation.currency import problem as currency_problem

__all__ = [
    "DEFAULT_RULES",
    "LENGTH_LIMITS",
    "Rule",
    "RuleContext",
    "RuleSet",
    "rule",
]

_EARLIEST_ZONE: Final = timedelta(hours=14)
"""How far ahead of UTC the earliest civil time zone runs (Line Islands, UTC+14)."""

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
        """The latest calendar date anywhere at ``as_of`` (its date at UTC+14): a date without
        a zone is in the future only when it is after today everywhere, so a date of today in
        Shanghai is not refused at 07:00 there, while UTC still says yesterday."""
        return (self.as_of.astimezone(UTC) + _EARLIEST_ZONE).date()

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

    def __reduce__(self) -> tuple[Any, ...]:
        # A rule made with @rule replaces its function in the module: pickle it by that name
        # (as a function would be), so that rule sets can go to worker processes.
        module = getattr(self.check, "__module__", None)
        qualname = getattr(self.check, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str):
            try:
                if _named(module, qualname) is self:
                    return (_named, (module, qualname))
            except (ImportError, AttributeError):
                pass
        return (Rule, (self.name, self.applies_to, self.check, self.codes))


def _named(module: str, qualname: str) -> Any:
    """The object a module holds under a dotted qualified name."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


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
        if (
            type(record) is Customer
            and self.rules is DEFAULT_RULES.rules
            and not ctx.unreadable
            and _clean(record, ctx, structured=False)
        ):
            return _NO_ISSUES  # the default rules, fused: see validation/_fused.py
        issues: list[Issue] = []
        for r in self.rules:
            if type(r) is Rule:  # Rule.__call__, without a generator per rule
                if isinstance(record, r.applies_to):
                    issues.extend(r.check(record, ctx))
            else:
                issues.extend(r(record, ctx))
        if ctx.unreadable:
            issues = [
                i for i in issues if not any(_within(i.path, base) for base in ctx.unreadable)
            ]
        if not issues:  # most records: one shared empty report (reports are immutable)
            return _NO_ISSUES
        return ValidationReport(issues).with_severities(self.severities)


_NO_ISSUES: Final = ValidationReport(())


def _clean(
    record: Customer,
    ctx: RuleContext,
    *,
    structured: bool,
    emails: Container[str] | None = None,
    phones: Container[str] = frozenset(),
) -> bool:
    """Whether :data:`DEFAULT_RULES` find nothing in a customer (nothing unreadable): the
    fused pass of ``validation/_fused.py``, then the ``dates`` rule's predicate. ``structured``:
    the record was just structured without an issue; ``emails`` and ``phones``: the values
    known valid, ``emails`` by default those of ``_NORMALISED_EMAILS`` (see
    ``customer_clean``)."""
    return customer_clean(
        record,
        today=ctx.today,
        region=ctx.region,
        emails=_NORMALISED_EMAILS.get() if emails is None else emails,
        too_long=_TYPED_TOO_LONG if structured else _ANY_TOO_LONG,
        structured=structured,
        known_phones=phones,
    ) and not _customer_future(record, ctx)


def _within(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or lies under it (``contacts[0].name`` under ``contacts``)."""
    if not base or path == base:
        return True
    return path.startswith(base) and path[len(base)] in ".["


# ---------------------------------------------------------------------------- type checking


def _check_types(record: Any, ctx: RuleContext) -> Iterator[Issue]:
    cls = type(record)
    if _fields_ok(cls)(record):
        return
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


# A tree of field paths (``_values_at`` syntax) merged on common heads, so that a record is walked
# once to answer "does any value at these paths fail?": (name, many, argument or None, children).
_PathTree = tuple[tuple[str, bool, Any, "_PathTree"], ...]


def _path_tree(paths: Iterable[tuple[str, Any]]) -> _PathTree:
    heads: dict[tuple[str, bool], tuple[list[Any], list[tuple[str, Any]]]] = {}
    for path, argument in paths:
        head, _, rest = path.partition(".")
        many = head.endswith("[]")
        node = heads.setdefault((head[:-2] if many else head, many), ([], []))
        if rest:
            node[1].append((rest, argument))
        else:
            node[0].append(argument)
    tree = []
    for (name, many), (arguments, children) in heads.items():
        for argument in arguments or [None]:
            tree.append((name, many, argument, _path_tree(children)))
    return tuple(tree)


def _too_long_source(
    tree: _PathTree, var: str, depth: int, indent: str, typed: bool = False
) -> list[str]:
    """``typed``: every value has its declared type (a record structured without any issue),
    so attributes are read directly, a list is a tuple and a text is a str or ``None``."""
    lines = []
    for name, many, limit, children in tree:
        value = f"v{depth}"
        if typed:
            lines.append(f"{indent}{value} = {var}.{name}")
        else:
            lines.append(f"{indent}{value} = getattr({var}, {name!r}, None)")
        inner, inner_indent = value, indent
        if many and typed:
            inner, inner_indent = f"{value}_", indent + "    "
            lines.append(f"{indent}for {inner} in {value}:")
        elif many:
            inner, inner_indent = f"{value}_", indent + "        "
            lines.append(f"{indent}if isinstance({value}, tuple):")
            lines.append(f"{indent}    for {inner} in {value}:")
        if limit is not None:
            text = f"{inner} is not None" if typed else f"isinstance({inner}, str)"
            lines.append(f"{inner_indent}if {text} and len({inner}) > {int(limit)}:")
            lines.append(f"{inner_indent}    return True")
        if children:
            lines += _too_long_source(children, inner, depth + 1, inner_indent, typed)
        if many and limit is None and not children:  # pragma: no cover - no such path
            lines.append(f"{inner_indent}pass")
    return lines


def _compile_too_long(tree: _PathTree, typed: bool = False) -> Callable[[object], bool]:
    """Compile: whether a string some path of ``tree`` reaches (as ``_values_at`` does) is
    longer than its limit, what ``_lengths`` would report, checked without building paths
    (``typed``: for a record whose every value has its declared type)."""
    body = "".join(f"{line}\n" for line in _too_long_source(tree, "v", 0, "    ", typed))
    namespace: dict[str, Any] = {}
    source = f"def too_long(v):\n{body}    return False\n"
    exec(compile(source, "<custrec lengths>", "exec"), namespace)
    function: Callable[[object], bool] = namespace["too_long"]
    return function


_ANY_TOO_LONG: Final = _compile_too_long(_path_tree(LENGTH_LIMITS.items()))
_TYPED_TOO_LONG: Final = _compile_too_long(_path_tree(LENGTH_LIMITS.items()), typed=True)
""":data:`_ANY_TOO_LONG` for a record structured without any issue (see ``customer_clean``)."""


@rule("lengths", Customer, codes=("too_long",))
def _lengths(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    if not _ANY_TOO_LONG(c):
        return
    for path, limit in LENGTH_LIMITS.items():
        for where, value in _values_at(c, path):
            if isinstance(value, str) and len(value) > limit:
                yield ctx.issue(where, "too_long", f"longer than {limit} characters")


# The ASCII e-mail addresses :func:`custrec.validation.parse_customer` has just normalised, while
# its rules run: each is valid (normalising such an address's normalised form gives it back, so
# ``email.is_valid`` would only parse it a second time to say so). A non-ASCII normalised form
# is checked again: compacting folds dash-like characters, so it may not be valid.
_NORMALISED_EMAILS: ContextVar[Container[str]] = ContextVar(
    "custrec_normalised_emails", default=frozenset()
)


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
    normalised_emails = _NORMALISED_EMAILS.get()
    for i, contact in enumerate(c.contacts):  # _contacts and _strings, inline
        if not isinstance(contact, Contact):
            continue
        phones, emails = contact.phones, contact.emails
        if isinstance(phones, tuple):
            for j, phone in enumerate(phones):
                if isinstance(phone, str) and not phone_format.is_valid(phone, ctx.region):
                    yield ctx.issue(
                        f"contacts[{i}].phones[{j}]", "phone.invalid", "not a valid phone"
                    )
        if isinstance(emails, tuple):
            for j, mail in enumerate(emails):
                if (
                    isinstance(mail, str)
                    and mail not in normalised_emails
                    and not email_format.is_valid(mail)
                ):
                    yield ctx.issue(
                        f"contacts[{i}].emails[{j}]", "email.invalid", "not a valid e-mail"
                    )
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
    if not _one_phone_and_email_at_most(c):
        yield from _channel_duplicates(c, ctx)
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


def _one_phone_and_email_at_most(c: Customer) -> bool:
    """Whether the contacts (a tuple) list at most one phone and one e-mail in all (text
    ones, the only ones compared): then none can repeat, and their keys need not be made
    (making one never raises: ``phone.normalize`` raises only what ``_phone_key`` catches)."""
    contacts = c.contacts
    if type(contacts) is not tuple:
        return False
    phones = emails = 0
    for contact in contacts:
        if isinstance(contact, Contact):
            for value in _tuple_or_none(contact.phones):
                phones += isinstance(value, str)
            for value in _tuple_or_none(contact.emails):
                emails += isinstance(value, str)
    return phones <= 1 and emails <= 1


def _tuple_or_none(values: object) -> tuple[object, ...]:
    return values if isinstance(values, tuple) else ()


def _channel_duplicates(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    """The phones and e-mails of ``_duplicates``, contact by contact."""
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


_DATE_TREE: Final = _path_tree((path, True) for path in _DATES_NOT_IN_FUTURE)


def _any_future(record: object, tree: _PathTree, ctx: RuleContext) -> bool:
    """Whether a value some path of ``tree`` reaches (as ``_values_at`` does) lies in the
    future: what ``_dates`` would report, checked without building paths."""
    for name, many, flag, children in tree:
        value = getattr(record, name, None)
        if many:
            if not isinstance(value, tuple):
                continue
            items: tuple[object, ...] = value
        else:
            items = (value,)
        for item in items:
            if flag is not None and item is not None and _future(item, ctx):
                return True
            if children and _any_future(item, children, ctx):
                return True
    return False


def _customer_future(c: Customer, ctx: RuleContext) -> bool:
    """``_any_future(c, _DATE_TREE, ctx)`` for a customer, its dates read one by one without
    walking the tree (milestones of another type take the walk)."""
    m = c.milestones
    if type(m) is not Milestones:
        return _any_future(c, _DATE_TREE, ctx)
    for value in (
        c.birth_date,
        c.founded_on,
        m.contract_signed_on,
        m.first_payment_on,
        c.created_at,
        c.last_verified_at,
        c.last_contacted_at,
    ):
        if value is not None and _future(value, ctx):
            return True
    return False


@rule("dates", Customer, codes=("date.future",))
def _dates(c: Customer, ctx: RuleContext) -> Iterator[Issue]:
    if not _any_future(c, _DATE_TREE, ctx):
        return
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
    wrong = currency_problem(money.currency)
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
