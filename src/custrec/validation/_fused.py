"""The default rules on a customer, fused into one pass (a fast path of
:meth:`custrec.validation.rules.RuleSet.check`).

:func:`customer_clean` answers one question: would every rule of
:data:`~custrec.validation.rules.DEFAULT_RULES` that applies to a
:class:`~custrec.model.records.Customer` (``types.customer``, ``text``, ``required``,
``lengths``, ``formats``, ``duplicates``, ``dates``, ``cross_field``) report nothing? It walks
the record once, with no generator per rule and no path built, and each resident ID is read
once (the ``formats`` and ``cross_field`` rules each read it again). It may answer ``False``
for a record the rules accept (a case it leaves to them: several phones, an organisation with
a gender, a value not of its declared type); it never answers ``True`` for a record any of
them reports on.
A ``False`` sends the record through the rules, which report the issues with their paths,
messages and severities, so the fast path changes no report.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import date
from decimal import Decimal
from typing import Final

from custrec.model.records import (
    Customer,
    CustomerKind,
    Gender,
    IdentifierScheme,
    Milestones,
    Money,
)
from custrec.validation import email as email_format
from custrec.validation import phone as phone_format
from custrec.validation import ric, uscc
from custrec.validation._compiled import _any_invalid_text, _fields_ok
from custrec.validation.currency import CODES as _CURRENCIES

__all__ = ["customer_clean"]

_FIELDS_OK: Final = _fields_ok(Customer)
_INDIVIDUAL: Final = CustomerKind.INDIVIDUAL
_ORGANIZATION: Final = CustomerKind.ORGANIZATION
_RIC: Final = IdentifierScheme.RIC
_USCC: Final = IdentifierScheme.USCC
_EXTERNAL: Final = IdentifierScheme.EXTERNAL


def customer_clean(
    c: Customer,
    *,
    today: date,
    region: str,
    emails: Container[str],
    too_long: Callable[[object], bool],
    structured: bool = False,
    known_phones: Container[str] = frozenset(),
) -> bool:
    """Whether the default customer rules but ``dates`` find nothing in ``c`` (see the
    module docstring; the caller asks the ``dates`` rule's own predicate after it).

    ``emails`` are the addresses known valid (``rules._NORMALISED_EMAILS``), ``known_phones``
    the numbers known valid in ``region`` (the E.164 forms ``parse_customer`` has just made: a
    valid number's E.164 form is valid, see ``phone._e164``), ``too_long`` the ``lengths``
    rule's quick predicate. Nothing may be unreadable (the caller checks).

    ``structured`` says ``c`` is what :func:`~custrec.model.serialization.structure_partially`
    (with the normalisers of ``parse_customer``) made of raw data without any issue: every
    value then has its declared type and every string was checked for characters that cannot
    be stored, so the ``types.customer`` and ``text`` predicates are not asked again (a
    hypothesis test over raw input, junk included, pins that they would find nothing).
    """
    # types.customer, text, lengths: the rules' own predicates
    if not structured and (not _FIELDS_OK(c) or _any_invalid_text(c)):
        return False
    if too_long(c):
        return False
    # every field has its declared type from here on
    if not c.name.strip():
        return False
    kind = c.kind
    contacts = c.contacts
    # required: a channel (and, for an organisation, an industry and a named contact)
    channel = named = False
    phones = emails_seen = 0
    for contact in contacts:
        if contact.name is not None and contact.name.strip():
            named = True
        wechat = contact.wechat
        if wechat is not None and wechat.strip():
            channel = True
        for value in contact.phones:
            phones += 1
            if value.strip():
                channel = True
            if value not in known_phones and not phone_format.is_valid(value, region):
                return False
        for value in contact.emails:
            emails_seen += 1
            if value.strip():
                channel = True
            if value not in emails and not email_format.is_valid(value):
                return False
    if not channel or phones > 1 or emails_seen > 1:  # repeats: the duplicates rule decides
        return False
    if kind is _ORGANIZATION:
        industry = c.industry
        if industry is None or not industry.strip() or not named:
            return False
        if c.gender is not None or c.birth_date is not None:  # kind.field_mismatch
            return False
    # formats and duplicates of identifiers; cross_field on resident IDs
    identifiers = c.identifiers
    if len(identifiers) > 1:
        keys = {(i.scheme, i.system, i.value.upper()) for i in identifiers}
        if len(keys) != len(identifiers):
            return False
    for ident in identifiers:
        scheme, value = ident.scheme, ident.value
        if scheme == _USCC:
            if not uscc.is_valid(value):
                return False
        elif scheme == _RIC:
            checked = ric._check(value, today)
            born = checked[1]
            if isinstance(born, str):
                return False
            if kind is _INDIVIDUAL:
                if c.birth_date is not None and born != c.birth_date:
                    return False
                gender = c.gender
                if gender is Gender.MALE or gender is Gender.FEMALE:
                    sex = Gender.MALE if int(checked[0][16]) % 2 else Gender.FEMALE
                    if sex != gender:
                        return False
        elif scheme == _EXTERNAL:
            system = ident.system
            if system is None or not system.strip():
                return False
    for address in c.addresses:
        country = address.country
        if not (
            len(country) == 2 and country.isascii() and country.isalpha() and country.isupper()
        ):
            return False
        postal = address.postal_code
        if (
            country == "CN"
            and postal is not None
            and not (len(postal) == 6 and postal.isascii() and postal.isdigit())
        ):
            return False
    # cross_field: milestones, the rule's own conditions (of the declared types: anything
    # else is left to the rule)
    m = c.milestones
    if type(m) is not Milestones:
        return False
    money = m.contract_amount
    if money is not None:
        if type(money) is not Money:
            return False
        currency = money.currency
        if type(currency) is not str or currency not in _CURRENCIES:
            return False  # currency.invalid
        amount = money.amount
        if type(amount) is not Decimal or (amount.is_finite() and amount < 0):
            return False  # amount.negative
    satisfaction = m.satisfaction
    if satisfaction is not None and not (type(satisfaction) is int and 1 <= satisfaction <= 5):
        return False  # satisfaction.range
    signed, paid = m.contract_signed_on, m.first_payment_on
    return (  # milestones.order
        signed is None
        or paid is None
        or (type(signed) is date and type(paid) is date and not paid < signed)
    )
