"""Duplicate detection and merging: match keys, explained scores, clusters, survivorship.

Pure logic: no storage, no clock. The registry stores the keys as blind-index tokens and runs
the searches (``registry.matching.find_duplicates``, ``registry.matching.clusters``) and
merges (``registry.matching.merge``); see docs/matching.md.
"""

from custrec.matching.clusters import (
    ClusterConflict,
    ClusterRun,
    DuplicateCandidate,
    DuplicateCluster,
    DuplicateSearch,
    StopKey,
    UnionFind,
    consistent_clusters,
)
from custrec.matching.config import MatchConfig
from custrec.matching.estimation import estimate
from custrec.matching.keys import (
    BLOCKING_KINDS,
    GOVERNMENT_KINDS,
    MatchKey,
    StrongKey,
    blocking_keys,
    identifier_key,
    strong_keys,
)
from custrec.matching.scoring import (
    Match,
    MatchDecision,
    MatchProfile,
    Reason,
    Thresholds,
    Weights,
    compare,
    profile,
)
from custrec.matching.survivorship import (
    DEFAULT_RULES,
    FieldChoice,
    MergeOutcome,
    Strategy,
    SurvivorshipRules,
    merge_records,
)

__all__ = [
    "BLOCKING_KINDS",
    "DEFAULT_RULES",
    "GOVERNMENT_KINDS",
    "ClusterConflict",
    "ClusterRun",
    "DuplicateCandidate",
    "DuplicateCluster",
    "DuplicateSearch",
    "FieldChoice",
    "Match",
    "MatchConfig",
    "MatchDecision",
    "MatchKey",
    "MatchProfile",
    "MergeOutcome",
    "Reason",
    "StopKey",
    "Strategy",
    "StrongKey",
    "SurvivorshipRules",
    "Thresholds",
    "UnionFind",
    "Weights",
    "blocking_keys",
    "compare",
    "consistent_clusters",
    "estimate",
    "identifier_key",
    "merge_records",
    "profile",
    "strong_keys",
]
