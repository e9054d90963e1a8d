"""The pre-optimisation reference of custrec's validation path, kept to pin behaviour (issue 16).

These modules are verbatim copies, taken at commit 1bc46ff before the validation path was
optimised, of:

- ``src/custrec/model/serialization.py`` (``structure.py``: converter hooks and lenient
  structuring),
- ``src/custrec/validation/rules.py`` (``rules.py``: the rule engine and the default rules),
- ``src/custrec/validation/__init__.py`` (``api.py``: ``parse_customer``, ``validate``,
  ``normalize_customer``),
- ``src/custrec/validation/{phone,email,ric,uscc}.py``,

with only their imports pointed at each other (and the oracle sharing the public
``UNREADABLE`` sentinel). The property tests in ``test_oracle_parity.py`` generate random and
malformed input and assert that the optimised code returns exactly what this reference returns:
the same record, the same issues (path, code, message, severity) in the same order, the same
exceptions. Never "fix" this copy: it is the definition of the behaviour the optimisation had to
keep. Two deliberate changes since, made in both places at once. 1: ``email.compact`` no longer
folds dash-like characters (``ー`` in an IDN domain), which made ``email.normalize`` change its
own output (a defect, pinned by ``test_email.py::test_normalize_is_idempotent``). 2: structuring no
longer raises ``ValueError`` for an ``int`` beyond Python's digit limit in a text field, or for
digits ``int()`` refuses in a number field (``parse_customer`` promises never to raise on
data): both are ``type`` issues.
It is loaded by ``conftest.py`` (as ``custrec_validation_oracle``) and is not collected.
"""

from __future__ import annotations

from . import email, phone, ric, rules, structure, uscc
from .api import normalize_customer, normalize_identifier, parse_customer, validate

__all__ = [
    "email",
    "normalize_customer",
    "normalize_identifier",
    "parse_customer",
    "phone",
    "ric",
    "rules",
    "structure",
    "uscc",
    "validate",
]
