"""Comparing two customers: a calibrated match probability, a decision, and its reasons.

:func:`compare` looks at two :class:`MatchProfile` objects (the comparable facts of a normalised
customer, made by :func:`profile`) and returns a :class:`Match`: the match probability, a
:class:`MatchDecision` and one :class:`Reason` per field compared, each with its match weight in
bits, for example ``name: same (+9.7)`` or ``phone: different (-1.2)``.

The score is Fellegi-Sunter's (:mod:`custrec.matching.parameters`): every field's comparison
level (:mod:`custrec.matching.levels`) adds its weight ``log2(m / u)``, optionally adjusted by
how many records hold the agreed value, and the total ``W`` becomes a probability with the prior
``λ``: ``odds = 2**W * λ / (1 - λ)``, ``probability = odds / (1 + odds)``.

Evidence by strength:

- a shared **government id** (or external id) decides ``same`` (probability 1.0), and different
  values of one government scheme (USCC, resident id, passport) decide ``distinct``
  (probability 0.0) whatever else agrees;
- a shared **phone or e-mail** never decides: it is strong evidence when personal (a mobile, a
  personal mailbox held by few records) and weak when it is a landline, a role mailbox
  (``info@``) or a value many records hold;
- names, addresses, birth date, sex and an organisation's region add up with their weights,
  except that of the agreements on where and how to reach someone (street or city, region,
  phone, e-mail) only the strongest counts (``Weights.contact_once``): a household shares its
  street and phone, a company group its building, switchboard and mailbox.

The probability is then read against :class:`Thresholds`: ``probable`` at or above
``probable``, ``possible`` at or above ``possible``, otherwise ``distinct``. The caller decides
what to do; nothing here merges anything.

>>> from custrec.model.records import Address, Customer, CustomerKind
>>> home = (Address(city="北京", street="朝阳路 8 号"),)
>>> a = profile(Customer(kind=CustomerKind.INDIVIDUAL, name="Zhang Wei", addresses=home))
>>> b = profile(Customer(kind=CustomerKind.INDIVIDUAL, name="WEI ZHANG", addresses=home))
>>> m = compare(a, b)
>>> m.decision
<MatchDecision.PROBABLE: 'probable'>
>>> [r.field for r in m.reasons]
['name', 'address']
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from custrec._checks import number_range
from custrec.matching.keys import address_keys, name_key, strong_keys
from custrec.matching.levels import MatchProfile, observe
from custrec.matching.normalize import fold, org_name
from custrec.matching.parameters import Weights
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
    """Match-probability cut-offs for ``probable`` and ``possible`` (``possible <= probable``).

    A pair whose match probability (:attr:`Match.score`) is at least ``probable`` is
    ``probable``; at least ``possible``, ``possible``; else ``distinct``.
    """

    probable: float = attrs.field(default=0.85, validator=number_range(0, 1))
    possible: float = attrs.field(default=0.1, validator=number_range(0, 1))

    def __attrs_post_init__(self) -> None:
        if self.possible > self.probable:
            raise ValueError("Thresholds.possible must not exceed Thresholds.probable")

    def decide(self, score: float) -> MatchDecision:
        """Return the decision for a match probability that no identifier decided."""
        if score >= self.probable:
            return MatchDecision.PROBABLE
        if score >= self.possible:
            return MatchDecision.POSSIBLE
        return MatchDecision.DISTINCT


def profile(customer: Customer) -> MatchProfile:
    """Return the :class:`MatchProfile` of a normalised customer (``TypeError`` for anything
    else, such as the ``None`` record of a failed :func:`~custrec.validation.parse_customer`)."""
    if not isinstance(customer, Customer):
        raise TypeError(f"profile() takes a Customer, not {type(customer).__name__}")
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
    """One piece of evidence: the field, what was found (never a value), its weight in bits.

    ``str(reason)`` is ``"field: finding (+w.w)"``, the weight rounded to one decimal.
    """

    field: str
    finding: str
    weight: float = 0.0

    @property
    def points(self) -> float:
        """The weight under its former name (deprecated; use :attr:`weight`)."""
        return self.weight

    def __str__(self) -> str:
        return f"{self.field}: {self.finding} ({self.weight:+.1f})"


@attrs.frozen(kw_only=True)
class Match:
    """The outcome of comparing two records.

    ``score``: the match probability in [0, 1], rounded to 4 places (1.0 or 0.0 when an
    identifier decided); ``weight``: the total match weight in bits (the sum of the reasons');
    ``decision``; ``reasons``: one per field compared.
    """

    left: str
    right: str
    score: float
    decision: MatchDecision
    reasons: tuple[Reason, ...]
    weight: float = 0.0


_CONTACT = frozenset({"address", "city", "region", "phone", "email"})
_DEFAULT_WEIGHTS = Weights()
_DEFAULT_THRESHOLDS = Thresholds()


def compare(
    a: MatchProfile,
    b: MatchProfile,
    *,
    thresholds: Thresholds | None = None,
    weights: Weights | None = None,
    holders: Mapping[tuple[str, str], int] | None = None,
    population: int | None = None,
) -> Match:
    """Compare two profiles and explain the result (see the module docstring).

    ``weights``: the Fellegi-Sunter parameters (default: estimated on the synthetic set).
    ``holders``: how many records hold a value, by match key (``("phone", "+86...")``,
    ``("blk.name", "p:wei zhang")``, ``("blk.addr", ...)``, ``("email", ...)``), counting both
    records compared; an agreement on a value listed there is frequency-adjusted against
    ``population`` (default ``weights.population``). Records of different kinds (a person and an
    organisation) are ``distinct`` with score 0.
    """
    limits = thresholds or _DEFAULT_THRESHOLDS
    w = weights or _DEFAULT_WEIGHTS
    if a.kind != b.kind:
        return Match(
            left=a.id,
            right=b.id,
            score=0.0,
            decision=MatchDecision.DISTINCT,
            reasons=(Reason("kind", "different"),),
        )
    found, decided, total = _weigh(a, b, w, holders, population)
    reasons = tuple(Reason(label, finding, round(weight, 3)) for _, label, finding, weight in found)
    score, decided = _decide(decided, total, w, limits)
    return Match(
        left=a.id,
        right=b.id,
        score=score,
        decision=decided,
        reasons=reasons,
        weight=round(total, 3),
    )


def decide(
    a: MatchProfile,
    b: MatchProfile,
    *,
    thresholds: Thresholds | None = None,
    weights: Weights | None = None,
) -> tuple[MatchDecision, float]:
    """``(decision, score)`` of :func:`compare` (without holder counts), without building its
    reasons: what a batch run needs to know whether a pair is a link at all."""
    if a.kind != b.kind:
        return MatchDecision.DISTINCT, 0.0
    w = weights or _DEFAULT_WEIGHTS
    _, decided, total = _weigh(a, b, w, None, None)
    score, decided = _decide(decided, total, w, thresholds or _DEFAULT_THRESHOLDS)
    return decided, score


def _weigh(
    a: MatchProfile,
    b: MatchProfile,
    w: Weights,
    holders: Mapping[tuple[str, str], int] | None,
    population: int | None,
) -> tuple[list[tuple[str, str, str, float]], MatchDecision | None, float]:
    """Every field's ``(field, reason field, finding, weight)`` as counted (of the contact
    agreements only the strongest, unless not ``contact_once``), the decision an identifier
    made, and the total weight."""
    found: list[tuple[str, str, str, float]] = []
    decided: MatchDecision | None = None
    best = -1
    for field, level, label, finding, key in observe(a, b):
        if key is not None and holders is not None and key in holders:
            weight = w.adjusted(field, level, holders[key], population)
        else:
            weight = w.weight(field, level)
        if field == "id":
            decided = MatchDecision.SAME if level == 0 else MatchDecision.DISTINCT
        elif (
            w.contact_once
            and field in _CONTACT
            and weight > 0
            and (best < 0 or weight > found[best][3])
        ):
            best = len(found)
        found.append((field, label, finding, weight))
    total = 0.0
    if best >= 0:
        strongest = found[best][1]
        for n, (field, label, finding, weight) in enumerate(found):
            if n != best and field in _CONTACT and weight > 0:
                found[n] = (field, label, f"{finding}, counted in {strongest}", 0.0)
    for entry in found:
        total += entry[3]
    return found, decided, total


def _decide(
    decided: MatchDecision | None, total: float, w: Weights, limits: Thresholds
) -> tuple[float, MatchDecision]:
    if decided is MatchDecision.SAME:
        return 1.0, decided
    if decided is MatchDecision.DISTINCT:
        return 0.0, decided
    score = round(w.probability(total), 4)
    return score, limits.decide(score)
