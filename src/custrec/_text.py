"""Text helpers shared by every layer: NFKC normalisation and whitespace clean-up.

Chinese input often arrives with full-width digits, letters, hyphens and spaces;
NFKC folds them to their ASCII forms. ``clean`` also trims and collapses runs of whitespace.

>>> clean("  ＡＢＣ　１２３  ")
'ABC 123'
>>> compact("９１-１１０ ０００", strip=" -")
'91110000'
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["INVALID_CHARACTER_MESSAGE", "clean", "compact", "has_invalid_character", "nfkc"]

_SPACE_RUN = re.compile(r"\s+")
# Lone surrogates (what ``surrogateescape`` decoding leaves for undecodable bytes) cannot be
# encoded as UTF-8, and NUL is refused by databases: neither can be stored in a record.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
INVALID_CHARACTER_MESSAGE = "contains a lone surrogate or a NUL character, which cannot be stored"
"""The message of a ``text.invalid_character`` issue (it never repeats the text)."""
# Dash-like characters that NFKC leaves alone but people type inside numbers.
_DASH_CHARACTERS = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70"
_DASHES = str.maketrans(dict.fromkeys(_DASH_CHARACTERS, "-"))
# Whether a text holds any of them: one search costs a fraction of a translate, which looks
# every character of a non-ASCII text up in the table (names and addresses seldom hold one).
_ANY_DASH = re.compile(f"[{_DASH_CHARACTERS}]")


def has_invalid_character(value: str) -> bool:
    """Return whether ``value`` holds a character no record may store: a lone surrogate or NUL.

    >>> [has_invalid_character(text) for text in ("abc", "a\\udcff", "a\\x00")]
    [False, True, True]
    """
    return _UNSTORABLE.search(value) is not None


def nfkc(value: str) -> str:
    """Return ``value`` in Unicode NFKC form, with dash-like characters folded to ``-``."""
    text = unicodedata.normalize("NFKC", value)
    if type(text) is str and _ANY_DASH.search(text) is None:
        return text  # what translate gives: nothing to fold
    return text.translate(_DASHES)  # a str subclass given back by normalize: a plain str


def clean(value: str) -> str:
    """NFKC-normalise, trim and collapse internal whitespace to single spaces."""
    return _SPACE_RUN.sub(" ", nfkc(value)).strip()


def compact(value: str, *, strip: str = " -") -> str:
    """NFKC-normalise, remove every whitespace character and every character in ``strip``."""
    text = _SPACE_RUN.sub("", nfkc(value))
    return text.translate(str.maketrans("", "", strip))
