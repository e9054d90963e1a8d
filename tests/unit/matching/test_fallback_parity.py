"""Without rapidfuzz, matching gives the same scores, decisions and clusters."""

from __future__ import annotations

import pytest

from custrec.matching import (
    MatchDecision,
    Thresholds,
    Weights,
    blocking_keys,
    levels,
    profile,
    similarity,
    strong_keys,
)
from custrec.matching.clusters import ClusterRun
from custrec.services._clustering import cluster_profiles
from custrec.testing.synthetic import labelled_customers
from custrec.validation import parse_customer

pytest.importorskip("rapidfuzz")


def clusters() -> ClusterRun:
    records = []
    for n, labelled in enumerate(labelled_customers(3000, seed=5)):
        customer = parse_customer({**labelled.data, "id": f"r{n:05d}"}).record
        assert customer is not None
        records.append(customer)
    return cluster_profiles(
        ((profile(c), strong_keys(c) | blocking_keys(c)) for c in records),
        cap=100,
        decision=MatchDecision.POSSIBLE,
        thresholds=Thresholds(),
        weights=Weights(),
    )


def test_the_pure_python_fallback_clusters_exactly_as_rapidfuzz(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert similarity.BACKEND == "rapidfuzz"
    fast = clusters()
    monkeypatch.setattr(levels, "ratio", similarity.python_ratio)
    monkeypatch.setattr(levels, "jaro_winkler", similarity.python_jaro_winkler)
    slow = clusters()
    assert fast.clusters == slow.clusters
    assert fast.comparisons == slow.comparisons > 1000
