"""The identifier modules' ``compact`` for ASCII text, in one C call.

For ASCII text, ``custrec._text.compact(text, strip="-")`` followed by upper-casing ASCII letters
(what :func:`custrec.validation.uscc.compact` and :func:`custrec.validation.ric.compact` do)
comes down to: NFKC changes nothing, no dash needs folding, every whitespace character (the
ASCII ones ``str.isspace`` knows) and every hyphen is removed, and lower-case letters become
upper case.
"""

from __future__ import annotations

import string
from typing import Final

_UPPER: Final = bytes.maketrans(
    string.ascii_lowercase.encode("ascii"), string.ascii_uppercase.encode("ascii")
)
_REMOVED: Final = bytes(c for c in range(128) if chr(c).isspace() or chr(c) == "-")


def compact_ascii(text: str) -> str:
    """``text`` (ASCII only) without whitespace or hyphens, its letters upper-cased."""
    return text.encode("ascii").translate(_UPPER, _REMOVED).decode("ascii")
