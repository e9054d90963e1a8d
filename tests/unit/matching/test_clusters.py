"""Batch clustering: count blocks first, skip stop keys, score each pair once, join the links
strongest first into clusters that never hold two values of one government-id scheme."""

from __future__ import annotations

import random
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrec.matching import (
    ClusterConflict,
    DuplicateCluster,
    Match,
    MatchDecision,
    MatchKey,
    Reason,
    Thresholds,
    UnionFind,
    Weights,
    blocking_keys,
    compare,
    consistent_clusters,
    profile,
    strong_keys,
)
from custrec.matching.clusters import ClusterRun
from custrec.model.records import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    Identifier,
    IdentifierScheme,
)
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


# ------------------------------------------------------------------------- consistent clusters

SWITCHBOARD = "+862152345678"  # 021-5234 5678
BRANCH_LINE = "+862198765432"  # 021-9876 5432


def company(cid: str, *, phones: tuple[str, ...], uscc: str | None = None) -> Customer:
    return Customer(
        id=cid,
        kind=CustomerKind.ORGANIZATION,
        name="北京华信科技有限公司",
        contacts=(Contact(phones=phones),),
        addresses=(Address(city="北京", street="建国路88号"),),
        identifiers=(Identifier(scheme=IdentifierScheme.USCC, value=uscc),) if uscc else (),
    )


def test_a_shared_switchboard_never_joins_two_companies_with_different_credit_codes() -> None:
    # the A/B/C chain: A and C are different legal entities (different USCC); B has no
    # code and shares A's switchboard and C's branch line
    a = company("A", phones=(SWITCHBOARD,), uscc="91110000600037341L")
    b = company("B", phones=(SWITCHBOARD, BRANCH_LINE))
    c = company("C", phones=(BRANCH_LINE,), uscc="91110000710926094P")
    result = run([a, b, c])

    for cluster in result.clusters:
        assert not {"A", "C"} <= set(cluster.ids)
    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert conflict.schemes == ("uscc",)
    assert set(conflict.ids) in ({"A", "B"}, {"B", "C"})  # one of the two bridging links
    assert {*conflict.left_holders, *conflict.right_holders} == {"A", "C"}
    assert conflict.match.reasons  # the refused link keeps compare()'s explanation
    # the conflict is reported on the cluster it borders, without any identifier or phone value
    assert [c.conflicts for c in result.clusters] == [(conflict,)]
    text = repr(result)
    assert "91110000" not in text and "5234" not in text and "9876" not in text


def link(a: str, b: str, score: float, decision: MatchDecision = MatchDecision.PROBABLE) -> Match:
    return Match(left=a, right=b, score=score, decision=decision, reasons=(Reason("name", "same"),))


def test_a_chain_is_split_at_its_weakest_link() -> None:
    # a -0.99- b -0.90- c -0.95- d; a and d hold different passports: b-c is the weakest link
    ids = {"a": [("passport", "E1")], "d": [("passport", "E2")]}
    links = [link("a", "b", 0.99), link("b", "c", 0.90), link("c", "d", 0.95)]
    clusters, conflicts = consistent_clusters(links, ids)
    assert [c.ids for c in clusters] == [("a", "b"), ("c", "d")]
    assert [(x.ids, x.schemes, x.left_holders, x.right_holders) for x in conflicts] == [
        (("b", "c"), ("passport",), ("a",), ("d",))
    ]
    assert [c.conflicts for c in clusters] == [conflicts, conflicts]


def test_a_decision_outranks_a_score_and_a_shared_id_breaks_ties() -> None:
    same = MatchDecision.SAME
    ids = {"b": [("ric", "R1")], "c": [("ric", "R2")]}
    # a-c is `same` (a shared phone, say) and goes before the higher-scored probable a-b link
    clusters, conflicts = consistent_clusters(
        [link("a", "b", 0.99), link("a", "c", 0.5, same)], ids
    )
    assert [c.ids for c in clusters] == [("a", "c")]
    assert [x.ids for x in conflicts] == [("a", "b")]
    # at equal decision and score, the link of two records sharing a government id goes first:
    # a and c share a RIC; b's passport conflicts with c's, so only one of the two links can stay
    ids = {
        "a": [("ric", "R1")],
        "b": [("passport", "P2")],
        "c": [("ric", "R1"), ("passport", "P1")],
    }
    tied = [link("a", "b", 1.0, same), link("a", "c", 1.0, same)]
    clusters, conflicts = consistent_clusters(tied, ids)
    assert [c.ids for c in clusters] == [("a", "c")]
    assert [(x.ids, x.schemes) for x in conflicts] == [(("a", "b"), ("passport",))]


