"""Currency codes: the one place that decides which texts custrec takes as a currency.

A currency is an ISO 4217 alphabetic code in capitals: :func:`is_valid` answers exactly
``value in CODES``, and :func:`problem` explains a refusal with the code to use instead
(``"RMB"`` and ``"人民币"``: use CNY; ``"cny"``: use upper case: CNY), without repeating the
value. :func:`code_for` reads the names legacy files use (``RMB``, ``¥``, ``US$``, ``港币``, a
code in lower case) as the code they mean.

>>> is_valid("CNY"), is_valid("RMB"), is_valid("ABC")
(True, False, False)
>>> problem("RMB"), problem("cny")
('not an ISO 4217 code: use CNY', 'use upper case: CNY')
>>> problem("ABC")
'not an ISO 4217 currency code (such as CNY)'
>>> code_for("人民币"), code_for("usd"), code_for("ABC") is None
('CNY', 'USD', True)

Source: ISO 4217 Table A.1 ("List One", current currency and funds codes), as maintained by
SIX Group for ISO (https://www.six-group.com/en/products-services/financial-information/
data-standards.html), state of 2026-02-01: with XCG (from 2025-03-31), ZWG (2024), SLE, VED,
XAD; without ANG, BGN, ZWL, SLL, HRK, CUC (withdrawn: see :data:`WITHDRAWN`). The list was
written out by hand and is checked in the tests against the CLDR currency data of Babel.

Decisions beyond the list:

- Fund codes (``BOV``, ``CHE``, ``CHW``, ``CLF``, ``COU``, ``MXV``, ``USN``, ``UYI``,
  ``UYW``), precious metals (``XAU``, ``XAG``, ``XPD``, ``XPT``) and units of account
  (``XDR``, ``XSU``, ``XUA``, ``XAD``, ``XBA``-``XBD``) are accepted: they are in List One and
  contracts are written in them (a Chilean contract in ``CLF``, a gold sale in ``XAU``).
- ``XTS`` (reserved for testing) and ``XXX`` (no currency involved) are refused: neither names
  the currency of an amount, and summaries add amounts up per currency.
- Withdrawn codes (``HRK``, ``BGN``, ...) are refused, naming their successor: a record written
  today takes an active code. Amounts stored before are kept as they are.
"""

from __future__ import annotations

import unicodedata
from types import MappingProxyType
from typing import Final

from custrec.errors import InvalidFormat

__all__ = [
    "ALIASES",
    "CODES",
    "LIST_ONE",
    "NOT_A_CURRENCY",
    "WITHDRAWN",
    "code_for",
    "is_valid",
    "problem",
    "validate",
]

_LIST_ONE_TEXT: Final = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN
    BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK
    DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST
    XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX
    YER ZAR ZMW ZWG
