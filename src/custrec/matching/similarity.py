"""String similarity scores in ``[0.0, 1.0]`` for duplicate detection.

Three scores, all symmetric, 1.0 for identical input and computed on Unicode code points
(so one CJK character counts as one unit):

* :func:`ratio` -- normalised Indel similarity ``1 - indel / (len(a) + len(b))``, where the
  Indel distance counts insertions and deletions only; equals ``rapidfuzz.fuzz.ratio / 100``.
* :func:`jaro_winkler` -- Jaro similarity with the Winkler prefix boost (weight 0.1, prefix
  capped at 4 characters, applied only when the Jaro score is above 0.7); equals
  ``rapidfuzz.distance.JaroWinkler.normalized_similarity``.
* :func:`token_sort_ratio` -- :func:`ratio` of the whitespace-split tokens, sorted and joined
  by one space; equals ``rapidfuzz.fuzz.token_sort_ratio(a, b, processor=None) / 100``.

The scores come from `rapidfuzz <https://pypi.org/project/rapidfuzz/>`_ when it is importable
(install the ``custrec[fuzzy]`` extra) and from a pure-Python fallback otherwise; both give the
same numbers (within 1e-9). :data:`BACKEND` says which one is in use. Setting the environment
variable ``CUSTREC_FUZZY=python`` *before this module is imported* forces the fallback; any
other value (or none) means "rapidfuzz if available". The fallback implementations are always
available as :func:`python_ratio`, :func:`python_jaro_winkler` and
:func:`python_token_sort_ratio`.

Empty strings: two empty strings are identical (1.0); an empty and a non-empty string score
0.0. Inputs are compared as given -- normalise them first (see ``custrec.matching.normalize``).

>>> round(ratio("kitten", "sitting"), 4)
0.6154
>>> round(jaro_winkler("MARTHA", "MARHTA"), 4)
0.9611
>>> token_sort_ratio("wei zhang", "zhang  wei")
1.0
>>> ratio("", ""), ratio("张伟", "")
(1.0, 0.0)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "BACKEND",
    "ENV_VAR",
    "jaro_winkler",
    "python_jaro_winkler",
    "python_ratio",
    "python_token_sort_ratio",
    "ratio",
    "token_sort_ratio",
]

_Scorer = Callable[[str, str], float]

#: Name of the environment variable that selects the backend at import time.
ENV_VAR: Final = "CUSTREC_FUZZY"

_PREFIX_WEIGHT: Final = 0.1
_MAX_PREFIX: Final = 4
_BOOST_THRESHOLD: Final = 0.7


def _require_str(a: object, b: object) -> None:
    # Never echo the values: they are customer data.
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, str):
            raise TypeError(f"similarity arguments must be str; {name} is {type(value).__name__}")


# --- pure-Python implementations -------------------------------------------------------------


def _lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyrö).

    Bit ``i`` of ``v`` is 0 when position ``i`` of the longer string ends a common
    subsequence; each character of the shorter string updates all positions at once with
    arbitrary-precision integer arithmetic, so the cost is O(len(short) * len(long) / 64).
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    bit = 1
    for ch in a:
        masks[ch] = masks.get(ch, 0) | bit
        bit <<= 1
    full = bit - 1
    v = full
    for ch in b:
        match = masks.get(ch)
        if match is None:
            continue
        u = v & match
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _py_ratio(a: str, b: str) -> float:
    total = len(a) + len(b)
    if total == 0:
        return 1.0
    if a == b:
        return 1.0
    # A common prefix and suffix are part of every longest common subsequence.
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    limit -= start
    while end < limit and a[-1 - end] == b[-1 - end]:
        end += 1
    lcs = start + end + _lcs_length(a[start : len(a) - end], b[start : len(b) - end])
    distance = total - 2 * lcs
    return 1.0 - distance / total


def _py_jaro(a: str, b: str) -> float:
    len_a, len_b = len(a), len(b)
    if not len_a or not len_b:
        return 1.0 if len_a == len_b else 0.0
    window = max(max(len_a, len_b) // 2 - 1, 0)
    b_used = [False] * len_b
    a_matched: list[str] = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len_b, i + window + 1)):
            if not b_used[j] and b[j] == ch:
                b_used[j] = True
                a_matched.append(ch)
                break
    common = len(a_matched)
    if common == 0:
        return 0.0
    b_matched = [ch for ch, used in zip(b, b_used, strict=True) if used]
    out_of_order = sum(x != y for x, y in zip(a_matched, b_matched, strict=True))
    # rapidfuzz halves the count of out-of-order matches with integer division.
    transpositions = out_of_order // 2
    return (common / len_a + common / len_b + (common - transpositions) / common) / 3.0


def _py_jaro_winkler(a: str, b: str) -> float:
    score = _py_jaro(a, b)
    if score > _BOOST_THRESHOLD:
        prefix = 0
        for x, y in zip(a[:_MAX_PREFIX], b[:_MAX_PREFIX], strict=False):
            if x != y:
                break
            prefix += 1
        score = min(score + prefix * _PREFIX_WEIGHT * (1.0 - score), 1.0)
    return score


# rapidfuzz splits strings whose code points all fit in one byte with a narrower notion of
# whitespace than str.split(): U+0085 and U+00A0 are not separators there. Mirror it exactly.
_NARROW_SPACE: Final = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f ]+")


def _sorted_tokens(text: str) -> str:
    if text and max(text) <= "\xff" and ("\x85" in text or "\xa0" in text):
        tokens = [t for t in _NARROW_SPACE.split(text) if t]
    else:
        tokens = text.split()
    return " ".join(sorted(tokens))


def _py_token_sort_ratio(a: str, b: str) -> float:
    return _py_ratio(_sorted_tokens(a), _sorted_tokens(b))


def python_ratio(a: str, b: str) -> float:
    """Pure-Python :func:`ratio`, whatever :data:`BACKEND` is; raises TypeError for non-str."""
    _require_str(a, b)
    return _py_ratio(a, b)


def python_jaro_winkler(a: str, b: str) -> float:
    """Pure-Python :func:`jaro_winkler`, whatever :data:`BACKEND` is; raises TypeError."""
    _require_str(a, b)
    return _py_jaro_winkler(a, b)


def python_token_sort_ratio(a: str, b: str) -> float:
    """Pure-Python :func:`token_sort_ratio`, whatever :data:`BACKEND` is; raises TypeError."""
    _require_str(a, b)
    return _py_token_sort_ratio(a, b)


# --- backend selection -------------------------------------------------------------------------


def _select_backend() -> tuple[str, _Scorer, _Scorer, _Scorer]:
    python = ("python", _py_ratio, _py_jaro_winkler, _py_token_sort_ratio)
    if os.environ.get(ENV_VAR, "").strip().lower() == "python":
        return python
    try:
        from rapidfuzz import fuzz
        from rapidfuzz.distance import Indel, JaroWinkler
    except ImportError:
        return python

    def rf_ratio(a: str, b: str) -> float:
        return Indel.normalized_similarity(a, b, processor=None)

    def rf_jaro_winkler(a: str, b: str) -> float:
        return JaroWinkler.normalized_similarity(a, b, prefix_weight=_PREFIX_WEIGHT, processor=None)

    def rf_token_sort_ratio(a: str, b: str) -> float:
        return fuzz.token_sort_ratio(a, b, processor=None) / 100.0

    return ("rapidfuzz", rf_ratio, rf_jaro_winkler, rf_token_sort_ratio)


_SELECTED: Final = _select_backend()

#: ``"rapidfuzz"`` or ``"python"``: the implementation behind the public scores.
BACKEND: Final[str] = _SELECTED[0]
_ratio: Final = _SELECTED[1]
_jaro_winkler: Final = _SELECTED[2]
_token_sort_ratio: Final = _SELECTED[3]


def ratio(a: str, b: str) -> float:
    """Normalised Indel similarity: ``1 - (insertions + deletions) / (len(a) + len(b))``.

    Equals ``rapidfuzz.fuzz.ratio(a, b) / 100``; 1.0 for two empty strings.
    Raises TypeError unless both arguments are str.
    """
    _require_str(a, b)
    return _ratio(a, b)


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (prefix weight 0.1, prefix up to 4, boost only above 0.7 Jaro).

    Equals ``rapidfuzz.distance.JaroWinkler.normalized_similarity(a, b)``; 1.0 for two empty
    strings, 0.0 if exactly one is empty. Raises TypeError unless both arguments are str.
    """
    _require_str(a, b)
    return _jaro_winkler(a, b)


def token_sort_ratio(a: str, b: str) -> float:
    """:func:`ratio` of the whitespace-split tokens of each string, sorted and space-joined.

    Word order does not matter (``"Wei Zhang"`` vs ``"Zhang Wei"`` is 1.0) but case and
    punctuation do. Equals ``rapidfuzz.fuzz.token_sort_ratio(a, b, processor=None) / 100``.
    Raises TypeError unless both arguments are str.
    """
    _require_str(a, b)
    return _token_sort_ratio(a, b)
