"""Results of duplicate searches and clustering, and the union-find that builds clusters.

:class:`DuplicateCandidate` is one stored record that may be the same customer as the one
searched for (``registry.matching.find_duplicates``); :class:`DuplicateCluster` is a group of
stored records linked by matches at or above a decision
(``registry.matching.clusters``), with every match that linked them. A
:class:`StopKey` is a blocking key shared by more records than the cap: it was counted and
reported, never scanned. None of these hold personal data: ids, decisions, scores and the names
of the fields that agreed or differed.

Clusters are *consistent*: :func:`consistent_clusters` joins linked records strongest link first
and refuses a link that would put two records holding different values of one government-id
scheme (:data:`~custrec.matching.keys.GOVERNMENT_KINDS`: USCC, RIC, passport) into one cluster,
directly or through others. Each refused link is a :class:`ClusterConflict`: the chain is split at
its weakest link, and the run says where and why.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping

import attrs

from custrec._checks import check, int_range
from custrec.matching.keys import GOVERNMENT_KINDS, StrongKey
from custrec.matching.scoring import Match, MatchDecision, Reason

__all__ = [
    "ClusterConflict",
    "ClusterRun",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicateSearch",
    "StopKey",
    "UnionFind",
    "consistent_clusters",
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
class ClusterConflict:
    """A link refused because it would join different values of a government-id scheme.

    ``match`` is the refused link (its ids, score, decision and reasons, as
    :func:`~custrec.matching.compare` gave them); ``schemes`` the schemes whose values would have
    met in one cluster (``"uscc"``, ``"ric"``, ``"passport"``); ``left_holders`` and
    ``right_holders`` the ids of the records holding those values on the side of
    ``match.left`` and of ``match.right`` (sorted). Ids, scheme names and reasons only: never
    an identifier's value.
    """

    match: Match
    schemes: tuple[str, ...]
    left_holders: tuple[str, ...]
    right_holders: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, str]:
        """The two records of the refused link."""
        return (self.match.left, self.match.right)


@attrs.frozen(kw_only=True)
class DuplicateCluster:
    """Stored customers linked by matches at or above the run's decision.

    ``ids`` are sorted; ``matches`` are the links found (a spanning set, not every pair);
    ``decision`` is the weakest link's decision (a cluster is only as sure as its weakest link);
    ``conflicts`` are the links refused at this cluster's edge (see :class:`ClusterConflict`).
    """

    ids: tuple[str, ...]
    matches: tuple[Match, ...]
    decision: MatchDecision
    conflicts: tuple[ClusterConflict, ...] = ()


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
    conflicts: tuple[ClusterConflict, ...] = ()
    """Every link refused to keep clusters consistent, strongest first."""

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


# ------------------------------------------------------------------------ consistent clusters

# per component: scheme -> the distinct value sets of its records holding that scheme
_Held = dict[str, set[frozenset[str]]]


def _government(keys: Iterable[StrongKey]) -> _Held:
    values: dict[str, set[str]] = {}
    for kind, value in keys:
        if kind in GOVERNMENT_KINDS:
            values.setdefault(kind, set()).add(value)
    return {kind: {frozenset(v)} for kind, v in values.items()}


def _clashes(a: _Held, b: _Held) -> list[str]:
    """Schemes on which some record of ``a`` and some record of ``b`` share no value."""
    return sorted(
        kind
        for kind, sets in a.items()
        if kind in b and any(not x & y for x in sets for y in b[kind])
    )


def consistent_clusters(
    links: Iterable[Match],
    government: Mapping[str, Iterable[StrongKey]],
    *,
    support: Callable[[Match], float] | None = None,
) -> tuple[tuple[DuplicateCluster, ...], tuple[ClusterConflict, ...]]:
    """Join linked records into clusters that never hold conflicting government ids.

    ``links`` are the matches to join (already at or above the wanted decision);
    ``government`` maps a record id to its strong keys (only the kinds in
    :data:`~custrec.matching.keys.GOVERNMENT_KINDS` count; ids missing from it hold none). Two
    records *conflict* when they hold values of one scheme and share none of them (as in
    :func:`~custrec.matching.compare`).

    Links are taken strongest first: higher decision, then higher score, then links whose two
    records share a government id, then higher ``support`` (optional: any further evidence for a
    link, such as how many keys its records share), then by ids (so the result does not depend
    on the order of ``links``). A link whose two clusters hold conflicting records is refused
    and reported as a :class:`ClusterConflict`; every other link is kept. So no cluster ever
    holds two conflicting records, directly or through others, and a chain that would join them
    is split at its weakest link. Clusters are sorted by their first id; conflicts in the order
    they were refused.

    >>> from custrec.matching import Match, MatchDecision
    >>> def link(a, b, score):
    ...     return Match(left=a, right=b, score=score, decision=MatchDecision.PROBABLE, reasons=())
    >>> ids = {"a": [("uscc", "U1")], "c": [("uscc", "U2")]}
    >>> clusters, conflicts = consistent_clusters([link("a", "b", 0.95), link("b", "c", 0.9)], ids)
    >>> [c.ids for c in clusters], [(x.ids, x.schemes, x.right_holders) for x in conflicts]
    ([('a', 'b')], [(('b', 'c'), ('uscc',), ('c',))])
    """
    index: dict[str, int] = {}
    names: list[str] = []
    own: dict[int, _Held] = {}  # by record, only records holding government ids
    ordered: list[tuple[int, float, int, float, int, int, Match]] = []
    for match in links:
        ends = []
        for rid in (match.left, match.right):
            n = index.get(rid)
            if n is None:
                n = index[rid] = len(names)
                names.append(rid)
                mine = _government(government.get(rid, ()))
                if mine:
                    own[n] = mine
            ends.append(n)
        a, b = ends
        ha, hb = own.get(a), own.get(b)
        shared = int(
            bool(ha and hb and any(x & y for k in ha if k in hb for x in ha[k] for y in hb[k]))
        )  # a value in common (a record may hold several values of one scheme)
        extra = -support(match) if support is not None else 0.0
        ordered.append((-match.decision.rank, -match.score, -shared, extra, a, b, match))
    ordered.sort(key=lambda e: (e[0], e[1], e[2], e[3], names[e[4]], names[e[5]]))

    union = UnionFind(len(names))
    # by component root, only components holding government ids: what they hold, who holds it
    held: dict[int, _Held] = {n: {k: set(v) for k, v in h.items()} for n, h in own.items()}
    members: dict[int, list[int]] = {n: [n] for n in own}
    kept: list[Match] = []
    conflicts: list[ClusterConflict] = []
    for *_, a, b, match in ordered:
        ra, rb = union.find(a), union.find(b)
        if ra != rb:
            ha, hb = held.get(ra), held.get(rb)
            if ha is not None and hb is not None:
                clash = _clashes(ha, hb)
                if clash:
                    conflicts.append(
                        ClusterConflict(
                            match=match,
                            schemes=tuple(clash),
                            left_holders=_holders(members[ra], own, hb, clash, names),
                            right_holders=_holders(members[rb], own, ha, clash, names),
                        )
                    )
                    continue
            root = union.union(ra, rb)
            if ha is not None or hb is not None:
                held.pop(ra, None)
                held.pop(rb, None)
                held[root] = _merge(ha, hb)
                small, large = sorted((members.pop(ra, []), members.pop(rb, [])), key=len)
                large.extend(small)  # the smaller list moves: linear overall
                members[root] = large
        kept.append(match)
    return _assemble(kept, index, union, conflicts), tuple(conflicts)


def _merge(a: _Held | None, b: _Held | None) -> _Held:
    if a is None or b is None:
        merged = a if b is None else b
        assert merged is not None
        return merged
    if len(a) < len(b):
        a, b = b, a
    for kind, sets in b.items():
        a.setdefault(kind, set()).update(sets)
    return a


def _holders(
    side: list[int], own: dict[int, _Held], other: _Held, clash: list[str], names: list[str]
) -> tuple[str, ...]:
    """Records of ``side`` whose values of a clashing scheme share none with one of ``other``."""
    return tuple(
        sorted(
            names[n]
            for n in side
            if any(
                kind in own[n] and any(not x & y for x in own[n][kind] for y in other[kind])
                for kind in clash
            )
        )
    )


def _assemble(
    kept: list[Match], index: dict[str, int], union: UnionFind, conflicts: list[ClusterConflict]
) -> tuple[DuplicateCluster, ...]:
    grouped: dict[int, list[Match]] = {}
    for match in kept:
        grouped.setdefault(union.find(index[match.left]), []).append(match)
    touching: dict[int, list[ClusterConflict]] = {}
    for conflict in conflicts:
        roots = {union.find(index[conflict.match.left]), union.find(index[conflict.match.right])}
        for root in roots:
            touching.setdefault(root, []).append(conflict)
    clusters: list[DuplicateCluster] = []
    for root, matches in grouped.items():
        ids = sorted({i for m in matches for i in (m.left, m.right)})
        weakest = min((m.decision for m in matches), key=lambda d: d.rank)
        ordered = tuple(sorted(matches, key=lambda m: (m.left, m.right)))
        clusters.append(
            DuplicateCluster(
                ids=tuple(ids),
                matches=ordered,
                decision=weakest,
                conflicts=tuple(touching.get(root, ())),
            )
        )
    clusters.sort(key=lambda c: c.ids[0])
    return tuple(clusters)
