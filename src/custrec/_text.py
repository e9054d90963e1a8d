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

__all__ = ["clean", "compact", "nfkc"]

_SPACE_RUN = re.compile(r"\s+")
# Dash-like characters that NFKC leaves alone but people type inside numbers.
_DASHES = str.maketrans(
    dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70", "-")
)


def nfkc(value: str) -> str:
    """Return ``value`` in Unicode NFKC form, with dash-like characters folded to ``-``."""
    return unicodedata.normalize("NFKC", value).translate(_DASHES)


def clean(value: str) -> str:
    """NFKC-normalise, trim and collapse internal whitespace to single spaces."""
    return _SPACE_RUN.sub(" ", nfkc(value)).strip()


def compact(value: str, *, strip: str = " -") -> str:
    """NFKC-normalise, remove every whitespace character and every character in ``strip``."""
    text = _SPACE_RUN.sub("", nfkc(value))
    return text.translate(str.maketrans("", "", strip))
