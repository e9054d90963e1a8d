"""Fellegi-Sunter parameters: m and u per comparison level, the prior, frequency adjustment.

For each field and level (:data:`custrec.matching.levels.LEVELS`), ``m`` is the probability that
a *matching* pair (two records of one customer) is at that level and ``u`` the probability that a
*non-matching* pair is. The level's **match weight** is ``log2(m / u)`` bits: positive when the
level is more typical of matches. A pair's weight ``W`` is the sum over its observed fields
(unobserved fields add 0), and with the **prior** ``λ`` (the probability that two records drawn
at random are a match) the **match probability** is::

    odds = 2**W * λ / (1 - λ)
    probability = odds / (1 + odds)

**Frequency adjustment.** When the number ``n`` of records holding the agreed value is known
(both records compared included; fewer than 2 reads as 2), an agreement level's weight becomes
``log2(m / u) + min(log2(u * N / n), max_boost)`` with ``N`` the population the parameters refer
to: exactly ``log2(m * N / n)`` until the cap, so a value held by many records (王伟, a company
switchboard, a family phone) counts little and a rare one a lot (at most ``max_boost`` bits more
than the level's weight). Weights of agreement levels never go below 0, so agreeing evidence never
lowers a probability; within a field a better level never weighs less than a worse one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import attrs

from custrec._checks import check, int_range, number_range
from custrec.matching.levels import LEVELS

__all__ = ["DEFAULT_M", "DEFAULT_PRIOR", "DEFAULT_U", "Weights", "match_probability"]

_AGREEMENT: Final = {"phone": 2, "email": 2}
"""How many leading levels of a field are agreement on a value (1 unless listed)."""

# Estimated once with custrec.matching.estimate on the labelled synthetic set
# (`.venv/bin/python benchmarks/estimate_weights.py 20000 --seed 5`: labelled_customers(20_000,
# seed=5), candidate pairs from the blocking values, u from 200,000 random pairs, m by EM with an
# m floor of 0.01) and rounded to two significant digits. Three levels never occur in that set
# and were set by hand: a city compared without a street (u: one random pair in ten shares a
# city), a shared landline and a shared role mailbox (m: 0.07 and 0.02 of matches; u: about
# seven times as likely by chance as a shared mobile or personal address, so they weigh about
# 5.5 and 8 bits less). The disagreements on birth date, sex and region were made stronger by
# hand (m 0.02, 0.02 and 0.001 instead of EM's 0.06, 0.04 and the floor), so that two of them
# outweigh a shared name and street: a default should rather miss a duplicate than merge two
# people. A different region in an organisation's name (北京银行, 上海银行) was never
# seen among matches either.
DEFAULT_POPULATION: Final = 20_000
DEFAULT_PRIOR: Final = 5.5e-5
DEFAULT_M: Final[dict[str, tuple[float, ...]]] = {
    "name": (0.51, 0.065, 0.19, 0.14, 0.035, 0.05),
    "address": (0.98, 0.01, 0.01),
    "city": (0.95, 0.05),
    "birth_date": (0.98, 0.02),
    "gender": (0.98, 0.02),
    "region": (0.999, 0.001),
    "phone": (0.5, 0.07, 0.43),
    "email": (0.9, 0.02, 0.08),
    "id": (0.98, 0.02),
}
DEFAULT_U: Final[dict[str, tuple[float, ...]]] = {
    "name": (1.6e-4, 2.4e-4, 2.4e-3, 0.0099, 0.055, 0.9322),
    "address": (8.3e-5, 1.8e-5, 0.9999),
    "city": (0.1, 0.9),
    "birth_date": (1.7e-4, 0.99983),
    "gender": (0.5, 0.5),
    "region": (0.062, 0.938),
    "phone": (2.8e-5, 2.0e-4, 0.99977),
    "email": (7.7e-5, 5.0e-4, 0.99942),
    "id": (1.8e-4, 0.99982),
}


def match_probability(weight: float, prior: float) -> float:
    """``2**weight * prior / (1 - prior)`` as a probability (odds / (1 + odds)).

    Computed in the log domain, so extreme weights give 0.0 or 1.0, never an overflow.
    """
    log_odds = weight + math.log2(prior) - math.log2(1.0 - prior)
    if log_odds >= 0:
        return 1.0 / (1.0 + math.pow(2.0, -log_odds))
    odds = math.pow(2.0, log_odds)
    return odds / (1.0 + odds)


Table = tuple[tuple[str, tuple[float, ...]], ...]


def _table(value: Mapping[str, Any] | Table | None, defaults: Mapping[str, Any]) -> Table:
    given = dict(value or {})
    unknown = sorted(set(given) - set(LEVELS))
    if unknown:
        raise ValueError(f"unknown comparison fields: {', '.join(unknown)}")
    out = []
    for field, levels in LEVELS.items():
        probabilities = tuple(given.get(field, defaults[field]))
        if len(probabilities) != len(levels):
            raise ValueError(f"{field} needs {len(levels)} probabilities ({', '.join(levels)})")
        for p in probabilities:
            if not _is_number(p):
                raise TypeError(f"{field} probabilities must be numbers")
            if not 0.0 < p <= 1.0:
                raise ValueError(f"{field} probabilities must be in (0, 1]")
        out.append((field, tuple(float(p) for p in probabilities)))
    return tuple(out)


def _m_table(value: Mapping[str, Any] | Table | None) -> Table:
    return _table(value, DEFAULT_M)


def _u_table(value: Mapping[str, Any] | Table | None) -> Table:
    return _table(value, DEFAULT_U)


def _is_number(value: object) -> bool:
    """An int or a float, not a bool (the type half of ``number_range``; NaN is a number)."""
    try:
        check("probability", value, number_range(-math.inf, math.inf))
    except TypeError:
        return False
    except ValueError:  # NaN: a number, which the range checks of the callers refuse
        return True
    return True


def _prior(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not _is_number(value) or not 0.0 < value < 1.0:
        raise ValueError(f"Weights.{attribute.name} must be a number strictly between 0 and 1")


def _population(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    try:
        check(f"Weights.{attribute.name}", value, int_range(2))
    except TypeError:
        raise ValueError(f"Weights.{attribute.name} must be an int of at least 2") from None


@attrs.frozen(kw_only=True)
class Weights:
    """Fellegi-Sunter parameters: ``m`` and ``u`` per field level, prior and population.

    ``m`` and ``u`` map a field of :data:`~custrec.matching.levels.LEVELS` to one probability
    per level (fields left out keep the defaults, estimated on the synthetic set); ``prior`` is
    the probability that two random records are a match and ``population`` the number of records
    it (and ``u``) refer to; ``max_boost`` caps how many bits a rare value may add to its level's
    weight; ``contact_once``: of the agreements on street or city, region, phone and e-mail only
    the strongest counts in :func:`~custrec.matching.compare` (``False``: all add up). Immutable
    and serialisable (:meth:`to_dict`, :meth:`from_dict`); made by
    :func:`custrec.matching.estimate` from your own data.
    """

    m: Table = attrs.field(factory=dict, converter=_m_table)
    u: Table = attrs.field(factory=dict, converter=_u_table)
    prior: float = attrs.field(default=DEFAULT_PRIOR, validator=_prior)
    population: int = attrs.field(default=DEFAULT_POPULATION, validator=_population)
    max_boost: float = attrs.field(default=3.0, converter=float)
    contact_once: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    _weights: dict[str, tuple[float, ...]] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )
    _u: dict[str, tuple[float, ...]] = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.max_boost <= 64.0:
            raise ValueError("Weights.max_boost must be from 0 to 64 bits")
        table: dict[str, tuple[float, ...]] = {}
        u = dict(self.u)
        for field, ms in self.m:
            raw = [math.log2(m / x) for m, x in zip(ms, u[field], strict=True)]
            for i in range(len(raw) - 2, -1, -1):  # a better level never weighs less
                raw[i] = max(raw[i], raw[i + 1])
            for i in range(_AGREEMENT.get(field, 1)):  # agreement never counts against
                raw[i] = max(raw[i], 0.0)
            table[field] = tuple(raw)
        object.__setattr__(self, "_weights", table)
        object.__setattr__(self, "_u", u)

    def weight(self, field: str, level: int) -> float:
        """The match weight ``log2(m / u)`` of a level (after the ordering rules above)."""
        return self._weights[field][level]

    def adjusted(
        self, field: str, level: int, holders: int, population: int | None = None
    ) -> float:
        """The weight of agreeing on a value ``holders`` records hold (module docstring).

        ``population`` defaults to :attr:`population`.
        """
        base = self._weights[field][level]
        u = self._u[field][level]
        n = max(holders, 2)
        boost = math.log2(u * (population or self.population) / n)
        return max(0.0, base + min(boost, self.max_boost))

    def probability(self, weight: float) -> float:
        """The match probability of a total weight under :attr:`prior`."""
        return match_probability(weight, self.prior)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        return {
            "m": {f: list(p) for f, p in self.m},
            "u": {f: list(p) for f, p in self.u},
            "prior": self.prior,
            "population": self.population,
            "max_boost": self.max_boost,
            "contact_once": self.contact_once,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Weights:
        """Read what :meth:`to_dict` wrote (``ValueError`` on unknown keys)."""
        unknown = sorted(set(data) - {"m", "u", "prior", "population", "max_boost", "contact_once"})
        if unknown:
            raise ValueError(f"unknown Weights keys: {', '.join(unknown)}")
        return cls(**dict(data))
