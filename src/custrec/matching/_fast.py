"""The link test of a batch run: :func:`~custrec.matching.scoring.decide` on prepared profiles.

A clustering run asks, for every candidate pair, only whether
``decide(a, b).rank >= wanted.rank``. :class:`LinkTest` answers that from
:func:`prepare`'d profiles (plain tuples: the identifiers grouped by kind, the phones and
e-mails as sets, the birth date as an ordinal), with every level decided as
:func:`~custrec.matching.levels.observe` decides it and the weights summed in the same order
(so the total, the rounded probability and the decision are bit for bit the same), but:

- an identifier that decides (a shared one: ``same``; a conflicting government id:
  ``distinct``) ends the test before any name or street is compared;
- two different names and two address lists are compared only when the pair would be a link
  with the best level of each (the other levels decided first): the total weight never falls
  as one level's weight rises, and a better level never weighs less (:class:`~custrec.
  matching.parameters.Weights`), so a pair ruled out by that bound is not a link;
- the name level of a pair of different names is kept per run (``王伟`` / ``王玮`` recur in many
  blocks), and so is the address level of a pair of address lists;
- no observation list, reason or :class:`~custrec.matching.scoring.Match` is built.

tests/unit/matching/test_fast.py compares it with :func:`~custrec.matching.scoring.decide` on
random profiles.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from custrec.matching import levels
from custrec.matching.keys import GOVERNMENT_KINDS
from custrec.matching.levels import (
    NAME_HIGH,
    NAME_LOW,
    NAME_PARTIAL,
    STREET_SIMILAR,
    MatchProfile,
    is_landline,
    is_role_mailbox,
)
from custrec.matching.parameters import Weights
from custrec.matching.scoring import MatchDecision, Thresholds

__all__ = ["DATE", "LinkTest", "Prepared", "prepare"]

DATE: Final = "\x00date"
"""Marks a date held as its ordinal (``(DATE, ordinal)``), so that it can be marshalled."""

Prepared = tuple[Any, ...]
"""``(kind, name, region, addresses, cities, birth date, sex, identifiers by kind, phones,
e-mails)``: what :class:`LinkTest` reads of a profile (see :func:`prepare`)."""

_ORGANIZATION: Final = "organization"
_CACHE_MAX: Final = 200_000
_MARGIN: Final = 1e-9
"""Bits added to a bound before it may rule a pair out: far above the rounding error of a sum
of a few weights, far below any difference a weight table makes."""


def prepare(p: MatchProfile) -> Prepared:
    """The facts of ``p`` that :class:`LinkTest` compares, in plain (marshallable) values."""
    ids: dict[str, set[str]] = {}
    phones: set[str] = set()
    emails: set[str] = set()
    for kind, value in p.strong:
        if kind == "phone":
            phones.add(value)
        elif kind == "email":
            emails.add(value)
        else:
            ids.setdefault(kind, set()).add(value)
    born = p.birth_date
    return (
        p.kind,
        p.name,
        p.region,
        p.addresses if type(p.addresses) is tuple else tuple(p.addresses),
        p.cities,
        (DATE, born.toordinal()) if isinstance(born, date) else born,
        p.sex,
        {kind: frozenset(values) for kind, values in ids.items()},
        frozenset(phones),
        frozenset(emails),
    )


class LinkTest:
    """``test(a, b)``: whether two prepared profiles decide at or above ``wanted`` (the
    decision of :func:`~custrec.matching.scoring.decide` under ``thresholds`` and
    ``weights``). Holds per-run caches: make one per run."""

    def __init__(self, wanted: MatchDecision, thresholds: Thresholds, weights: Weights) -> None:
        self._wanted = wanted.rank
        self._thresholds = thresholds
        self._weights = weights
        table = {
            field: tuple(weights.weight(field, n) for n in range(len(names)))
            for field, names in levels.LEVELS.items()
        }
        self._name = table["name"]
        self._region = table["region"]
        self._address = table["address"]
        self._city = table["city"]
        self._birth = table["birth_date"]
        self._gender = table["gender"]
        self._phone = table["phone"]
        self._email = table["email"]
        self._once = weights.contact_once
        self._names: dict[tuple[bool, str, str], int] = {}
        self._streets: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self._scores: dict[float, bool] = {}

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds decided against."""
        return self._thresholds

    @property
    def weights(self) -> Weights:
        """The weights summed."""
        return self._weights

    def __call__(self, a: Prepared, b: Prepared) -> bool:
        """True if ``a`` and ``b`` are a link at the wanted decision."""
        kind = a[0]
        if kind != b[0]:
            return self._wanted <= 0
        mine = a[7]
        if mine:
            theirs = b[7]
            shared = conflict = False
            for scheme, values in mine.items():
                other = theirs.get(scheme)
                if other is not None:
                    if values & other:
                        shared = True
                    elif scheme in GOVERNMENT_KINDS:
                        conflict = True
            if conflict:
                return self._wanted <= 0
            if shared:
                return True  # same: the highest rank
        # the cheap levels first; the name and street similarities only when the pair could
        # still be a link with the best of them (the total never falls as a weight rises)
        name: float | None = None
        named = bool(a[1] and b[1])
        if named and a[1] == b[1]:
            name, named = self._name[0], False
        # the contact agreements, in observe()'s order: region, address or city, phone, e-mail
        region = address = phone = email = None
        if a[2] and b[2]:
            region = self._region[int(a[2] != b[2])]
        streets = bool(a[3] and b[3])
        if not streets and a[4] and b[4]:
            address = self._city[int(a[4].isdisjoint(b[4]))]
        if a[5] is not None and b[5] is not None:
            birth: float | None = self._birth[int(a[5] != b[5])]
        else:
            birth = None
        if a[6] is not None and b[6] is not None:
            gender: float | None = self._gender[int(a[6] != b[6])]
        else:
            gender = None
        if a[8] and b[8]:
            phone = self._phone[_contact_level(a[8] & b[8], is_landline)]
        if a[9] and b[9]:
            email = self._email[_contact_level(a[9] & b[9], is_role_mailbox)]
        if named or streets:
            at_best = self._sum(
                self._name[0] if named else name,
                region,
                self._address[0] if streets else address,
                birth,
                gender,
                phone,
                email,
            )
            if not self._linked(at_best + _MARGIN):
                return False
            if named:
                name = self._name[self._name_level(kind == _ORGANIZATION, a[1], b[1])]
            if streets:
                address = self._address[self._street_level(a[3], b[3])]
        return self._linked(self._sum(name, region, address, birth, gender, phone, email))

    def _sum(
        self,
        name: float | None,
        region: float | None,
        address: float | None,
        birth: float | None,
        gender: float | None,
        phone: float | None,
        email: float | None,
    ) -> float:
        """The total weight, summed in the order of :func:`~custrec.matching.scoring._weigh`
        (of the positive contact weights only the first strongest, with ``contact_once``)."""
        total = 0.0
        if name is not None:
            total += name
        best = None
        if self._once:
            for weight in (region, address, phone, email):
                if weight is not None and weight > 0 and (best is None or weight > best):
                    best = weight
        counted = False
        if region is not None:
            if best is None or region <= 0:
                total += region
            elif region == best:
                total += region
                counted = True
        if address is not None:
            if best is None or address <= 0:
                total += address
            elif address == best and not counted:
                total += address
                counted = True
        if birth is not None:
            total += birth
        if gender is not None:
            total += gender
        if phone is not None:
            if best is None or phone <= 0:
                total += phone
            elif phone == best and not counted:
                total += phone
                counted = True
        if email is not None and (best is None or email <= 0 or (email == best and not counted)):
            total += email
        return total

    def _linked(self, total: float) -> bool:
        hit = self._scores.get(total)
        if hit is None:
            score = round(self._weights.probability(total), 4)
            hit = self._thresholds.decide(score).rank >= self._wanted
            if len(self._scores) < _CACHE_MAX:
                self._scores[total] = hit
        return hit

    def _name_level(self, org: bool, a: str, b: str) -> int:
        if a == b:
            return 0
        key = (org, a, b)
        level = self._names.get(key)
        if level is None:
            level = _name_level(org, a, b)
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            self._names[key] = level
        return level

    def _street_level(self, a: tuple[str, ...], b: tuple[str, ...]) -> int:
        key = (a, b)
        level = self._streets.get(key)
        if level is None:
            sim, same = levels.best_street(a, b)
            level = 0 if same is not None else 1 if sim >= STREET_SIMILAR else 2
            if len(self._streets) >= _CACHE_MAX:
                self._streets.clear()
            self._streets[key] = level
        return level


def _name_level(org: bool, a: str, b: str) -> int:
    """The name level :func:`~custrec.matching.levels.observe` gives two names of one kind."""
    sim = levels.similarity(a, b)
    if sim == 1.0:
        return 0
    if (sim >= NAME_PARTIAL or levels._one_substitution(a, b)) and (
        levels.other_business(a, b) if org else levels.other_given_name(a, b)
    ):
        return 4
    if sim >= NAME_HIGH:
        return 1
    if sim >= NAME_LOW:
        return 2
    if levels._one_substitution(a, b):
        return 3
    if sim >= NAME_PARTIAL:
        return 4
    return 5


def _contact_level(shared: frozenset[str], weak: Any) -> int:
    if not shared:
        return 2
    for value in shared:
        if not weak(value):
            return 0
    return 1
