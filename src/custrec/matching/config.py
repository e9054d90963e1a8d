"""How a registry matches: thresholds, weights, the blocking cap, and whether weak keys are kept."""

from __future__ import annotations

import attrs

from custrec._checks import int_range
from custrec.matching.scoring import Thresholds, Weights

__all__ = ["MatchConfig"]


@attrs.frozen(kw_only=True)
class MatchConfig:
    """Matching settings of a :class:`~custrec.Registry`.

    ``thresholds``: match-probability cut-offs for ``probable`` and ``possible``; ``weights``: the
    Fellegi-Sunter parameters (the defaults, or :func:`custrec.matching.estimate` on your data).
    ``cap``: a blocking key shared by more than ``cap`` stored records is a stop key (reported,
    never scanned). ``max_candidates``: how many records found only through blocking keys an
    incremental search opens and scores at most (those sharing the most keys first; holders of
    a strong identifier are always scored). ``blocking``: store blind-indexed blocking keys
    (name, street address, organisation name prefix in a city) beside the strong identifiers, so
    that weak evidence can propose candidates; turn it off to keep the index to strong
    identifiers only (then ``registry.matching.find_duplicates`` finds only records sharing
    one). Changing
    ``blocking`` on a filled store needs ``registry.keys.reindex``.
    """

    thresholds: Thresholds = attrs.field(factory=Thresholds)
    weights: Weights = attrs.field(factory=Weights)
    cap: int = attrs.field(default=100, validator=int_range(2))
    max_candidates: int = attrs.field(default=50, validator=int_range(2))
    blocking: bool = True
