"""Normalisation and validation of customer records.

Two entry points:

- :func:`parse_customer` takes a raw mapping (a web form, a CSV row mapped to fields, JSON),
  normalises it and returns the :class:`~custrec.model.records.Customer` (or ``None``) together
  with one :class:`ValidationReport` covering structure, format and rule issues, all in one pass:
  a field that cannot be read does not hide the problems of the others. It never raises on bad
  data.
- :func:`validate` checks a record built in code and returns the report.

>>> from custrec.validation import parse_customer
>>> result = parse_customer({
...     "kind": "individual",
...     "name": "  张三 ",
...     "contacts": [{"phones": ["１３８-００１３-８０００", "12345"],
...                   "emails": ["ZS@Example.COM"]}],
... })
>>> [(i.path, i.code) for i in result.report.issues]
[('contacts[0].phones[1]', 'phone.invalid')]
>>> result.record is None
True
>>> ok = parse_customer({"kind": "individual", "name": "张三",
...                      "contacts": [{"phones": "13800138000"}]})
>>> ok.record.contacts[0].phones
('+8613800138000',)
>>> both = parse_customer({"kind": "individual", "name": "张三", "birth_date": "1990-02-30",
...                        "contacts": [{"phones": ["12345"]}]})
>>> [(i.path, i.code) for i in both.report.issues]
[('birth_date', 'type'), ('contacts[0].phones[0]', 'phone.invalid')]

Format modules follow python-stdnum's uniform API: :mod:`~custrec.validation.uscc`,
:mod:`~custrec.validation.ric`, :mod:`~custrec.validation.phone`, :mod:`~custrec.validation.email`.

The names here are imported on first use: ``import custrec.validation.phone`` loads the phone
module alone, not the record model, the rules or the other formats.
"""

import typing as _typing

from custrec import _lazy

if _typing.TYPE_CHECKING:
    # What type checkers and IDEs see; at run time module __getattr__ below imports these.
    from custrec.model.issues import Issue, Severity, ValidationReport
    from custrec.validation import email, phone, ric, uscc
    from custrec.validation._api import (
        ParseResult,
        normalize_customer,
        normalize_identifier,
        parse_customer,
        validate,
    )
    from custrec.validation.rules import (
        DEFAULT_RULES,
        LENGTH_LIMITS,
        Rule,
        RuleContext,
        RuleSet,
        rule,
    )

__all__ = [
    "DEFAULT_RULES",
    "LENGTH_LIMITS",
    "Issue",
    "ParseResult",
    "Rule",
    "RuleContext",
    "RuleSet",
    "Severity",
    "ValidationReport",
    "email",
    "normalize_customer",
    "normalize_identifier",
    "parse_customer",
    "phone",
    "ric",
    "rule",
    "uscc",
    "validate",
]

_API = "custrec.validation._api"
_RULES = "custrec.validation.rules"
_ISSUES = "custrec.model.issues"

# Each lazily imported name, and the module that defines it (None: the name is a submodule).
_LAZY: dict[str, str | None] = {
    "DEFAULT_RULES": _RULES,
    "LENGTH_LIMITS": _RULES,
    "Issue": _ISSUES,
    "ParseResult": _API,
    "Rule": _RULES,
    "RuleContext": _RULES,
    "RuleSet": _RULES,
    "Severity": _ISSUES,
    "ValidationReport": _ISSUES,
    "email": None,
    "normalize_customer": _API,
    "normalize_identifier": _API,
    "parse_customer": _API,
    "phone": None,
    "ric": None,
    "rule": _RULES,
    "uscc": None,
    "validate": _API,
}

if not _typing.TYPE_CHECKING:
    # Hidden from type checkers: a module __getattr__ would make them accept any name at all.
    __getattr__ = _lazy.loader(__name__, _LAZY)

__dir__ = _lazy.lister(__name__, _LAZY)
