"""Estimating Fellegi-Sunter parameters from the data itself.

:func:`estimate` takes a population of match profiles and returns :class:`Weights`:

1. **u from random pairs.** Pairs of records of one kind drawn at random are almost all
   non-matches, so the share of them at each comparison level estimates ``u`` (a level never
   seen counts as half a pair: ``u = (count + 0.5) / (observed + 0.5 * levels)``).
2. **m by EM over candidate pairs.** The candidate pairs (by default those sharing a blocking
   key: a name, a street in a city, a phone, an e-mail, an identifier; blocks larger than ``cap``
   skipped) are a mixture of matches and non-matches. Expectation-maximisation alternates:

   - *E-step*: each pair's match probability ``p = odds / (1 + odds)`` with
     ``odds = λ_b / (1 - λ_b) * Π m[f][γ_f] / u[f][γ_f]`` over its observed fields;
   - *M-step*: ``λ_b = Σ p / pairs``; ``m[f][l] = Σ p·[γ_f = l] / Σ p·[f observed]`` (and, unless
     ``u`` is fixed, ``u[f][l]`` likewise with ``1 - p``),

   from ``λ_b = start_prior`` and the default ``m``, until no parameter moves by more than
   ``tolerance`` or ``max_iterations`` is reached. Identical comparison vectors are grouped,
   so the cost is per distinct vector, not per pair.
3. **The prior** for two random records: the matches EM found among the candidate pairs
   (``λ_b`` times their number), divided by the number of same-kind pairs in the population,
   which assumes every match is a candidate pair.

The result is immutable and serialisable (``Weights.to_dict``); pass it as ``weights=`` to
:func:`~custrec.matching.compare`, or as ``MatchConfig(weights=...)`` to a registry.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from custrec._checks import check, positive_int
from custrec.matching.levels import LEVELS, MatchProfile, observe
from custrec.matching.parameters import DEFAULT_M, Weights

__all__ = ["Pattern", "candidate_pairs", "em", "estimate", "pattern", "u_from_pairs"]

Pattern = tuple[tuple[str, int], ...]
"""A comparison vector: ``(field, level index)`` for every observed field, in field order."""

Probabilities = dict[str, tuple[float, ...]]


def pattern(a: MatchProfile, b: MatchProfile) -> Pattern:
    """The comparison vector of a pair (frequency adjustment plays no part in estimation)."""
    return tuple((field, level) for field, level, _, _, _ in observe(a, b))


def candidate_pairs(profiles: Sequence[MatchProfile], *, cap: int = 100) -> set[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of same-kind profiles sharing a blocking value.

    Blocks: the name, each street in its city, each phone, e-mail and identifier. A block of
    more than ``cap`` profiles is skipped, as the registry skips stop keys.
    """
    blocks: dict[tuple[str, str, str], list[int]] = {}
    for i, p in enumerate(profiles):
        keys = {("name", p.name)} if p.name else set()
        keys.update(("addr", a) for a in p.addresses)
        keys.update(p.strong)
        for kind, value in keys:
            blocks.setdefault((p.kind, kind, value), []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if 1 < len(members) <= cap:
            for x, i in enumerate(members):
                pairs.update((i, j) for j in members[x + 1 :])
    return pairs


def _random_pairs(
    profiles: Sequence[MatchProfile], count: int, rng: random.Random
) -> Iterable[tuple[MatchProfile, MatchProfile]]:
    by_kind: dict[str, list[MatchProfile]] = {}
    for p in profiles:
        by_kind.setdefault(p.kind, []).append(p)
    kinds = [k for k, members in sorted(by_kind.items()) if len(members) > 1]
    sizes = [len(by_kind[k]) ** 2 for k in kinds]
    for _ in range(count):
        members = by_kind[rng.choices(kinds, sizes)[0]]
        i, j = rng.sample(range(len(members)), 2)
        yield members[i], members[j]


def u_from_pairs(patterns: Iterable[Pattern]) -> Probabilities:
    """``u`` per field level from (random, so nearly all non-matching) pairs' vectors."""
    counts = {field: [0] * len(levels) for field, levels in LEVELS.items()}
    for vector in patterns:
        for field, level in vector:
            counts[field][level] += 1
    out: Probabilities = {}
    for field, seen in counts.items():
        total = sum(seen) + 0.5 * len(seen)
        out[field] = tuple((c + 0.5) / total for c in seen)
    return out


def _normalised(values: list[float]) -> tuple[float, ...]:
    floored = [max(v, 1e-6) for v in values]
    total = sum(floored)
    return tuple(v / total for v in floored)


def em(
    patterns: Mapping[Pattern, int],
    m: Mapping[str, Sequence[float]],
    u: Mapping[str, Sequence[float]],
    prior: float,
    *,
    max_iterations: int = 25,
    tolerance: float = 1e-4,
    fix_u: bool = True,
) -> tuple[Probabilities, Probabilities, float, int]:
    """Run EM (module docstring) on counted comparison vectors.

    Returns ``(m, u, λ_b, iterations run)``. A field level no pair is at gets probability
    1e-6 (then the field's probabilities are renormalised), so no weight is infinite.
    """
    m_now: Probabilities = {f: tuple(v) for f, v in m.items()}
    u_now: Probabilities = {f: tuple(v) for f, v in u.items()}
    lam = prior
    runs = 0
    total = sum(patterns.values())
    for runs in range(1, max_iterations + 1):  # noqa: B007 - the count is returned
        m_sum = {f: [0.0] * len(v) for f, v in m_now.items()}
        u_sum = {f: [0.0] * len(v) for f, v in u_now.items()}
        matched = 0.0
        for vector, count in patterns.items():
            log_odds = math.log(lam) - math.log(1.0 - lam)
            for field, level in vector:
                log_odds += math.log(m_now[field][level]) - math.log(u_now[field][level])
            p = 1.0 / (1.0 + math.exp(-log_odds)) if log_odds > -700 else 0.0
            matched += count * p
            for field, level in vector:
                m_sum[field][level] += count * p
                u_sum[field][level] += count * (1.0 - p)
        new_lam = min(max(matched / total, 1e-9), 1.0 - 1e-9)
        new_m = {f: _normalised(v) if sum(v) > 0 else m_now[f] for f, v in m_sum.items()}
        new_u = (
            u_now
            if fix_u
            else {f: _normalised(v) if sum(v) > 0 else u_now[f] for f, v in u_sum.items()}
        )
        moved = max(
            [abs(new_lam - lam)]
            + [abs(x - y) for f in new_m for x, y in zip(new_m[f], m_now[f], strict=True)]
            + [abs(x - y) for f in new_u for x, y in zip(new_u[f], u_now[f], strict=True)]
        )
        m_now, u_now, lam = new_m, new_u, new_lam
        if moved < tolerance:
            break
    return m_now, u_now, lam, runs


def estimate(
    profiles: Iterable[MatchProfile],
    *,
    pairs: Iterable[tuple[int, int]] | None = None,
    random_pairs: int = 200_000,
    start_prior: float = 0.1,
    max_iterations: int = 25,
    tolerance: float = 1e-4,
    cap: int = 100,
    seed: int = 0,
    m_floor: float = 0.01,
) -> Weights:
    """Estimate :class:`Weights` from a population of profiles (module docstring).

    ``pairs``: the candidate pairs as index pairs into ``profiles`` (default
    :func:`candidate_pairs` with ``cap``); ``random_pairs``: how many random pairs estimate
    ``u``; ``seed`` makes the sampling repeatable; ``m_floor``: no ``m`` ends below it (the field
    is renormalised), so that a level the sample never showed among matches (say, a changed
    street) cannot veto a match on its own. Needs at least two profiles of one kind and
    one candidate pair (``ValueError``).
    """
    population = list(profiles)
    check("random_pairs", random_pairs, positive_int())
    check("max_iterations", max_iterations, positive_int())
    if not 0.0 <= m_floor < 0.5:
        raise ValueError("m_floor must be from 0 to 0.5")
    if not 0.0 < start_prior < 1.0:
        raise ValueError("start_prior must be strictly between 0 and 1")
    kinds = Counter(p.kind for p in population)
    same_kind_pairs = sum(n * (n - 1) // 2 for n in kinds.values())
    if same_kind_pairs == 0:
        raise ValueError("estimate() needs at least two profiles of one kind")
    rng = random.Random(seed)
    u = u_from_pairs(pattern(a, b) for a, b in _random_pairs(population, random_pairs, rng))
    chosen = candidate_pairs(population, cap=cap) if pairs is None else set(pairs)
    counted: Counter[Pattern] = Counter()
    for i, j in chosen:
        a, b = population[i], population[j]
        if a.kind == b.kind and i != j:
            counted[pattern(a, b)] += 1
    if not counted:
        raise ValueError("estimate() found no candidate pair to learn from")
    m, _, lam, _ = em(
        counted,
        DEFAULT_M,
        u_from_pairs(counted.elements()),
        start_prior,
        max_iterations=max_iterations,
        tolerance=tolerance,
        fix_u=False,
    )
    m = {f: _normalised([max(p, m_floor) for p in ps]) for f, ps in m.items()}
    prior = min(max(lam * sum(counted.values()) / same_kind_pairs, 1e-12), 0.5)
    return Weights(m=m, u=u, prior=prior, population=max(len(population), 2))