def test_support_breaks_the_remaining_ties() -> None:
    # two `same` links at 1.0 (shared phones, say) into a chain of conflicting codes: the one
    # whose records share more keys (name, address, a personal mobile) is kept
    same = MatchDecision.SAME
    ids = {"b": [("uscc", "U1")], "c": [("uscc", "U2")]}
    links = [link("a", "b", 1.0, same), link("a", "c", 1.0, same)]
    shared = {("a", "b"): 1, ("a", "c"): 3}
    clusters, conflicts = consistent_clusters(links, ids, support=lambda m: shared[m.left, m.right])
    assert [c.ids for c in clusters] == [("a", "c")]
    assert [x.ids for x in conflicts] == [("a", "b")]
    # without it, ids decide
    assert [c.ids for c in consistent_clusters(links, ids)[0]] == [("a", "b")]


def test_only_government_schemes_constrain() -> None:
    ids = {
        "a": [("phone", "+1"), ("external", "crm:1")],
        "b": [("phone", "+2"), ("external", "crm:2")],
    }
    clusters, conflicts = consistent_clusters([link("a", "b", 0.9)], ids)
    assert [c.ids for c in clusters] == [("a", "b")] and conflicts == ()


def test_a_record_holding_two_values_joins_each_but_the_two_never_meet_otherwise() -> None:
    # x holds both codes (a re-registration); y and z hold one each: each conflicts only with
    # the other, so x joins whichever link is stronger and the other link is refused
    ids = {"x": [("uscc", "U1"), ("uscc", "U2")], "y": [("uscc", "U1")], "z": [("uscc", "U2")]}
    clusters, conflicts = consistent_clusters([link("x", "y", 0.9), link("x", "z", 0.95)], ids)
    assert [c.ids for c in clusters] == [("x", "z")]
    assert [(x.ids, x.left_holders, x.right_holders) for x in conflicts] == [
        (("x", "y"), ("z",), ("y",))
    ]


SCHEMES = ("uscc", "ric", "passport")


def _strength(
    m: Match, ids: dict[str, list[tuple[str, str]]], support: dict[tuple[str, str], int]
) -> tuple[object, ...]:
    common = set(ids.get(m.left, ())) & set(ids.get(m.right, ()))
    shared = any(kind in SCHEMES for kind, _ in common)
    return (
        -m.decision.rank,
        -m.score,
        -int(shared),
        -support.get((m.left, m.right), 0),
        m.left,
        m.right,
    )


def _conflicting(x: list[tuple[str, str]], y: list[tuple[str, str]]) -> bool:
    for scheme in SCHEMES:
        vx = {v for k, v in x if k == scheme}
        vy = {v for k, v in y if k == scheme}
        if vx and vy and not vx & vy:
            return True
    return False


def _components(nodes: set[str], edges: list[tuple[str, str]]) -> list[set[str]]:
    groups: list[set[str]] = []
    for node in sorted(nodes):
        groups.append({node})
    for a, b in edges:
        ga = next(g for g in groups if a in g)
        gb = next(g for g in groups if b in g)
        if ga is not gb:
            ga |= gb
            groups.remove(gb)
    return groups


def _check_against_brute_force(
    links: list[Match],
    ids: dict[str, list[tuple[str, str]]],
    clusters: tuple[DuplicateCluster, ...],
    conflicts: tuple[ClusterConflict, ...],
    support: dict[tuple[str, str], int] | None = None,
) -> None:
    support = support or {}
    where = {i: n for n, c in enumerate(clusters) for i in c.ids}
    nodes = {i for m in links for i in (m.left, m.right)}
    # 1. no cluster holds two records with conflicting government ids
    for cluster in clusters:
        for x, y in combinations(cluster.ids, 2):
            assert not _conflicting(ids.get(x, []), ids.get(y, [])), (x, y)
    # 2. every link is kept (its records share a cluster) or refused (reported as a conflict)
    refused = {(c.match.left, c.match.right) for c in conflicts}
    for m in links:
        kept = m.left in where and where.get(m.left) == where.get(m.right)
        assert kept != ((m.left, m.right) in refused), m
    # 3. whenever links would chain two conflicting records together, a conflict is reported
    #    inside that chain, naming records that really conflict
    for group in _components(nodes, [(m.left, m.right) for m in links]):
        clash = any(_conflicting(ids.get(x, []), ids.get(y, [])) for x, y in combinations(group, 2))
        inside = [c for c in conflicts if c.match.left in group]
        assert bool(inside) == clash, group
    for c in conflicts:
        assert c.left_holders and c.right_holders
        assert any(
            _conflicting(ids.get(x, []), ids.get(y, []))
            for x in c.left_holders
            for y in c.right_holders
        )
        # 4. the refused link is the weakest: each side reaches its holders through kept links
        #    at least as strong as the refused one
        stronger = [
            (m.left, m.right)
            for m in links
            if (m.left, m.right) not in refused
            and _strength(m, ids, support) < _strength(c.match, ids, support)
        ]
        reach = _components(nodes, stronger)
        for end, holders in ((c.match.left, c.left_holders), (c.match.right, c.right_holders)):
            side = next(g for g in reach if end in g)
            assert set(holders) <= side