"""
LIST_ONE: Final = frozenset(_LIST_ONE_TEXT.split())
"""Every alphabetic code of ISO 4217 List One (see the module docstring for its date)."""

NOT_A_CURRENCY: Final = MappingProxyType(
    {
        "XTS": "XTS is reserved for testing: name the currency of the amount",
        "XXX": "XXX means no currency: name the currency of the amount",
    }
)
"""The List One codes refused, and why."""

CODES: Final = LIST_ONE - NOT_A_CURRENCY.keys()
"""The codes custrec accepts as a currency: List One but ``XTS`` and ``XXX``."""

WITHDRAWN: Final = MappingProxyType(
    {
        "ANG": "XCG",
        "BGN": "EUR",
        "BYR": "BYN",
        "CUC": "CUP",
        "CYP": "EUR",
        "EEK": "EUR",
        "HRK": "EUR",
        "LTL": "EUR",
        "LVL": "EUR",
        "MRO": "MRU",
        "MTL": "EUR",
        "SIT": "EUR",
        "SKK": "EUR",
        "SLL": "SLE",
        "STD": "STN",
        "VEF": "VES",
        "ZWL": "ZWG",
        "DEM": "EUR",
        "FRF": "EUR",
        "ITL": "EUR",
        "ESP": "EUR",
        "NLG": "EUR",
        "BEF": "EUR",
        "ATS": "EUR",
        "PTE": "EUR",
        "FIM": "EUR",
        "IEP": "EUR",
        "GRD": "EUR",
        "LUF": "EUR",
    }
)
"""Codes withdrawn from List One that records still meet, and the code that replaced each."""

ALIASES: Final = MappingProxyType(
    {
        # renminbi: everyone's names for the yuan, none of them its code
        "RMB": "CNY",
        "CNH": "CNY",
        "CN¥": "CNY",
        "RMB¥": "CNY",
        "人民币": "CNY",
        "元": "CNY",
        "¥": "CNY",  # after NFKC, so the full-width ￥ too; JPY writes 円 or JP¥
        "US$": "USD",
        "$": "USD",
        "美元": "USD",
        "美金": "USD",
        "HK$": "HKD",
        "港币": "HKD",
        "港元": "HKD",
        "港幣": "HKD",
        "NT$": "TWD",
        "新台币": "TWD",
        "新台幣": "TWD",
        "台币": "TWD",
        "MOP$": "MOP",
        "澳门元": "MOP",
        "澳门币": "MOP",
        "€": "EUR",
        "欧元": "EUR",
        "£": "GBP",
        "英镑": "GBP",
        "JP¥": "JPY",
        "円": "JPY",
        "日元": "JPY",
        "₩": "KRW",
        "韩元": "KRW",
        "₹": "INR",
        "₽": "RUB",
        "卢布": "RUB",
        "A$": "AUD",
        "澳元": "AUD",
        "CA$": "CAD",
        "加元": "CAD",
        "S$": "SGD",
        "新加坡元": "SGD",
        "瑞士法郎": "CHF",
        "泰铢": "THB",
    }
)
"""Names and symbols (after NFKC, in capitals) that mean one currency, and its code."""

_ALIASES: Final = dict(ALIASES)  # a plain dict looks up faster than the read-only view
_MAX: Final = 20  # longer texts are no alias: no normalising of a long text to look it up


def _key(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def is_valid(value: object) -> bool:
    """Whether ``value`` is a currency code custrec accepts (exactly: in :data:`CODES`)."""
    return type(value) is str and value in CODES


def code_for(value: object) -> str | None:
    """The code ``value`` names: a code of :data:`CODES` in any case (NFKC, trimmed) or an
    alias of :data:`ALIASES` (``RMB``, ``人民币``, ``￥``: ``CNY``); ``None`` for anything else."""
    if not isinstance(value, str) or len(value) > _MAX:
        return None
    if value in CODES:
        return value
    key = value.upper()  # most cells: a code or an alias in some case, no NFKC needed
    if key not in CODES and key not in _ALIASES:
        key = _key(value)
    return key if key in CODES else _ALIASES.get(key)


def problem(value: object) -> str | None:
    """Why ``value`` is not a currency code custrec accepts (``None`` when it is), naming the
    code to use when one is known; the message never repeats the value."""
    if is_valid(value):
        return None
    if not isinstance(value, str):
        return "expected an ISO 4217 currency code, such as CNY"
    key = _key(value) if len(value) <= _MAX else ""
    if key in CODES:  # in lower case, full-width or with spaces around
        return f"use upper case: {key}" if value.upper() == key else f"use {key}"
    if key in ALIASES:
        return f"not an ISO 4217 code: use {ALIASES[key]}"
    if key in WITHDRAWN:
        return f"withdrawn from ISO 4217 (replaced by {WITHDRAWN[key]})"
    if key in NOT_A_CURRENCY:
        return NOT_A_CURRENCY[key]
    return "not an ISO 4217 currency code (such as CNY)"


def validate(value: object) -> str:
    """Return ``value`` if it is a code custrec accepts, else raise
    :class:`~custrec.errors.InvalidFormat` (code ``currency.invalid``, message of
    :func:`problem`)."""
    message = problem(value)
    if message is not None:
        raise InvalidFormat(message, code="currency.invalid")
    return str(value)
