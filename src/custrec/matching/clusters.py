"""Results of duplicate searches and clustering, and the union-find that builds clusters.

:class:`DuplicateCandidate` is one stored record that may be the same customer as the one
searched for (``registry.matching.find_duplicates``); :class:`DuplicateCluster` is a group of
stored records linked by matches at or above a decision
(``registry.matching.clusters``), with every match that linked them. A
:class:`StopKey` is a blocking key shared by more records than the cap: it was counted and
reported, never scanned. None of these hold personal data: ids, decisions, scores and the names
of the fields that agreed or differed.
"""

from __future__ import annotations

from array import array

import attrs

from custrec._checks import check, int_range
from custrec.matching.scoring import Match, MatchDecision, Reason

__all__ = [
    "ClusterRun",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicateSearch",
    "StopKey",
    "UnionFind",
]


@attrs.frozen
class StopKey:
    """A blocking key over its cap: its kind, how many records share it (at least), a digest.

    ``digest`` is a short keyed digest of the key, so that reports from one registry (or one
    batch run) can tell whether they name the same key; it cannot be turned back into a value,
    even for a plaintext store, and differs between registries and runs.
    """

    kind: str
    records: int
    digest: str


@attrs.frozen(kw_only=True)
class DuplicateCandidate:
    """A stored customer that may be the searched-for one, with the evidence."""

    customer_id: str
    decision: MatchDecision
    score: float
    reasons: tuple[Reason, ...]


@attrs.frozen(kw_only=True)
class DuplicateSearch:
    """The outcome of an incremental duplicate search, best candidates first.

    ``compared``: stored records scored; ``unscored``: records found through a blocking key but
    left out by the candidate budget (they shared the fewest keys with the search).
    """

    candidates: tuple[DuplicateCandidate, ...]
    stop_keys: tuple[StopKey, ...] = ()
    compared: int = 0
    unscored: int = 0

    @property
    def best(self) -> DuplicateCandidate | None:
        """The strongest candidate, if any."""
        return self.candidates[0] if self.candidates else None


@attrs.frozen(kw_only=True)
class DuplicateCluster:
    """Stored customers linked by matches at or above the run's decision.

    ``ids`` are sorted; ``matches`` are the links found (a spanning set, not every pair);
    ``decision`` is the weakest link's decision (a cluster is only as sure as its weakest link).
    """

    ids: tuple[str, ...]
    matches: tuple[Match, ...]
    decision: MatchDecision


@attrs.frozen(kw_only=True)
class ClusterRun:
    """The outcome of a batch clustering run, with the figures that explain its cost."""

    clusters: tuple[DuplicateCluster, ...]
    records: int
    blocks: int
    comparisons_planned: int
    comparisons: int
    stop_keys: tuple[StopKey, ...]
    decision: MatchDecision

    @property
    def duplicate_ids(self) -> frozenset[str]:
        """Ids judged redundant: every cluster member except the first (smallest) id."""
        return frozenset(i for cluster in self.clusters for i in cluster.ids[1:])


class UnionFind:
    """Disjoint sets over ``0 .. n-1`` in two compact arrays (path halving, union by size)."""

    def __init__(self, n: int) -> None:
        check("n", n, int_range(0))
        self._parent = array("q", range(n))
        self._size = array("q", [1]) * n

    def find(self, x: int) -> int:
        """Return the representative of ``x``'s set."""
        parent = self._parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> int:
        """Join the sets of ``a`` and ``b``; return the representative."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        return ra