@given(
    st.lists(
        st.tuples(
            st.integers(0, 7),
            st.integers(0, 7),
            st.sampled_from([0.9, 0.95, 1.0]),
            st.sampled_from([MatchDecision.SAME, MatchDecision.PROBABLE]),
        ),
        max_size=16,
    ),
    st.dictionaries(
        st.integers(0, 7),
        st.lists(st.tuples(st.sampled_from(SCHEMES), st.sampled_from("123")), max_size=2),
    ),
    st.randoms(use_true_random=False),
)
def test_consistent_clusters_agree_with_a_brute_force_check(
    edges: list[tuple[int, int, float, MatchDecision]],
    held: dict[int, list[tuple[str, str]]],
    shuffler: random.Random,
) -> None:
    seen: set[tuple[int, int]] = set()
    links = []
    for a, b, score, decision in edges:
        if a != b and (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            links.append(link(f"r{a}", f"r{b}", score, decision))
    ids = {f"r{n}": keys for n, keys in held.items()}
    clusters, conflicts = consistent_clusters(links, ids)
    _check_against_brute_force(links, ids, clusters, conflicts)
    shuffler.shuffle(links)  # the order links arrive in does not matter
    assert consistent_clusters(links, ids) == (clusters, conflicts)


PEOPLE = ("张伟", "张玮", "Zhang Wei")
COMPANIES = ("北京华信科技有限公司", "华信科技（北京）有限公司", "华信科技有限责任公司")
PHONES = ("+8613800138000", SWITCHBOARD, BRANCH_LINE)
EMAILS = ("info@huaxin.com", "zw@example.com")


@st.composite
def look_alike(draw: st.DrawFn, cid: str) -> Customer:
    org = draw(st.booleans())
    schemes = [IdentifierScheme.USCC] if org else [IdentifierScheme.RIC, IdentifierScheme.PASSPORT]
    identifiers = tuple(
        Identifier(scheme=scheme, value=f"{scheme}-{draw(st.sampled_from('12'))}")
        for scheme in schemes
        if draw(st.booleans())
    )
    street = draw(st.sampled_from([None, "建国路88号", "朝阳路8号"]))
    return Customer(
        id=cid,
        kind=CustomerKind.ORGANIZATION if org else CustomerKind.INDIVIDUAL,
        name=draw(st.sampled_from(COMPANIES if org else PEOPLE)),
        contacts=(
            Contact(
                phones=tuple(draw(st.sets(st.sampled_from(PHONES), max_size=2))),
                emails=tuple(draw(st.sets(st.sampled_from(EMAILS), max_size=1))),
            ),
        ),
        addresses=(Address(city="北京", street=street),) if street else (),
        identifiers=identifiers,
    )


@settings(max_examples=60)  # each example is a batch run with its own scratch database
@given(st.integers(2, 9).flatmap(lambda n: st.tuples(*(look_alike(f"c{i}") for i in range(n)))))
def test_batch_clusters_of_look_alike_chains_never_join_two_values_of_one_scheme(
    customers: tuple[Customer, ...],
) -> None:
    result = run(list(customers), cap=1000)
    # brute force: score every pair sharing a key, as the batch run should
    keyed = {c.id: (profile(c), strong_keys(c) | blocking_keys(c)) for c in customers}
    links = []
    support: dict[tuple[str, str], int] = {}  # the batch run breaks ties by keys shared
    for x, y in combinations(customers, 2):
        (px, kx), (py, ky) = keyed[x.id], keyed[y.id]
        if kx & ky:
            m = compare(px, py, thresholds=Thresholds(), weights=Weights())
            if m.decision.rank >= MatchDecision.PROBABLE.rank:
                links.append(m)
                support[m.left, m.right] = len(kx & ky)
    ids = {c.id: sorted(strong_keys(c)) for c in customers}
    for cluster in result.clusters:
        for scheme in SCHEMES:
            values = {v for i in cluster.ids for k, v in ids[i] if k == scheme}
            assert len(values) <= 1, (cluster.ids, scheme)
    _check_against_brute_force(links, ids, result.clusters, result.conflicts, support)
    oracle = consistent_clusters(links, ids, support=lambda m: support[m.left, m.right])
    assert (result.clusters, result.conflicts) == oracle


def test_a_shared_value_counts_when_a_record_holds_several_of_one_scheme() -> None:
    # found by the brute-force check: r2 holds two credit codes, one of them r5's; the link
    # r2-r5 shares a government id, so it is the stronger of two equal links and is kept,
    # and the link to r3 (whose resident id differs from r5's) is the one refused
    ids = {
        "r2": [("uscc", "1"), ("uscc", "2")],
        "r3": [("ric", "1")],
        "r5": [("uscc", "1"), ("ric", "2")],
    }
    links = [
        link("r2", "r3", 0.9, MatchDecision.SAME),
        link("r2", "r5", 0.9, MatchDecision.SAME),
    ]
    clusters, conflicts = consistent_clusters(links, ids)
    assert [c.ids for c in clusters] == [("r2", "r5")]
    assert [(c.match.left, c.match.right) for c in conflicts] == [("r2", "r3")]
    _check_against_brute_force(links, ids, clusters, conflicts)


def _reference_run(
    customers: list[Customer], cap: int, decision: MatchDecision
) -> tuple[tuple[DuplicateCluster, ...], tuple[ClusterConflict, ...], int]:
    """The clustering spelled out: every pair sharing a key held by at most ``cap`` records
    decided with ``decide``, links explained with ``compare``, joined by consistent_clusters."""
    from custrec.matching.scoring import decide

    profiles = [profile(c) for c in customers]
    keys = [strong_keys(c) | blocking_keys(c) for c in customers]
    holders: dict[MatchKey, int] = {}
    for held in keys:
        for key in held:
            holders[key] = holders.get(key, 0) + 1
    usable = [{k for k in held if holders[k] <= cap} for held in keys]
    links, support, compared = [], {}, 0
    for i, j in combinations(range(len(customers)), 2):
        if not usable[i] & usable[j]:
            continue
        compared += 1
        decided, _ = decide(profiles[i], profiles[j])
        if decided.rank >= decision.rank:
            match = compare(profiles[i], profiles[j])
            links.append(match)
            support[match.left, match.right] = len(keys[i] & keys[j])
    government = {p.id: p.strong for p in profiles}
    clusters, conflicts = consistent_clusters(
        links, government, support=lambda m: support[m.left, m.right]
    )
    return clusters, conflicts, compared


@pytest.mark.parametrize("decision", [MatchDecision.PROBABLE, MatchDecision.POSSIBLE])
def test_a_batch_run_equals_the_clustering_spelled_out_on_a_seeded_harder_set(
    decision: MatchDecision,
) -> None:
    from custrec.testing.synthetic import hard_labelled_customers
    from custrec.validation import parse_customer

    customers = []
    for n, labelled in enumerate(hard_labelled_customers(1500, seed=11)):
        customer = parse_customer({**labelled.data, "id": f"r{n:05d}"}).record
        assert customer is not None
        customers.append(customer)
    found = run(customers, cap=30, decision=decision)
    clusters, conflicts, compared = _reference_run(customers, 30, decision)
    assert found.comparisons == compared > 500
    assert found.clusters == clusters
    assert found.conflicts == conflicts
    assert len(clusters) > 50


def test_a_run_leaves_the_cyclic_garbage_collector_as_it_found_it() -> None:
    import gc

    from custrec._collector import held

    customers = [person("a", "Zhang Wei", phone="+8613800138000"), person("b", "Zhang Wei")]
    assert gc.isenabled()
    run(customers)
    assert gc.isenabled()
    assert held() == (0, 0)
    gc.disable()
    try:
        run(customers)
        assert not gc.isenabled()
    finally:
        gc.enable()
