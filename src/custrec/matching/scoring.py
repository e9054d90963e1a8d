"""Comparing two customers: an explained score and a decision.

:func:`compare` looks at two :class:`MatchProfile` objects (the comparable facts of a normalised
customer, made by :func:`profile`) and returns a :class:`Match`: a score, a :class:`MatchDecision`
and one :class:`Reason` per piece of evidence, for example ``phone: same`` or ``name: 0.91``.

Two tiers of evidence:

- **Strong identifiers** decide on their own: a shared phone, e-mail, credit code, resident id,
  passport or external id makes the decision ``same`` with score 1.0, unless both records carry
  a government identifier of the same scheme and those differ (two people sharing a family
  phone), in which case the government identifiers win and the pair is scored on weak evidence.
- **Weak evidence** adds to a score (documented weights in :class:`Weights`): name similarity,
  street address similarity, city, birth date, sex, an organisation's region. Names that are
  clearly different, or a different birth date, sex, or government identifier, subtract.

The score is then read against :class:`Thresholds`: ``probable`` at or above ``probable``,
``possible`` at or above ``possible``, otherwise ``distinct``. The caller decides what to do;
nothing here merges anything.

>>> from custrec.model.records import Address, Customer, CustomerKind
>>> home = (Address(city="北京", street="朝阳路 8 号"),)
>>> a = profile(Customer(kind=CustomerKind.INDIVIDUAL, name="Zhang Wei", addresses=home))
>>> b = profile(Customer(kind=CustomerKind.INDIVIDUAL, name="WEI ZHANG", addresses=home))
>>> m = compare(a, b)
>>> m.decision, m.score
(<MatchDecision.PROBABLE: 'probable'>, 0.95)
>>> [str(r) for r in m.reasons]
['name: same', 'address: same']
"""

from __future__ import annotations

import enum
from datetime import date

import attrs

from custrec._checks import number_range
from custrec.matching.keys import GOVERNMENT_KINDS, StrongKey, address_keys, name_key, strong_keys
from custrec.matching.normalize import fold, org_name
from custrec.matching.similarity import jaro_winkler, ratio
from custrec.model.records import Address, Customer, CustomerKind

__all__ = [
    "Match",
    "MatchDecision",
    "MatchProfile",
    "Reason",
    "Thresholds",
    "Weights",
    "compare",
    "profile",
]


class MatchDecision(enum.StrEnum):
    """What the evidence says about two records, strongest first."""

    SAME = "same"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    DISTINCT = "distinct"

    @property
    def rank(self) -> int:
        """3 for ``same`` down to 0 for ``distinct``."""
        return _RANKS[self]


_RANKS = {
    MatchDecision.SAME: 3,
    MatchDecision.PROBABLE: 2,
    MatchDecision.POSSIBLE: 1,
    MatchDecision.DISTINCT: 0,
}


@attrs.frozen(kw_only=True)
class Thresholds:
    """Score cut-offs for ``probable`` and ``possible`` (``possible <= probable``)."""

    probable: float = attrs.field(default=0.85, validator=number_range(0, 1))
    possible: float = attrs.field(default=0.6, validator=number_range(0, 1))

    def __attrs_post_init__(self) -> None:
        if self.possible > self.probable:
            raise ValueError("Thresholds.possible must not exceed Thresholds.probable")

    def decide(self, score: float) -> MatchDecision:
        """Return the decision for a weak-evidence score."""
        if score >= self.probable:
            return MatchDecision.PROBABLE
        if score >= self.possible:
            return MatchDecision.POSSIBLE
        return MatchDecision.DISTINCT


@attrs.frozen(kw_only=True)
class Weights:
    """Points each piece of weak evidence adds (or, for conflicts, subtracts).

    ``name``: times the name similarity when it is at least ``name_floor``; below it, the names
    differ and ``name_mismatch`` is subtracted. ``address``: times the best street-address
    similarity when at least ``address_floor``, else ``address_mismatch`` is subtracted.
    ``city``: added when no street can be compared but a city is shared (subtracted as
    ``city_mismatch`` when cities are known on both sides and none is shared). ``birth_date``:
    added when equal; ``birth_date_mismatch``, ``sex_mismatch``, ``region_mismatch`` and
    ``government_id_mismatch`` are subtracted when both sides are known and differ.
    """

    name: float = 0.6
    name_floor: float = 0.7
    name_mismatch: float = 0.3
    address: float = 0.35
    address_floor: float = 0.9
    address_mismatch: float = 0.15
    city: float = 0.05
    city_mismatch: float = 0.1
    birth_date: float = 0.1
    birth_date_mismatch: float = 0.4
    sex_mismatch: float = 0.4
    region_mismatch: float = 0.3
    government_id_mismatch: float = 1.0


@attrs.frozen(kw_only=True)
class MatchProfile:
    """The comparable facts of one normalised customer (personal data: never log it)."""

    id: str
    kind: str
    name: str = attrs.field(repr=False)
    region: str | None = attrs.field(default=None, repr=False)
    addresses: tuple[str, ...] = attrs.field(default=(), repr=False)
    cities: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    birth_date: date | None = attrs.field(default=None, repr=False)
    sex: str | None = attrs.field(default=None, repr=False)
    strong: frozenset[StrongKey] = attrs.field(default=frozenset(), repr=False)


