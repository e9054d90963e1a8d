"""E-mail addresses, checked and normalised with the ``email-validator`` library.

Input is NFKC-normalised and trimmed first (so a full-width ``＠`` or full-width letters work).
Internationalised addresses (SMTPUTF8 local parts, IDN domains) are accepted; the RFC 5321
limits (64 octets before the ``@``, 254 in all) are enforced. The domain is lower-cased and
written in Unicode; the local part keeps its case, since only the receiving server may decide
that ``Zhang`` and ``zhang`` are the same mailbox. Display names (``Name <addr>``) and quoted
local parts are rejected. No network access happens unless ``check_deliverability=True``.

>>> normalize("  ZS＠Example.COM ")
'ZS@example.com'
>>> normalize("张三@例子.广告")
'张三@例子.广告'
>>> is_valid("not an address")
False
>>> normalize("zs@@example.com")
Traceback (most recent call last):
    ...
custrec.errors.InvalidEmail: not a valid e-mail address
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import email_validator
from email_validator import EmailUndeliverableError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from custrec.errors import InvalidEmail

__all__ = ["compact", "format", "is_valid", "normalize", "validate"]

# RFC 5321 caps an address at 254 octets, hence at 254 characters; leave room for padding.
_MAX_INPUT: Final = 1024
_MAX_LENGTH: Final = 254
# RFC 5321, section 4.5.3.1.1; email-validator checks it only in its strict mode.
_MAX_LOCAL_PART: Final = 64
_MAX_DOMAIN: Final = 253
_NOT_TEXT: Final = "an e-mail address must be given as a string"


def compact(raw: str) -> str:
    """Return ``raw`` NFKC-normalised with surrounding whitespace removed.

    Dash-like characters are kept as they are (unlike phone numbers and identifiers): in an
    internationalised domain they are letters of the name (``グーグル``), and folding them would
    make :func:`normalize` change its own output.

    Never raises for a ``str``; the result is not validated. Raises
    :class:`~custrec.errors.InvalidEmail` if ``raw`` is not a ``str``.

    >>> compact("　ｚｓ＠ｅｘａｍｐｌｅ．ｃｏｍ ")
    'zs@example.com'
    """
    if not isinstance(raw, str):
        raise InvalidEmail(_NOT_TEXT)
    return unicodedata.normalize("NFKC", raw).strip()


# The common case, decided without email-validator's general machinery: an ASCII dot-atom local
# part and an ASCII host name of at least two labels ending in a letter. For such an address
# email-validator's answer is fixed: it is valid, the local part is kept and the domain is
# lower-cased. Everything else (Unicode, IDNA labels with "--", role mailboxes that it
# lower-cases, special-use domains, test-environment settings) goes to email-validator itself;
# a hypothesis test compares the two on generated addresses.
_ATEXT: Final = r"[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~]+"
_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_COMMON: Final = re.compile(
    rf"({_ATEXT}(?:\.{_ATEXT})*)@((?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z])?)", re.ASCII
)
_ROLE_MAILBOXES: Final = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _common(text: str) -> str | None:
    """The normalised form of a plain ASCII address (see ``_COMMON``), or ``None`` when the
    address needs email-validator to decide."""
    if not text.isascii():
        return None
    at = text.rfind("@")
    domain = text[at + 1 :].lower()
    found = _COMMON.fullmatch(text[: at + 1] + domain)
    if (
        found is None
        or len(text) > _MAX_LENGTH
        or len(domain) > _MAX_DOMAIN
        or "--" in domain
        or email_validator.TEST_ENVIRONMENT
    ):
        return None
    local = found.group(1)
    if len(local) > _MAX_LOCAL_PART or local.lower() in _ROLE_MAILBOXES:
        return None
    if _special_use(domain):
        return None
    return f"{local}@{domain}"


# email-validator's special-use domain names as last seen (the application may change its
# list), as a set and as suffixes: one membership test and one endswith instead of a loop.
_special: tuple[tuple[object, ...], frozenset[str] | None, tuple[str, ...]] = ((), frozenset(), ())


def _special_use(domain: str) -> bool:
    """Whether ``domain`` is one of email-validator's special-use domain names or under one
    (also ``True`` when the list holds anything but text: email-validator itself decides)."""
    global _special
    names = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)
    known = _special
    if names != known[0]:
        if all(type(name) is str for name in names):
            known = (names, frozenset(names), tuple(f".{name}" for name in names))
        else:
            known = (names, None, ())
        _special = known
    return known[1] is None or domain in known[1] or domain.endswith(known[2])


def normalize(raw: str, *, check_deliverability: bool = False) -> str:
    """Return the normalised form of a valid e-mail address.

    With ``check_deliverability=True`` the domain's DNS records are looked up as well. Raises
    :class:`~custrec.errors.InvalidEmail` (code ``email.invalid``) if ``raw`` is not a ``str``
    or not a valid address; the message never repeats the address.
    """
    if not isinstance(raw, str):
        raise InvalidEmail(_NOT_TEXT)
    if len(raw) > _MAX_INPUT:
        raise InvalidEmail("too long to be an e-mail address")
    text = compact(raw)
    if len(text) > _MAX_LENGTH:
        raise InvalidEmail("too long to be an e-mail address")
    if not check_deliverability:
        common = _common(text)
        if common is not None:
            return common
    try:
        result = validate_email(text, check_deliverability=check_deliverability)
    except EmailUndeliverableError:
        raise InvalidEmail("the e-mail domain does not accept mail") from None
    except ValueError:  # EmailNotValidError, or a UnicodeError the library let through
        # email-validator's own messages may quote parts of the address: never pass them on.
        raise InvalidEmail("not a valid e-mail address") from None
    if len(result.local_part.encode("utf-8")) > _MAX_LOCAL_PART:
        raise InvalidEmail("the part before the @ is longer than 64 octets")
    return result.normalized


def validate(raw: str, *, check_deliverability: bool = False) -> str:
    """Return the normalised form of a valid e-mail address: the same as :func:`normalize`.

    Raises :class:`~custrec.errors.InvalidEmail` as :func:`normalize` does.
    """
    return normalize(raw, check_deliverability=check_deliverability)


def is_valid(raw: object, *, check_deliverability: bool = False) -> bool:
    """Return whether ``raw`` is a valid e-mail address; never raises for any ``raw``."""
    try:
        normalize(raw, check_deliverability=check_deliverability)  # type: ignore[arg-type]
    except InvalidEmail:
        return False
    return True


def format(raw: str) -> str:
    """Return the display form of a valid address: its normalised form.

    Raises :class:`~custrec.errors.InvalidEmail` for an invalid address.
    """
    return normalize(raw)
