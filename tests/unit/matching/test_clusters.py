"""Batch clustering: count blocks first, skip stop keys, score each pair once, union-find."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custrec.matching import (
    MatchDecision,
    MatchKey,
    Thresholds,
    UnionFind,
    Weights,
    blocking_keys,
    profile,
    strong_keys,
)
from custrec.matching.clusters import ClusterRun
from custrec.model.records import Address, Contact, Customer, CustomerKind
from custrec.services._clustering import cluster_profiles


def person(cid: str, name: str, *, phone: str | None = None, street: str | None = None) -> Customer:
    return Customer(
        id=cid,
        kind=CustomerKind.INDIVIDUAL,
        name=name,
        contacts=(Contact(phones=(phone,)),) if phone else (),
        addresses=(Address(city="北京", street=street),) if street else (),
    )


def run(
    customers: list[Customer], *, cap: int = 100, decision: MatchDecision = MatchDecision.PROBABLE
) -> ClusterRun:
    def keyed(c: Customer) -> tuple[object, frozenset[MatchKey]]:
        return profile(c), strong_keys(c) | blocking_keys(c)

    return cluster_profiles(
        (keyed(c) for c in customers),  # type: ignore[misc]
        cap=cap,
        decision=decision,
        thresholds=Thresholds(),
        weights=Weights(),
    )


def test_records_linked_through_a_chain_form_one_cluster() -> None:
    result = run(
        [
            person("a", "张伟", phone="+8613800138000"),
            person("b", "张伟", phone="+8613800138000", street="朝阳路8号"),
            person("c", "Zhang Wei", street="朝阳路8号"),
            person("d", "Zhang Wei", street="x"),
            person("e", "李娜", phone="+8613900139000"),
        ]
    )
    assert [c.ids for c in result.clusters] == [("a", "b")]
    # c shares an address with b but "Zhang Wei" and "张伟" are different spellings: not probable


def test_a_probable_chain_joins_three_records() -> None:
    result = run(
        [
            person("a", "张伟", phone="+8613800138000"),
            person("b", "张伟", phone="+8613800138000", street="朝阳路8号"),
            person("c", "张伟", street="朝阳路８号"),
        ]
    )
    assert [c.ids for c in result.clusters] == [("a", "b", "c")]
    assert result.duplicate_ids == {"b", "c"}
    assert result.clusters[0].decision is MatchDecision.PROBABLE  # the weakest link


def test_block_sizes_are_counted_before_scoring_and_each_pair_is_scored_once() -> None:
    same = [person(str(i), "张伟", phone="+8613800138000", street="朝阳路8号") for i in range(4)]
    result = run(same)
    # three keys (name, address, phone) each hold the 4 records: 3 blocks x 6 pairs planned
    assert result.blocks == 3
    assert result.comparisons_planned == 18
    assert result.comparisons == 6
    assert [c.ids for c in result.clusters] == [("0", "1", "2", "3")]


def test_a_key_over_the_cap_is_a_stop_key_and_is_never_expanded() -> None:
    crowd = [person(str(i), "张伟", street=f"路{i}号") for i in range(5)]
    result = run(crowd, cap=3, decision=MatchDecision.POSSIBLE)
    assert [(s.kind, s.records) for s in result.stop_keys] == [("blk.name", 5)]
    assert result.comparisons == 0 and result.clusters == ()
    assert "张" not in repr(result.stop_keys)


def test_the_decision_sets_how_sure_a_link_must_be() -> None:
    pair = [person("a", "张伟"), person("b", "张伟")]  # same name only: possible
    assert run(pair).clusters == ()
    assert [c.ids for c in run(pair, decision=MatchDecision.POSSIBLE).clusters] == [("a", "b")]


def test_an_empty_stream_gives_an_empty_run() -> None:
    result = run([])
    assert (result.records, result.clusters, result.comparisons) == (0, (), 0)


def test_union_find_joins_and_finds() -> None:
    uf = UnionFind(5)
    uf.union(0, 1)
    uf.union(3, 4)
    uf.union(1, 4)
    assert len({uf.find(i) for i in range(5)}) == 2
    assert uf.find(0) == uf.find(3) != uf.find(2)
    with pytest.raises(ValueError, match="non-negative"):
        UnionFind(-1)


@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), max_size=40))
def test_union_find_agrees_with_a_naive_partition(edges: list[tuple[int, int]]) -> None:
    uf = UnionFind(20)
    groups = [{i} for i in range(20)]
    for a, b in edges:
        uf.union(a, b)
        ga = next(g for g in groups if a in g)
        gb = next(g for g in groups if b in g)
        if ga is not gb:
            ga |= gb
            groups.remove(gb)
    for a, b in combinations(range(20), 2):
        together = any(a in g and b in g for g in groups)
        assert (uf.find(a) == uf.find(b)) == together