def profile(customer: Customer) -> MatchProfile:
    """Return the :class:`MatchProfile` of a normalised customer."""
    region = None
    if customer.kind == CustomerKind.ORGANIZATION and isinstance(customer.name, str):
        region = org_name(customer.name).region
    return MatchProfile(
        id=customer.id,
        kind=str(customer.kind),
        name=name_key(customer)[2:],
        region=region,
        addresses=address_keys(customer),
        cities=frozenset(
            fold(a.city)
            for a in customer.addresses
            if isinstance(a, Address) and isinstance(a.city, str) and fold(a.city)
        ),
        birth_date=customer.birth_date,
        sex=str(customer.gender) if customer.gender not in (None, "unknown") else None,
        strong=strong_keys(customer),
    )


@attrs.frozen
class Reason:
    """One piece of evidence: the field, what was found, and the points it added."""

    field: str
    finding: str
    points: float = 0.0

    def __str__(self) -> str:
        return f"{self.field}: {self.finding}"


@attrs.frozen(kw_only=True)
class Match:
    """The outcome of comparing two records: score in [0, 1], decision, reasons."""

    left: str
    right: str
    score: float
    decision: MatchDecision
    reasons: tuple[Reason, ...]


def _similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return max(ratio(a, b), jaro_winkler(a, b))


def _best_address(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    best = 0.0
    for x in a:
        for y in b:
            # keys are "city|street"; an unknown city on either side does not count against it
            cx, _, sx = x.partition("|")
            cy, _, sy = y.partition("|")
            if cx and cy and cx != cy:
                continue
            best = max(best, _similarity(sx, sy))
    return best


def _weak(a: MatchProfile, b: MatchProfile, w: Weights, out: list[Reason]) -> float:
    score = 0.0
    if a.name and b.name:
        sim = _similarity(a.name, b.name)
        if sim >= w.name_floor:
            out.append(Reason("name", "same" if sim == 1.0 else f"{sim:.2f}", w.name * sim))
        else:
            out.append(Reason("name", f"different ({sim:.2f})", -w.name_mismatch))
    if a.region and b.region and a.region != b.region:
        out.append(Reason("region", "different", -w.region_mismatch))
    if a.addresses and b.addresses:
        sim = _best_address(a.addresses, b.addresses)
        if sim >= w.address_floor:
            finding = "same" if sim == 1.0 else f"{sim:.2f}"
            out.append(Reason("address", finding, w.address * sim))
        else:
            out.append(Reason("address", "different", -w.address_mismatch))
    elif a.cities and b.cities:
        if a.cities & b.cities:
            out.append(Reason("city", "same", w.city))
        else:
            out.append(Reason("city", "different", -w.city_mismatch))
    if a.birth_date is not None and b.birth_date is not None:
        if a.birth_date == b.birth_date:
            out.append(Reason("birth_date", "same", w.birth_date))
        else:
            out.append(Reason("birth_date", "different", -w.birth_date_mismatch))
    if a.sex is not None and b.sex is not None and a.sex != b.sex:
        out.append(Reason("gender", "different", -w.sex_mismatch))
    for reason in out:
        score += reason.points
    return score


def _government_conflicts(a: MatchProfile, b: MatchProfile) -> list[str]:
    conflicts = []
    for kind in sorted(GOVERNMENT_KINDS):
        mine = {v for k, v in a.strong if k == kind}
        theirs = {v for k, v in b.strong if k == kind}
        if mine and theirs and not mine & theirs:
            conflicts.append(kind)
    return conflicts


def compare(
    a: MatchProfile,
    b: MatchProfile,
    *,
    thresholds: Thresholds | None = None,
    weights: Weights | None = None,
) -> Match:
    """Compare two profiles and explain the result.

    Records of different kinds (a person and an organisation) are ``distinct`` with score 0.
    The score is clamped to [0, 1] and rounded to 4 decimal places.
    """
    limits = thresholds or Thresholds()
    w = weights or Weights()
    if a.kind != b.kind:
        return Match(
            left=a.id,
            right=b.id,
            score=0.0,
            decision=MatchDecision.DISTINCT,
            reasons=(Reason("kind", "different"),),
        )
    reasons: list[Reason] = []
    conflicts = _government_conflicts(a, b)
    shared = sorted(a.strong & b.strong)
    if shared and not conflicts:
        kinds = sorted({kind for kind, _ in shared})
        reasons = [Reason(kind.removeprefix("id."), "same") for kind in kinds]
        return Match(
            left=a.id, right=b.id, score=1.0, decision=MatchDecision.SAME, reasons=tuple(reasons)
        )
    weak: list[Reason] = [
        Reason(kind, "different", -w.government_id_mismatch) for kind in conflicts
    ]
    score = _weak(a, b, w, weak)
    score = round(min(1.0, max(0.0, score)), 4)
    return Match(
        left=a.id, right=b.id, score=score, decision=limits.decide(score), reasons=tuple(weak)
    )
